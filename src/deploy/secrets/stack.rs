//! The stack's secrets, as `init` sets them up: the webhook secret, the
//! deploy key (one per repository where the provider wants that), the
//! provider token or Bitbucket OAuth consumer for zip download, and the
//! token the pipeline posts commit statuses with. Values come
//! from Secrets Manager or the environment, never from a flag or a file.

use git2s3_lambda::Provider;
use serde::Serialize;

use super::Outcome;
use crate::deploy::error::DeployError;
use crate::deploy::keys;
use crate::settings::{Method, Settings};

/// What happened to one secret (its name, never its value).
#[derive(Debug, Serialize)]
pub struct SecretOutcome {
    pub id: String,
    pub outcome: Outcome,
}

/// Where init reads a Bitbucket OAuth consumer (auth.bitbucket_oauth_consumer).
pub const OAUTH_KEY_VAR: &str = "BITBUCKET_OAUTH_KEY";
pub const OAUTH_SECRET_VAR: &str = "BITBUCKET_OAUTH_SECRET";
/// Where init reads the token the pipeline posts commit statuses with
/// (`pipeline.report_status`); without it, the provider token variable.
pub const STATUS_TOKEN_VAR: &str = "GIT2S3_STATUS_TOKEN";

/// Ensures every secret the stack reads: creates what is missing, keeps
/// what exists, stores a token or OAuth consumer given in the environment,
/// and records the deploy key's public half in `settings`. `provider_token`
/// is the token init registers with (typed in the wizard, or from the
/// environment): the commit status token when `GIT2S3_STATUS_TOKEN` is not set.
pub async fn ensure(
    sm: &aws_sdk_secretsmanager::Client,
    settings: &mut Settings,
    token_env: Option<&str>,
    provider_token: Option<&str>,
) -> Result<Vec<SecretOutcome>, DeployError> {
    let mut outcomes = Vec::new();
    let id = settings.webhook_secret_id();
    let outcome = super::ensure(sm, &id, super::WEBHOOK_SECRET_DESCRIPTION, || {
        Ok(super::new_webhook_secret())
    })
    .await?;
    outcomes.push(SecretOutcome { id, outcome });

    if settings.method == Method::GitPull {
        // GitHub accepts a key on one repository only: several GitHub
        // repositories each get a key of their own besides the default.
        let id = settings.ssh_key_secret_id();
        let own = if settings.provider.one_key_per_repo(settings.repos.len()) {
            settings.repos.clone()
        } else {
            Vec::new()
        };
        let comment = format!("git2s3@{}", settings.stack_name);
        let (mut outcome, mut held) = keys::ensure_default(sm, &id, &comment).await?;
        if keys::add_own(sm, &id, &comment, &mut held, &own).await? && outcome == Outcome::Kept {
            outcome = Outcome::Updated;
        }
        settings.auth.public_ssh_key = Some(keys::default_public(&id, &held)?);
        outcomes.push(SecretOutcome { id, outcome });
    }

    let oauth = settings.auth.bitbucket_oauth_consumer && settings.provider == Provider::Bitbucket;
    if settings.method == Method::ZipDownload && oauth {
        // Bitbucket Cloud with an OAuth consumer: its key and secret, as JSON.
        let id = settings.oauth_consumer_secret_id();
        let env = |v: &str| std::env::var(v).ok().filter(|t| !t.trim().is_empty());
        let outcome = match (env(OAUTH_KEY_VAR), env(OAUTH_SECRET_VAR)) {
            (Some(key), Some(secret)) => {
                let value =
                    serde_json::json!({"key": key.trim(), "secret": secret.trim()}).to_string();
                super::put(sm, &id, "git2s3 Bitbucket OAuth consumer", &value).await?
            }
            _ => {
                super::ensure(sm, &id, "", || {
                    Err(DeployError::MissingOauthConsumer { id: id.clone() })
                })
                .await?
            }
        };
        outcomes.push(SecretOutcome { id, outcome });
    } else if settings.method == Method::ZipDownload {
        let id = settings.git_token_secret_id();
        let var = settings.provider.token_var(token_env);
        let token = var
            .as_deref()
            .and_then(|v| std::env::var(v).ok())
            .filter(|t| !t.trim().is_empty());
        let outcome = match token {
            Some(token) => super::put(sm, &id, "git2s3 provider API token", token.trim()).await?,
            None => {
                super::ensure(sm, &id, "", || {
                    Err(DeployError::MissingToken {
                        id: id.clone(),
                        var: var.clone().unwrap_or_else(|| "the token variable".into()),
                    })
                })
                .await?
            }
        };
        outcomes.push(SecretOutcome { id, outcome });
    }
    if settings.any_reports_status() {
        let id = settings.status_token_secret_id();
        let provider_var = settings.provider.token_var(token_env);
        let env = |v: &str| std::env::var(v).ok().filter(|t| !t.trim().is_empty());
        let token = env(STATUS_TOKEN_VAR)
            .or_else(|| provider_token.map(str::to_string))
            .or_else(|| provider_var.as_deref().and_then(env));
        let outcome = match token {
            Some(token) => super::put(sm, &id, "git2s3 commit status token", token.trim()).await?,
            None => {
                super::ensure(sm, &id, "", || {
                    Err(DeployError::MissingStatusToken {
                        id: id.clone(),
                        var: match &provider_var {
                            Some(v) => format!("{STATUS_TOKEN_VAR} (or {v})"),
                            None => STATUS_TOKEN_VAR.to_string(),
                        },
                    })
                })
                .await?
            }
        };
        outcomes.push(SecretOutcome { id, outcome });
    }
    Ok(outcomes)
}
