//! GitHub and GitHub Enterprise Server (`X-GitHub-Event`), and git2s3's own
//! post-receive hook (`X-Git2s3-Event`), whose push body is a subset of
//! GitHub's: `ref`, `before`, `after`, `repository.full_name`,
//! `repository.ssh_url`, and optionally `pusher.name`.

use serde::Deserialize;
use serde_json::Value;

use super::payload::{changed_paths, parse_as, Change, Event, ListedCommit, Push};
use super::rejection::Rejection;
use crate::Provider;

/// GitHub puts at most 20 commits in a push payload; with 20, the file
/// lists may be incomplete, so a path filter cannot be trusted.
const MAX_LISTED_COMMITS: usize = 20;

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: Repository,
    pusher: Option<Pusher>,
    #[serde(default)]
    commits: Vec<ListedCommit>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
    ssh_url: Option<String>,
}

#[derive(Deserialize)]
struct Pusher {
    name: Option<String>,
}

pub(super) fn parse(provider: Provider, event: &str, payload: Value) -> Result<Event, Rejection> {
    match event {
        "ping" => Ok(Event::Ping),
        "push" => {
            let p: Payload = parse_as(provider, payload)?;
            let changed_paths = changed_paths(&p.commits, p.commits.len() < MAX_LISTED_COMMITS);
            Ok(Event::Push(Push {
                repo: p.repository.full_name,
                ssh_url: p.repository.ssh_url,
                project_id: None,
                pusher: p.pusher.and_then(|u| u.name),
                changes: vec![Change {
                    git_ref: p.git_ref,
                    after: p.after,
                    deleted: p.deleted,
                    changed_paths,
                }],
            }))
        }
        _ => Ok(Event::Other),
    }
}
