//! What `git2s3 status` shows: the stacks, the newest zip of each branch,
//! the queue and dead-letter queue, and the pipeline's last run. Each part
//! is read on its own; a part that cannot be read says why and the others
//! still show.

use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;

use super::stack::{describe, StackInfo};
use crate::aws::{AwsError, AwsResultExt, Clients};

/// Most zips listed per repo.
const MAX_ZIPS_PER_REPO: usize = 50;

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Status {
    pub stack: StackInfo,
    pub zips: Part<Vec<Zip>>,
    pub queue: Part<Queue>,
    /// The first pipeline (`pipeline`, else the first of `pipelines`).
    pub pipeline: Option<Part<Pipeline>>,
    /// Every pipeline, `pipeline` first.
    pub pipelines: Vec<Part<Pipeline>>,
}

/// A part of the report, or why it could not be read.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Part<T> {
    Ok(T),
    Unavailable { error: String },
}

impl<T> From<Result<T, AwsError>> for Part<T> {
    fn from(r: Result<T, AwsError>) -> Self {
        match r {
            Ok(v) => Part::Ok(v),
            Err(e) => Part::Unavailable {
                error: e.to_string(),
            },
        }
    }
}

/// The newest zip of one branch or tag.
#[derive(Debug, Serialize)]
pub struct Zip {
    pub key: String,
    pub commit: Option<String>,
    pub git_ref: Option<String>,
    pub last_modified: String,
    pub size: i64,
}

/// Messages waiting, being worked on, and given up on.
#[derive(Debug, Serialize)]
pub struct Queue {
    pub waiting: u64,
    pub in_flight: u64,
    pub dead_letters: u64,
}

/// The pipeline and its last execution.
#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    pub stack: StackInfo,
    pub last_execution: Option<Execution>,
    /// The build status reports of the last day; `null` when the pipeline
    /// does not report (`pipeline.report_status`).
    pub build_status: Option<Part<crate::deploy::logs::Reports>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Execution {
    pub id: String,
    pub status: String,
    pub started: Option<String>,
    /// What CodePipeline shows of the source revision: the zip's
    /// `codepipeline-artifact-revision-summary` (short commit, subject, author).
    pub source: Option<String>,
}

/// Reads everything `status` shows for a deployed stack.
pub async fn gather(
    clients: &Clients,
    stack: StackInfo,
    repos: &[String],
    pipeline_stacks: &[String],
) -> Status {
    let bucket = stack.core().bucket;
    let zips = match &bucket {
        Some(bucket) => zips(&clients.s3, bucket, repos).await.into(),
        None => Part::Unavailable {
            error: "the stack has no OutputBucketName output yet".into(),
        },
    };
    let queue = queue(&clients.sqs, &stack).await.into();
    let mut pipelines = Vec::new();
    for name in pipeline_stacks {
        pipelines.push(pipeline(clients, name).await.into());
    }
    Status {
        stack,
        zips,
        queue,
        pipeline: pipelines.first().cloned(),
        pipelines,
    }
}

async fn zips(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    repos: &[String],
) -> Result<Vec<Zip>, AwsError> {
    let prefixes: Vec<String> = if repos.is_empty() {
        vec![String::new()]
    } else {
        repos.iter().map(|r| format!("{r}/")).collect()
    };
    let mut out = Vec::new();
    for prefix in prefixes {
        let mut pages = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        let mut listed = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.aws("s3:ListBucket")?;
            listed.extend(
                page.contents()
                    .iter()
                    .filter(|o| o.key().is_some_and(|k| k.ends_with(".zip")))
                    .cloned(),
            );
        }
        for object in listed.iter().take(MAX_ZIPS_PER_REPO) {
            let key = object.key().unwrap_or_default().to_string();
            let head = s3
                .head_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .aws("s3:GetObject")?;
            let meta = head.metadata();
            out.push(Zip {
                commit: meta.and_then(|m| m.get("commit")).cloned(),
                git_ref: meta.and_then(|m| m.get("ref")).cloned(),
                last_modified: object
                    .last_modified()
                    .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                    .unwrap_or_default(),
                size: object.size().unwrap_or_default(),
                key,
            });
        }
    }
    Ok(out)
}

pub async fn queue(sqs: &aws_sdk_sqs::Client, stack: &StackInfo) -> Result<Queue, AwsError> {
    let depth = |url: Option<String>| async move {
        let Some(url) = url else {
            return Ok((0, 0));
        };
        let out = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .aws("sqs:GetQueueAttributes")?;
        let get = |name: QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_default()
        };
        Ok::<_, AwsError>((
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    };
    let outputs = stack.core();
    let (waiting, in_flight) = depth(outputs.job_queue_url).await?;
    let (dead, dead_in_flight) = depth(outputs.dead_letter_queue_url).await?;
    Ok(Queue {
        waiting,
        in_flight,
        dead_letters: dead + dead_in_flight,
    })
}

async fn pipeline(clients: &Clients, stack_name: &str) -> Result<Pipeline, AwsError> {
    let Some(stack) = describe(&clients.cloudformation, stack_name).await? else {
        return Err(AwsError::Service {
            call: "cloudformation:DescribeStacks",
            code: "NotFound".into(),
            message: format!(
                "pipeline stack {stack_name} does not exist; `git2s3 update-stack` creates it"
            ),
            status: 404,
        });
    };
    let outputs = stack.pipeline();
    let build_status = match &outputs.reporter_log_group {
        Some(group) => Some(Part::from(
            crate::deploy::logs::reports(&clients.logs, group).await,
        )),
        None => None,
    };
    let Some(name) = outputs.pipeline else {
        return Ok(Pipeline {
            stack,
            last_execution: None,
            build_status,
        });
    };
    let out = clients
        .codepipeline
        .list_pipeline_executions()
        .pipeline_name(&name)
        .max_results(1)
        .send()
        .await
        .aws("codepipeline:ListPipelineExecutions")?;
    let last_execution = out
        .pipeline_execution_summaries()
        .first()
        .map(|e| Execution {
            id: e.pipeline_execution_id().unwrap_or_default().to_string(),
            status: e
                .status()
                .map(|s| s.as_str())
                .unwrap_or("Unknown")
                .to_string(),
            started: e
                .start_time()
                .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
            source: e
                .source_revisions()
                .first()
                .and_then(|r| r.revision_summary().or(r.revision_id()))
                .map(str::to_string),
        });
    Ok(Pipeline {
        stack,
        last_execution,
        build_status,
    })
}
