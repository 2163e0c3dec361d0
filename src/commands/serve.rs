//! `git2s3 serve`: gathers the receiver's and the worker's settings from
//! flags, the configuration and the environment, then runs `serve`. What
//! they leave out (the bucket, the webhook secret, the deploy keys, the
//! zip-download token) comes from the deployed stack and its secrets.

use std::process::ExitCode;

use anyhow::Context;
use git2s3_lambda::fetch::archive::{Credentials, Endpoints};
use git2s3_lambda::fetch::hostkeys::KnownHosts;
use git2s3_lambda::fetch::keys::DeployKeys;
use git2s3_lambda::store::Store;
use git2s3_lambda::sweep::Sweeper;
use git2s3_lambda::webhook::{AllowedIps, ReceiverConfig, Secrets};
use git2s3_lambda::worker::{ArchiveAccess, WorkerConfig};

use crate::cli::{GlobalArgs, ServeArgs};
use crate::deploy::{secrets, stack};
use crate::serve::queue::Retries;
use crate::serve::ServeConfig;
use crate::settings::{Overrides, Settings, GIT_TOKEN_VAR, WEBHOOK_SECRET_VAR};

pub async fn run(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = crate::context::load_settings(global, &Overrides::new())?;
    let aws = crate::aws::sdk_config(&crate::context::aws_options(global, &settings)).await;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());

    // Flags and the environment first; what they leave out comes from the
    // deployed stack, if there is one.
    let mut bucket = args.bucket.clone().or_else(|| settings.bucket.name.clone());
    let mut secret_text = env(WEBHOOK_SECRET_VAR);
    let mut deploy_keys = match &args.ssh_key {
        Some(path) => keys_from_file(path)?,
        None => DeployKeys::default(),
    };
    let mut token = env(GIT_TOKEN_VAR);
    if bucket.is_none() || secret_text.is_none() {
        let from_stack = StackValues::read(&crate::aws::Clients::new(&aws), &settings)
            .await
            .with_context(|| {
                format!(
                    "serve needs the output bucket and the webhook secret: pass --bucket NAME and export \
                     {WEBHOOK_SECRET_VAR}, or deploy the stack `{}` first (git2s3 init)",
                    settings.stack_name
                )
            })?;
        bucket = bucket.or(from_stack.bucket);
        secret_text = secret_text.or(from_stack.webhook_secret);
        if deploy_keys.is_empty() {
            deploy_keys = from_stack.deploy_keys;
        }
        token = token.or(from_stack.git_token);
    }
    let bucket = bucket.context(
        "serve needs the output bucket: pass --bucket NAME, or set bucket.name in git2s3.yaml",
    )?;
    let secrets = Secrets::from_lines(secret_text.as_deref().unwrap_or_default());
    let allowed_ips = AllowedIps::from_csv(&settings.auth.allowed_ips.join(","))?;
    if secrets.is_empty() {
        anyhow::bail!(
            "{WEBHOOK_SECRET_VAR} is empty, so no webhook could authenticate (a signature is always \
             required; auth.allowed_ips only narrows where signed calls may come from): export \
             {WEBHOOK_SECRET_VAR} with the secret your Git server signs with"
        );
    }
    if settings.repos.is_empty() && settings.org.is_none() {
        anyhow::bail!(
            "serve builds only connected repositories, and none is configured: set `repos` or `org` \
             in git2s3.yaml (or GIT2S3_REPOS, GIT2S3_ORG)"
        );
    }
    let filters = settings.ref_filters()?;
    let mut extra_hosts = settings.auth.known_hosts.join("\n");
    if let Some(path) = &args.known_hosts {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the known_hosts file {}", path.display()))?;
        extra_hosts = format!("{extra_hosts}\n{text}");
    }
    let known_hosts = KnownHosts::with_extra(&extra_hosts)?;
    let api_url = args.api_url.clone().or_else(|| settings.api_url.clone());
    // The same rules as the stack's receiver and worker, from the same settings.
    let connection = settings.connection(api_url.as_deref(), &extra_hosts);
    let archive = token.map(|token| ArchiveAccess {
        endpoints: Endpoints {
            api_url: api_url.clone(),
            ..Endpoints::default()
        },
        credentials: Credentials::Token(token.trim().to_string()),
    });

    let sweep = args.sweep_every.map(|every| crate::serve::SweepEvery {
        every,
        sweeper: Sweeper {
            connection: connection.clone(),
            filters: filters.clone(),
            deploy_keys: deploy_keys.clone(),
            known_hosts: known_hosts.clone(),
            api: archive.clone(),
        },
    });
    let store = Store::new(crate::aws::s3_client(&aws), bucket);
    crate::serve::run(ServeConfig {
        listen: args.listen,
        receiver: ReceiverConfig {
            secrets,
            allowed_ips,
            filters,
            connection: connection.clone(),
        },
        worker: WorkerConfig {
            deploy_keys,
            known_hosts,
            scratch: std::env::temp_dir(),
            archive,
            connection,
            on_delete: settings.branches.on_delete,
        },
        store,
        parallel: args.parallel,
        job_timeout: args.job_timeout,
        retries: Retries {
            attempts: args.attempts,
            delay: args.retry_delay,
        },
        sweep,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// `--ssh-key FILE`: one private key, or the JSON map of one per repository.
fn keys_from_file(path: &std::path::Path) -> anyhow::Result<DeployKeys> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the deploy key {}", path.display()))?;
    DeployKeys::parse(&text).with_context(|| format!("--ssh-key {}", path.display()))
}

/// What `serve` takes from a deployed stack: its bucket (output
/// `OutputBucketName`) and the secrets `init` stored.
struct StackValues {
    bucket: Option<String>,
    webhook_secret: Option<String>,
    deploy_keys: DeployKeys,
    git_token: Option<String>,
}

impl StackValues {
    async fn read(clients: &crate::aws::Clients, settings: &Settings) -> anyhow::Result<Self> {
        let info = stack::describe(&clients.cloudformation, &settings.stack_name)
            .await?
            .with_context(|| format!("there is no stack `{}`", settings.stack_name))?;
        let read = |id: String| async move {
            match secrets::read(&clients.secrets, &id).await {
                Ok(value) => Ok(value.filter(|v| !v.trim().is_empty())),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(anyhow::Error::new(e)),
            }
        };
        let deploy_keys =
            crate::deploy::keys::load(&clients.secrets, &settings.ssh_key_secret_id()).await?;
        Ok(StackValues {
            bucket: info.core().bucket,
            webhook_secret: read(settings.webhook_secret_id()).await?,
            deploy_keys,
            git_token: read(settings.git_token_secret_id()).await?,
        })
    }
}
