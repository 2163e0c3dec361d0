//! Sending the test push and waiting for its zip: the `receiver` and `zip`
//! checks, then [`super::diagnose`] when the zip does not come.

use std::time::{Duration, Instant, SystemTime};

use git2s3_lambda::store::Store;
use git2s3_lambda::webhook::outgoing::{self, PushSpec};
use git2s3_lambda::{object_key, GitRef, Provider};

use super::check::{Check, Verdict};
use super::diagnose;
use crate::aws::Clients;
use crate::deploy::stack::StackInfo;
use crate::hook::send::{new_delivery_id, Sender, Sent};
use crate::progress::Progress;

/// Prefix of the delivery ids of test pushes, so logs tell them apart.
pub const DELIVERY_PREFIX: &str = "git2s3-verify-";

/// What to send, where, and where its zip lands.
pub struct Plan {
    pub provider: Provider,
    /// The webhook URL.
    pub url: String,
    /// The webhook secret (never printed).
    pub secret: String,
    /// Where the secret is kept, for messages.
    pub secret_id: String,
    pub spec: PushSpec,
    pub bucket: String,
    /// The stack whose queues and worker log explain a missing zip; `None`
    /// when the URL is not the stack's (a `git2s3 serve`).
    pub stack: Option<StackInfo>,
    /// How long to wait for the zip.
    pub timeout: Duration,
    /// Between two looks at S3.
    pub poll: Duration,
}

/// Sends the test push and waits for its zip. `head` is the check that
/// found the commit; it opens the list.
pub async fn run(plan: &Plan, head: Check, clients: &Clients, progress: &Progress) -> Verdict {
    let delivery = format!("{DELIVERY_PREFIX}{}", new_delivery_id());
    let mut verdict = Verdict {
        ok: false,
        repo: plan.spec.repo.clone(),
        git_ref: plan.spec.git_ref.clone(),
        commit: plan.spec.after.clone(),
        key: String::new(),
        delivery: delivery.clone(),
        checks: vec![head],
    };
    let key = match GitRef::parse(&plan.spec.git_ref).and_then(|r| object_key(&plan.spec.repo, &r))
    {
        Ok(key) => key,
        Err(e) => {
            verdict.checks.push(Check::fail("zip", e.to_string()));
            return verdict;
        }
    };
    verdict.key = key.clone();
    let store = Store::new(clients.s3.clone(), &plan.bucket);
    let before = match store.current_commit(&key).await {
        Ok(commit) => commit,
        Err(e) => {
            verdict.checks.push(Check::fail("zip", e.to_string()));
            return verdict;
        }
    };

    let sent_at = SystemTime::now();
    let request = outgoing::push(plan.provider, &plan.spec, &plan.secret, &delivery);
    let sender = Sender::new(&plan.url, Duration::from_secs(10), 3);
    progress.waiting(format!("sending the test push to {}", plan.url));
    let receiver = receiver_check(plan, &sender.send(&request).await);
    let accepted = receiver.ok;
    verdict.checks.push(receiver);
    if !accepted {
        return verdict;
    }

    let place = format!("s3://{}/{key}", plan.bucket);
    let short = &plan.spec.after[..plan.spec.after.len().min(12)];
    if before.as_deref() == Some(plan.spec.after.as_str()) {
        verdict.checks.push(Check::pass(
            "zip",
            format!(
                "{place} already holds {short}: the worker finds it current and writes nothing new \
                 (push a new commit to see a new version)"
            ),
        ));
        verdict.ok = true;
        return verdict;
    }
    let started = Instant::now();
    loop {
        progress.waiting(format!("waiting for {place} to hold {short}"));
        match store.current_commit(&key).await {
            Ok(Some(commit)) if commit == plan.spec.after => {
                verdict.checks.push(Check::pass(
                    "zip",
                    format!(
                        "{place} holds {short}, {} s after the push",
                        started.elapsed().as_secs()
                    ),
                ));
                verdict.ok = true;
                return verdict;
            }
            Ok(_) => {}
            Err(e) => {
                verdict.checks.push(Check::fail("zip", e.to_string()));
                return verdict;
            }
        }
        if started.elapsed() >= plan.timeout {
            break;
        }
        tokio::time::sleep(plan.poll).await;
    }

    let waited = started.elapsed().as_secs();
    let found = match &plan.stack {
        Some(stack) => diagnose::after_timeout(clients, stack, &delivery, sent_at, waited).await,
        None => Vec::new(),
    };
    let hint = match (&plan.stack, found.iter().any(|c| !c.ok)) {
        (_, true) => "; see the failed check below".to_string(),
        (Some(stack), false) => format!(
            "; no queue or log shows why: look at the worker's log group {}",
            stack
                .core()
                .worker_log_group
                .as_deref()
                .unwrap_or("(see `git2s3 status`)")
        ),
        (None, false) => format!(
            "; {} is not the stack's webhook, so look at that receiver's own log",
            plan.url
        ),
    };
    verdict.checks.push(Check::fail(
        "zip",
        format!("{place} does not hold {short} after {waited} s{hint}"),
    ));
    verdict.checks.extend(found);
    verdict
}

/// The receiver's answer, as a check.
fn receiver_check(plan: &Plan, sent: &Sent) -> Check {
    let url = &plan.url;
    match sent {
        Sent::Accepted { status, summary } if summary.starts_with("queued for") => {
            Check::pass("receiver", format!("{url} answered {status}: {summary}"))
        }
        Sent::Accepted { status, summary } => Check::fail(
            "receiver",
            format!(
                "{url} answered {status} but built nothing: {summary}. Include the branch in \
                 filters.include_refs in git2s3.yaml and run `git2s3 update-stack`, or test \
                 another branch with --branch"
            ),
        ),
        Sent::Refused {
            status: 401,
            summary,
        } => Check::fail(
            "receiver",
            format!(
                "{url} refused the signature (401 {summary}): the receiver does not check with \
                 the secret in {}. For the stack, run `git2s3 update-stack`; for `git2s3 serve`, \
                 set GIT2S3_WEBHOOK_SECRET to that secret",
                plan.secret_id
            ),
        ),
        Sent::Refused { status, summary } => Check::fail(
            "receiver",
            format!("{url} refused the test push: {status} {summary}"),
        ),
        Sent::GaveUp { attempts, last } => Check::fail(
            "receiver",
            format!(
                "no answer from {url} after {attempts} attempts ({last}): check that this URL \
                 is the webhook's (`git2s3 status` shows it) and that it is reachable from here"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            provider: Provider::Github,
            url: "https://api.example/prod/gitpull".into(),
            secret: "s3cr3t-never-shown".into(),
            secret_id: "git2s3/demo/webhook-secret".into(),
            spec: PushSpec::default(),
            bucket: "b".into(),
            stack: None,
            timeout: Duration::from_secs(1),
            poll: Duration::from_secs(1),
        }
    }

    #[test]
    fn each_receiver_answer_is_a_check_that_says_what_to_do() {
        let plan = plan();
        let check = |sent: Sent| receiver_check(&plan, &sent);
        let queued = check(Sent::Accepted {
            status: 202,
            summary: "queued for a/b/main/a_b.zip".into(),
        });
        assert!(queued.ok, "{queued:?}");
        let filtered = check(Sent::Accepted {
            status: 202,
            summary: "nothing to build (refs/heads/main: excluded by filters)".into(),
        });
        assert!(!filtered.ok);
        assert!(
            filtered.detail.contains("filters.include_refs"),
            "{filtered:?}"
        );
        let refused = check(Sent::Refused {
            status: 401,
            summary: "unauthorized".into(),
        });
        assert!(refused.detail.contains("git2s3/demo/webhook-secret"));
        let gone = check(Sent::GaveUp {
            attempts: 3,
            last: "cannot connect".into(),
        });
        assert!(gone
            .detail
            .starts_with("no answer from https://api.example/prod/gitpull after 3 attempts"));
        for c in [queued, filtered, refused, gone] {
            assert_eq!(c.name, "receiver");
            assert!(!c.detail.contains("s3cr3t"), "the secret was shown");
        }
    }
}
