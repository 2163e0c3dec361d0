//! `git2s3 register-webhook` and `unregister-webhook`: resolve the hook's
//! URL, secret and deploy keys (given, or the stack's), then hand them to
//! [`crate::register`], which adds or removes them, and print what it did.

use std::process::ExitCode;

use git2s3_lambda::Provider;

use crate::cli::{GlobalArgs, OutputFormat, RegisterArgs};
use crate::context;
use crate::deploy::keys::RepoKey;
use crate::deploy::{identity, stack};
use crate::progress::Progress;
use crate::register::{
    self, env_secret, key_repos, stack_keys, stack_secret, targets, token, word, Registration,
};
use crate::settings::Settings;

/// `git2s3 register-webhook` / `unregister-webhook`.
pub async fn run(
    global: &GlobalArgs,
    args: &RegisterArgs,
    remove: bool,
) -> anyhow::Result<ExitCode> {
    let consent = context::Consent::new(global);
    let overrides = context::target_overrides(&args.target);
    let settings = context::load_settings(global, &overrides)?;
    let progress = Progress::new();

    // The hook's URL and secret, and the public key: given, or the stack's.
    let env_secret = env_secret();
    let file_key = match &args.public_key {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read --public-key {}: {e}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let needs_stack = args.webhook_url.is_none()
        || env_secret.is_none()
        || (args.deploy_key && file_key.is_none());
    let stack = match needs_stack {
        false => None,
        true => {
            let clients = context::clients(global, &settings).await;
            let me = identity::whoami(&clients).await?;
            let core =
                stack::require(&clients.cloudformation, &settings.stack_name, &me.region).await?;
            Some((clients, core))
        }
    };
    let url = match (&args.webhook_url, &stack) {
        (Some(url), _) => url.clone(),
        (None, Some((_, core))) => core.core().webhook_url(settings.method).ok_or_else(|| {
            anyhow::anyhow!(
                "stack {} has no webhook URL output yet: wait for it to finish, or pass --webhook-url",
                core.name
            )
        })?,
        (None, None) => unreachable!("the stack is read when --webhook-url is not given"),
    };
    let secret = match (env_secret, &stack) {
        (Some(secret), _) => secret,
        (None, Some((clients, _))) => stack_secret(&clients.secrets, &settings).await?,
        (None, None) => unreachable!("the stack is read when GIT2S3_WEBHOOK_SECRET is not set"),
    };

    if settings.provider == Provider::Generic {
        let public_key = file_key
            .or_else(|| settings.auth.public_ssh_key.clone())
            .or_else(|| stack.and_then(|(_, core)| core.core().public_ssh_key))
            .filter(|k| !k.is_empty());
        print_generic(global.output, &settings, &url, public_key.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    }
    let token = token(
        settings.provider,
        args.token_env.as_deref(),
        consent.can_ask(),
    )?;
    let api = register::client(settings.provider, settings.api_url.as_deref(), &token)?;
    let repos = match args.deploy_key {
        true => key_repos(api.as_ref(), &settings, args.all_repos).await?,
        false => Vec::new(),
    };
    let keys = match (args.deploy_key, &file_key, &stack) {
        (false, _, _) => Vec::new(),
        (true, Some(key), _) => {
            register::check_key_limit(settings.provider, repos.len())?;
            repos
                .into_iter()
                .map(|repo| RepoKey {
                    repo,
                    public_key: key.clone(),
                })
                .collect()
        }
        (true, None, Some((clients, _))) => {
            stack_keys(&clients.secrets, &settings, &repos, remove).await?
        }
        (true, None, None) => {
            unreachable!("the stack is read for --deploy-key without --public-key")
        }
    };
    let targets = targets(&settings);
    if targets.is_empty() {
        anyhow::bail!("nothing to register: pass --repo OWNER/REPO (repeatable) or --org ORG");
    }
    let reg = Registration::new(&settings, api, url, secret, targets, keys, !args.no_ping);
    progress.step(format!(
        "{} {} {}",
        if remove {
            "Removing git2s3's webhook from"
        } else {
            "Registering the webhook with"
        },
        settings.provider,
        reg.hook.url
    ));
    let report = if remove {
        progress.done();
        let what = format!(
            "Remove git2s3's webhook from {} and its deploy key from {} repositories?",
            reg.targets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            reg.keys.len()
        );
        if !consent.confirm(&what)? {
            eprintln!("nothing was removed");
            return Ok(ExitCode::FAILURE);
        }
        register::unregister(&reg, &progress).await?
    } else {
        let may_replace = |q: &str| {
            consent
                .confirm(q)
                .map_err(|e| register::RegisterError::NotConfirmed(e.to_string()))
        };
        register::register(&reg, &progress, &may_replace).await?
    };
    progress.done();
    match global.output {
        OutputFormat::Json => context::print_json(&report)?,
        OutputFormat::Text => {
            for h in &report.hooks {
                crate::out!("hook {}: {}", h.target, word(h.outcome));
            }
            for k in &report.keys {
                crate::out!("deploy key {}: {}", k.repo, word(k.outcome));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A plain SSH server has no API: say what to set up by hand.
fn print_generic(
    output: OutputFormat,
    settings: &Settings,
    url: &str,
    public_key: Option<&str>,
) -> anyhow::Result<()> {
    let install = format!("git2s3 hook install --git-dir PATH.git --webhook-url {url}");
    let read_secret = format!(
        "aws secretsmanager get-secret-value --secret-id {} --query SecretString --output text",
        settings.webhook_secret_id()
    );
    if output == OutputFormat::Json {
        // A plain SSH server has no API: what to set up there, for a script.
        return context::print_json(&serde_json::json!({
            "provider": "generic",
            "registered": false,
            "webhook_url": url,
            "webhook_secret_id": settings.webhook_secret_id(),
            "public_ssh_key": public_key,
            "install": install,
        }));
    }
    crate::out!(
        "A plain SSH git server has no API to register with. On the server, run \
         `{install}`, or set up a hook by hand with:"
    );
    crate::out!("  webhook URL:    {url}");
    crate::out!("  webhook secret: {read_secret}");
    if let Some(key) = public_key {
        crate::out!("  deploy key:     add to the git user's authorized_keys (read-only):");
        crate::out!("                  {key}");
    }
    Ok(())
}
