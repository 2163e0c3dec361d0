//! The worker role: one [`Job`] in, one zip in S3 out.
//!
//! 1. Refuse a job for anything the stack is not connected to, and read
//!    the object at the job's key once. If it records this commit, stop: a
//!    redelivered or repeated job writes nothing.
//! 2. Git pull: fetch the ref over SSH into a scratch directory. Zip
//!    download: ask the provider's API for the ref's head. Either way the
//!    commit built is the one the ref points at now, whatever the payload
//!    named (and the worker says so when they differ): a replayed or late
//!    delivery can never build an older commit. If the object already
//!    holds that head, stop.
//! 3. Build the zip on a blocking thread while the [`ZipStore`] streams it
//!    to S3, and record commit, ref, repo, provider, delivery and pusher
//!    on the object. The write is conditional on the object read in step
//!    1: if another worker replaced it meanwhile, this one writes nothing
//!    and fails, and its retry finds the key current.
//!
//! Every error says what to fix. The SQS adapter reports failed jobs one by
//! one, so the queue retries them and, after three tries, moves them to the
//! dead-letter queue.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tokio::sync::mpsc;

use crate::connection::{Connection, NotConnected};
use crate::fetch::archive::{self, ArchiveError, Credentials, Endpoints};
use crate::fetch::git::Fetched;
use crate::fetch::git::{fetch, list_heads, DeployKey, FetchError};
use crate::fetch::hostkeys::KnownHosts;
use crate::fetch::keys::DeployKeys;
use crate::filter::OnDelete;
use crate::job::{Job, Method};
use crate::layout::LayoutError;
use crate::parts::PartWriter;
use crate::snapshot::{self, SnapshotError};
use crate::store::{
    revision_summary, Current, ObjectMeta, Replaces, StoreError, Uploaded, ZipStore,
};
use crate::zip::ZipWriter;

mod warm;

use crate::incremental;
use warm::{Prepared, Ready};

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
    /// What a deleted ref's job does to its zip (`branches.on_delete`).
    pub on_delete: OnDelete,
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
    /// A deleted ref's zip got a delete marker (`existed`: there was one).
    Deleted { key: String, existed: bool },
    /// A deleted ref's zip was left as it is, and why.
    Kept { key: String, reason: &'static str },
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
    #[error(
        "the job was still running {seconds} s in, close to the worker's timeout, and was stopped; \
         nothing was written. Raise lambda.worker_timeout_seconds (WorkerTimeout) if this repository needs longer"
    )]
    TimedOut { seconds: u64 },
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
    // Read once: what the build is compared with, and what its upload may
    // replace (the write is conditional on it).
    let slot = Slot {
        current: store.current(&key).await?,
        key,
    };
    if job.is_deletion() {
        return delete_zip(job, config, store, slot).await;
    }
    if let Some(done) = slot.already(&job.commit) {
        return Ok(done);
    }
    match job.method {
        Method::GitPull => git_pull(job, config, store, slot).await,
        Method::ZipDownload => zip_download(job, config, store, slot).await,
    }
}

/// Where a job's zip goes, and the object there when the job began.
struct Slot {
    key: String,
    current: Option<Current>,
}

impl Slot {
    /// [`Done::AlreadyCurrent`] when the object holds `commit`.
    fn already(&self, commit: &str) -> Option<Done> {
        let held = self.current.as_ref().and_then(|c| c.commit.as_deref());
        (held == Some(commit)).then(|| Done::AlreadyCurrent {
            key: self.key.clone(),
            commit: commit.to_string(),
        })
    }
}

/// Counts from building a zip.
struct Built {
    files: u64,
    submodules_skipped: u64,
}

/// Runs `build` on a blocking thread, writing into a [`PartWriter`] (one
/// that may copy ranges of version `copy_from` of the object), while the
/// parts stream to S3; the upload completes only if `build` succeeds.
async fn stream_to_s3<F>(
    store: &impl ZipStore,
    slot: &Slot,
    meta: &ObjectMeta,
    copy_from: Option<String>,
    build: F,
) -> Result<(Uploaded, Built), WorkError>
where
    F: FnOnce(PartWriter) -> Result<(PartWriter, Built), WorkError> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(2);
    let writer = match copy_from {
        Some(version_id) => PartWriter::copying_from(tx, version_id),
        None => PartWriter::new(tx),
    };
    let builder = tokio::task::spawn_blocking(move || -> Result<Built, WorkError> {
        let (writer, built) = build(writer)?;
        writer.finish()?;
        Ok(built)
    });
    let replaces = Replaces::current(slot.current.as_ref());
    let uploaded = store.upload(&slot.key, meta, rx, &replaces).await;
    // A builder error explains an unfinished upload better than the upload does.
    let built = builder.await.expect("the zip thread does not panic")?;
    Ok((uploaded?, built))
}

/// The object's metadata; `subject` and `author` are the built commit's,
/// for CodePipeline's revision summary.
fn meta(job: &Job, commit: &str, subject: Option<&str>, author: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        commit: commit.to_string(),
        git_ref: job.git_ref.clone(),
        repo: job.repo.clone(),
        provider: job.provider.to_string(),
        delivery_id: job.delivery_id.clone(),
        pusher: job.pusher.clone(),
        summary: Some(revision_summary(commit, subject, author)),
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
    slot: Slot,
) -> Result<Done, WorkError> {
    let (deploy_key, url) = ssh_access(job, config)?;
    let scratch = tempfile::Builder::new()
        .prefix("git2s3-")
        .tempdir_in(&config.scratch)
        .map_err(|source| WorkError::Scratch {
            dir: config.scratch.display().to_string(),
            source,
        })?;
    let started = Instant::now();
    let git_ref = job.parsed_ref()?;
    let source = warm::Source {
        url: &url,
        repo: &job.repo,
        git_ref: &git_ref,
        key: &deploy_key,
        known_hosts: &config.known_hosts,
    };
    let prepared = warm::prepare(
        store,
        &slot.key,
        slot.current.as_ref(),
        source,
        scratch.path(),
    );
    let reason = match prepared.await? {
        Prepared::Unchanged { commit } => match slot.already(&commit) {
            Some(done) => return Ok(done),
            None => "the previous zip's comment and metadata name different commits".into(),
        },
        Prepared::Cold(reason) => reason,
        Prepared::Ready(ready) => match build_warm(job, store, &slot, *ready, started).await {
            Ok(done) => return Ok(done),
            Err(WorkError::Snapshot(e)) => format!("the warm build failed ({e})"),
            Err(e) => return Err(e),
        },
    };
    tracing::info!(
        repo = %job.repo, git_ref = %job.git_ref, commit = %job.commit, %reason, "building cold"
    );
    let repo_dir = scratch.path().join("repo.git");
    let fetched = {
        let (repo_dir, known_hosts, repo) = (
            repo_dir.clone(),
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
        received_bytes = fetched.received_bytes,
        seconds = started.elapsed().as_secs_f64(), "fetched"
    );
    if let Some(done) = moved_on_and_current(job, &fetched, &slot) {
        return Ok(done);
    }
    let commit = fetched.commit.clone();
    let meta = meta(
        job,
        &commit,
        fetched.subject.as_deref(),
        fetched.author.as_deref(),
    );
    let (uploaded, built) = stream_to_s3(store, &slot, &meta, None, move |writer| {
        let (writer, stats) = snapshot::write_zip(&repo_dir, &fetched.commit, writer)?;
        tracing::info!(files = stats.files, zip_bytes = stats.zip_bytes, "zipped");
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
        uploaded_bytes = uploaded.bytes,
        seconds = started.elapsed().as_secs_f64(), "fetched, zipped and uploaded"
    );
    drop(scratch);
    Ok(written(slot.key, commit, uploaded, built))
}

/// Writes the zip a warm [`Ready`] planned, copying from the previous
/// version of the object; a build that fails (not its upload) answers
/// [`WorkError::Snapshot`], and the job is built cold instead.
async fn build_warm(
    job: &Job,
    store: &impl ZipStore,
    slot: &Slot,
    ready: Ready,
    started: Instant,
) -> Result<Done, WorkError> {
    let Ready {
        previous,
        fetched,
        plan,
        dir,
    } = ready;
    if let Some(done) = moved_on_and_current(job, &fetched, slot) {
        return Ok(done);
    }
    let meta = meta(
        job,
        &fetched.commit,
        fetched.subject.as_deref(),
        fetched.author.as_deref(),
    );
    let version_id = previous.version_id.clone();
    let (uploaded, built) = stream_to_s3(store, slot, &meta, Some(version_id), move |writer| {
        let (writer, counts) = incremental::write(&dir, &previous, &plan, writer)?;
        tracing::info!(
            files = counts.stats.files,
            kept = counts.kept,
            renamed = counts.renamed,
            new = counts.new,
            zip_bytes = counts.stats.zip_bytes,
            "zipped on the previous zip"
        );
        Ok((
            writer,
            Built {
                files: counts.stats.files,
                submodules_skipped: counts.stats.submodules_skipped,
            },
        ))
    })
    .await?;
    tracing::info!(
        repo = %job.repo, git_ref = %job.git_ref, commit = %fetched.commit,
        received_bytes = fetched.received_bytes, zip_bytes = uploaded.bytes,
        copied_bytes = uploaded.copied, read_back_bytes = uploaded.read_back,
        uploaded_bytes = uploaded.bytes - uploaded.copied - uploaded.read_back,
        parts = uploaded.parts, last_parts_ms = uploaded.last_parts_millis,
        complete_ms = uploaded.complete_millis,
        seconds = started.elapsed().as_secs_f64(), "built on the previous zip and uploaded"
    );
    Ok(written(slot.key.clone(), fetched.commit, uploaded, built))
}

/// The job's deploy key and SSH URL, the URL checked against what the
/// stack is connected to.
fn ssh_access(job: &Job, config: &WorkerConfig) -> Result<(DeployKey, String), WorkError> {
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
    Ok((deploy_key, url))
}

/// The provider's API and token, for zip download.
fn archive_access(job: &Job, config: &WorkerConfig) -> Result<ArchiveAccess, WorkError> {
    config.archive.clone().ok_or_else(|| WorkError::NoToken {
        repo: job.repo.clone(),
    })
}

/// The job's ref's commit now, as the provider's API says (blocking HTTP,
/// off the async threads).
async fn api_head(job: &Job, access: &ArchiveAccess) -> Result<archive::Head, ArchiveError> {
    let (job, access) = (job.clone(), access.clone());
    tokio::task::spawn_blocking(move || archive::head(&job, &access.endpoints, &access.credentials))
        .await
        .expect("the head lookup does not panic")
}

/// A deleted ref's zip gets a delete marker, with `on_delete: delete`,
/// once the Git server (not the message) says the ref is gone: a deletion
/// webhook, even a signed one, cannot take away a ref's zip while the ref
/// exists. Its old versions stay, under the bucket's lifecycle rule.
async fn delete_zip(
    job: &Job,
    config: &WorkerConfig,
    store: &impl ZipStore,
    slot: Slot,
) -> Result<Done, WorkError> {
    let kept = |reason| Done::Kept {
        key: slot.key.clone(),
        reason,
    };
    if config.on_delete != OnDelete::Delete {
        return Ok(kept("branches.on_delete is keep"));
    }
    if slot.current.is_none() {
        return Ok(Done::Deleted {
            key: slot.key,
            existed: false,
        });
    }
    let exists = match job.method {
        Method::GitPull => {
            let (key, url) = ssh_access(job, config)?;
            let (repo, known_hosts) = (job.repo.clone(), config.known_hosts.clone());
            let heads =
                tokio::task::spawn_blocking(move || list_heads(&url, &repo, &key, &known_hosts))
                    .await
                    .expect("listing heads does not panic")?;
            heads.iter().any(|(name, _)| *name == job.git_ref)
        }
        Method::ZipDownload => {
            let access = archive_access(job, config)?;
            match api_head(job, &access).await {
                Ok(_) => true,
                // Gone, if the token can read the repository: a provider
                // answers 404 for what the token cannot see, too.
                Err(ArchiveError::Status { status: 404, .. }) => {
                    let (job, access) = (job.clone(), access.clone());
                    tokio::task::spawn_blocking(move || {
                        archive::repository_readable(&job, &access.endpoints, &access.credentials)
                    })
                    .await
                    .expect("the repository lookup does not panic")?;
                    false
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    if exists {
        return Ok(kept("the ref still exists on the Git server"));
    }
    store.delete(&slot.key).await?;
    Ok(Done::Deleted {
        key: slot.key,
        existed: true,
    })
}

/// When the ref has moved on since the push, the newer commit is built;
/// and when the object already holds that commit, nothing is.
fn moved_on_and_current(job: &Job, fetched: &Fetched, slot: &Slot) -> Option<Done> {
    if fetched.commit == job.commit || fetched.ref_target == job.commit {
        return None;
    }
    tracing::info!(
        repo = %job.repo, git_ref = %job.git_ref, pushed = %job.commit, now = %fetched.commit,
        "the ref moved on since this push; building the newer commit"
    );
    slot.already(&fetched.commit)
}

/// Zip download builds the ref's head as the provider's API gives it at
/// job time, whatever commit the payload named: a replayed, late or
/// redriven delivery can only ever build what the ref points at now.
async fn zip_download(
    job: &Job,
    config: &WorkerConfig,
    store: &impl ZipStore,
    slot: Slot,
) -> Result<Done, WorkError> {
    let access = archive_access(job, config)?;
    let head = api_head(job, &access).await?;
    let meta = meta(
        job,
        &head.commit,
        head.subject.as_deref(),
        head.author.as_deref(),
    );
    let head = head.commit;
    if head != job.commit {
        tracing::info!(
            repo = %job.repo, git_ref = %job.git_ref, pushed = %job.commit, now = %head,
            "the ref is not at the pushed commit; building its head"
        );
    }
    if let Some(done) = slot.already(&head) {
        return Ok(done);
    }
    let mut at_head = job.clone();
    at_head.commit = head.clone();
    let (uploaded, built) = stream_to_s3(store, &slot, &meta, None, move |writer| {
        let mut zip = ZipWriter::new(writer);
        let files = archive::download(&at_head, &access.endpoints, &access.credentials, &mut zip)?;
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
    Ok(written(slot.key, head, uploaded, built))
}

/// The message of the worker's ERROR line for a failed job, which
/// `git2s3 redrive` searches the log for.
pub const JOB_FAILED: &str = "job failed";

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
        Ok(Done::Deleted { key, existed }) => tracing::info!(
            repo = %job.repo, git_ref = %job.git_ref, key = %key, existed,
            delivery = %job.delivery_id, "ref deleted; its zip got a delete marker"
        ),
        Ok(Done::Kept { key, reason }) => tracing::warn!(
            repo = %job.repo, git_ref = %job.git_ref, key = %key, reason,
            delivery = %job.delivery_id, "deletion not applied; the zip is kept"
        ),
        Err(e) => tracing::error!(
            repo = %job.repo, git_ref = %job.git_ref, commit = %job.commit,
            delivery = %job.delivery_id, error = %e, "{JOB_FAILED}"
        ),
    }
}

/// What a batch of jobs did.
pub struct Batch {
    /// The failed message ids, for SQS to deliver again.
    pub response: SqsBatchResponse,
    /// A Git server refused the deploy key: it may have been rotated, so
    /// the secret should be read again before the retries come.
    pub deploy_key_refused: bool,
}

/// How long before the function's timeout a job still running is stopped,
/// so that its failure is logged with the reason (which `git2s3 redrive`
/// shows) and reported, rather than the runtime killing it unlogged.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// The SQS event → one [`handle`] per message → the failed message ids.
/// A job still running at `deadline` (the invocation's, less
/// [`DEADLINE_MARGIN`]) fails with [`WorkError::TimedOut`]; its upload is
/// never completed, and the next try aborts what it left.
pub async fn handle_sqs(
    event: SqsEvent,
    config: &WorkerConfig,
    store: &impl ZipStore,
    deadline: Instant,
) -> Batch {
    let mut failures = Vec::new();
    let mut deploy_key_refused = false;
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let job = serde_json::from_str::<Job>(message.body.as_deref().unwrap_or(""))
            .map_err(|e| WorkError::BadMessage(e.to_string()));
        let result = match job {
            Ok(job) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let result = tokio::time::timeout(left, handle(&job, config, store))
                    .await
                    .unwrap_or(Err(WorkError::TimedOut {
                        seconds: left.as_secs(),
                    }));
                log_outcome(&job, &result);
                deploy_key_refused |= matches!(
                    result,
                    Err(WorkError::Fetch(FetchError::DeployKeyRejected { .. }))
                );
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
    Batch {
        response: SqsBatchResponse {
            batch_item_failures: failures,
        },
        deploy_key_refused,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write;
    use std::sync::Mutex;

    use tokio::sync::mpsc;

    use super::*;
    use crate::fetch::git::DeployKey;
    use crate::parts::Part;
    use crate::Provider;

    const OLD: &str = "1111111111111111111111111111111111111111";
    const NEW: &str = "2222222222222222222222222222222222222222";

    /// A bucket in memory, with the same contract as S3's [`crate::store::Store`]:
    /// an object is stored only once its parts end with [`Part::End`], and
    /// only if the object there is still the one the upload replaces.
    #[derive(Default)]
    struct MemoryStore {
        /// key → (commit, zip bytes); the ETag is `"<commit>"`.
        objects: Mutex<HashMap<String, (String, Vec<u8>)>>,
        uploads_started: Mutex<usize>,
        /// A commit another worker writes to the key while this upload runs.
        racing_writer: Mutex<Option<String>>,
        /// S3 stops answering: every read waits forever.
        stalled: bool,
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
        async fn current(&self, key: &str) -> Result<Option<Current>, StoreError> {
            if self.stalled {
                std::future::pending::<()>().await;
            }
            Ok(self.object(key).map(|(commit, bytes)| Current {
                etag: format!("\"{commit}\""),
                version_id: Some(format!("v-{commit}")),
                size: bytes.len() as u64,
                commit: Some(commit),
            }))
        }

        async fn upload(
            &self,
            key: &str,
            meta: &ObjectMeta,
            mut parts: mpsc::Receiver<Part>,
            replaces: &Replaces,
        ) -> Result<Uploaded, StoreError> {
            *self.uploads_started.lock().unwrap() += 1;
            if let Some(commit) = self.racing_writer.lock().unwrap().take() {
                self.objects
                    .lock()
                    .unwrap()
                    .insert(key.into(), (commit, b"PK the other worker's zip".to_vec()));
            }
            let old = self.object(key).map(|(_, bytes)| bytes).unwrap_or_default();
            let mut bytes = Vec::new();
            loop {
                match parts.recv().await {
                    Some(Part::Data(chunk)) => bytes.extend_from_slice(&chunk),
                    Some(Part::Copy(r)) => {
                        bytes.extend_from_slice(&old[r.start as usize..(r.start + r.len) as usize])
                    }
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
            let now = self.current(key).await?;
            if Replaces::current(now.as_ref()) != *replaces {
                return Err(StoreError::Replaced {
                    bucket: "memory".into(),
                    key: key.into(),
                });
            }
            self.objects
                .lock()
                .unwrap()
                .insert(key.into(), (meta.commit.clone(), bytes));
            Ok(Uploaded {
                version_id: Some("v1".into()),
                bytes: len,
                parts: 1,
                ..Uploaded::default()
            })
        }

        async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
            let objects = self.objects.lock().unwrap();
            Ok(objects
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect())
        }

        async fn read(
            &self,
            key: &str,
            _: &str,
            start: Option<u64>,
            len: u64,
        ) -> Result<bytes::Bytes, StoreError> {
            let bytes = self.object(key).map(|(_, b)| b).unwrap_or_default();
            let start = start.unwrap_or(bytes.len() as u64 - len) as usize;
            Ok(bytes::Bytes::copy_from_slice(
                &bytes[start..start + len as usize],
            ))
        }

        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.objects.lock().unwrap().remove(key);
            Ok(())
        }
    }

    /// A job still running at the invocation's deadline (less the margin)
    /// is stopped and reported failed, with a reason that names the
    /// setting, before Lambda's own timeout would kill it unlogged.
    #[tokio::test]
    async fn a_job_still_running_at_the_deadline_fails_with_the_reason() {
        let store = MemoryStore {
            stalled: true,
            ..MemoryStore::default()
        };
        let body = serde_json::to_string(&job(Method::GitPull, NEW)).unwrap();
        let event: SqsEvent = serde_json::from_value(serde_json::json!({
            "Records": [{ "messageId": "m-1", "body": body }]
        }))
        .unwrap();
        let deadline = Instant::now() + Duration::from_millis(50);
        let batch = handle_sqs(
            event,
            &config(DeployKeys::default(), None),
            &store,
            deadline,
        )
        .await;
        assert_eq!(batch.response.batch_item_failures.len(), 1);
        assert_eq!(batch.response.batch_item_failures[0].item_identifier, "m-1");
        assert_eq!(store.uploads_started(), 0);
        let reason = WorkError::TimedOut { seconds: 0 }.to_string();
        assert!(reason.contains("lambda.worker_timeout_seconds"), "{reason}");
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
            on_delete: OnDelete::Keep,
        }
    }

    const KEY: &str = "acme/api/main/acme_api.zip";

    /// Attack: a signed deletion webhook, or a hand-made queue message,
    /// for a ref whose zip is there; with on_delete: keep, nothing goes.
    #[tokio::test]
    async fn a_deletion_with_on_delete_keep_leaves_the_zip() {
        let store = MemoryStore::holding(KEY, NEW);
        let done = handle(
            &job(Method::GitPull, crate::job::DELETED),
            &config(DeployKeys::default(), None),
            &store,
        )
        .await
        .unwrap();
        assert_eq!(
            done,
            Done::Kept {
                key: KEY.into(),
                reason: "branches.on_delete is keep"
            }
        );
        assert!(store.object(KEY).is_some());
    }

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

    async fn slot(store: &MemoryStore) -> Slot {
        Slot {
            key: KEY.into(),
            current: store.current(KEY).await.unwrap(),
        }
    }

    #[tokio::test]
    async fn a_ref_that_moved_on_to_the_commit_in_s3_is_not_built_again() {
        let fetched = Fetched {
            commit: NEW.into(),
            ref_target: NEW.into(),
            commit_time: 0,
            subject: None,
            author: None,
            received_bytes: 0,
        };
        let pushed_old = job(Method::GitPull, OLD);
        let store = MemoryStore::holding(KEY, NEW);
        let done = moved_on_and_current(&pushed_old, &fetched, &slot(&store).await);
        assert_eq!(
            done,
            Some(Done::AlreadyCurrent {
                key: KEY.into(),
                commit: NEW.into()
            })
        );
        // The object still holds the old commit: the newer one is built.
        let store = MemoryStore::holding(KEY, OLD);
        let done = moved_on_and_current(&pushed_old, &fetched, &slot(&store).await);
        assert_eq!(done, None);
        // The ref did not move: build what was pushed.
        let pushed_new = job(Method::GitPull, NEW);
        let done = moved_on_and_current(&pushed_new, &fetched, &slot(&store).await);
        assert_eq!(done, None);
        assert_eq!(store.uploads_started(), 0);
    }

    /// Attack: two workers race on one key; the slower, which built the
    /// older commit, must not write over the newer zip. Its upload is
    /// conditional on the object it read when it began.
    #[tokio::test]
    async fn a_worker_that_lost_a_race_writes_nothing_over_the_winner() {
        let (api, _) = provider_api(OLD, provider_zip());
        let store = MemoryStore::holding(KEY, "0".repeat(40).as_str());
        *store.racing_writer.lock().unwrap() = Some(NEW.into());
        let err = handle(
            &job(Method::ZipDownload, NEW),
            &config(DeployKeys::default(), Some(access(&api))),
            &store,
        )
        .await
        .unwrap_err();
        // Whichever comes first, the truncated archive or the lost race,
        // the winner's zip is what the key holds.
        assert!(
            matches!(
                err,
                WorkError::Store(StoreError::Replaced { .. }) | WorkError::Archive(_)
            ),
            "{err}"
        );
        assert_eq!(store.object(KEY).unwrap().0, NEW);
    }

    /// The store's side of the race, alone: an upload that names the
    /// object the job began with fails once another has replaced it.
    #[tokio::test]
    async fn an_upload_conditional_on_a_replaced_object_is_refused() {
        let store = MemoryStore::holding(KEY, OLD);
        let began = slot(&store).await;
        *store.racing_writer.lock().unwrap() = Some(NEW.into());
        let (tx, rx) = mpsc::channel(2);
        tx.send(Part::Data(bytes::Bytes::from_static(b"PK old build")))
            .await
            .unwrap();
        tx.send(Part::End).await.unwrap();
        let replaces = Replaces::current(began.current.as_ref());
        let err = store
            .upload(
                KEY,
                &meta(&job(Method::GitPull, OLD), OLD, None, None),
                rx,
                &replaces,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Replaced { .. }), "{err}");
        assert_eq!(store.object(KEY).unwrap().0, NEW);
    }

    /// Attack: a replayed, late or redriven delivery of an older push.
    /// Zip download asks the provider for the ref's head and builds that,
    /// so the older commit never replaces the newer zip.
    #[tokio::test]
    async fn zip_download_of_an_older_delivery_builds_the_refs_head() {
        let (api, seen) = provider_api(NEW, TRUNCATED_BUT_FOR_THE_HEAD);
        let store = MemoryStore::holding(KEY, NEW);
        let done = handle(
            &job(Method::ZipDownload, OLD),
            &config(DeployKeys::default(), Some(access(&api))),
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
        assert_eq!(store.uploads_started(), 0);
        let asked = seen.lock().unwrap().clone();
        assert_eq!(asked, ["/repos/acme/api/commits/heads/main"], "{asked:?}");
    }

    /// A zip whose first entry is cut short: a build that fails part-way,
    /// after the upload has begun.
    const TRUNCATED_BUT_FOR_THE_HEAD: &[u8] = b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00";

    /// A local server in GitHub's shape: the ref's head at
    /// `/repos/…/commits/…`, and `archive` for anything else. Keeps the
    /// paths asked for.
    fn provider_api(
        head: &'static str,
        archive: &'static [u8],
    ) -> (String, std::sync::Arc<Mutex<Vec<String>>>) {
        use std::io::{BufRead as _, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                let mut line = String::new();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                reader.read_line(&mut line).unwrap();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(path.clone());
                let body: Vec<u8> = if path.contains("/commits/") {
                    format!("{{\"sha\":\"{head}\"}}").into_bytes()
                } else {
                    archive.to_vec()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            }
        });
        (url, seen)
    }

    /// A provider's archive of one file, under its top folder.
    fn provider_zip() -> &'static [u8] {
        let mut zip = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file(
            "acme-api-1111111/README.md",
            ::zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(b"# api\n").unwrap();
        Box::leak(zip.finish().unwrap().into_inner().into_boxed_slice())
    }

    fn access(api: &str) -> ArchiveAccess {
        ArchiveAccess {
            endpoints: Endpoints {
                github: api.to_string(),
                ..Endpoints::default()
            },
            credentials: Credentials::Token("t0k3n".into()),
        }
    }

    #[tokio::test]
    async fn a_build_that_fails_aborts_the_upload_and_writes_nothing() {
        let (api, _) = provider_api(NEW, TRUNCATED_BUT_FOR_THE_HEAD);
        let store = MemoryStore::holding(KEY, OLD);
        let err = handle(
            &job(Method::ZipDownload, NEW),
            &config(DeployKeys::default(), Some(access(&api))),
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
