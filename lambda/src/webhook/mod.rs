//! The receiver's logic: from an HTTP request to jobs, or to a refusal.
//!
//! [`receive`] does, in order:
//! 1. refuse a body over 10 MB;
//! 2. tell the provider from its headers (GitHub and GitHub Enterprise
//!    Server, GitLab, Bitbucket Cloud, Bitbucket Data Center, or git2s3's
//!    own post-receive hook, `generic`);
//! 3. authenticate the raw body: HMAC-SHA256 (or GitLab's token) against
//!    every configured secret, or else the source IP against the allow
//!    list, if one is configured; nothing else gets in;
//! 4. decode the payload (JSON, or form-encoded `payload=`);
//! 5. read the event: a ping, a push (one change per ref), or anything else;
//! 6. drop deletions and refs the filters exclude, and make one [`Job`] per
//!    remaining ref.
//!
//! It has no side effects: enqueueing is the caller's job (`receiver`).
//! Every refusal says what was wrong, and never echoes a secret or a
//! signature.

use std::net::IpAddr;

use http::HeaderMap;
use serde_json::Value;

use crate::filter::Filters;
use crate::job::{Job, Method};
use crate::layout::{check_repo_path, GitRef, LayoutError};
use crate::Provider;

pub mod auth;
mod bitbucket;
mod bitbucket_server;
pub mod body;
mod github;
mod gitlab;
pub mod outgoing;

pub use auth::{sign, AllowedIps, Secrets};

/// What the receiver is configured with.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub secrets: Secrets,
    pub allowed_ips: AllowedIps,
    pub filters: Filters,
}

/// One webhook call, as API Gateway or `serve` hands it over.
#[derive(Debug)]
pub struct Request<'a> {
    /// The route called: `/gitpull` or `/zipdl`.
    pub method: Method,
    pub headers: &'a HeaderMap,
    /// The raw body, already base64-decoded if API Gateway encoded it.
    pub body: &'a [u8],
    pub source_ip: Option<IpAddr>,
}

/// What a valid webhook asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A ping or test event: answered 200, nothing built.
    Pong { provider: Provider },
    /// A push: the refs to build (possibly none) and the refs left out, with why.
    Push {
        provider: Provider,
        jobs: Vec<Job>,
        skipped: Vec<(String, String)>,
    },
    /// Any other event: answered 202, nothing built.
    Ignored { provider: Provider, event: String },
}

/// Why a request is refused. `Display` is the message sent back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error(
        "not a webhook git2s3 knows: expected an X-GitHub-Event, X-Gitlab-Event, \
         X-Event-Key (Bitbucket) or X-Git2s3-Event header"
    )]
    UnknownSender,
    #[error(
        "content type `{0}` is not supported: set the webhook's content type to application/json \
         (application/x-www-form-urlencoded also works)"
    )]
    UnsupportedMediaType(String),
    #[error("the body is {0} bytes; the limit is 10 MB")]
    PayloadTooLarge(usize),
    #[error("bad payload: {0}")]
    BadPayload(String),
}

impl Rejection {
    /// The HTTP status for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Unauthorized(_) => 401,
            Rejection::UnknownSender | Rejection::BadPayload(_) => 400,
            Rejection::UnsupportedMediaType(_) => 415,
            Rejection::PayloadTooLarge(_) => 413,
        }
    }
}

/// How a provider signs, and names its event and delivery.
struct Sender {
    provider: Provider,
    event: String,
    delivery_id: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn detect(headers: &HeaderMap) -> Result<Sender, Rejection> {
    let sender = |provider, event: &str, delivery: &[&str]| Sender {
        provider,
        event: event.to_string(),
        delivery_id: delivery
            .iter()
            .find_map(|h| header(headers, h))
            .map(String::from),
    };
    if let Some(event) = header(headers, "x-github-event") {
        let provider = if header(headers, "x-github-enterprise-host").is_some() {
            Provider::GithubEnterprise
        } else {
            Provider::Github
        };
        return Ok(sender(provider, event, &["x-github-delivery"]));
    }
    if let Some(event) = header(headers, "x-gitlab-event") {
        // Idempotency-Key stays the same when GitLab retries a delivery.
        return Ok(sender(
            Provider::Gitlab,
            event,
            &["idempotency-key", "x-gitlab-event-uuid"],
        ));
    }
    if let Some(event) = header(headers, "x-git2s3-event") {
        return Ok(sender(Provider::Generic, event, &["x-git2s3-delivery"]));
    }
    if let Some(event) = header(headers, "x-event-key") {
        let cloud = header(headers, "x-request-uuid").is_some()
            || header(headers, "x-hook-uuid").is_some()
            || event == "repo:push";
        return Ok(if cloud {
            sender(Provider::Bitbucket, event, &["x-request-uuid"])
        } else {
            sender(Provider::BitbucketServer, event, &["x-request-id"])
        });
    }
    Err(Rejection::UnknownSender)
}

fn authenticate(
    sender: &Sender,
    request: &Request<'_>,
    config: &ReceiverConfig,
) -> Result<(), Rejection> {
    let headers = request.headers;
    let signed = match sender.provider {
        Provider::Gitlab => {
            header(headers, "x-gitlab-token").map(|t| config.secrets.verify_token(t))
        }
        Provider::Bitbucket | Provider::BitbucketServer => header(headers, "x-hub-signature")
            .map(|s| config.secrets.verify_hmac_sha256(request.body, s)),
        Provider::Github | Provider::GithubEnterprise | Provider::Generic => {
            header(headers, "x-hub-signature-256")
                .map(|s| config.secrets.verify_hmac_sha256(request.body, s))
        }
    };
    if signed == Some(true) {
        return Ok(());
    }
    if !config.allowed_ips.is_empty()
        && request
            .source_ip
            .is_some_and(|ip| config.allowed_ips.contains(ip))
    {
        return Ok(());
    }
    Err(Rejection::Unauthorized(
        match (signed, config.secrets.is_empty()) {
            (_, true) => "no webhook secret is configured and the source IP is not allowed",
            (None, false) => "the request carries no signature or token",
            (Some(_), false) => "the signature or token does not match the webhook secret",
        },
    ))
}

/// One ref of a push, as a provider's parser reads it.
#[derive(Debug, Default)]
struct Change {
    /// Full ref name.
    git_ref: String,
    /// The new commit; all zeros, or `deleted`, for a deletion.
    after: String,
    deleted: bool,
    /// Changed files, where the payload lists all of them.
    changed_paths: Option<Vec<String>>,
}

/// A push, as a provider's parser reads it.
#[derive(Debug, Default)]
struct Push {
    repo: String,
    ssh_url: Option<String>,
    project_id: Option<String>,
    pusher: Option<String>,
    changes: Vec<Change>,
}

/// What a provider's parser makes of an event.
enum Event {
    Ping,
    Push(Push),
    Other,
}

/// A commit as GitHub and GitLab list it in a push, with its changed files.
#[derive(serde::Deserialize)]
struct ListedCommit {
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
    #[serde(default)]
    modified: Vec<String>,
}

/// Every path the commits touch, sorted; `None` unless the payload is
/// known to list all of the push's commits.
fn changed_paths(commits: &[ListedCommit], complete: bool) -> Option<Vec<String>> {
    (complete && !commits.is_empty()).then(|| {
        commits
            .iter()
            .flat_map(|c| c.added.iter().chain(&c.removed).chain(&c.modified))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    })
}

/// Reads the payload into a provider's own types, with a message that
/// names the provider when a field is missing or of the wrong type.
fn parse_as<T: serde::de::DeserializeOwned>(
    provider: Provider,
    payload: Value,
) -> Result<T, Rejection> {
    serde_json::from_value(payload)
        .map_err(|e| Rejection::BadPayload(format!("{provider} push payload: {e}")))
}

/// Turns a webhook call into an [`Outcome`], or refuses it.
pub fn receive(request: &Request<'_>, config: &ReceiverConfig) -> Result<Outcome, Rejection> {
    if request.body.len() > body::MAX_BODY_BYTES {
        return Err(Rejection::PayloadTooLarge(request.body.len()));
    }
    let sender = detect(request.headers)?;
    authenticate(&sender, request, config)?;
    let payload = body::payload(header(request.headers, "content-type"), request.body)?;
    let provider = sender.provider;
    let event = match provider {
        Provider::Github | Provider::GithubEnterprise | Provider::Generic => {
            github::parse(provider, &sender.event, payload)?
        }
        Provider::Gitlab => gitlab::parse(&sender.event, payload)?,
        Provider::Bitbucket => bitbucket::parse(&sender.event, payload)?,
        Provider::BitbucketServer => bitbucket_server::parse(&sender.event, payload)?,
    };
    let push = match event {
        Event::Ping => return Ok(Outcome::Pong { provider }),
        Event::Other => {
            return Ok(Outcome::Ignored {
                provider,
                event: sender.event,
            })
        }
        Event::Push(push) => push,
    };
    check_repo_path(&push.repo).map_err(|e| Rejection::BadPayload(e.to_string()))?;
    // Without a delivery id, the body itself identifies a redelivery.
    let delivery_id = sender.delivery_id.unwrap_or_else(|| {
        let digest = <sha2::Sha256 as sha2::Digest>::digest(request.body);
        format!("body-sha256:{}", hex::encode(digest))
    });
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    for change in push.changes {
        let git_ref = match GitRef::parse(&change.git_ref) {
            Ok(r) => r,
            Err(LayoutError::NotBranchOrTag(r)) => {
                skipped.push((r, "not a branch or tag".to_string()));
                continue;
            }
            Err(e) => return Err(Rejection::BadPayload(e.to_string())),
        };
        if change.deleted || is_zero_sha(&change.after) {
            skipped.push((change.git_ref, "deleted".to_string()));
            continue;
        }
        if !is_commit_sha(&change.after) {
            return Err(Rejection::BadPayload(format!(
                "`{}` is not a commit id for {}",
                change.after, change.git_ref
            )));
        }
        if let Err(skip) = config
            .filters
            .check(&git_ref, change.changed_paths.as_deref())
        {
            skipped.push((change.git_ref, skip.to_string()));
            continue;
        }
        let job = Job {
            provider,
            method: request.method,
            repo: push.repo.clone(),
            git_ref: change.git_ref,
            commit: change.after.to_ascii_lowercase(),
            ssh_url: push.ssh_url.clone(),
            project_id: push.project_id.clone(),
            delivery_id: delivery_id.clone(),
            pusher: push.pusher.clone(),
        };
        // The key must be valid before anything is enqueued.
        job.object_key()
            .map_err(|e| Rejection::BadPayload(e.to_string()))?;
        jobs.push(job);
    }
    Ok(Outcome::Push {
        provider,
        jobs,
        skipped,
    })
}

fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// A SHA-1 (40) or SHA-256 (64) object id in hex.
pub fn is_commit_sha(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests;
