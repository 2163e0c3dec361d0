//! The Lambda's configuration: the environment variables the stack sets
//! (see `templates/git2s3.yaml`) and the Secrets Manager secrets they name.
//! Secret values are read here and handed to the code that uses them;
//! nothing here logs them.

use std::path::PathBuf;

use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::connection::Connection;
use crate::fetch::archive::{Credentials, Endpoints};
use crate::fetch::hostkeys::KnownHosts;
use crate::fetch::keys::DeployKeys;
use crate::filter::Filters;
use crate::sweep::Sweeper;
use crate::webhook::{AllowedIps, ReceiverConfig, Secrets};
use crate::worker::{ArchiveAccess, WorkerConfig};
use crate::Provider;

/// Which job this process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Receiver,
    Worker,
    /// The scheduled sweep: every connected ref's head against its zip.
    Sweep,
    /// A pipeline run, told on its commit (the pipeline stack's function).
    Report,
}

/// What is missing or wrong in the Lambda's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set: deploy this function with the git2s3 stack, which sets it")]
    Missing(&'static str),
    #[error("GIT2S3_ROLE is `{0}`: it must be `receiver`, `worker`, `sweep` or `report`")]
    BadRole(String),
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
    #[error(
        "cannot read secret {id}: {message}. The function's role needs secretsmanager:GetSecretValue on it, \
         and the secret must exist (git2s3 init creates it)"
    )]
    Secret { id: String, message: String },
    #[error("secret {id} is empty: store a value in it (git2s3 init does)")]
    EmptySecret { id: String },
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    var(name).ok_or(ConfigError::Missing(name))
}

impl Role {
    pub fn from_env() -> Result<Role, ConfigError> {
        match required("GIT2S3_ROLE")?.as_str() {
            "receiver" => Ok(Role::Receiver),
            "worker" => Ok(Role::Worker),
            "sweep" => Ok(Role::Sweep),
            "report" => Ok(Role::Report),
            other => Err(ConfigError::BadRole(other.to_string())),
        }
    }
}

/// Reads a secret's string value.
pub async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<String, ConfigError> {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| ConfigError::Secret {
            id: id.to_string(),
            message: DisplayErrorContext(&e).to_string(),
        })?;
    match out.secret_string() {
        Some(s) if !s.trim().is_empty() => Ok(s.to_string()),
        _ => Err(ConfigError::EmptySecret { id: id.to_string() }),
    }
}

/// The receiver's settings, and the queue URL to send jobs to.
pub async fn receiver(
    client: &aws_sdk_secretsmanager::Client,
) -> Result<(ReceiverConfig, String), ConfigError> {
    let queue_url = required("GIT2S3_QUEUE_URL")?;
    // A signature is always required, so there is always a secret.
    let id = required("GIT2S3_WEBHOOK_SECRET_ID")?;
    let secrets = Secrets::from_lines(&read_secret(client, &id).await?);
    let allowed_ips = AllowedIps::from_csv(&var("GIT2S3_ALLOWED_IPS").unwrap_or_default())
        .map_err(|e| ConfigError::Invalid {
            var: "GIT2S3_ALLOWED_IPS",
            message: e.to_string(),
        })?;
    let filters = filters_from_env()?;
    Ok((
        ReceiverConfig {
            secrets,
            allowed_ips,
            filters,
            connection: connection_from_env()?,
        },
        queue_url,
    ))
}

/// What the stack is connected to, from `GIT2S3_PROVIDER`, `GIT2S3_REPOS`
/// (comma-separated), `GIT2S3_ORG`, `GIT2S3_PROVIDER_API_URL`,
/// `GIT2S3_KNOWN_HOSTS` and `GIT2S3_CLONE_URL`.
pub fn connection_from_env() -> Result<Connection, ConfigError> {
    let provider: Provider =
        required("GIT2S3_PROVIDER")?
            .parse()
            .map_err(|e: crate::provider::UnknownProvider| ConfigError::Invalid {
                var: "GIT2S3_PROVIDER",
                message: e.to_string(),
            })?;
    let repos = var("GIT2S3_REPOS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Connection::new(
        provider,
        repos,
        var("GIT2S3_ORG"),
        var("GIT2S3_PROVIDER_API_URL").as_deref(),
        &var("GIT2S3_KNOWN_HOSTS").unwrap_or_default(),
    )
    .with_clone_url(var("GIT2S3_CLONE_URL").as_deref()))
}

/// The ref and path filters from `GIT2S3_INCLUDE_REFS`, `GIT2S3_EXCLUDE_REFS`,
/// `GIT2S3_INCLUDE_PATHS`, and what a deletion does, `GIT2S3_ON_DELETE`.
pub fn filters_from_env() -> Result<Filters, ConfigError> {
    let filters = Filters::from_csv(
        &var("GIT2S3_INCLUDE_REFS").unwrap_or_default(),
        &var("GIT2S3_EXCLUDE_REFS").unwrap_or_default(),
        &var("GIT2S3_INCLUDE_PATHS").unwrap_or_default(),
    )
    .map_err(|e| ConfigError::Invalid {
        var: e.setting_var(),
        message: e.to_string(),
    })?;
    let on_delete = var("GIT2S3_ON_DELETE")
        .unwrap_or_default()
        .parse()
        .map_err(|e: crate::filter::BadOnDelete| ConfigError::Invalid {
            var: "GIT2S3_ON_DELETE",
            message: e.to_string(),
        })?;
    Ok(filters.with_on_delete(on_delete))
}

/// What the sweep role runs with: the sweeper (which knows the
/// repositories it is connected to), the output bucket and the job queue.
pub struct SweepConfig {
    pub sweeper: Sweeper,
    pub bucket: String,
    pub queue_url: String,
}

/// The sweep role's settings: the worker's deploy keys, known hosts and
/// connection, the receiver's ref filters, and the job queue.
pub async fn sweep(client: &aws_sdk_secretsmanager::Client) -> Result<SweepConfig, ConfigError> {
    let queue_url = required("GIT2S3_QUEUE_URL")?;
    let (worker, bucket) = worker(client).await?;
    Ok(SweepConfig {
        sweeper: Sweeper {
            connection: worker.connection,
            filters: filters_from_env()?,
            deploy_keys: worker.deploy_keys,
            known_hosts: worker.known_hosts,
            api: worker.archive,
        },
        bucket,
        queue_url,
    })
}

/// The worker's settings, and the output bucket.
pub async fn worker(
    client: &aws_sdk_secretsmanager::Client,
) -> Result<(WorkerConfig, String), ConfigError> {
    let bucket = required("GIT2S3_OUTPUT_BUCKET")?;
    let deploy_keys = match var("GIT2S3_SSH_KEY_SECRET_ID") {
        Some(id) => DeployKeys::parse(&read_secret(client, &id).await?).map_err(|e| {
            ConfigError::Invalid {
                var: "GIT2S3_SSH_KEY_SECRET_ID",
                message: format!("secret {id}: {e}"),
            }
        })?,
        None => DeployKeys::default(),
    };
    let known_hosts = KnownHosts::with_extra(&var("GIT2S3_KNOWN_HOSTS").unwrap_or_default())
        .map_err(|e| ConfigError::Invalid {
            var: "GIT2S3_KNOWN_HOSTS",
            message: e.to_string(),
        })?;
    let credentials = match (
        var("GIT2S3_GIT_TOKEN_SECRET_ID"),
        var("GIT2S3_OAUTH_CONSUMER_SECRET_ID"),
    ) {
        (Some(id), _) => Some(Credentials::Token(
            read_secret(client, &id).await?.trim().to_string(),
        )),
        (None, Some(id)) => Some(oauth_consumer(&id, &read_secret(client, &id).await?)?),
        (None, None) => None,
    };
    let archive = credentials.map(|credentials| ArchiveAccess {
        endpoints: Endpoints {
            api_url: var("GIT2S3_PROVIDER_API_URL"),
            ..Endpoints::default()
        },
        credentials,
    });
    Ok((
        WorkerConfig {
            deploy_keys,
            known_hosts,
            scratch: PathBuf::from(var("TMPDIR").unwrap_or_else(|| "/tmp".into())),
            archive,
            connection: connection_from_env()?,
            on_delete: filters_from_env()?.on_delete,
        },
        bucket,
    ))
}

/// What the report role runs with.
pub struct ReportConfig {
    pub provider: Provider,
    /// The pipeline's source zip: `GIT2S3_SOURCE_BUCKET`, `GIT2S3_SOURCE_KEY`.
    pub bucket: String,
    pub key: String,
    pub statuses: crate::report::HttpStatuses,
}

/// The report role's settings: the provider and its API
/// (`GIT2S3_PROVIDER`, `GIT2S3_PROVIDER_API_URL`), the pipeline's source
/// zip, and the token with the status scope
/// (`GIT2S3_STATUS_TOKEN_SECRET_ID`).
pub async fn report(client: &aws_sdk_secretsmanager::Client) -> Result<ReportConfig, ConfigError> {
    let provider = connection_from_env()?.provider;
    let id = required("GIT2S3_STATUS_TOKEN_SECRET_ID")?;
    let token = read_secret(client, &id).await?.trim().to_string();
    Ok(ReportConfig {
        provider,
        bucket: required("GIT2S3_SOURCE_BUCKET")?,
        key: required("GIT2S3_SOURCE_KEY")?,
        statuses: crate::report::HttpStatuses::new(
            Endpoints {
                api_url: var("GIT2S3_PROVIDER_API_URL"),
                ..Endpoints::default()
            },
            Credentials::Token(token),
        ),
    })
}

/// The Bitbucket OAuth consumer secret: `{"key": "…", "secret": "…"}`.
fn oauth_consumer(id: &str, text: &str) -> Result<Credentials, ConfigError> {
    let bad = |message: String| ConfigError::Invalid {
        var: "GIT2S3_OAUTH_CONSUMER_SECRET_ID",
        message,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| {
        bad(format!(
            "secret {id} must be JSON: {{\"key\": \"…\", \"secret\": \"…\"}}"
        ))
    })?;
    match (value["key"].as_str(), value["secret"].as_str()) {
        (Some(key), Some(secret)) => Ok(Credentials::OauthConsumer {
            key: key.to_string(),
            secret: secret.to_string(),
        }),
        _ => Err(bad(format!("secret {id} needs both `key` and `secret`"))),
    }
}
