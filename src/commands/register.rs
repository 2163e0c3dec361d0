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
use crate::deploy::keys::{self, RepoKey};
use crate::deploy::{identity, secrets, stack};
use crate::progress::Progress;
use crate::register::{self, HookSpec, Outcome, ProviderApi, RegisterError, Target};
use crate::settings::{Method, Settings};

/// Everything a registration needs, resolved.
pub struct Registration {
    pub api: Box<dyn ProviderApi>,
    pub provider: Provider,
    pub hook: HookSpec,
    pub key_title: String,
    pub targets: Vec<Target>,
    /// The deploy key to add to (or remove from) each repository.
    pub keys: Vec<RepoKey>,
    pub ping: bool,
}

impl Registration {
    /// git2s3's hook and deploy keys for `settings`' stack, both named after it.
    fn new(
        settings: &Settings,
        api: Box<dyn ProviderApi>,
        url: String,
        secret: String,
        targets: Vec<Target>,
        keys: Vec<RepoKey>,
        ping: bool,
    ) -> Registration {
        let name = format!("git2s3 {}", settings.stack_name);
        Registration {
            api,
            provider: settings.provider,
            hook: HookSpec {
                url,
                secret,
                name: name.clone(),
            },
            key_title: name,
            targets,
            keys,
            ping,
        }
    }
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

/// The targets: the org (or group, workspace, project) if given, and each
/// repo outside it. A repo inside the org is covered by the org's hook; a
/// hook of its own would deliver every push twice.
pub fn targets(settings: &Settings) -> Vec<Target> {
    let mut out: Vec<Target> = settings.org.iter().cloned().map(Target::Org).collect();
    let inside = |repo: &str| {
        settings.org.as_deref().is_some_and(|org| {
            repo.len() > org.len()
                && repo[..org.len()].eq_ignore_ascii_case(org)
                && repo.as_bytes()[org.len()] == b'/'
        })
    };
    out.extend(
        settings
            .repos
            .iter()
            .filter(|r| !inside(r))
            .cloned()
            .map(Target::Repo),
    );
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

/// The first webhook secret in `GIT2S3_WEBHOOK_SECRET`, if set: what a
/// sender signs with when there is no stack to read it from.
pub fn env_secret() -> Option<String> {
    std::env::var(super::serve::WEBHOOK_SECRET_VAR)
        .ok()
        .as_deref()
        .and_then(first_secret)
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
    for k in &reg.keys {
        let outcome = register::ensure_key(api, &k.repo, &reg.key_title, &k.public_key).await?;
        progress.line(format!("deploy key on {}: {}", k.repo, word(outcome)));
        report.keys.push(KeyReport {
            repo: k.repo.clone(),
            outcome,
        });
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
    // A repository may hold the default key and a key of its own.
    for k in &reg.keys {
        let outcome = register::remove_key(api, &k.repo, &k.public_key).await?;
        match report.keys.iter_mut().find(|r| r.repo == k.repo) {
            Some(seen) if outcome == Outcome::Removed => seen.outcome = outcome,
            Some(_) => {}
            None => report.keys.push(KeyReport {
                repo: k.repo.clone(),
                outcome,
            }),
        }
    }
    for k in &report.keys {
        progress.line(format!("deploy key on {}: {}", k.repo, word(k.outcome)));
    }
    Ok(report)
}

/// The outcome in the words the output uses.
pub fn word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
        Outcome::Unchanged => "already there",
        Outcome::Removed => "removed",
        Outcome::Absent => "not there",
    }
}

/// The deploy key repositories: the configured repos, and with
/// `--all-repos` every repository of the org.
pub async fn key_repos(
    api: &dyn ProviderApi,
    settings: &Settings,
    all_repos: bool,
) -> Result<Vec<String>, RegisterError> {
    let mut repos = settings.repos.clone();
    if all_repos && settings.org.is_none() {
        return Err(RegisterError::Unsupported(
            "--all-repos lists the repositories of the org: pass --org ORG, or set `org` in git2s3.yaml".into(),
        ));
    }
    if let (true, Some(org)) = (all_repos, &settings.org) {
        for r in api.repos(org).await? {
            if !repos.contains(&r) {
                repos.push(r);
            }
        }
    }
    Ok(repos)
}

/// Which key goes on (or comes off) which repository, from the stack's
/// deploy-key secret. On GitHub, several repositories each get a key of
/// their own, generated and stored here first.
pub async fn stack_keys(
    sm: &aws_sdk_secretsmanager::Client,
    settings: &Settings,
    repos: &[String],
    remove: bool,
) -> anyhow::Result<Vec<RepoKey>> {
    let id = settings.ssh_key_secret_id();
    let mut held = keys::load(sm, &id).await?;
    if remove {
        return Ok(keys::to_remove(&held, repos));
    }
    if held.is_empty() {
        anyhow::bail!(
            "the stack has no deploy key (secret {id} does not exist): it uses zip download, or init has \
             not run. Run `git2s3 init --method git-pull`, or pass --public-key FILE"
        );
    }
    if keys::one_per_repo(settings.provider, repos.len()) {
        let comment = format!("git2s3@{}", settings.stack_name);
        keys::add_own(sm, &id, &comment, &mut held, repos).await?;
    }
    Ok(keys::to_register(&id, &held, repos)?)
}

/// The registration for an installed stack: its webhook URL (for the
/// configured method), its webhook secret from Secrets Manager, and with
/// `deploy_key` its deploy keys on the configured repositories. `init`
/// registers with this, and `destroy` (`remove`) unregisters.
pub async fn for_stack(
    settings: &Settings,
    outputs: &std::collections::BTreeMap<String, String>,
    sm: &aws_sdk_secretsmanager::Client,
    token: &str,
    deploy_key: bool,
    remove: bool,
) -> anyhow::Result<Registration> {
    let url = hook_url(settings, outputs).ok_or_else(|| {
        anyhow::anyhow!("stack {} has no webhook URL output", settings.stack_name)
    })?;
    let secret = stack_secret(sm, settings).await?;
    let api = register::client(settings.provider, settings.api_url.as_deref(), token)?;
    let keys = if deploy_key {
        stack_keys(sm, settings, &settings.repos, remove).await?
    } else {
        Vec::new()
    };
    Ok(Registration::new(
        settings,
        api,
        url,
        secret,
        targets(settings),
        keys,
        true,
    ))
}

/// The stack's webhook secret (the first, while rotating).
pub async fn stack_secret(
    sm: &aws_sdk_secretsmanager::Client,
    settings: &Settings,
) -> anyhow::Result<String> {
    secrets::read(sm, &settings.webhook_secret_id())
        .await?
        .as_deref()
        .and_then(first_secret)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "secret {} is empty: run `git2s3 init` to store one",
                settings.webhook_secret_id()
            )
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
            let clients = super::clients(global, &settings).await;
            let me = identity::whoami(&clients).await?;
            let core =
                stack::require(&clients.cloudformation, &settings.stack_name, &me.region).await?;
            Some((clients, core))
        }
    };
    let url = match (&args.webhook_url, &stack) {
        (Some(url), _) => url.clone(),
        (None, Some((_, core))) => hook_url(&settings, &core.outputs).ok_or_else(|| {
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
            .or_else(|| stack.and_then(|(_, core)| core.outputs.get("PublicSSHKey").cloned()))
            .filter(|k| !k.is_empty());
        print_generic(&settings, &url, public_key.as_deref());
        return Ok(ExitCode::SUCCESS);
    }
    let token = token(settings.provider, args.token_env.as_deref(), yes)?;
    let api = register::client(settings.provider, settings.api_url.as_deref(), &token)?;
    let repos = match args.deploy_key {
        true => key_repos(api.as_ref(), &settings, args.all_repos).await?,
        false => Vec::new(),
    };
    let keys = match (args.deploy_key, &file_key, &stack) {
        (false, _, _) => Vec::new(),
        (true, Some(key), _) => {
            register::check_github_key_limit(settings.provider, repos.len())?;
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
        "A plain SSH git server has no API to register with. On the server, run \
         `git2s3 hook install --repo PATH.git --url {url}`, or set up a hook by hand with:"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos_inside_the_org_get_no_hook_of_their_own() {
        let settings = Settings {
            org: Some("acme".into()),
            repos: vec!["ACME/api".into(), "acme-labs/x".into(), "other/y".into()],
            ..Settings::default()
        };
        let names: Vec<String> = targets(&settings).iter().map(|t| t.to_string()).collect();
        assert_eq!(
            names,
            ["acme (whole organization)", "acme-labs/x", "other/y"]
        );
    }
}
