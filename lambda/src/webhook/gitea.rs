//! Gitea and Forgejo (`X-Gitea-Event`, `X-Forgejo-Event`). Their push
//! payload is GitHub-like: `ref`, `before`, `after`, `repository.full_name`
//! and `ssh_url`, `pusher.login`, and the commits. A branch or tag
//! deleted arrives as a `delete` event (`ref` is the short name,
//! `ref_type` says which), or as a push whose `after` is all zeros. The
//! "Test Delivery" button sends a real push of the newest commit, so it is
//! built like any push. Every other event (a pull request, an issue…) is
//! ignored.

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
    repository: Repository,
    pusher: Option<User>,
    #[serde(default)]
    commits: Vec<Value>,
    total_commits: Option<usize>,
}

#[derive(Deserialize)]
struct Deleted {
    #[serde(rename = "ref")]
    git_ref: String,
    ref_type: String,
    repository: Repository,
    sender: Option<User>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
    ssh_url: Option<String>,
}

#[derive(Deserialize)]
struct User {
    login: Option<String>,
    username: Option<String>,
}

impl User {
    fn name(self) -> Option<String> {
        self.login.or(self.username).filter(|n| !n.is_empty())
    }
}

pub(super) fn parse(provider: Provider, event: &str, payload: Value) -> Result<Event, Rejection> {
    match event {
        "push" => {
            let p: Payload = parse_as(provider, payload)?;
            // The file lists count only when every commit carries them
            // (older servers send none) and every commit is listed.
            let listed = p.commits.iter().all(|c| {
                ["added", "removed", "modified"]
                    .iter()
                    .all(|k| c.get(k).is_some_and(Value::is_array))
            });
            let complete = listed && p.total_commits == Some(p.commits.len());
            let commits: Vec<ListedCommit> = p
                .commits
                .into_iter()
                .filter_map(|c| serde_json::from_value(c).ok())
                .collect();
            Ok(Event::Push(Push {
                repo: p.repository.full_name,
                ssh_url: p.repository.ssh_url,
                project_id: None,
                pusher: p.pusher.and_then(User::name),
                changes: vec![Change {
                    git_ref: p.git_ref,
                    after: p.after,
                    deleted: false,
                    changed_paths: changed_paths(&commits, complete),
                }],
            }))
        }
        "delete" => {
            let d: Deleted = parse_as(provider, payload)?;
            let kind = match d.ref_type.as_str() {
                "tag" => "tags",
                _ => "heads",
            };
            let git_ref = match d.git_ref.starts_with("refs/") {
                true => d.git_ref,
                false => format!("refs/{kind}/{}", d.git_ref),
            };
            Ok(Event::Push(Push {
                repo: d.repository.full_name,
                ssh_url: d.repository.ssh_url,
                project_id: None,
                pusher: d.sender.and_then(User::name),
                changes: vec![Change {
                    git_ref,
                    after: String::new(),
                    deleted: true,
                    changed_paths: None,
                }],
            }))
        }
        _ => Ok(Event::Other),
    }
}
