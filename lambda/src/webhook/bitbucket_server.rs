//! Bitbucket Data Center (`X-Event-Key: repo:refs_changed`). Each changed
//! ref becomes its own job; `diagnostics:ping` is the "Test connection"
//! button. The repo path is `<project key>/<repo slug>`.

use serde::Deserialize;
use serde_json::Value;

use super::payload::{parse_as, Change, Event, Push};
use super::rejection::Rejection;
use crate::Provider;

#[derive(Deserialize)]
struct Payload {
    repository: Repository,
    actor: Option<Actor>,
    changes: Vec<RefChange>,
}

#[derive(Deserialize)]
struct RefChange {
    #[serde(rename = "refId")]
    ref_id: String,
    #[serde(rename = "toHash")]
    to_hash: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Repository {
    slug: String,
    project: Project,
    links: Option<Links>,
}

#[derive(Deserialize)]
struct Project {
    key: String,
}

#[derive(Deserialize)]
struct Links {
    #[serde(default)]
    clone: Vec<CloneLink>,
}

#[derive(Deserialize)]
struct CloneLink {
    href: String,
    name: String,
}

#[derive(Deserialize)]
struct Actor {
    name: Option<String>,
}

pub(super) fn parse(event: &str, payload: Value) -> Result<Event, Rejection> {
    match event {
        "diagnostics:ping" => Ok(Event::Ping),
        "repo:refs_changed" => {
            let p: Payload = parse_as(Provider::BitbucketServer, payload)?;
            let ssh_url = p
                .repository
                .links
                .into_iter()
                .flat_map(|l| l.clone)
                .find(|c| c.name == "ssh")
                .map(|c| c.href);
            Ok(Event::Push(Push {
                repo: format!("{}/{}", p.repository.project.key, p.repository.slug),
                ssh_url,
                project_id: None,
                pusher: p.actor.and_then(|a| a.name),
                changes: p
                    .changes
                    .into_iter()
                    .map(|c| Change {
                        deleted: c.kind == "DELETE",
                        git_ref: c.ref_id,
                        after: c.to_hash,
                        changed_paths: None,
                    })
                    .collect(),
            }))
        }
        _ => Ok(Event::Other),
    }
}
