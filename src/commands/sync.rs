//! `git2s3 sync`: a sweep, now, from the CLI. It connects as the stack
//! does (its provider, repositories, filters, known hosts and clone URL,
//! from the deployed stack's parameters), lists each repository's heads
//! with the stack's deploy key (or, for a stack that downloads zips,
//! through the provider's API with its stored token), and queues a job for every ref whose zip
//! is missing or stale on the stack's job queue, after a yes.

use std::process::ExitCode;

use git2s3_lambda::fetch::archive::{Credentials, Endpoints};
use git2s3_lambda::fetch::hostkeys::KnownHosts;
use git2s3_lambda::filter::Filters;
use git2s3_lambda::queue::{JobQueue, SqsQueue};
use git2s3_lambda::store::Store;
use git2s3_lambda::sweep::{Stale, Sweeper};
use git2s3_lambda::worker::ArchiveAccess;
use git2s3_lambda::Provider;
use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat, SyncArgs};
use crate::context::{self, Consent};
use crate::deploy::{keys, secrets};
use crate::progress::Progress;

/// One repository's sweep, or why it could not be swept.
#[derive(Debug, Serialize)]
struct RepoReport {
    repo: String,
    url: Option<String>,
    stale: Vec<Stale>,
    current: usize,
    error: Option<String>,
}

/// What sync found and did (`--output json` prints this).
#[derive(Debug, Serialize)]
struct Report {
    stack: String,
    dry_run: bool,
    repos: Vec<RepoReport>,
    /// Jobs put on the job queue.
    queued: usize,
}

pub async fn run(global: &GlobalArgs, args: &SyncArgs) -> anyhow::Result<ExitCode> {
    let consent = Consent::new(global);
    let deployed = context::deployed(
        global,
        &context::stack_name_overrides(args.stack_name.as_ref()),
    )
    .await?;
    let (settings, clients, core) = (&deployed.settings, &deployed.clients, &deployed.stack);
    let outputs = core.core();
    let bucket = outputs
        .bucket
        .clone()
        .ok_or_else(|| core.missing_output("OutputBucketName"))?;
    let queue_url = outputs
        .job_queue_url
        .clone()
        .ok_or_else(|| core.missing_output("JobQueueUrl"))?;
    // What the stack's own receiver and worker run with.
    let param = |name: &str| core.parameters.get(name).cloned().unwrap_or_default();
    let provider: Provider = param("Provider").parse().unwrap_or(settings.provider);
    let list = |text: String| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect()
    };
    let stack_repos = list(param("Repos"));
    let org = Some(param("Org")).filter(|o| !o.is_empty());
    let api_url = Some(param("ProviderApiUrl")).filter(|u| !u.is_empty());
    let known = param("KnownHosts");
    let connection = git2s3_lambda::connection::Connection::new(
        provider,
        stack_repos,
        org,
        api_url.as_deref(),
        &known,
    )
    .with_clone_url(Some(param("CloneUrl")).as_deref());
    let sweeper = Sweeper {
        connection,
        filters: Filters::from_csv(&param("IncludeRefs"), &param("ExcludeRefs"), "")?
            .with_on_delete(param("OnDelete").parse()?),
        deploy_keys: keys::load(&clients.secrets, &settings.ssh_key_secret_id()).await?,
        known_hosts: KnownHosts::with_extra(&known)?,
        api: stack_token(clients, &settings.git_token_secret_id())
            .await?
            .map(|token| ArchiveAccess {
                endpoints: Endpoints {
                    api_url: api_url.clone(),
                    ..Endpoints::default()
                },
                credentials: Credentials::Token(token),
            }),
    };
    if sweeper.deploy_keys.is_empty() && sweeper.api.is_none() {
        anyhow::bail!(
            "stack {} has neither a deploy key ({}) nor a provider token ({}): sync lists heads over \
             SSH with the key, or through the provider's API with the token; run `git2s3 init` to \
             store one",
            core.name,
            settings.ssh_key_secret_id(),
            settings.git_token_secret_id()
        );
    }
    let progress = Progress::new();
    let store = Store::new(clients.s3.clone(), bucket);
    let repos = match args.repos.is_empty() {
        false => args.repos.clone(),
        true => sweeper.connected_repos(&store).await?,
    };
    if repos.is_empty() {
        anyhow::bail!(
            "stack {} lists no repositories, and none below its org has a zip yet: name the ones to \
             sweep with --repo OWNER/REPO",
            core.name
        );
    }
    let mut report = Report {
        stack: core.name.clone(),
        dry_run: args.dry_run,
        repos: Vec::new(),
        queued: 0,
    };
    let mut jobs = Vec::new();
    for repo in &repos {
        progress.step(format!("Listing the heads of {repo}"));
        match sweeper.sweep(repo, &store).await {
            Ok(swept) => {
                jobs.extend(sweeper.jobs(&swept));
                report.repos.push(RepoReport {
                    repo: swept.repo,
                    url: Some(swept.url),
                    stale: swept.stale,
                    current: swept.current,
                    error: None,
                });
            }
            Err(e) => report.repos.push(RepoReport {
                repo: repo.clone(),
                url: sweeper.connection.clone_url(repo),
                stale: Vec::new(),
                current: 0,
                error: Some(e.to_string()),
            }),
        }
    }
    progress.done();
    for r in &report.repos {
        match &r.error {
            Some(e) => eprintln!("{}: could not sweep: {e}", r.repo),
            None => eprintln!(
                "{}: {} stale, {} current ({})",
                r.repo,
                r.stale.len(),
                r.current,
                r.url.as_deref().unwrap_or("")
            ),
        }
        for s in &r.stale {
            eprintln!(
                "  {}: zip at {}, head {}",
                s.git_ref,
                s.zip_commit
                    .as_deref()
                    .map_or("none", |c| &c[..c.len().min(12)]),
                &s.head[..s.head.len().min(12)]
            );
        }
    }
    if !args.dry_run && !jobs.is_empty() {
        let question = format!(
            "Queue {} job(s) on stack {}'s job queue, to build the stale refs above?",
            jobs.len(),
            core.name
        );
        if !consent.confirm(&question)? {
            eprintln!("nothing was queued");
            return Ok(ExitCode::FAILURE);
        }
        let queue = SqsQueue::new(clients.sqs.clone(), queue_url);
        for job in &jobs {
            queue.enqueue(job).await?;
            report.queued += 1;
        }
        eprintln!("queued {} job(s)", report.queued);
    }
    match global.output {
        OutputFormat::Json => context::print_json(&report)?,
        OutputFormat::Text => {
            let stale: usize = report.repos.iter().map(|r| r.stale.len()).sum();
            crate::out!(
                "{stale} stale ref(s) in {} repositories; {} queued",
                report.repos.len(),
                report.queued
            );
        }
    }
    let failed = report.repos.iter().any(|r| r.error.is_some());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The provider token the stack stores (`GitTokenSecretId`), if any.
async fn stack_token(clients: &crate::aws::Clients, id: &str) -> anyhow::Result<Option<String>> {
    match secrets::read(&clients.secrets, id).await {
        Ok(token) => Ok(token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}
