//! The functions' log events, read from their CloudWatch log groups:
//! what `git2s3 logs` prints, and what the test push's diagnosis reads.

use crate::aws::{AwsError, AwsResultExt};

/// One log event: when (milliseconds since the epoch), and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub timestamp_ms: i64,
    pub message: String,
}

/// The events of `group` from `start_ms` on, oldest first, that match
/// `filter` (a CloudWatch Logs filter pattern; a word matches the events
/// that contain it), at most `max` of them.
pub async fn events(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    start_ms: i64,
    filter: Option<&str>,
    max: usize,
) -> Result<Vec<Event>, AwsError> {
    let mut pages = logs
        .filter_log_events()
        .log_group_name(group)
        .start_time(start_ms)
        .set_filter_pattern(filter.map(str::to_string))
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.aws("logs:FilterLogEvents")?;
        out.extend(page.events().iter().map(|e| Event {
            timestamp_ms: e.timestamp().unwrap_or_default(),
            message: e.message().unwrap_or_default().trim_end().to_string(),
        }));
        if out.len() >= max {
            out.truncate(max);
            break;
        }
    }
    Ok(out)
}
