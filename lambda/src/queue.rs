//! Where the receiver puts jobs: a small trait, with the SQS FIFO queue as
//! the real implementation. `git2s3 serve` brings its own in-process queue
//! with the same ordering and deduplication.

use std::future::Future;

use crate::job::Job;

/// Why a job could not be queued. The receiver answers 503, so the provider
/// may retry; the deduplication id makes a retry safe.
#[derive(Debug, thiserror::Error)]
#[error("could not queue the job for {repo} {git_ref}: {reason}")]
pub struct QueueError {
    pub repo: String,
    pub git_ref: String,
    pub reason: String,
}

impl QueueError {
    pub fn new(job: &Job, reason: impl std::fmt::Display) -> Self {
        QueueError {
            repo: job.repo.clone(),
            git_ref: job.git_ref.clone(),
            reason: reason.to_string(),
        }
    }
}

/// A FIFO of jobs: ordered per [`Job::group_id`], deduplicated by
/// [`Job::deduplication_id`].
pub trait JobQueue: Send + Sync {
    fn enqueue(&self, job: &Job) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// The stack's SQS FIFO queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }
}

impl JobQueue for SqsQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError::new(job, e))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_group_id(job.group_id())
            .message_deduplication_id(job.deduplication_id())
            .send()
            .await
            .map_err(|e| QueueError::new(job, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(())
    }
}
