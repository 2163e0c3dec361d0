//! The sweep: what heals a dropped webhook. A provider sends a push once,
//! and drops some (GitHub never redelivers a failed one; GitLab sends none
//! for a push of more refs than its limit; Bitbucket drops large payloads;
//! a throttled or unavailable receiver answers 429 or 503). So for each
//! connected repository the sweep lists its branch and tag heads over SSH
//! with the deploy key (one connection, as `git ls-remote`; no API token,
//! and it works for plain SSH servers), compares each head inside the
//! filters with the `commit` of its zip, and gives a job for every ref
//! whose zip is missing or stale.
//!
//! A stack that downloads zips has no deploy key: with the provider token
//! it stores, the heads are listed through the provider's API instead
//! (`archive::list_refs`), and the jobs download zips. Below an `org`,
//! the repositories swept are those the org's API lists when there is a
//! token, or else those that already have a zip in the bucket.
//!
//! The jobs are a webhook's, with a delivery id of the head's own, so two
//! sweeps that find the same head queue it once (SQS deduplicates), and the
//! worker's "already current" check makes a sweep that races a webhook
//! harmless. With `branches.on_delete: delete`, a zip whose ref the server
//! no longer has is stale too: its job deletes it (the worker checks the
//! ref is gone first).

use crate::connection::{Connection, NotConnected};
use crate::fetch::archive::{self, ArchiveError};
use crate::fetch::git::{list_heads, FetchError};
use crate::fetch::hostkeys::KnownHosts;
use crate::fetch::keys::DeployKeys;
use crate::filter::Filters;
use crate::filter::OnDelete;
use crate::job::DELETED;
use crate::job::{Job, Method};
use crate::layout::{object_key, ref_of_key, repo_of_key, GitRef, LayoutError};
use crate::queue::JobQueue;
use crate::store::{StoreError, ZipStore};
use crate::worker::ArchiveAccess;

/// What a sweep needs: what the stack is connected to, which refs build,
/// and how to reach the Git server.
#[derive(Debug, Clone)]
pub struct Sweeper {
    pub connection: Connection,
    pub filters: Filters,
    pub deploy_keys: DeployKeys,
    pub known_hosts: KnownHosts,
    /// The provider's API and token, if one is stored: heads are listed
    /// there for a repository with no deploy key, and an org's
    /// repositories are listed there.
    pub api: Option<ArchiveAccess>,
}

/// A ref whose zip is missing or behind its head.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stale {
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The commit the ref points at on the server; all zeros
    /// ([`DELETED`]) for a ref the server no longer has.
    pub head: String,
    /// The commit of its zip now, `None` when there is none.
    pub zip_commit: Option<String>,
}

/// One repository, swept.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Swept {
    pub repo: String,
    /// Where its heads were listed: its clone URL, or the provider's API.
    pub url: String,
    /// How its stale refs are built: git pull when the heads came over
    /// SSH, zip download when they came from the API.
    pub method: Method,
    pub stale: Vec<Stale>,
    /// Refs inside the filters whose zip holds their head.
    pub current: usize,
}

/// What one round of sweeping did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Round {
    pub repos: usize,
    pub queued: usize,
    /// Each repository that could not be swept, and why.
    pub failed: Vec<(String, String)>,
}

/// Why a repository could not be swept; the others still are.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(
        "no clone URL for {repo}: set clone_url (GIT2S3_CLONE_URL), e.g. \
         ssh://git@git.example.com:2222/srv/git/{{repo}}.git"
    )]
    NoCloneUrl { repo: String },
    #[error(
        "the deploy-key secret has no key for {repo}: run `git2s3 register-webhook --repo {repo} --deploy-key`"
    )]
    NoDeployKey { repo: String },
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Api(#[from] ArchiveError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Layout(#[from] LayoutError),
    #[error("{0}")]
    NotConnected(#[from] NotConnected),
}

impl Sweeper {
    /// Lists `repo`'s heads and compares each with its zip.
    pub async fn sweep(&self, repo: &str, store: &impl ZipStore) -> Result<Swept, SweepError> {
        self.connection.check_repo(repo)?;
        let (url, method, heads) = self.heads(repo).await?;
        let mut swept = Swept {
            repo: repo.to_string(),
            url,
            method,
            stale: Vec::new(),
            current: 0,
        };
        let mut live = std::collections::HashSet::new();
        for (name, head) in heads {
            // A ref git2s3 would not build from a webhook is not swept either.
            let Ok(git_ref) = GitRef::parse(&name) else {
                continue;
            };
            let Ok(key) = object_key(repo, &git_ref) else {
                continue;
            };
            live.insert(key.clone());
            if self.filters.check(&git_ref, None).is_err() {
                continue;
            }
            let zip_commit = store.current(&key).await?.and_then(|c| c.commit);
            if zip_commit.as_deref() == Some(head.as_str()) {
                swept.current += 1;
                continue;
            }
            tracing::info!(
                repo, git_ref = %name, zip_commit = zip_commit.as_deref().unwrap_or("-"),
                head = %head, "sweep: stale, queueing"
            );
            swept.stale.push(Stale {
                git_ref: name,
                head,
                zip_commit,
            });
        }
        if self.filters.on_delete == OnDelete::Delete {
            self.gone(repo, &live, store, &mut swept).await?;
        }
        Ok(swept)
    }

    /// `repo`'s heads, where they were listed, and how to build them: over
    /// SSH with its deploy key when it has one (no API quota spent), else
    /// through the provider's API with the stored token.
    async fn heads(
        &self,
        repo: &str,
    ) -> Result<(String, Method, Vec<(String, String)>), SweepError> {
        let key = self.deploy_keys.for_repo(repo).cloned();
        if let (None, Some(api)) = (&key, &self.api) {
            let (provider, name, api) = (self.connection.provider, repo.to_string(), api.clone());
            let heads = tokio::task::spawn_blocking(move || {
                archive::list_refs(provider, &name, &api.endpoints, &api.credentials)
            })
            .await
            .expect("listing heads does not panic")?;
            return Ok((format!("the {provider} API"), Method::ZipDownload, heads));
        }
        let url = self
            .connection
            .clone_url(repo)
            .ok_or_else(|| SweepError::NoCloneUrl {
                repo: repo.to_string(),
            })?;
        let key = key.ok_or_else(|| SweepError::NoDeployKey {
            repo: repo.to_string(),
        })?;
        let (list_url, repo, known_hosts) =
            (url.clone(), repo.to_string(), self.known_hosts.clone());
        let heads =
            tokio::task::spawn_blocking(move || list_heads(&list_url, &repo, &key, &known_hosts))
                .await
                .expect("listing heads does not panic")?;
        Ok((url, Method::GitPull, heads))
    }

    /// With `on_delete: delete`: each zip of `repo` whose ref the server no
    /// longer has, inside the filters, is stale with the head [`DELETED`].
    async fn gone(
        &self,
        repo: &str,
        live: &std::collections::HashSet<String>,
        store: &impl ZipStore,
        swept: &mut Swept,
    ) -> Result<(), SweepError> {
        for key in store.keys(&format!("{repo}/")).await? {
            if live.contains(&key) {
                continue;
            }
            let Some(git_ref) = ref_of_key(repo, &key) else {
                continue;
            };
            if self.filters.check(&git_ref, None).is_err() {
                continue;
            }
            let zip_commit = store.current(&key).await?.and_then(|c| c.commit);
            tracing::info!(
                repo, git_ref = %git_ref.full_name(), zip_commit = zip_commit.as_deref().unwrap_or("-"),
                "sweep: the ref is gone, queueing the deletion of its zip"
            );
            swept.stale.push(Stale {
                git_ref: git_ref.full_name(),
                head: DELETED.to_string(),
                zip_commit,
            });
        }
        Ok(())
    }

    /// The repositories to sweep: `repos`, and below an `org` every
    /// repository the org's API lists when a token is stored, or else each
    /// one that already has a zip in the bucket (a repository that never
    /// had a push is then found by its first webhook).
    pub async fn connected_repos(&self, store: &impl ZipStore) -> Result<Vec<String>, SweepError> {
        let mut repos = self.connection.repos.clone();
        let Some(org) = &self.connection.org else {
            return Ok(repos);
        };
        let org = org.trim_end_matches('/').to_string();
        let listed = match &self.api {
            Some(api) => {
                let (provider, name, api) = (self.connection.provider, org.clone(), api.clone());
                let listed = tokio::task::spawn_blocking(move || {
                    archive::list_org_repos(provider, &name, &api.endpoints, &api.credentials)
                })
                .await
                .expect("listing repositories does not panic");
                match listed {
                    Ok(listed) => Some(listed),
                    Err(e) => {
                        tracing::warn!(%org, error = %e, "sweep: could not list the org's repositories; sweeping those with zips");
                        None
                    }
                }
            }
            None => None,
        };
        let found = match listed {
            Some(listed) => listed,
            None => store
                .keys(&format!("{org}/"))
                .await?
                .iter()
                .filter_map(|key| repo_of_key(key))
                .collect(),
        };
        for repo in found {
            let known = repos.iter().any(|r| r.eq_ignore_ascii_case(&repo));
            if !known && self.connection.check_repo(&repo).is_ok() {
                repos.push(repo);
            }
        }
        Ok(repos)
    }

    /// Sweeps every connected repository and queues the jobs of their
    /// stale refs; a repository that fails is logged and left for the
    /// next round.
    pub async fn round(&self, store: &impl ZipStore, queue: &impl JobQueue) -> Round {
        let repos = match self.connected_repos(store).await {
            Ok(repos) => repos,
            Err(e) => {
                tracing::warn!(error = %e, "sweep: could not list the org's zips; sweeping `repos` only");
                self.connection.repos.clone()
            }
        };
        let mut round = Round {
            repos: repos.len(),
            ..Round::default()
        };
        for repo in &repos {
            let swept = match self.sweep(repo, store).await {
                Ok(swept) => swept,
                Err(e) => {
                    tracing::warn!(repo = %repo, error = %e, "sweep: could not sweep");
                    round.failed.push((repo.clone(), e.to_string()));
                    continue;
                }
            };
            tracing::info!(
                repo = %repo, stale = swept.stale.len(), current = swept.current,
                "sweep: swept"
            );
            for job in self.jobs(&swept) {
                match queue.enqueue(&job).await {
                    Ok(()) => round.queued += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "sweep: could not queue");
                        round.failed.push((repo.clone(), e.to_string()));
                    }
                }
            }
        }
        tracing::info!(
            repos = round.repos,
            queued = round.queued,
            failed = round.failed.len(),
            "sweep done"
        );
        round
    }

    /// The jobs that build `swept`'s stale refs, as a webhook's would.
    pub fn jobs(&self, swept: &Swept) -> Vec<Job> {
        swept
            .stale
            .iter()
            .map(|s| Job {
                provider: self.connection.provider,
                method: swept.method,
                repo: swept.repo.clone(),
                git_ref: s.git_ref.clone(),
                commit: s.head.clone(),
                ssh_url: (swept.method == Method::GitPull).then(|| swept.url.clone()),
                // GitLab's API takes the project's path where its id would go.
                project_id: (swept.method == Method::ZipDownload).then(|| swept.repo.clone()),
                delivery_id: format!("sweep-{}", s.head),
                pusher: None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::parts::Part;
    use crate::store::{Current, ObjectMeta, Replaces, Uploaded};
    use crate::Provider;

    /// A bucket that only lists keys.
    struct Listed(Vec<&'static str>);

    impl ZipStore for Listed {
        async fn current(&self, _: &str) -> Result<Option<Current>, StoreError> {
            Ok(None)
        }
        async fn upload(
            &self,
            _: &str,
            _: &ObjectMeta,
            _: mpsc::Receiver<Part>,
            _: &Replaces,
        ) -> Result<Uploaded, StoreError> {
            unreachable!("a sweep writes nothing")
        }
        async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
            Ok(self
                .0
                .iter()
                .filter(|k| k.starts_with(prefix))
                .map(|k| k.to_string())
                .collect())
        }
        async fn delete(&self, _: &str) -> Result<(), StoreError> {
            unreachable!("a sweep deletes nothing")
        }
        async fn read(
            &self,
            _: &str,
            _: &str,
            _: Option<u64>,
            _: u64,
        ) -> Result<bytes::Bytes, StoreError> {
            unreachable!("a sweep reads no zip")
        }
    }

    /// A sweeper for `connection`, with no keys and no token.
    fn sweeper(connection: Connection) -> Sweeper {
        Sweeper {
            connection,
            filters: Filters::all(),
            deploy_keys: DeployKeys::default(),
            known_hosts: KnownHosts::with_extra("").unwrap(),
            api: None,
        }
    }

    #[tokio::test]
    async fn an_orgs_repositories_are_those_with_zips_below_it() {
        let sweeper = sweeper(Connection::new(
            Provider::Gitlab,
            vec!["acme/api".into(), "solo/tool".into()],
            Some("acme".into()),
            None,
            "",
        ));
        let store = Listed(vec![
            "acme/api/main/acme_api.zip",
            "acme/web/main/acme_web.zip",
            "acme/web/tags/v1/acme_web.zip",
            "acme/platform/backend/release/1.x/acme_platform_backend.zip",
            "acme/notes.txt",
            "other/x/main/other_x.zip",
        ]);
        assert_eq!(
            sweeper.connected_repos(&store).await.unwrap(),
            ["acme/api", "solo/tool", "acme/web", "acme/platform/backend"]
        );
    }

    /// Heads listed through the API are built by zip download: no SSH URL,
    /// and GitLab's project path where its id would go.
    #[test]
    fn heads_from_the_api_become_zip_download_jobs() {
        let sweeper = sweeper(Connection::new(
            Provider::Gitlab,
            vec!["acme/sub/api".into()],
            None,
            None,
            "",
        ));
        let swept = Swept {
            repo: "acme/sub/api".into(),
            url: "the gitlab API".into(),
            method: Method::ZipDownload,
            stale: vec![Stale {
                git_ref: "refs/heads/main".into(),
                head: "a".repeat(40),
                zip_commit: None,
            }],
            current: 0,
        };
        let jobs = sweeper.jobs(&swept);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].method, Method::ZipDownload);
        assert_eq!(jobs[0].ssh_url, None);
        assert_eq!(jobs[0].project_id.as_deref(), Some("acme/sub/api"));
        assert_eq!(jobs[0].delivery_id, format!("sweep-{}", "a".repeat(40)));
    }
}
