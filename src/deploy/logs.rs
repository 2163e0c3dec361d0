//! The functions' log events, read from their CloudWatch log groups:
//! what `git2s3 logs` prints, and what the test push's diagnosis reads.

use crate::aws::{AwsError, AwsResultExt};

/// One log event: when (milliseconds since the epoch), and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub timestamp_ms: i64,
    pub message: String,
}

/// `time` as CloudWatch Logs counts it: milliseconds since the epoch
/// (0 for a time before it).
pub fn epoch_ms(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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

/// A worker ERROR line (the worker logs JSON lines): its delivery, if it
/// names one, and its error (or its message). Any other line is `None`.
pub fn worker_error(line: &str) -> Option<(Option<String>, String)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if !v["level"]
        .as_str()
        .is_some_and(|l| l.eq_ignore_ascii_case("error"))
    {
        return None;
    }
    let text = v["error"]
        .as_str()
        .or(v["message"].as_str())
        .unwrap_or("an error without a message")
        .to_string();
    Some((v["delivery"].as_str().map(str::to_string), text))
}
