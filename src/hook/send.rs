//! `git2s3 hook send`: turns git's post-receive input (`OLD NEW REF` per
//! line) into signed push events for the `generic` provider, and POSTs
//! each with a timeout and retries, logging one line per ref.
//!
//! The event is a subset of GitHub's push: `ref`, `before`, `after`,
//! `deleted`, `repository.full_name`, `repository.ssh_url`, `pusher.name`,
//! with the headers `X-Git2s3-Event: push`, `X-Git2s3-Delivery: <id>` and
//! `X-Hub-Signature-256: sha256=<HMAC of the body>`. Nothing here fails the
//! push: every outcome is a log line.

use std::time::Duration;

use git2s3_lambda::webhook::outgoing::{self, Outgoing, PushSpec};
use git2s3_lambda::Provider;
use rand_core::{OsRng, RngCore};
use serde_json::Value;

use super::Target;

/// One updated ref, as git gives it to post-receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    pub before: String,
    pub after: String,
    pub git_ref: String,
}

impl RefUpdate {
    /// The `OLD NEW REF` line git gave, which `hook send` reads back.
    pub fn line(&self) -> String {
        format!("{} {} {}", self.before, self.after, self.git_ref)
    }
}

/// Reads `OLD NEW REF` lines; other lines are returned as errors, by line.
pub fn parse_updates(text: &str) -> (Vec<RefUpdate>, Vec<String>) {
    let mut updates = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let is_sha = |s: &str| s.len() >= 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
        match parts[..] {
            [before, after, git_ref] if is_sha(before) && is_sha(after) => {
                updates.push(RefUpdate {
                    before: before.into(),
                    after: after.into(),
                    git_ref: git_ref.into(),
                })
            }
            _ => bad.push(line.to_string()),
        }
    }
    (updates, bad)
}

/// The generic push event for one ref update.
pub fn event(update: &RefUpdate, target: &Target, pusher: Option<&str>) -> PushSpec {
    PushSpec {
        repo: target.name.clone(),
        git_ref: update.git_ref.clone(),
        before: update.before.clone(),
        after: update.after.clone(),
        ssh_url: Some(target.ssh_url.clone()),
        pusher: pusher.map(str::to_string),
        ..PushSpec::default()
    }
}

/// The signed request for one ref update.
pub fn request(spec: &PushSpec, secret: &str, delivery: &str) -> Outgoing {
    outgoing::push(Provider::Generic, spec, secret, delivery)
}

/// A new delivery id, a random UUID (version 4).
pub fn new_delivery_id() -> String {
    let mut b = [0u8; 16];
    OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The receiver answered 2xx; its status and a short summary.
    Accepted { status: u16, summary: String },
    /// It answered 4xx other than 429: retrying would not help.
    Refused { status: u16, summary: String },
    /// Every attempt failed (network, timeout, 5xx or 429).
    GaveUp { attempts: u32, last: String },
}

/// Sends signed events to one URL.
pub struct Sender {
    client: reqwest::Client,
    url: String,
    attempts: u32,
    backoff: Duration,
}

impl Sender {
    pub fn new(url: &str, timeout: Duration, attempts: u32) -> Self {
        Sender {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .user_agent(concat!("git2s3-hook/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("the HTTP client builds"),
            url: url.to_string(),
            attempts: attempts.max(1),
            backoff: Duration::from_secs(1),
        }
    }

    /// Waits this long before the second attempt, doubling after (tests shorten it).
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// POSTs the request; retries what a retry may fix.
    pub async fn send(&self, request: &Outgoing) -> Sent {
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            if attempt > 1 {
                tokio::time::sleep(self.backoff * 2u32.pow(attempt - 2)).await;
            }
            let mut post = self.client.post(&self.url);
            for (name, value) in &request.headers {
                post = post.header(*name, value);
            }
            let response = post.body(request.body.clone()).send().await;
            match response {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let summary = summarize(&r.text().await.unwrap_or_default());
                    match status {
                        200..=299 => return Sent::Accepted { status, summary },
                        429 | 500..=599 => last = format!("{status} {summary}"),
                        _ => return Sent::Refused { status, summary },
                    }
                }
                Err(e) if e.is_timeout() => last = "no answer before the timeout".into(),
                Err(e) if e.is_connect() => last = "cannot connect".into(),
                Err(e) => last = e.to_string(),
            }
        }
        Sent::GaveUp {
            attempts: self.attempts,
            last,
        }
    }
}

/// The receiver's answer in one short line: its message, or its jobs' keys.
fn summarize(text: &str) -> String {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let jobs: Vec<&str> = value["jobs"]
        .as_array()
        .map(|jobs| jobs.iter().filter_map(|j| j["key"].as_str()).collect())
        .unwrap_or_default();
    let line = if !jobs.is_empty() {
        format!("queued for {}", jobs.join(", "))
    } else if let Some(m) = value["message"].as_str().or(value["error"].as_str()) {
        let why: Vec<String> = value["skipped"]
            .as_array()
            .map(|refs| {
                refs.iter()
                    .filter_map(|s| {
                        Some(format!("{}: {}", s["ref"].as_str()?, s["reason"].as_str()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        match why.is_empty() {
            true => m.to_string(),
            false => format!("{m} ({})", why.join("; ")),
        }
    } else {
        text.trim().to_string()
    };
    line.chars().take(200).collect()
}

/// The log line for one ref's delivery.
pub fn log_line(update: &RefUpdate, delivery: &str, url: &str, sent: &Sent) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let what = format!("{now} git2s3: {} delivery {delivery}", update.line());
    match sent {
        Sent::Accepted { status, summary } => format!("{what}: {status} {summary}"),
        Sent::Refused { status: 401, summary } => format!(
            "{what}: 401 {summary}. The secret in git2s3/secret is not the stack's: run `git2s3 hook install` again"
        ),
        Sent::Refused { status, summary } => format!("{what}: refused, {status} {summary}"),
        Sent::GaveUp { attempts, last } => format!(
            "{what}: gave up after {attempts} attempts ({last}). Resend with: \
             echo '{}' | git2s3 hook send --delivery {delivery} --webhook-url {url} …",
            update.line()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn post_receive_lines_become_updates_and_junk_is_reported() {
        let (updates, bad) = parse_updates(&format!(
            "{A} {B} refs/heads/main\n\n{B} {Z} refs/tags/v1\nnot a line\n"
        ));
        assert_eq!(updates.len(), 2);
        assert_eq!(updates[1].git_ref, "refs/tags/v1");
        assert_eq!(bad, ["not a line"]);
    }

    #[test]
    fn the_event_is_the_generic_push_the_receiver_reads() {
        let target = Target {
            url: "http://x/gitpull".into(),
            name: "acme/api".into(),
            ssh_url: "ssh://git@h/srv/acme/api.git".into(),
        };
        let update = RefUpdate {
            before: A.into(),
            after: Z.into(),
            git_ref: "refs/heads/gone".into(),
        };
        let out = request(&event(&update, &target, Some("ana")), "s", "d");
        let body: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(body["ref"], "refs/heads/gone");
        assert_eq!(body["deleted"], true);
        assert_eq!(body["repository"]["full_name"], "acme/api");
        assert_eq!(
            body["repository"]["ssh_url"],
            "ssh://git@h/srv/acme/api.git"
        );
        assert_eq!(body["pusher"]["name"], "ana");
    }

    #[test]
    fn delivery_ids_are_random_uuids() {
        let (a, b) = (new_delivery_id(), new_delivery_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn answers_are_summarized_in_one_short_line() {
        assert_eq!(
            summarize(r#"{"jobs":[{"id":"j","key":"acme/api/main/acme_api.zip"}]}"#),
            "queued for acme/api/main/acme_api.zip"
        );
        assert_eq!(summarize(r#"{"message":"pong"}"#), "pong");
        assert_eq!(
            summarize(
                r#"{"message":"nothing to build","skipped":[{"ref":"refs/heads/x","reason":"excluded by filters"}]}"#
            ),
            "nothing to build (refs/heads/x: excluded by filters)"
        );
        assert_eq!(summarize(&"x".repeat(500)).len(), 200);
    }
}
