//! `git2s3 rotate webhook-secret` and `rotate deploy-key`: find the stack
//! and the provider's client, ask, hand over to [`crate::rotate`], and
//! print what it did. For the deploy key, a `git2s3.yaml` that records
//! the old public key is brought up to date.

use std::process::ExitCode;

use git2s3_lambda::Provider;

use crate::cli::{GlobalArgs, OutputFormat, RotateCommand};
use crate::context::{self, Consent};
use crate::progress::Progress;
use crate::register;
use crate::rotate::{deploy_key, webhook_secret, Report};
use crate::settings::{self, Method, Settings, Sources};

pub async fn run(global: &GlobalArgs, command: &RotateCommand) -> anyhow::Result<ExitCode> {
    let (args, key) = match command {
        RotateCommand::WebhookSecret(args) => (args, false),
        RotateCommand::DeployKey(args) => (args, true),
    };
    let consent = Consent::new(global);
    let deployed = context::deployed(global, &context::target_overrides(&args.target)).await?;
    let settings = &deployed.settings;
    if key && settings.method != Method::GitPull {
        anyhow::bail!(
            "stack {} uses zip download, which has no deploy key: rotate its provider token by storing \
             a new one in {}",
            settings.stack_name,
            settings.git_token_secret_id()
        );
    }
    let question = match key {
        false => format!(
            "Rotate stack {}'s webhook secret: store a new one, update git2s3's hooks on {} to it, then \
             remove the old one?",
            settings.stack_name, settings.provider
        ),
        true => format!(
            "Rotate stack {}'s deploy keys: add new keys on {} beside the old ones, make them current, \
             then remove the old ones?",
            settings.stack_name, settings.provider
        ),
    };
    if !consent.confirm(&question)? {
        eprintln!("nothing was changed");
        return Ok(ExitCode::FAILURE);
    }
    let api = match settings.provider {
        Provider::Generic => None,
        provider => {
            let token = register::token(provider, args.token_env.as_deref(), consent.can_ask())?;
            Some(register::client(
                provider,
                settings.api_url.as_deref(),
                &token,
            )?)
        }
    };
    let progress = Progress::new();
    let sm = &deployed.clients.secrets;
    let report = if key {
        let repos = match api {
            Some(api) => deploy_key::Repos::Api(api),
            None => deploy_key::Repos::ByHand {
                done: args.continue_,
            },
        };
        progress.step("Rotating the deploy keys");
        let cf = &deployed.clients.cloudformation;
        let rotated =
            deploy_key::rotate(sm, cf, settings, &deployed.stack, repos, &progress).await?;
        if let Some(public) = &rotated.public_ssh_key {
            record_public_key(global, public)?;
        }
        rotated.report
    } else {
        let hooks = match api {
            Some(api) => webhook_secret::Hooks::Api {
                api,
                url: webhook_url(settings, &deployed.stack)?,
            },
            None => webhook_secret::Hooks::ByHand {
                done: args.continue_,
            },
        };
        progress.step("Rotating the webhook secret");
        webhook_secret::rotate(sm, settings, hooks, &progress).await?
    };
    progress.done();
    print(global.output, &report, key)?;
    Ok(ExitCode::SUCCESS)
}

fn webhook_url(
    settings: &Settings,
    core: &crate::deploy::stack::StackInfo,
) -> anyhow::Result<String> {
    core.core().webhook_url(settings.method).ok_or_else(|| {
        anyhow::anyhow!(
            "stack {} has no webhook URL output yet: wait for it to finish, then run this again",
            core.name
        )
    })
}

/// `git2s3.yaml` records the deploy key's public half once `init` ran:
/// a stale one would make `update-stack` plan the old key back.
fn record_public_key(global: &GlobalArgs, public: &str) -> anyhow::Result<()> {
    let path = context::config_path(global);
    if !path.exists() {
        return Ok(());
    }
    // The file alone: flags and GIT2S3_* variables are not written into it.
    let mut file = settings::load(&Sources {
        config_file: Some(&path),
        creating: false,
        env: &|_| None,
        overrides: &settings::Overrides::new(),
    })?;
    match &file.auth.public_ssh_key {
        Some(recorded) if recorded != public => {
            file.auth.public_ssh_key = Some(public.to_string());
            settings::save(&path, &file)?;
        }
        _ => {}
    }
    Ok(())
}

fn print(output: OutputFormat, report: &Report, key: bool) -> anyhow::Result<()> {
    if output == OutputFormat::Json {
        return context::print_json(report);
    }
    let what = if key { "deploy keys" } else { "webhook secret" };
    for h in &report.hooks {
        crate::out!("hook {}: {}", h.target, register::word(h.outcome));
    }
    for k in &report.keys {
        let added = k.added.map(register::word);
        let removed = k.removed.map(register::word);
        crate::out!(
            "{}: new key {}, old key {}",
            k.repo,
            added.unwrap_or("already in use"),
            removed.unwrap_or("left as it is")
        );
    }
    match (&report.next, report.done) {
        (Some(next), false) => {
            crate::out!(
                "stack {}'s {what}: not finished yet. Next, {next}",
                report.stack
            )
        }
        (Some(next), true) => crate::out!(
            "stack {}'s {what} rotated. On the server, {next}",
            report.stack
        ),
        (None, _) => crate::out!("stack {}'s {what} rotated", report.stack),
    }
    Ok(())
}
