//! `git2s3 serve`: gathers the receiver's and the worker's settings from
//! flags, the configuration and the environment, then runs `serve`.

use std::process::ExitCode;

use anyhow::Context;
use git2s3_lambda::fetch::archive::{Credentials, Endpoints};
use git2s3_lambda::fetch::git::DeployKey;
use git2s3_lambda::fetch::hostkeys::KnownHosts;
use git2s3_lambda::filter::Filters;
use git2s3_lambda::store::Store;
use git2s3_lambda::webhook::{AllowedIps, ReceiverConfig, Secrets};
use git2s3_lambda::worker::{ArchiveAccess, WorkerConfig};

use crate::cli::{GlobalArgs, ServeArgs};
use crate::serve::ServeConfig;
use crate::settings::Overrides;

/// Where `serve` reads the webhook secret(s) from.
pub const WEBHOOK_SECRET_VAR: &str = "GIT2S3_WEBHOOK_SECRET";
/// Where `serve` reads the provider token for zip download from.
pub const GIT_TOKEN_VAR: &str = "GIT2S3_GIT_TOKEN";

pub async fn run(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = super::load_settings(global, &Overrides::new())?;
    let bucket = args
        .bucket
        .clone()
        .or_else(|| settings.bucket.name.clone())
        .context(
            "serve needs the output bucket: pass --bucket NAME, or set bucket.name in git2s3.yaml",
        )?;
    let secrets = Secrets::from_lines(&std::env::var(WEBHOOK_SECRET_VAR).unwrap_or_default());
    let allowed_ips = AllowedIps::from_csv(&settings.auth.allowed_ips.join(","))?;
    if secrets.is_empty() && allowed_ips.is_empty() {
        anyhow::bail!(
            "{WEBHOOK_SECRET_VAR} is empty and auth.allowed_ips is empty, so no webhook could authenticate: \
             export {WEBHOOK_SECRET_VAR} with the secret your Git server signs with"
        );
    }
    let filters = Filters::new(
        &settings.filters.include_refs,
        &settings.filters.exclude_refs,
        &settings.filters.include_paths,
    )?;
    let deploy_key = match &args.ssh_key {
        Some(path) => Some(DeployKey::new(std::fs::read_to_string(path).with_context(
            || format!("cannot read the deploy key {}", path.display()),
        )?)),
        None => None,
    };
    let mut extra_hosts = settings.auth.known_hosts.join("\n");
    if let Some(path) = &args.known_hosts {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the known_hosts file {}", path.display()))?;
        extra_hosts = format!("{extra_hosts}\n{text}");
    }
    let known_hosts = KnownHosts::with_extra(&extra_hosts)?;
    let archive = std::env::var(GIT_TOKEN_VAR)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(|token| ArchiveAccess {
            endpoints: Endpoints {
                api_url: args.api_url.clone().or_else(|| settings.api_url.clone()),
                ..Endpoints::default()
            },
            credentials: Credentials::Token(token.trim().to_string()),
        });

    let aws = crate::aws::sdk_config(&super::aws_options(global, &settings)).await;
    let store = Store::new(crate::aws::s3_client(&aws), bucket);
    crate::serve::run(ServeConfig {
        listen: args.listen,
        receiver: ReceiverConfig {
            secrets,
            allowed_ips,
            filters,
        },
        worker: WorkerConfig {
            deploy_key,
            known_hosts,
            scratch: std::env::temp_dir(),
            archive,
        },
        store,
        parallel: args.parallel,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
