//! The worker role: one [`Job`] in, one zip in S3 out.
//!
//! 1. If the object at the job's key already records this commit, stop:
//!    a redelivered or repeated job writes nothing.
//! 2. Git pull: fetch the ref over SSH into a scratch directory. If the
//!    ref has moved on since the push, build what it points at now (and
//!    say so): the newest commit wins, and the later job for that commit
//!    then finds it built. Zip download: fetch the provider's archive of
//!    the pushed commit.
//! 3. Build the zip on a blocking thread while [`Store::upload`] streams it
//!    to S3, and record commit, ref, repo, provider, delivery and pusher
//!    on the object.
//!
//! Every error says what to fix. The SQS adapter reports failed jobs one by
//! one, so the queue retries them and, after three tries, moves them to the
//! dead-letter queue.

use std::path::PathBuf;
use std::time::Instant;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tokio::sync::mpsc;

use crate::connection::{Connection, NotConnected};
use crate::fetch::archive::{self, ArchiveError, Credentials, Endpoints};
use crate::fetch::git::Fetched;
use crate::fetch::git::{fetch, FetchError};
use crate::fetch::hostkeys::KnownHosts;
use crate::fetch::keys::DeployKeys;
use crate::job::{Job, Method};
use crate::layout::LayoutError;
use crate::snapshot::{self, SnapshotError};
use crate::store::{ObjectMeta, PartWriter, StoreError, Uploaded, ZipStore};
use crate::zip::ZipWriter;

/// What the worker needs besides the job.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The deploy keys, for the git-pull method: one, or one per repository.
    pub deploy_keys: DeployKeys,
    pub known_hosts: KnownHosts,
    /// Where git objects go while a job runs (`/tmp` on Lambda).
    pub scratch: PathBuf,
    /// The provider's API and token, for the zip-download method.
    pub archive: Option<ArchiveAccess>,
    /// What the stack is connected to: a job for anything else is refused
    /// before any fetch, whatever the queue holds.
    pub connection: Connection,
}

/// How to reach the provider's archive API.
#[derive(Debug, Clone)]
pub struct ArchiveAccess {
    pub endpoints: Endpoints,
    pub credentials: Credentials,
}

fn no_deploy_key(repo: &str, has_others: bool) -> String {
    if has_others {
        format!(
            "the deploy-key secret has no key for {repo} (it holds one key per repository): \
             run `git2s3 register-webhook --repo {repo} --deploy-key`, which adds one"
        )
    } else {
        format!(
            "no deploy key is configured, so {repo} cannot be fetched over SSH: set SshKeySecretId on the stack \
             (git2s3 init does), or pass --ssh-key to git2s3 serve"
        )
    }
}

/// What a job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Written {
        key: String,
        commit: String,
        version_id: Option<String>,
        zip_bytes: u64,
        files: u64,
        submodules_skipped: u64,
    },
    /// The object already holds this commit.
    AlreadyCurrent { key: String, commit: String },
}

/// Why a job failed, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error("{0}")]
    Layout(#[from] LayoutError),
    #[error("{}", no_deploy_key(repo, *has_others))]
    NoDeployKey { repo: String, has_others: bool },
    #[error("the {provider} payload for {repo} names no SSH URL to fetch from")]
    NoSshUrl { provider: String, repo: String },
    #[error(
        "no provider token is configured, so {repo} cannot be downloaded: set GitTokenSecretId on the stack \
         (git2s3 init does), or export GIT2S3_GIT_TOKEN for git2s3 serve"
    )]
    NoToken { repo: String },
    #[error("{0}")]
    Archive(#[from] ArchiveError),
    #[error("writing the zip failed: {0}")]
    Write(#[from] std::io::Error),
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Snapshot(#[from] SnapshotError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("could not create a scratch directory in {dir}: {source}")]
    Scratch { dir: String, source: std::io::Error },
    #[error("the job message is not a git2s3 job: {0}")]
    BadMessage(String),
    #[error("refused: {0}")]
    NotConnected(#[from] NotConnected),
}

/// Builds one job's zip.
pub async fn handle(
    job: &Job,
    config: &WorkerConfig,
    store: &impl ZipStore,
) -> Result<Done, WorkError> {
    let key = job.object_key()?;
    let connection = &config.connection;
    connection.check_provider(job.provider)?;
    connection.check_repo(&job.repo)?;
    if store.current_commit(&key).await?.as_deref() == Some(job.commit.as_str()) {
        return Ok(Done::AlreadyCurrent {
            key,
            commit: job.commit.clone(),
        });
    }
    match job.method {
        Method::GitPull => git_pull(job, config, store, key).await,
        Method::ZipDownload => zip_download(job, config, store, key).await,
    }
}

/// Counts from building a zip.
struct Built {
    files: u64,
    submodules_skipped: u64,
}

/// Runs `build` on a blocking thread, writing into a [`PartWriter`], while
/// the parts stream to S3; the upload completes only if `build` succeeds.
async fn stream_to_s3<F>(
    store: &impl ZipStore,
    key: &str,
    meta: &ObjectMeta,
    build: F,
) -> Result<(Uploaded, Built), WorkError>
where
    F: FnOnce(PartWriter) -> Result<(PartWriter, Built), WorkError> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(2);
    let builder = tokio::task::spawn_blocking(move || -> Result<Built, WorkError> {
        let (writer, built) = build(PartWriter::new(tx))?;
        writer.finish()?;
        Ok(built)
    });
    let uploaded = store.upload(key, meta, rx).await;
    // A builder error explains an unfinished upload better than the upload does.
    let built = builder.await.expect("the zip thread does not panic")?;
    Ok((uploaded?, built))
}

fn meta(job: &Job, commit: &str) -> ObjectMeta {
    ObjectMeta {
        commit: commit.to_string(),
        git_ref: job.git_ref.clone(),
        repo: job.repo.clone(),
        provider: job.provider.to_string(),
        delivery_id: job.delivery_id.clone(),
        pusher: job.pusher.clone(),
    }
}

fn written(key: String, commit: String, uploaded: Uploaded, built: Built) -> Done {
    Done::Written {
        key,
        commit,
        version_id: uploaded.version_id,
        zip_bytes: uploaded.bytes,
        files: built.files,
        submodules_skipped: built.submodules_skipped,
    }
}

async fn git_pull(
    job: &Job,
    config: &WorkerConfig,
    store: &impl ZipStore,
    key: String,
) -> Result<Done, WorkError> {
    let deploy_key = config
        .deploy_keys
        .for_repo(&job.repo)
        .cloned()
        .ok_or_else(|| WorkError::NoDeployKey {
            repo: job.repo.clone(),
            has_others: !config.deploy_keys.is_empty(),
        })?;
    let url = job.ssh_url.clone().ok_or_else(|| WorkError::NoSshUrl {
        provider: job.provider.to_string(),
        repo: job.repo.clone(),
    })?;
    config.connection.check_ssh_url(&url, &job.repo)?;
    let scratch = tempfile::Builder::new()
        .prefix("git2s3-")
        .tempdir_in(&config.scratch)
        .map_err(|source| WorkError::Scratch {
            dir: config.scratch.display().to_string(),
            source,
        })?;
    let repo_dir = scratch.path().join("repo.git");

    let started = Instant::now();
    let fetched = {
        let (repo_dir, git_ref, known_hosts, repo) = (
            repo_dir.clone(),
            job.parsed_ref()?,
            config.known_hosts.clone(),
            job.repo.clone(),
        );
        tokio::task::spawn_blocking(move || {
            fetch(&url, &repo, &git_ref, &deploy_key, &known_hosts, &repo_dir)
        })
        .await
        .expect("the fetch thread does not panic")?
    };
    tracing::info!(
        repo = %job.repo, git_ref = %job.git_ref, commit = %fetched.commit,
        seconds = started.elapsed().as_secs_f64(), "fetched"
    );
    if let Some(done) = moved_on_and_current(job, &fetched, store, &key).await? {
        return Ok(done);
    }
    let commit = fetched.commit.clone();
    let (uploaded, built) = stream_to_s3(store, &key, &meta(job, &commit), move |writer| {
        let (writer, stats) = snapshot::write_zip(&repo_dir, &fetched.commit, writer)?;
        tracing::info!(
            files = stats.files,
            copied_from_pack = stats.copied_from_pack,
            zip_bytes = stats.zip_bytes,
            "zipped"
        );
        Ok((
            writer,
            Built {
                files: stats.files,
                submodules_skipped: stats.submodules_skipped,
            },
        ))
    })
    .await?;
    tracing::info!(
        repo = %job.repo, git_ref = %job.git_ref, %commit,
        seconds = started.elapsed().as_secs_f64(), "fetched, zipped and uploaded"
    );
    drop(scratch);
    Ok(written(key, commit, uploaded, built))
}

/// When the ref has moved on since the push, the newer commit is built;
/// and when the object already holds that commit, nothing is.
async fn moved_on_and_current(
    job: &Job,
    fetched: &Fetched,
    store: &impl ZipStore,
    key: &str,
) -> Result<Option<Done>, WorkError> {
    if fetched.commit == job.commit || fetched.ref_target == job.commit {
        return Ok(None);
    }
    tracing::info!(
        repo = %job.repo, git_ref = %job.git_ref, pushed = %job.commit, now = %fetched.commit,
        "the ref moved on since this push; building the newer commit"
    );
    let current = store.current_commit(key).await?;
    Ok(
        (current.as_deref() == Some(fetched.commit.as_str())).then(|| Done::AlreadyCurrent {
            key: key.to_string(),
            commit: fetched.commit.clone(),
        }),
    )
}

async fn zip_download(
    job: &Job,
    config: &WorkerConfig,
    store: &impl ZipStore,
    key: String,
) -> Result<Done, WorkError> {
    let access = config.archive.clone().ok_or_else(|| WorkError::NoToken {
        repo: job.repo.clone(),
    })?;
    let owned = job.clone();
    let (uploaded, built) = stream_to_s3(store, &key, &meta(job, &job.commit), move |writer| {
        let mut zip = ZipWriter::new(writer);
        let files = archive::download(&owned, &access.endpoints, &access.credentials, &mut zip)?;
        let (writer, _) = zip.finish()?;
        Ok((
            writer,
            Built {
                files,
                submodules_skipped: 0,
            },
        ))
    })
    .await?;
    Ok(written(key, job.commit.clone(), uploaded, built))
}

/// Logs the outcome of one job, without any secret.
pub fn log_outcome(job: &Job, result: &Result<Done, WorkError>) {
    match result {
        Ok(Done::Written {
            key,
            commit,
            version_id,
            zip_bytes,
            files,
            submodules_skipped,
        }) => tracing::info!(
            repo = %job.repo, git_ref = %job.git_ref, commit = %commit, key = %key,
            version = version_id.as_deref().unwrap_or("-"), zip_bytes, files, submodules_skipped,
            delivery = %job.delivery_id, "zip written"
        ),
        Ok(Done::AlreadyCurrent { key, commit }) => tracing::info!(
            repo = %job.repo, git_ref = %job.git_ref, commit = %commit, key = %key,
            delivery = %job.delivery_id, "already current; nothing written"
        ),
        Err(e) => tracing::error!(
            repo = %job.repo, git_ref = %job.git_ref, commit = %job.commit,
            delivery = %job.delivery_id, error = %e, "job failed"
        ),
    }
}

/// The SQS event → one [`handle`] per message → the failed message ids.
pub async fn handle_sqs(
    event: SqsEvent,
    config: &WorkerConfig,
    store: &impl ZipStore,
) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let job = serde_json::from_str::<Job>(message.body.as_deref().unwrap_or(""))
            .map_err(|e| WorkError::BadMessage(e.to_string()));
        let result = match job {
            Ok(job) => {
                let result = handle(&job, config, store).await;
                log_outcome(&job, &result);
                result.map(|_| ())
            }
            Err(e) => {
                tracing::error!(message = %id, error = %e, "unreadable job");
                Err(e)
            }
        };
        if result.is_err() {
            failures.push(BatchItemFailure {
                item_identifier: id,
            });
        }
    }
    SqsBatchResponse {
        batch_item_failures: failures,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::sync::Mutex;

    use tokio::sync::mpsc;

    use super::*;
    use crate::fetch::git::DeployKey;
    use crate::store::Part;
    use crate::Provider;

    const OLD: &str = "1111111111111111111111111111111111111111";
    const NEW: &str = "2222222222222222222222222222222222222222";

    /// A bucket in memory, with the same contract as S3's [`crate::store::Store`]:
    /// an object is stored only once its parts end with [`Part::End`].
    #[derive(Default)]
    struct MemoryStore {
        /// key → (commit, zip bytes)
        objects: Mutex<HashMap<String, (String, Vec<u8>)>>,
        uploads_started: Mutex<usize>,
    }

    impl MemoryStore {
        fn holding(key: &str, commit: &str) -> Self {
            let store = MemoryStore::default();
            store
                .objects
                .lock()
                .unwrap()
                .insert(key.into(), (commit.into(), b"PK old zip".to_vec()));
            store
        }

        fn object(&self, key: &str) -> Option<(String, Vec<u8>)> {
            self.objects.lock().unwrap().get(key).cloned()
        }

        fn uploads_started(&self) -> usize {
            *self.uploads_started.lock().unwrap()
        }
    }

    impl ZipStore for MemoryStore {
        async fn current_commit(&self, key: &str) -> Result<Option<String>, StoreError> {
            Ok(self.object(key).map(|(commit, _)| commit))
        }

        async fn upload(
            &self,
            key: &str,
            meta: &ObjectMeta,
            mut parts: mpsc::Receiver<Part>,
        ) -> Result<Uploaded, StoreError> {
            *self.uploads_started.lock().unwrap() += 1;
            let mut bytes = Vec::new();
            loop {
                match parts.recv().await {
                    Some(Part::Data(chunk)) => bytes.extend_from_slice(&chunk),
                    Some(Part::End) => break,
                    None => {
                        return Err(StoreError::Unfinished {
                            bucket: "memory".into(),
                            key: key.into(),
                        })
                    }
                }
            }
            let len = bytes.len() as u64;
            self.objects
                .lock()
                .unwrap()
                .insert(key.into(), (meta.commit.clone(), bytes));
            Ok(Uploaded {
                version_id: Some("v1".into()),
                bytes: len,
                parts: 1,
            })
        }
    }

    fn job(method: Method, commit: &str) -> Job {
        Job {
            provider: Provider::Github,
            method,
            repo: "acme/api".into(),
            git_ref: "refs/heads/main".into(),
            commit: commit.into(),
            ssh_url: Some("git@github.com:acme/api.git".into()),
            project_id: None,
            delivery_id: "d-1".into(),
            pusher: None,
        }
    }

    fn config(deploy_keys: DeployKeys, archive: Option<ArchiveAccess>) -> WorkerConfig {
        WorkerConfig {
            deploy_keys,
            known_hosts: KnownHosts::with_extra("").unwrap(),
            scratch: std::env::temp_dir(),
            archive,
            connection: Connection::new(Provider::Github, vec!["acme/api".into()], None, None, ""),
        }
    }

    const KEY: &str = "acme/api/main/acme_api.zip";

    #[tokio::test]
    async fn a_job_for_the_commit_already_in_s3_writes_nothing() {
        for method in [Method::GitPull, Method::ZipDownload] {
            let store = MemoryStore::holding(KEY, NEW);
            let done = handle(
                &job(method, NEW),
                &config(DeployKeys::default(), None),
                &store,
            )
            .await
            .unwrap();
            assert_eq!(
                done,
                Done::AlreadyCurrent {
                    key: KEY.into(),
                    commit: NEW.into()
                }
            );
            assert_eq!(store.uploads_started(), 0, "{method:?}");
            assert_eq!(store.object(KEY).unwrap().1, b"PK old zip");
        }
    }

    #[tokio::test]
    async fn a_ref_that_moved_on_to_the_commit_in_s3_is_not_built_again() {
        let fetched = Fetched {
            commit: NEW.into(),
            ref_target: NEW.into(),
            commit_time: 0,
        };
        let pushed_old = job(Method::GitPull, OLD);
        let store = MemoryStore::holding(KEY, NEW);
        let done = moved_on_and_current(&pushed_old, &fetched, &store, KEY)
            .await
            .unwrap();
        assert_eq!(
            done,
            Some(Done::AlreadyCurrent {
                key: KEY.into(),
                commit: NEW.into()
            })
        );
        // The object still holds the old commit: the newer one is built.
        let store = MemoryStore::holding(KEY, OLD);
        let done = moved_on_and_current(&pushed_old, &fetched, &store, KEY)
            .await
            .unwrap();
        assert_eq!(done, None);
        // The ref did not move: build what was pushed.
        let pushed_new = job(Method::GitPull, NEW);
        let done = moved_on_and_current(&pushed_new, &fetched, &store, KEY)
            .await
            .unwrap();
        assert_eq!(done, None);
        assert_eq!(store.uploads_started(), 0);
    }

    /// Answers every request with `body`, as an archive endpoint that
    /// returns an error page with status 200 would.
    fn serve_once(body: &'static [u8]) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(body);
            }
        });
        url
    }

    #[tokio::test]
    async fn a_build_that_fails_aborts_the_upload_and_writes_nothing() {
        // A zip whose first entry is cut short: the builder fails part-way,
        // after the upload has begun.
        const TRUNCATED: &[u8] = b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00";
        let access = ArchiveAccess {
            endpoints: Endpoints {
                github: serve_once(TRUNCATED),
                ..Endpoints::default()
            },
            credentials: Credentials::Token("t0k3n".into()),
        };
        let store = MemoryStore::holding(KEY, OLD);
        let err = handle(
            &job(Method::ZipDownload, NEW),
            &config(DeployKeys::default(), Some(access)),
            &store,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, WorkError::Archive(_)), "{err}");
        assert_eq!(store.uploads_started(), 1);
        assert_eq!(
            store.object(KEY),
            Some((OLD.into(), b"PK old zip".to_vec())),
            "the object at the key is untouched"
        );
    }

    #[tokio::test]
    async fn a_key_map_without_the_repository_fails_before_any_fetch() {
        let mut keys = DeployKeys::default();
        keys.insert(
            "acme/other",
            DeployKey::new("-----BEGIN OPENSSH PRIVATE KEY-----\n"),
        );
        let store = MemoryStore::default();
        let err = handle(&job(Method::GitPull, NEW), &config(keys, None), &store)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, WorkError::NoDeployKey { repo, has_others: true } if repo == "acme/api"),
            "{err}"
        );
        assert!(err
            .to_string()
            .contains("register-webhook --repo acme/api --deploy-key"));
        assert_eq!(store.uploads_started(), 0);
        assert_eq!(store.object(KEY), None);
    }
}
