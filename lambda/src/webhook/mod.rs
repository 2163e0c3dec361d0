//! The receiver's logic: from an HTTP request to jobs, or to a refusal.
//!
//! [`receive`] does, in order:
//! 1. refuse a body over 10 MB;
//! 2. tell the provider from its headers (GitHub and GitHub Enterprise
//!    Server, GitLab, Bitbucket Cloud, Bitbucket Data Center, Gitea,
//!    Forgejo, or git2s3's own post-receive hook, `generic`); Forgejo and
//!    Gitea first, as their webhooks carry GitHub's headers too;
//! 3. authenticate the raw body: HMAC-SHA256 (or GitLab's token) against
//!    every configured secret, always; with an allow list, the source IP
//!    must be in it too (an address alone never gets in);
//! 4. refuse any provider but the configured one ([`Connection`]);
//! 5. decode the payload (JSON, or form-encoded `payload=`);
//! 6. read the event: a ping, a push (one change per ref), or anything else;
//! 7. refuse a repository that is not connected, and for git pull a URL
//!    that is not that repository on the provider's git host;
//! 8. skip deletions, refs the filters exclude and refs that are not valid
//!    (each with its reason), and make one [`Job`] per remaining ref.
//!
//! It has no side effects: enqueueing is the caller's job (`receiver`).
//! Every refusal says what was wrong, and never echoes a secret or a
//! signature.

use std::net::IpAddr;

use http::HeaderMap;

use crate::connection::Connection;
use crate::filter::{Filters, OnDelete};
use crate::job::{Job, Method, DELETED};
use crate::layout::{check_repo_path, GitRef, LayoutError};
use crate::provider::Scheme;
use crate::Provider;

pub mod auth;
mod bitbucket;
mod bitbucket_server;
pub mod body;
mod gitea;
mod github;
mod gitlab;
pub mod outgoing;
mod payload;
mod rejection;

pub use auth::{sign, AllowedIps, Secrets};
use payload::Event;
pub use payload::{is_commit_sha, is_zero_sha};
pub use rejection::Rejection;

/// What the receiver is configured with.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub secrets: Secrets,
    /// With CIDRs, a signed request must also come from one of them.
    pub allowed_ips: AllowedIps,
    pub filters: Filters,
    /// The provider and repositories this stack builds, and their git hosts.
    pub connection: Connection,
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

/// The provider whose event header the request carries, from the
/// provider table. Providers that share an event header are told apart by
/// their other headers: GitHub Enterprise Server names its host, and
/// Bitbucket Cloud sends request and hook UUIDs that Data Center does not.
fn detect(headers: &HeaderMap) -> Result<Sender, Rejection> {
    let (first, event) = Provider::DETECTION
        .into_iter()
        .find_map(|p| header(headers, p.facts().event_header).map(|e| (p, e)))
        .ok_or(Rejection::UnknownSender)?;
    let provider = match first {
        Provider::Github if header(headers, "x-github-enterprise-host").is_some() => {
            Provider::GithubEnterprise
        }
        Provider::Bitbucket => {
            let cloud = header(headers, "x-request-uuid").is_some()
                || header(headers, "x-hook-uuid").is_some()
                || event == "repo:push";
            if cloud {
                Provider::Bitbucket
            } else {
                Provider::BitbucketServer
            }
        }
        p => p,
    };
    Ok(Sender {
        provider,
        event: event.to_string(),
        delivery_id: provider
            .facts()
            .delivery_headers
            .iter()
            .find_map(|h| header(headers, h))
            .map(String::from),
    })
}

fn authenticate(
    sender: &Sender,
    request: &Request<'_>,
    config: &ReceiverConfig,
) -> Result<(), Rejection> {
    let signature = sender.provider.facts().signature;
    let signed = header(request.headers, signature.header).map(|proof| match signature.scheme {
        Scheme::Token => config.secrets.verify_token(proof),
        Scheme::HmacSha256 => config.secrets.verify_hmac_sha256(request.body, proof),
        Scheme::HmacSha256Hex => config.secrets.verify_hmac_sha256_hex(request.body, proof),
    });
    if signed != Some(true) {
        return Err(Rejection::Unauthorized(
            match (signed, config.secrets.is_empty()) {
                (_, true) => "no webhook secret is configured, and a signature is always required",
                (None, false) => "the request carries no signature or token",
                (Some(_), false) => "the signature or token does not match the webhook secret",
            },
        ));
    }
    let allowed = config.allowed_ips.is_empty()
        || request
            .source_ip
            .is_some_and(|ip| config.allowed_ips.contains(ip));
    if !allowed {
        return Err(Rejection::Forbidden(format!(
            "the source address {} is not in auth.allowed_ips: add your Git server's egress range, \
             or empty the list",
            request
                .source_ip
                .map_or_else(|| "(unknown)".to_string(), |ip| ip.to_string())
        )));
    }
    Ok(())
}

/// Turns a webhook call into an [`Outcome`], or refuses it.
pub fn receive(request: &Request<'_>, config: &ReceiverConfig) -> Result<Outcome, Rejection> {
    if request.body.len() > body::MAX_BODY_BYTES {
        return Err(Rejection::PayloadTooLarge(request.body.len()));
    }
    let sender = detect(request.headers)?;
    authenticate(&sender, request, config)?;
    let connection = &config.connection;
    let forbidden = |e: crate::connection::NotConnected| Rejection::Forbidden(e.to_string());
    connection
        .check_provider(sender.provider)
        .map_err(forbidden)?;
    let payload = body::payload(header(request.headers, "content-type"), request.body)?;
    let provider = sender.provider;
    let event = match provider {
        Provider::Github | Provider::GithubEnterprise | Provider::Generic => {
            github::parse(provider, &sender.event, payload)?
        }
        Provider::Gitlab => gitlab::parse(&sender.event, payload)?,
        Provider::Bitbucket => bitbucket::parse(&sender.event, payload)?,
        Provider::BitbucketServer => bitbucket_server::parse(&sender.event, payload)?,
        Provider::Gitea | Provider::Forgejo => gitea::parse(provider, &sender.event, payload)?,
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
    connection.check_repo(&push.repo).map_err(forbidden)?;
    // Without a delivery id, the body itself identifies a redelivery.
    let delivery_id = sender.delivery_id.unwrap_or_else(|| {
        let digest = <sha2::Sha256 as sha2::Digest>::digest(request.body);
        format!("body-sha256:{}", hex::encode(digest))
    });
    let job_for = |git_ref: String, commit: String| Job {
        provider,
        method: request.method,
        repo: push.repo.clone(),
        git_ref,
        commit,
        ssh_url: push.ssh_url.clone(),
        project_id: push.project_id.clone(),
        delivery_id: delivery_id.clone(),
        pusher: push.pusher.clone(),
    };
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    for change in push.changes {
        let git_ref = match GitRef::parse(&change.git_ref) {
            Ok(r) => r,
            Err(LayoutError::NotBranchOrTag(r)) => {
                skipped.push((r, "not a branch or tag".to_string()));
                continue;
            }
            Err(e) => {
                skipped.push((change.git_ref, e.to_string()));
                continue;
            }
        };
        if change.deleted || is_zero_sha(&change.after) {
            // With on_delete: delete, a deletion inside the filters is a
            // job; the worker checks the ref is gone before it deletes.
            let delete = config.filters.on_delete == OnDelete::Delete
                && config.filters.check(&git_ref, None).is_ok();
            if !delete {
                skipped.push((change.git_ref, "deleted".to_string()));
                continue;
            }
            let job = job_for(change.git_ref, DELETED.to_string());
            match job.object_key() {
                Ok(_) => jobs.push(job),
                Err(e) => skipped.push((job.git_ref, e.to_string())),
            }
            continue;
        }
        if !is_commit_sha(&change.after) {
            let why = format!("`{}` is not a commit id", change.after);
            skipped.push((change.git_ref, why));
            continue;
        }
        if let Err(skip) = config
            .filters
            .check(&git_ref, change.changed_paths.as_deref())
        {
            skipped.push((change.git_ref, skip.to_string()));
            continue;
        }
        let job = job_for(change.git_ref, change.after.to_ascii_lowercase());
        // The key must be valid before anything is enqueued.
        match job.object_key() {
            Ok(_) => jobs.push(job),
            Err(e) => skipped.push((job.git_ref, e.to_string())),
        }
    }
    // The worker fetches from the payload's URL only for git pull, and only
    // when there is something to build.
    if let (Method::GitPull, false, Some(url)) = (request.method, jobs.is_empty(), &push.ssh_url) {
        connection
            .check_ssh_url(url, &push.repo)
            .map_err(forbidden)?;
    }
    Ok(Outcome::Push {
        provider,
        jobs,
        skipped,
    })
}

#[cfg(test)]
mod tests;
