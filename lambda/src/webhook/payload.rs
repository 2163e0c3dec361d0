//! What the providers' parsers make of a payload: one [`Push`] with a
//! [`Change`] per ref, or another [`Event`]; and the commit-id rules every
//! parser and sender shares.

use serde_json::Value;

use super::rejection::Rejection;
use crate::Provider;

/// One ref of a push, as a provider's parser reads it.
#[derive(Debug, Default)]
pub struct Change {
    /// Full ref name.
    pub git_ref: String,
    /// The new commit; all zeros, or `deleted`, for a deletion.
    pub after: String,
    pub deleted: bool,
    /// Changed files, where the payload lists all of them.
    pub changed_paths: Option<Vec<String>>,
}

/// A push, as a provider's parser reads it.
#[derive(Debug, Default)]
pub struct Push {
    pub repo: String,
    pub ssh_url: Option<String>,
    pub project_id: Option<String>,
    pub pusher: Option<String>,
    pub changes: Vec<Change>,
}

/// What a provider's parser makes of an event.
pub enum Event {
    Ping,
    Push(Push),
    Other,
}

/// A commit as GitHub and GitLab list it in a push, with its changed files.
#[derive(serde::Deserialize)]
pub struct ListedCommit {
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub modified: Vec<String>,
}

/// Every path the commits touch, sorted; `None` unless the payload is
/// known to list all of the push's commits.
pub fn changed_paths(commits: &[ListedCommit], complete: bool) -> Option<Vec<String>> {
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
pub fn parse_as<T: serde::de::DeserializeOwned>(
    provider: Provider,
    payload: Value,
) -> Result<T, Rejection> {
    serde_json::from_value(payload)
        .map_err(|e| Rejection::BadPayload(format!("{provider} push payload: {e}")))
}

pub fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// A SHA-1 (40) or SHA-256 (64) object id in hex.
pub fn is_commit_sha(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}
