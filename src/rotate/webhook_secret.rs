//! `rotate webhook-secret`: the secret holds one secret per line while it
//! rotates; the receiver accepts any of them, and hooks are registered
//! with the first. So the steps are:
//!
//! 1. a new secret on the first line, the old one kept below it;
//! 2. every hook git2s3 registered updated to the new one (with no API,
//!    `generic`, a person re-runs `git2s3 hook install` on the server);
//! 3. the old lines removed.
//!
//! A secret of several lines is a rotation under way: a run carries it on
//! from step 2 with the first line.

use crate::deploy::secrets::{self, WEBHOOK_SECRET_DESCRIPTION};
use crate::progress::Progress;
use crate::register::{self, ProviderApi, Registration};
use crate::settings::Settings;

use super::Report;

/// Where the hooks are, for step 2: the provider's API, or a person.
pub enum Hooks {
    Api {
        api: Box<dyn ProviderApi>,
        url: String,
    },
    /// A plain SSH server; `done` says the new secret is installed there.
    ByHand { done: bool },
}

/// Runs the rotation, or the rest of one under way.
pub async fn rotate(
    sm: &aws_sdk_secretsmanager::Client,
    settings: &Settings,
    hooks: Hooks,
    progress: &Progress,
) -> anyhow::Result<Report> {
    let id = settings.webhook_secret_id();
    let text = secrets::read(sm, &id).await?.unwrap_or_default();
    let held: Vec<&str> = git2s3_lambda::webhook::auth::secret_lines(&text).collect();
    let (new, resumed) = match held.as_slice() {
        [] => anyhow::bail!("secret {id} is empty: run `git2s3 init` to store one"),
        [old] => {
            let new = secrets::new_webhook_secret();
            let both = format!("{new}\n{old}");
            secrets::put(sm, &id, WEBHOOK_SECRET_DESCRIPTION, &both).await?;
            progress.line(format!(
                "stored a new webhook secret in {id}, beside the old one: the receiver accepts both"
            ));
            (new, false)
        }
        [first, rest @ ..] => {
            progress.line(format!(
                "a rotation is under way ({id} holds {} secrets): carrying it on with the newest",
                rest.len() + 1
            ));
            (first.to_string(), true)
        }
    };
    let mut report = Report::new(&settings.stack_name, id.clone(), resumed);
    match hooks {
        Hooks::ByHand { done: false } => {
            report.next = Some(format!(
                "on the Git server, run `GIT2S3_STACK_NAME={stack} git2s3 hook install --git-dir \
                 PATH.git` again for each repository (it writes the stack's new secret), then \
                 `git2s3 rotate webhook-secret --continue` to remove the old one",
                stack = settings.stack_name
            ));
            return Ok(report);
        }
        Hooks::ByHand { done: true } => {}
        Hooks::Api { api, url } => {
            let targets = register::targets(settings);
            if targets.is_empty() {
                anyhow::bail!(
                    "no hook to update: pass --repo OWNER/REPO (repeatable) or --org ORG, as for \
                     register-webhook. The new secret is stored beside the old one, and the receiver \
                     accepts both"
                );
            }
            let reg =
                Registration::new(settings, api, url, new.clone(), targets, Vec::new(), false);
            let registered = register::register(&reg, progress, &|_| Ok(true))
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{e}. The new secret is stored beside the old one and the receiver accepts \
                         both, so pushes still build. Fix the cause, then run `git2s3 rotate \
                         webhook-secret` again: it carries on from here"
                    )
                })?;
            report.hooks = registered.hooks;
        }
    }
    secrets::put(sm, &id, WEBHOOK_SECRET_DESCRIPTION, &new).await?;
    progress.line(format!(
        "removed the old webhook secret from {id}: each receiver refuses it once it reads the \
         secret again (within GIT2S3_SECRET_TTL_SECONDS, 5 minutes by default)"
    ));
    report.done = true;
    Ok(report)
}
