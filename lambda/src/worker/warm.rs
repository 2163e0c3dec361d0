//! The warm path of a git-pull job, up to the upload: when the key already
//! holds a zip git2s3 built, fetch only what the new commit adds to that
//! zip's commit ([`crate::fetch::upload_pack`]) and plan the new zip on the
//! old one ([`crate::incremental`]). The worker then writes the plan,
//! copying unchanged entries inside S3.
//!
//! Whatever stands in the way (no previous zip, one without git ids, an
//! unversioned bucket, a server without protocol v2 or without the old
//! commit, an object neither the pack nor the old zip holds, most of the
//! zip renamed) answers [`Prepared::Cold`] with the reason, which the
//! worker logs before it builds cold. Nothing is written before the plan
//! is complete.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use git2::{Oid, Repository};

use crate::fetch::git::{DeployKey, FetchError, Fetched};
use crate::fetch::hostkeys::KnownHosts;
use crate::fetch::upload_pack::{fetch_since, Since};
use crate::incremental::{self, Fallback, Plan, Previous};
use crate::layout::GitRef;
use crate::store::{Current, ZipStore};

/// What the warm path came to, before anything is written.
pub enum Prepared {
    /// The fetched objects and the plan of the new zip.
    Ready(Box<Ready>),
    /// The ref still points at the previous zip's commit.
    Unchanged { commit: String },
    /// Build cold, for this reason.
    Cold(String),
}

pub struct Ready {
    pub previous: Arc<Previous>,
    pub fetched: Fetched,
    pub plan: Plan,
    /// The repository the objects were fetched into.
    pub dir: PathBuf,
}

/// Where the job's repository is, and how to log in.
pub struct Source<'a> {
    pub url: &'a str,
    pub repo: &'a str,
    pub git_ref: &'a GitRef,
    pub key: &'a DeployKey,
    pub known_hosts: &'a KnownHosts,
}

/// The previous zip at `key`, read back from its end.
async fn previous(
    store: &impl ZipStore,
    key: &str,
    current: Option<&Current>,
) -> Result<Previous, String> {
    let Some(current) = current else {
        return Err("there is no zip at the key yet".into());
    };
    if current.commit.is_none() {
        return Err("the object at the key was not written by git2s3".into());
    }
    let Some(version_id) = current.version_id.clone() else {
        return Err("the bucket is not versioned, so no version can be copied from".into());
    };
    let read = |start, len| store.read(key, &version_id, start, len);
    match incremental::read_previous(&version_id, current.size, read).await {
        Ok(Ok(previous)) => Ok(previous),
        Ok(Err(Fallback(reason))) => Err(reason),
        Err(e) => Err(format!("reading the previous zip failed: {e}")),
    }
}

/// Reads the previous zip at `key`, fetches what changed since its commit
/// into `scratch`, and plans the new zip.
pub async fn prepare(
    store: &impl ZipStore,
    key: &str,
    current: Option<&Current>,
    source: Source<'_>,
    scratch: &Path,
) -> Result<Prepared, FetchError> {
    let started = Instant::now();
    let previous = match previous(store, key, current).await {
        Ok(previous) => Arc::new(previous),
        Err(reason) => return Ok(Prepared::Cold(reason)),
    };
    let read_back = started.elapsed();
    let dir = scratch.join("warm.git");
    let since = {
        let (url, repo, git_ref, key, known_hosts, dir, old) = (
            source.url.to_string(),
            source.repo.to_string(),
            source.git_ref.clone(),
            source.key.clone(),
            source.known_hosts.clone(),
            dir.clone(),
            previous.commit,
        );
        tokio::task::spawn_blocking(move || {
            fetch_since(&url, &repo, &git_ref, &key, &known_hosts, &dir, old)
        })
        .await
        .expect("the fetch thread does not panic")
    };
    let fetched = match since {
        Ok(Since::Fetched(fetched)) => fetched,
        Ok(Since::Unchanged) => {
            return Ok(Prepared::Unchanged {
                commit: previous.commit.to_string(),
            })
        }
        Ok(Since::OldCommitGone) => {
            return Ok(Prepared::Cold(format!(
                "the server no longer has {}, the previous zip's commit (a force push, then gc)",
                previous.commit
            )))
        }
        Ok(Since::Unsupported(reason)) => return Ok(Prepared::Cold(reason)),
        Err(FetchError::Git { message, .. }) => {
            return Ok(Prepared::Cold(format!("the warm fetch failed ({message})")))
        }
        // What a cold fetch would meet as well: the host key, the deploy
        // key, the ref gone.
        Err(e) => return Err(e),
    };
    tracing::info!(
        repo = %source.repo, commit = %fetched.commit, since = %previous.commit,
        received_bytes = fetched.received_bytes,
        directory_seconds = read_back.as_secs_f64(),
        seconds = started.elapsed().as_secs_f64(), "fetched what changed"
    );
    let planning = Instant::now();
    let plan = {
        let (dir, previous, commit) = (dir.clone(), previous.clone(), fetched.commit.clone());
        tokio::task::spawn_blocking(move || {
            let fallback =
                |e: git2::Error| Fallback(format!("reading the fetched objects: {}", e.message()));
            let repo = Repository::open(&dir).map_err(fallback)?;
            let commit = Oid::from_str(&commit).map_err(fallback)?;
            incremental::plan(&repo, commit, &previous)
        })
        .await
        .expect("planning does not panic")
    };
    tracing::info!(
        seconds = planning.elapsed().as_secs_f64(),
        "planned the zip on the previous zip"
    );
    Ok(match plan {
        Ok(plan) => Prepared::Ready(Box::new(Ready {
            previous,
            fetched,
            plan,
            dir,
        })),
        Err(Fallback(reason)) => Prepared::Cold(reason),
    })
}
