//! Following a stack's events live, as CloudFormation's console does: each
//! new event is printed once, oldest first, and the first resource that
//! failed is remembered so that the error can name it.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_cloudformation::types::StackEvent;

use super::state::{describe, StackInfo};
use crate::aws::{AwsError, AwsResultExt};
use crate::progress::Progress;

/// How often the stack is polled.
const POLL: Duration = Duration::from_secs(2);

/// Events seen so far on one stack.
pub struct Follow {
    stack: String,
    seen: HashSet<String>,
}

/// How the stack ended up.
pub struct Settled {
    pub info: StackInfo,
    /// The stack no longer exists (deleted).
    pub gone: bool,
    /// "Worker (AWS::Lambda::Function): reason", for the first failure.
    pub first_failure: Option<String>,
}

impl Follow {
    /// Remembers the events that exist now, so that only new ones are shown.
    pub async fn start(cf: &aws_sdk_cloudformation::Client, stack: &str) -> Result<Self, AwsError> {
        let mut follow = Follow {
            stack: stack.to_string(),
            seen: HashSet::new(),
        };
        for event in follow.page(cf).await? {
            follow
                .seen
                .insert(event.event_id().unwrap_or_default().to_string());
        }
        Ok(follow)
    }

    async fn page(&self, cf: &aws_sdk_cloudformation::Client) -> Result<Vec<StackEvent>, AwsError> {
        match cf
            .describe_stack_events()
            .stack_name(&self.stack)
            .send()
            .await
            .aws("cloudformation:DescribeStackEvents")
        {
            Ok(out) => Ok(out.stack_events().to_vec()),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Prints new events until the stack leaves its IN_PROGRESS state.
    pub async fn until_settled(
        mut self,
        cf: &aws_sdk_cloudformation::Client,
        progress: &Progress,
    ) -> Result<Settled, AwsError> {
        let mut first_failure = None;
        let mut last = None;
        loop {
            let mut fresh: Vec<StackEvent> = self
                .page(cf)
                .await?
                .into_iter()
                .filter(|e| !self.seen.contains(e.event_id().unwrap_or_default()))
                .collect();
            fresh.reverse(); // CloudFormation lists the newest first
            for event in &fresh {
                self.seen
                    .insert(event.event_id().unwrap_or_default().to_string());
                progress.line(line(event));
                if first_failure.is_none() {
                    first_failure = failure(event);
                }
            }
            match describe(cf, &self.stack).await? {
                None => {
                    return Ok(Settled {
                        info: last.unwrap_or_else(|| gone(&self.stack)),
                        gone: true,
                        first_failure,
                    })
                }
                Some(info) if !info.status.ends_with("_IN_PROGRESS") => {
                    return Ok(Settled {
                        info,
                        gone: false,
                        first_failure,
                    })
                }
                Some(info) => {
                    progress.waiting(format!("{}: {}", info.name, info.status));
                    last = Some(info);
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

fn gone(stack: &str) -> StackInfo {
    StackInfo {
        name: stack.to_string(),
        id: stack.to_string(),
        status: "DELETE_COMPLETE".into(),
        reason: None,
        outputs: Default::default(),
        parameters: Default::default(),
    }
}

/// One event as a line: time, status, type, logical id, reason.
fn line(event: &StackEvent) -> String {
    let time = event
        .timestamp()
        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
        .and_then(|t| t.get(11..19).map(str::to_string))
        .unwrap_or_default();
    let status = event.resource_status().map(|s| s.as_str()).unwrap_or("?");
    let mut line = format!(
        "{time}  {status:<28} {:<34} {}",
        event.resource_type().unwrap_or_default(),
        event.logical_resource_id().unwrap_or_default()
    );
    if let Some(reason) = event.resource_status_reason() {
        line.push_str(&format!("  {reason}"));
    }
    line
}

/// The failure an event reports, unless it is the knock-on "cancelled" kind.
fn failure(event: &StackEvent) -> Option<String> {
    let status = event.resource_status()?.as_str();
    let reason = event.resource_status_reason().unwrap_or("no reason given");
    if !status.ends_with("_FAILED") || reason.contains("cancelled") {
        return None;
    }
    Some(format!(
        "{} ({}): {reason}",
        event.logical_resource_id().unwrap_or_default(),
        event.resource_type().unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::ResourceStatus;

    fn event(id: &str, status: ResourceStatus, reason: &str) -> StackEvent {
        StackEvent::builder()
            .stack_id("s")
            .event_id("e")
            .stack_name("s")
            .timestamp(aws_smithy_types::DateTime::from_secs(1_700_000_000))
            .logical_resource_id(id)
            .resource_type("AWS::Lambda::Function")
            .resource_status(status)
            .resource_status_reason(reason)
            .build()
    }

    #[test]
    fn names_the_first_real_failure_and_skips_cancellations() {
        let cancelled = event(
            "Receiver",
            ResourceStatus::CreateFailed,
            "Resource creation cancelled",
        );
        assert_eq!(failure(&cancelled), None);
        let failed = event(
            "Worker",
            ResourceStatus::CreateFailed,
            "Memory size 100 is below 128",
        );
        assert_eq!(
            failure(&failed).unwrap(),
            "Worker (AWS::Lambda::Function): Memory size 100 is below 128"
        );
        assert_eq!(
            failure(&event("Worker", ResourceStatus::CreateComplete, "")),
            None
        );
        assert!(
            line(&failed).starts_with("22:13:20  CREATE_FAILED"),
            "{}",
            line(&failed)
        );
    }
}
