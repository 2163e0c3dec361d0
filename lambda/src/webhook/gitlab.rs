//! GitLab.com and self-managed GitLab (`X-Gitlab-Event`): "Push Hook" and
//! "Tag Push Hook". GitLab's "Test" button sends a real push event, so it
//! is built like any push.

use serde::Deserialize;
use serde_json::Value;

use super::payload::{changed_paths, parse_as, Change, Event, ListedCommit, Push};
use super::rejection::Rejection;
use crate::Provider;

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    /// The commit a tag points at (for an annotated tag, `after` is the tag object).
    checkout_sha: Option<String>,
    user_username: Option<String>,
    project_id: Option<u64>,
    project: Project,
    #[serde(default)]
    commits: Vec<ListedCommit>,
    total_commits_count: Option<usize>,
}

#[derive(Deserialize)]
struct Project {
    path_with_namespace: String,
    git_ssh_url: Option<String>,
}

pub(super) fn parse(event: &str, payload: Value) -> Result<Event, Rejection> {
    match event {
        "Push Hook" | "Tag Push Hook" => {
            let p: Payload = parse_as(Provider::Gitlab, payload)?;
            // GitLab lists at most 20 commits; trust the file lists only when all are there.
            let complete = p.total_commits_count == Some(p.commits.len());
            let changed_paths = changed_paths(&p.commits, complete);
            let after = match p.checkout_sha {
                Some(sha) if !sha.is_empty() => sha,
                _ => p.after,
            };
            Ok(Event::Push(Push {
                repo: p.project.path_with_namespace,
                ssh_url: p.project.git_ssh_url,
                project_id: p.project_id.map(|id| id.to_string()),
                pusher: p.user_username,
                changes: vec![Change {
                    git_ref: p.git_ref,
                    after,
                    deleted: false,
                    changed_paths,
                }],
            }))
        }
        _ => Ok(Event::Other),
    }
}
