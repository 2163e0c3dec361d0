//! `git2s3 register-webhook` and `unregister-webhook`, and the same steps
//! for `init` (after the stack is up) and `destroy` (before it goes).
//!
//! The inputs are resolved once, into a [`Registration`]: the provider
//! client, the hook (URL and secret), the deploy key, and the targets.
//! The URL, secret and key come from the stack (its outputs and Secrets
//! Manager) unless given: `--webhook-url`, `GIT2S3_WEBHOOK_SECRET` and
//! `--public-key` let it run without a stack, beside `git2s3 serve`.

use std::process::ExitCode;

use git2s3_lambda::Provider;
use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat, RegisterArgs};
use crate::deploy::{identity, secrets, stack};
use crate::progress::Progress;
use crate::register::{self, HookSpec, Outcome, ProviderApi, RegisterError, Target};
use crate::settings::{Method, Settings};

/// Everything a registration needs, resolved.
pub struct Registration {
    pub api: Box<dyn ProviderApi>,
    pub provider: Provider,
    pub hook: HookSpec,
    pub public_key: Option<String>,
    pub key_title: String,
    pub targets: Vec<Target>,
    /// Repositories that get the deploy key.
    pub key_repos: Vec<String>,
    pub ping: bool,
}

/// What happened, per hook and per key (`--output json` prints this).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub webhook_url: String,
    pub hooks: Vec<HookReport>,
    pub keys: Vec<KeyReport>,
}

#[derive(Debug, Serialize)]
pub struct HookReport {
    pub target: String,
    pub outcome: Outcome,
    /// "sent", "none" (the provider has no test event) or "skipped".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct KeyReport {
    pub repo: String,
    pub outcome: Outcome,
}

/// The environment variable that holds the provider's token.
pub fn token_var(provider: Provider, explicit: Option<&str>) -> Option<String> {
    explicit.map(str::to_string).or(match provider {
        Provider::Github | Provider::GithubEnterprise => Some("GITHUB_TOKEN".into()),
        Provider::Gitlab => Some("GITLAB_TOKEN".into()),
        Provider::Bitbucket | Provider::BitbucketServer => Some("BITBUCKET_TOKEN".into()),
        Provider::Generic => None,
    })
}

/// The token: from its variable, else a hidden prompt when someone can answer.
pub fn token(provider: Provider, explicit: Option<&str>, yes: bool) -> anyhow::Result<String> {
    let var = token_var(provider, explicit).unwrap_or_else(|| "GIT2S3_TOKEN".into());
    if let Some(t) = std::env::var(&var).ok().filter(|t| !t.trim().is_empty()) {
        return Ok(t.trim().to_string());
    }
    if yes {
        anyhow::bail!(
            "registering with {provider} needs an API token: set {var}, or name the variable that \
             holds it with --token-env (tokens are never taken as flag values)"
        );
    }
    let t = dialoguer::Password::new()
        .with_prompt(format!("{provider} API token (input hidden; or set {var})"))
        .interact()?;
    Ok(t.trim().to_string())
}

/// The targets: the org (or group, workspace, project) if given, and each repo.
pub fn targets(settings: &Settings) -> Vec<Target> {
    let mut out: Vec<Target> = settings.org.iter().cloned().map(Target::Org).collect();
    out.extend(settings.repos.iter().cloned().map(Target::Repo));
    out
}

/// The hook's URL for the configured method, from the stack's outputs.
pub fn hook_url(
    settings: &Settings,
    outputs: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let key = match settings.method {
        Method::GitPull => "GitPullWebHookApi",
        Method::ZipDownload => "ZipDownloadWebHookApi",
    };
    outputs.get(key).cloned()
}

/// The first of the webhook secrets (there may be one per line while rotating).
pub fn first_secret(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// Creates or updates the hooks, pings them, and adds the deploy keys.
pub async fn register(reg: &Registration, progress: &Progress) -> Result<Report, RegisterError> {
    let api = reg.api.as_ref();
    let mut report = Report {
        webhook_url: reg.hook.url.clone(),
        ..Report::default()
    };
    let mut queue = reg.targets.clone();
    while let Some(target) = queue.first().cloned() {
        queue.remove(0);
        let (outcome, hook) = match register::ensure_hook(api, &target, &reg.hook).await {
            Ok(done) => done,
            Err(RegisterError::Denied { status, .. })
                if reg.provider == Provider::Gitlab && matches!(target, Target::Org(_)) =>
            {
                let Target::Org(group) = &target else {
                    unreachable!()
                };
                let projects = api.repos(group).await?;
                progress.line(format!(
                    "GitLab answered {status} for a hook on group {group}: group webhooks need GitLab \
                     Premium or Ultimate and the Owner role. Adding a hook to each of its {} projects instead",
                    projects.len()
                ));
                for p in projects.into_iter().rev() {
                    if !reg.targets.contains(&Target::Repo(p.clone())) {
                        queue.insert(0, Target::Repo(p));
                    }
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let ping = if !reg.ping {
            Some("skipped")
        } else if api.ping(&target, &hook.id).await? {
            Some("sent")
        } else {
            Some("none")
        };
        progress.line(format!(
            "hook on {target}: {}{}",
            word(outcome),
            match ping {
                Some("sent") => ", test event sent",
                Some("none") => ", no test event on this provider",
                _ => "",
            }
        ));
        report.hooks.push(HookReport {
            target: target.to_string(),
            outcome,
            ping,
        });
    }
    if let Some(key) = &reg.public_key {
        for repo in &reg.key_repos {
            let outcome = register::ensure_key(api, repo, &reg.key_title, key).await?;
            progress.line(format!("deploy key on {repo}: {}", word(outcome)));
            report.keys.push(KeyReport {
                repo: repo.clone(),
                outcome,
            });
        }
    }
    Ok(report)
}

/// Removes the hooks with git2s3's URL and the deploy key, nothing else.
pub async fn unregister(reg: &Registration, progress: &Progress) -> Result<Report, RegisterError> {
    let api = reg.api.as_ref();
    let mut report = Report {
        webhook_url: reg.hook.url.clone(),
        ..Report::default()
    };
    for target in &reg.targets {
        let outcome = match register::remove_hook(api, target, &reg.hook.url).await {
            Err(RegisterError::Denied { .. })
                if reg.provider == Provider::Gitlab && matches!(target, Target::Org(_)) =>
            {
                Outcome::Absent
            }
            other => other?,
        };
        progress.line(format!("hook on {target}: {}", word(outcome)));
        report.hooks.push(HookReport {
            target: target.to_string(),
            outcome,
            ping: None,
        });
    }
    if let Some(key) = &reg.public_key {
        for repo in &reg.key_repos {
            let outcome = register::remove_key(api, repo, key).await?;
            progress.line(format!("deploy key on {repo}: {}", word(outcome)));
            report.keys.push(KeyReport {
                repo: repo.clone(),
                outcome,
            });
        }
    }
    Ok(report)
}

fn word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
        Outcome::Unchanged => "already there",
        Outcome::Removed => "removed",
        Outcome::Absent => "not there",
    }
}

/// The deploy key repositories: the configured repos, and with
/// `--all-repos` every repository of the org. GitHub refuses one key on
/// several repositories, so that is refused here first, with the reason.
pub async fn key_repos(
    api: &dyn ProviderApi,
    provider: Provider,
    settings: &Settings,
    all_repos: bool,
) -> Result<Vec<String>, RegisterError> {
    let mut repos = settings.repos.clone();
    if let (true, Some(org)) = (all_repos, &settings.org) {
        for r in api.repos(org).await? {
            if !repos.contains(&r) {
                repos.push(r);
            }
        }
    }
    register::check_github_key_limit(provider, repos.len())?;
    Ok(repos)
}

/// The registration for an installed stack: its webhook URL (for the
/// configured method), its webhook secret from Secrets Manager, and with
/// `deploy_key` its public key. `init` and `destroy` use this.
pub async fn for_stack(
    settings: &Settings,
    outputs: &std::collections::BTreeMap<String, String>,
    sm: &aws_sdk_secretsmanager::Client,
    token: &str,
    deploy_key: bool,
) -> anyhow::Result<Registration> {
    let url = hook_url(settings, outputs).ok_or_else(|| {
        anyhow::anyhow!("stack {} has no webhook URL output", settings.stack_name)
    })?;
    let secret = secrets::read(sm, &settings.webhook_secret_id())
        .await?
        .as_deref()
        .and_then(first_secret)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "secret {} is empty: run `git2s3 init` to store one",
                settings.webhook_secret_id()
            )
        })?;
    let public_key = settings
        .auth
        .public_ssh_key
        .clone()
        .or_else(|| outputs.get("PublicSSHKey").cloned())
        .filter(|k| deploy_key && !k.is_empty());
    let api = register::client(settings.provider, settings.api_url.as_deref(), token)?;
    let key_repos = if public_key.is_some() {
        key_repos(api.as_ref(), settings.provider, settings, false).await?
    } else {
        Vec::new()
    };
    Ok(Registration {
        api,
        provider: settings.provider,
        hook: HookSpec {
            url,
            secret,
            name: format!("git2s3 {}", settings.stack_name),
        },
        public_key,
        key_title: format!("git2s3 {}", settings.stack_name),
        targets: targets(settings),
        key_repos,
        ping: true,
    })
}

/// `git2s3 register-webhook` / `unregister-webhook`.
pub async fn run(
    global: &GlobalArgs,
    args: &RegisterArgs,
    remove: bool,
) -> anyhow::Result<ExitCode> {
    let yes = super::assume_yes(global);
    let overrides = super::target_overrides(&args.target);
    let settings = super::load_settings(global, &overrides)?;
    let progress = Progress::new();

    // The hook's URL and secret, and the public key: given, or the stack's.
    let env_secret = std::env::var("GIT2S3_WEBHOOK_SECRET")
        .ok()
        .as_deref()
        .and_then(first_secret);
    let file_key = match &args.public_key {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read --public-key {}: {e}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let (url, secret, stack_key) = match (&args.webhook_url, &env_secret) {
        (Some(url), Some(secret)) => (url.clone(), secret.clone(), None),
        _ => {
            let clients = super::clients(global, &settings).await;
            let me = identity::whoami(&clients).await?;
            let core =
                stack::require(&clients.cloudformation, &settings.stack_name, &me.region).await?;
            let url = match &args.webhook_url {
                Some(u) => u.clone(),
                None => hook_url(&settings, &core.outputs).ok_or_else(|| {
                    anyhow::anyhow!("stack {} has no webhook URL output yet: wait for it to finish, or pass --webhook-url", core.name)
                })?,
            };
            let secret = match env_secret {
                Some(s) => s,
                None => secrets::read(&clients.secrets, &settings.webhook_secret_id())
                    .await?
                    .as_deref()
                    .and_then(first_secret)
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "secret {} is empty: run `git2s3 init` to store one",
                            settings.webhook_secret_id()
                        )
                    })?,
            };
            (url, secret, core.outputs.get("PublicSSHKey").cloned())
        }
    };
    let public_key = file_key
        .or_else(|| settings.auth.public_ssh_key.clone())
        .or(stack_key)
        .filter(|k| !k.is_empty());

    if settings.provider == Provider::Generic {
        print_generic(&settings, &url, public_key.as_deref());
        return Ok(ExitCode::SUCCESS);
    }
    if args.deploy_key && public_key.is_none() {
        anyhow::bail!("--deploy-key needs the public key: pass --public-key FILE, or run `git2s3 init`, which records it");
    }
    let token = token(settings.provider, args.token_env.as_deref(), yes)?;
    let api = register::client(settings.provider, settings.api_url.as_deref(), &token)?;
    let key_repos = if args.deploy_key {
        key_repos(api.as_ref(), settings.provider, &settings, args.all_repos).await?
    } else {
        Vec::new()
    };
    let targets = targets(&settings);
    if targets.is_empty() {
        anyhow::bail!("nothing to register: pass --repo OWNER/REPO (repeatable) or --org ORG");
    }
    let reg = Registration {
        api,
        provider: settings.provider,
        hook: HookSpec {
            url,
            secret,
            name: format!("git2s3 {}", settings.stack_name),
        },
        public_key: if args.deploy_key { public_key } else { None },
        key_title: format!("git2s3 {}", settings.stack_name),
        targets,
        key_repos,
        ping: !args.no_ping,
    };
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
        unregister(&reg, &progress).await?
    } else {
        register(&reg, &progress).await?
    };
    progress.done();
    match global.output {
        OutputFormat::Json => super::print_json(&report)?,
        OutputFormat::Text => {
            for h in &report.hooks {
                println!("hook {}: {}", h.target, word(h.outcome));
            }
            for k in &report.keys {
                println!("deploy key {}: {}", k.repo, word(k.outcome));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A plain SSH server has no API: say what to set up by hand.
fn print_generic(settings: &Settings, url: &str, public_key: Option<&str>) {
    println!(
        "A plain SSH git server has no API to register with. Set up its post-receive hook with:"
    );
    println!("  webhook URL:    {url}");
    println!(
        "  webhook secret: aws secretsmanager get-secret-value --secret-id {} --query SecretString --output text",
        settings.webhook_secret_id()
    );
    if let Some(key) = public_key {
        println!("  deploy key:     add to the git user's authorized_keys (read-only):");
        println!("                  {key}");
    }
}
