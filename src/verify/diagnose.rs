//! Why a test push left no zip, from the stack itself: the dead-letter
//! queue (the job failed three times), the worker's log (its error, which
//! names the fix), and the job queue (the job waits, or is still being
//! built). Each is a [`Check`]; one that cannot be read says so.

use std::time::{Duration, SystemTime};

use super::check::Check;
use crate::aws::Clients;
use crate::deploy::report;
use crate::deploy::stack::StackInfo;

/// At most this many log events are read (newest pushes are few).
const MAX_EVENTS: usize = 500;

/// The checks after the zip did not come in `waited` seconds.
pub async fn after_timeout(
    clients: &Clients,
    stack: &StackInfo,
    delivery: &str,
    since: SystemTime,
    waited: u64,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let queue = report::queue(&clients.sqs, stack).await;
    let log_group = stack.core().worker_log_group;
    let errors = match &log_group {
        Some(group) => worker_errors(&clients.logs, group, since, delivery)
            .await
            .map(|e| (group.as_str(), e)),
        None => Err(stack.missing_output("WorkerLogGroupName").to_string()),
    };
    match &queue {
        Ok(q) if q.dead_letters > 0 => checks.push(Check::fail(
            "dead-letter queue",
            format!(
                "{} job(s) failed 3 times and wait in the dead-letter queue; the worker's error \
                 says why",
                q.dead_letters
            ),
        )),
        Ok(_) => checks.push(Check::pass("dead-letter queue", "empty")),
        Err(e) => checks.push(Check::fail("dead-letter queue", e.to_string())),
    }
    match &errors {
        Ok((group, found)) => match found.first() {
            Some(error) => checks.push(Check::fail("worker log", format!("{group}: {error}"))),
            None => checks.push(Check::pass(
                "worker log",
                format!("{group}: no error since the test push"),
            )),
        },
        Err(e) => checks.push(Check::fail("worker log", e.clone())),
    }
    let worker = stack
        .outputs
        .get("WorkerFunctionName")
        .map_or("the worker", String::as_str);
    match &queue {
        Ok(q) if q.waiting > 0 => checks.push(Check::fail(
            "job queue",
            format!(
                "{} job(s) wait and none is being built: the worker does not take jobs. Check \
                 its trigger: aws lambda list-event-source-mappings --function-name {worker}",
                q.waiting
            ),
        )),
        Ok(q) if q.in_flight > 0 => checks.push(Check::fail(
            "job queue",
            format!(
                "{} job(s) still being built after {waited} s: a large repository takes \
                 longer; run `git2s3 status` in a while",
                q.in_flight
            ),
        )),
        Ok(_) => checks.push(Check::pass("job queue", "empty")),
        Err(e) => checks.push(Check::fail("job queue", e.to_string())),
    }
    checks
}

/// The errors the worker logged since `since`, this delivery's first.
async fn worker_errors(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    since: SystemTime,
    delivery: &str,
) -> Result<Vec<String>, String> {
    let start =
        crate::deploy::logs::epoch_ms(since.checked_sub(Duration::from_secs(5)).unwrap_or(since));
    let lines: Vec<String> = crate::deploy::logs::events(logs, group, start, None, MAX_EVENTS)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|e| e.message)
        .collect();
    Ok(errors_in(&lines, delivery))
}

/// The `error` of each ERROR line (the worker logs JSON), this delivery's
/// first, newest first within each.
fn errors_in(lines: &[String], delivery: &str) -> Vec<String> {
    let mut ours = Vec::new();
    let mut others = Vec::new();
    for line in lines.iter().rev() {
        let Some((from, text)) = crate::deploy::logs::worker_error(line) else {
            continue;
        };
        if from.as_deref() == Some(delivery) {
            ours.push(text);
        } else {
            others.push(text);
        }
    }
    ours.extend(others);
    ours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_deliverys_error_comes_first_and_other_lines_are_skipped() {
        let lines: Vec<String> = [
            r#"{"level":"ERROR","delivery":"d-1","error":"Permission denied (publickey)","message":"job failed"}"#,
            r#"{"level":"INFO","delivery":"d-2","message":"zip written"}"#,
            "START RequestId: 1 Version: $LATEST",
            r#"{"level":"ERROR","delivery":"d-other","error":"older failure","message":"job failed"}"#,
            r#"{"level":"ERROR","message":"unreadable job"}"#,
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            errors_in(&lines, "d-1"),
            [
                "Permission denied (publickey)",
                "unreadable job",
                "older failure"
            ]
        );
        assert!(errors_in(&lines[1..3], "d-1").is_empty());
    }
}
