//! Bitbucket Cloud (`X-Event-Key: repo:push`). One push may change several
//! refs; each becomes its own job. The payload names no SSH URL, so the
//! standard `git@bitbucket.org:<workspace>/<repo>.git` is used, and it
//! lists no files, so path filters do not apply.

use serde::Deserialize;
use serde_json::Value;

use super::payload::{parse_as, Change, Event, Push};
use super::rejection::Rejection;
use crate::Provider;

#[derive(Deserialize)]
struct Payload {
    push: PushBody,
    repository: Repository,
    actor: Option<Actor>,
}

#[derive(Deserialize)]
struct PushBody {
    changes: Vec<RefChange>,
}

#[derive(Deserialize)]
struct RefChange {
    new: Option<RefState>,
    old: Option<RefState>,
    #[serde(default)]
    closed: bool,
}

#[derive(Deserialize)]
struct RefState {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    target: Option<Target>,
}

#[derive(Deserialize)]
struct Target {
    hash: String,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct Actor {
    nickname: Option<String>,
    display_name: Option<String>,
}

fn full_ref(state: &RefState) -> String {
    match state.kind.as_str() {
        "tag" | "annotated_tag" => format!("refs/tags/{}", state.name),
        "branch" | "named_branch" => format!("refs/heads/{}", state.name),
        other => format!("refs/{other}/{}", state.name),
    }
}

pub(super) fn parse(event: &str, payload: Value) -> Result<Event, Rejection> {
    match event {
        "diagnostics:ping" => Ok(Event::Ping),
        "repo:push" => {
            let p: Payload = parse_as(Provider::Bitbucket, payload)?;
            let changes = p
                .push
                .changes
                .into_iter()
                .filter_map(|c| match (c.new, c.old) {
                    (Some(new), _) if !c.closed => Some(Change {
                        git_ref: full_ref(&new),
                        after: new.target.map(|t| t.hash).unwrap_or_default(),
                        deleted: false,
                        changed_paths: None,
                    }),
                    (_, Some(old)) => Some(Change {
                        git_ref: full_ref(&old),
                        deleted: true,
                        ..Change::default()
                    }),
                    (Some(new), None) => Some(Change {
                        git_ref: full_ref(&new),
                        deleted: true,
                        ..Change::default()
                    }),
                    (None, None) => None,
                })
                .collect();
            let repo = p.repository.full_name;
            Ok(Event::Push(Push {
                ssh_url: Some(format!("git@bitbucket.org:{repo}.git")),
                repo,
                project_id: None,
                pusher: p.actor.and_then(|a| a.nickname.or(a.display_name)),
                changes,
            }))
        }
        _ => Ok(Event::Other),
    }
}
