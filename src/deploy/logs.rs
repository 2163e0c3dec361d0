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

/// The last sweeps, from the sweep function's log: the last round, and
/// each repository's last result.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Sweeps {
    pub last: Option<SweepRound>,
    pub repos: Vec<SweptRepo>,
}

/// One round's `sweep done` line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepRound {
    pub time: String,
    pub repos: u64,
    pub queued: u64,
    pub failed: u64,
}

/// One repository's last `sweep: swept` line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweptRepo {
    pub repo: String,
    pub time: String,
    pub stale: u64,
    pub current: u64,
}

/// The pipeline's build status reports of the last day, from the report
/// function's log: the last status posted, and the last one the provider
/// refused (whose error names the scope the token lacks).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reports {
    pub last_posted: Option<PostedStatus>,
    pub last_refused: Option<RefusedStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PostedStatus {
    pub time: String,
    pub repo: String,
    pub commit: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefusedStatus {
    pub time: String,
    pub error: String,
}

/// The reports of the last day in `group` (the report function's JSON lines:
/// `status posted` and `commit status refused`).
pub async fn reports(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
) -> Result<Reports, AwsError> {
    let since = a_day_ago();
    let mut reports = Reports::default();
    for e in events(logs, group, since, Some("\"status\""), 10_000).await? {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.message) else {
            continue;
        };
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        match v["message"].as_str() {
            Some("status posted") => {
                reports.last_posted = Some(PostedStatus {
                    time: rfc3339(e.timestamp_ms),
                    repo: text("repo"),
                    commit: text("commit"),
                    state: text("state"),
                })
            }
            Some("commit status refused") => {
                reports.last_refused = Some(RefusedStatus {
                    time: rfc3339(e.timestamp_ms),
                    error: text("error"),
                })
            }
            _ => {}
        }
    }
    Ok(reports)
}

/// A day before now, in milliseconds since the epoch: how far back
/// `status` reads the report and sweep functions' logs.
fn a_day_ago() -> i64 {
    epoch_ms(
        std::time::SystemTime::now()
            .checked_sub(std::time::Duration::from_secs(86_400))
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH),
    )
}

/// An event's time in RFC 3339, as `logs` prints it.
pub fn rfc3339(timestamp_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(timestamp_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The sweeps of the last day in `group` (the sweep function's JSON lines).
pub async fn sweeps(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
) -> Result<Sweeps, AwsError> {
    let since = a_day_ago();
    let mut sweeps = Sweeps::default();
    for e in events(logs, group, since, Some("\"sweep\""), 10_000).await? {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.message) else {
            continue;
        };
        let number = |k: &str| v[k].as_u64().unwrap_or_default();
        match v["message"].as_str() {
            Some("sweep done") => {
                sweeps.last = Some(SweepRound {
                    time: rfc3339(e.timestamp_ms),
                    repos: number("repos"),
                    queued: number("queued"),
                    failed: number("failed"),
                })
            }
            Some("sweep: swept") => {
                let repo = v["repo"].as_str().unwrap_or_default().to_string();
                let line = SweptRepo {
                    time: rfc3339(e.timestamp_ms),
                    stale: number("stale"),
                    current: number("current"),
                    repo: repo.clone(),
                };
                match sweeps.repos.iter_mut().find(|r| r.repo == repo) {
                    Some(seen) => *seen = line,
                    None => sweeps.repos.push(line),
                }
            }
            _ => {}
        }
    }
    Ok(sweeps)
}
