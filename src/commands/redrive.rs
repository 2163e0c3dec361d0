//! `git2s3 redrive`: the dead-letter queue's jobs, back on the job queue.
//! It shows how many there are and why each failed (the worker's ERROR
//! line for its delivery), asks (or takes `--yes`), then sends each job to
//! the job queue in its own message group and deletes it from the
//! dead-letter queue. A message that is not a job stays where it is.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use git2s3_lambda::Job;
use serde::Serialize;
use sha2::{Digest, Sha256};

use aws_sdk_sqs::types::MessageSystemAttributeName;

use crate::aws::AwsResultExt;
use crate::cli::{GlobalArgs, OutputFormat, RedriveArgs};
use crate::context::{self, Consent};
use crate::deploy::logs;
use crate::progress::Progress;

/// How long the messages read are held from other readers while git2s3
/// shows them and asks.
const HOLD_SECONDS: i32 = 300;
/// The most messages one redrive moves.
const MAX_MESSAGES: usize = 1000;
/// How far back the worker's log is searched for a job's failure.
const LOG_DAYS: u64 = 14;
/// The most failure lines read in that one search.
const MAX_LOG_EVENTS: usize = 10_000;

/// One dead-lettered job, and why it failed.
#[derive(Debug, Serialize)]
struct Dead {
    repo: String,
    git_ref: String,
    commit: String,
    delivery: String,
    /// The worker's error for this delivery, where its log still has it.
    reason: Option<String>,
}

/// What redrive did (`--output json` prints this).
#[derive(Debug, Serialize)]
struct Report {
    stack: String,
    moved: Vec<Dead>,
    /// Messages that are not git2s3 jobs, left in the dead-letter queue.
    unreadable: usize,
    /// About how many messages the dead-letter queue still holds besides
    /// those: a FIFO queue hands out one message of a group at a time, so
    /// older jobs of the same branch wait for the next redrive.
    waiting: u64,
}

pub async fn run(global: &GlobalArgs, args: &RedriveArgs) -> anyhow::Result<ExitCode> {
    let consent = Consent::new(global);
    let deployed = context::deployed(
        global,
        &context::stack_name_overrides(args.stack_name.as_ref()),
    )
    .await?;
    let (clients, core) = (&deployed.clients, &deployed.stack);
    let outputs = core.core();
    let dlq = outputs
        .dead_letter_queue_url
        .ok_or_else(|| core.missing_output("DeadLetterQueueUrl"))?;
    let queue = outputs
        .job_queue_url
        .ok_or_else(|| core.missing_output("JobQueueUrl"))?;
    let progress = Progress::new();
    progress.step("Reading the dead-letter queue");

    let mut held = Vec::new();
    while held.len() < MAX_MESSAGES {
        let out = clients
            .sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .visibility_timeout(HOLD_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            // A long poll of one second asks every SQS server; a short one
            // may answer empty while messages wait.
            .wait_time_seconds(1)
            .send()
            .await
            .aws("sqs:ReceiveMessage")?;
        if out.messages().is_empty() {
            break;
        }
        held.extend(out.messages().iter().cloned());
    }
    let mut jobs = Vec::new();
    let mut unreadable = Vec::new();
    for m in held {
        match serde_json::from_str::<Job>(m.body().unwrap_or_default()) {
            Ok(job) => jobs.push((job, m)),
            Err(_) => unreadable.push(m),
        }
    }
    // What is not a job is let go at once, for whoever reads it next.
    for m in &unreadable {
        release(&clients.sqs, &dlq, m).await?;
    }
    // Each job failed after it was first sent (a dead letter keeps its
    // first SentTimestamp): one search of the worker's log from the oldest.
    let oldest_ms = jobs
        .iter()
        .filter_map(|(_, m)| {
            m.attributes()?
                .get(&MessageSystemAttributeName::SentTimestamp)?
                .parse::<i64>()
                .ok()
        })
        .min();
    let floor = logs::epoch_ms(
        SystemTime::now()
            .checked_sub(Duration::from_secs(LOG_DAYS * 86_400))
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    let since = oldest_ms.map_or(floor, |t| t.max(floor));
    let mut reasons: HashMap<String, String> = HashMap::new();
    if let (Some(group), false) = (&outputs.worker_log_group, jobs.is_empty()) {
        let pattern = format!("\"{}\"", git2s3_lambda::worker::JOB_FAILED);
        for e in logs::events(&clients.logs, group, since, Some(&pattern), MAX_LOG_EVENTS).await? {
            // Oldest first: the last line of a delivery is its last try.
            if let Some((Some(delivery), text)) = logs::worker_error(&e.message) {
                reasons.insert(delivery, text);
            }
        }
    }
    let dead: Vec<Dead> = jobs
        .iter()
        .map(|(job, _)| Dead {
            repo: job.repo.clone(),
            git_ref: job.git_ref.clone(),
            commit: job.commit.clone(),
            delivery: job.delivery_id.clone(),
            reason: reasons.get(&job.delivery_id).cloned(),
        })
        .collect();
    progress.done();
    if dead.is_empty() {
        eprintln!("the dead-letter queue of stack {} holds no job", core.name);
    } else {
        eprintln!(
            "{} job(s) in the dead-letter queue of stack {}:",
            dead.len(),
            core.name
        );
        for d in &dead {
            eprintln!(
                "  {} {} at {} (delivery {}): {}",
                d.repo,
                d.git_ref,
                &d.commit[..12.min(d.commit.len())],
                d.delivery,
                d.reason
                    .as_deref()
                    .unwrap_or("no error in the worker's log")
            );
        }
    }
    if !unreadable.is_empty() {
        eprintln!(
            "  {} message(s) that are not git2s3 jobs stay in the dead-letter queue",
            unreadable.len()
        );
    }
    let answer = if dead.is_empty() {
        Ok(true)
    } else {
        consent.confirm(&format!(
            "Move {} job(s) back to the job queue?",
            dead.len()
        ))
    };
    // Refused, or no one to ask: the jobs are let go at once, not held.
    if !matches!(answer, Ok(true)) {
        for (_, m) in &jobs {
            release(&clients.sqs, &dlq, m).await?;
        }
        answer?;
        eprintln!("nothing was moved");
        return Ok(ExitCode::FAILURE);
    }
    let redriven_at = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (job, m) in &jobs {
        // A deduplication id of its own: SQS would drop the job's original
        // one if it was sent less than five minutes ago.
        let dedup = hex::encode(Sha256::digest(format!(
            "{}:redrive:{redriven_at}",
            job.deduplication_id()
        )));
        clients
            .sqs
            .send_message()
            .queue_url(&queue)
            .message_body(m.body().unwrap_or_default())
            .message_group_id(job.group_id())
            .message_deduplication_id(&dedup[..64])
            .send()
            .await
            .aws("sqs:SendMessage")?;
        clients
            .sqs
            .delete_message()
            .queue_url(&dlq)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await
            .aws("sqs:DeleteMessage")?;
    }
    let report = Report {
        stack: core.name.clone(),
        moved: dead,
        unreadable: unreadable.len(),
        waiting: visible(&clients.sqs, &dlq)
            .await?
            .saturating_sub(unreadable.len() as u64),
    };
    match global.output {
        OutputFormat::Json => context::print_json(&report)?,
        OutputFormat::Text => {
            crate::out!(
                "{} job(s) moved back to the job queue of stack {}",
                report.moved.len(),
                report.stack
            );
            if report.waiting > 0 {
                crate::out!(
                    "about {} more message(s) wait in the dead-letter queue behind those of the \
                     same branch (a FIFO queue gives one at a time): run `git2s3 redrive` again",
                    report.waiting
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Makes a held message visible again at once.
async fn release(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    message: &aws_sdk_sqs::types::Message,
) -> anyhow::Result<()> {
    sqs.change_message_visibility()
        .queue_url(queue)
        .receipt_handle(message.receipt_handle().unwrap_or_default())
        .visibility_timeout(0)
        .send()
        .await
        .aws("sqs:ChangeMessageVisibility")?;
    Ok(())
}

/// About how many messages `queue` has for readers now.
async fn visible(sqs: &aws_sdk_sqs::Client, queue: &str) -> anyhow::Result<u64> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .aws("sqs:GetQueueAttributes")?;
    Ok(out
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}
