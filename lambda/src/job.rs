//! A job: one ref of one push, as the receiver hands it to the worker
//! through the FIFO queue. It carries everything the worker needs and
//! nothing secret.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::layout::{object_key, GitRef, LayoutError};
use crate::Provider;

/// How the worker gets the code; chosen by the route the webhook called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// `POST /gitpull`: fetch over SSH with the deploy key.
    GitPull,
    /// `POST /zipdl`: download the provider's archive with a token.
    ZipDownload,
}

impl Method {
    /// The API route that selects this method.
    pub fn route(self) -> &'static str {
        match self {
            Method::GitPull => "/gitpull",
            Method::ZipDownload => "/zipdl",
        }
    }

    /// The method for a request path, by its last segment, so that a stage
    /// prefix (`/prod/gitpull`) does not matter.
    pub fn from_path(path: &str) -> Option<Method> {
        match path.trim_end_matches('/').rsplit('/').next()? {
            "gitpull" => Some(Method::GitPull),
            "zipdl" => Some(Method::ZipDownload),
            _ => None,
        }
    }
}

/// A job's commit when its ref was deleted: with `branches.on_delete:
/// delete`, the worker checks the ref is gone and puts a delete marker on
/// its zip.
pub const DELETED: &str = "0000000000000000000000000000000000000000";

/// One ref to build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub provider: Provider,
    pub method: Method,
    /// `owner/repo`, or the full path of a nested group.
    pub repo: String,
    /// The full ref name, `refs/heads/…` or `refs/tags/…`.
    pub git_ref: String,
    /// The pushed commit (or, for an annotated tag, what the provider sent).
    pub commit: String,
    /// The SSH URL to fetch from, where the payload gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_url: Option<String>,
    /// The provider's own id for the project (GitLab's numeric project id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The provider's delivery id, for deduplication and logs.
    pub delivery_id: String,
    /// Who pushed, as the provider names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pusher: Option<String>,
}

impl Job {
    /// The parsed ref. A job is only ever built from a valid ref, so this
    /// fails only on a hand-edited queue message.
    pub fn parsed_ref(&self) -> Result<GitRef, LayoutError> {
        GitRef::parse(&self.git_ref)
    }

    /// Whether the job is a deleted ref's ([`DELETED`]).
    pub fn is_deletion(&self) -> bool {
        self.commit == DELETED
    }

    /// Where the zip lands.
    pub fn object_key(&self) -> Result<String, LayoutError> {
        object_key(&self.repo, &self.parsed_ref()?)
    }

    /// The FIFO message group: one per repo and ref, so that pushes to one
    /// branch are built in order. Hashed, because SQS allows only 128
    /// printable ASCII characters and repo names may be longer or Unicode.
    pub fn group_id(&self) -> String {
        digest(&[&self.repo, &self.git_ref])
    }

    /// The FIFO deduplication id: the delivery and the ref, so that a
    /// redelivered webhook is built once while the several refs of one
    /// Bitbucket push are each built.
    pub fn deduplication_id(&self) -> String {
        digest(&[&self.delivery_id, &self.repo, &self.git_ref])
    }

    /// A short id for responses and logs: the first 16 characters of the
    /// deduplication id.
    pub fn id(&self) -> String {
        self.deduplication_id()[..16].to_string()
    }
}

fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(delivery: &str, git_ref: &str) -> Job {
        Job {
            provider: Provider::Github,
            method: Method::GitPull,
            repo: "acme/api".into(),
            git_ref: git_ref.into(),
            commit: "a".repeat(40),
            ssh_url: None,
            project_id: None,
            delivery_id: delivery.into(),
            pusher: None,
        }
    }

    #[test]
    fn one_group_per_repo_and_ref() {
        assert_eq!(
            job("d1", "refs/heads/main").group_id(),
            job("d2", "refs/heads/main").group_id()
        );
        assert_ne!(
            job("d1", "refs/heads/main").group_id(),
            job("d1", "refs/heads/dev").group_id()
        );
    }

    #[test]
    fn redelivery_deduplicates_but_refs_of_one_push_do_not() {
        assert_eq!(
            job("d1", "refs/heads/main").deduplication_id(),
            job("d1", "refs/heads/main").deduplication_id()
        );
        assert_ne!(
            job("d1", "refs/heads/main").deduplication_id(),
            job("d1", "refs/tags/v1").deduplication_id()
        );
    }

    #[test]
    fn ids_fit_sqs_limits() {
        let j = job(&"x".repeat(500), "refs/heads/main");
        for id in [j.group_id(), j.deduplication_id()] {
            assert!(id.len() <= 128 && id.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn route_selects_the_method_whatever_the_stage_prefix() {
        assert_eq!(Method::from_path("/prod/gitpull"), Some(Method::GitPull));
        assert_eq!(Method::from_path("/zipdl/"), Some(Method::ZipDownload));
        assert_eq!(Method::from_path("/other"), None);
    }

    #[test]
    fn jobs_round_trip_through_json() {
        let j = job("d1", "refs/tags/v1");
        let text = serde_json::to_string(&j).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), j);
    }
}
