//! A registration: git2s3's hook and deploy keys on a set of targets, and
//! the loop that adds them (`register-webhook`, `init`) or removes them
//! (`unregister-webhook`, `destroy`), with GitLab's fallback from a group
//! hook to one hook per project.
//!
//! The inputs are resolved once, into a [`Registration`]: the provider
//! client, the hook (URL and secret), the deploy key, and the targets.
//! The URL, secret and key come from the stack (its outputs and Secrets
//! Manager) unless given: `--webhook-url`, `GIT2S3_WEBHOOK_SECRET` and
//! `--public-key` let it run without a stack, beside `git2s3 serve`.

use git2s3_lambda::Provider;
use serde::Serialize;

use super::api::{HookSpec, Outcome, ProviderApi, Target};
use super::client::client;
use super::converge::{ensure_hook, ensure_key, remove_hook, remove_key, MayReplace};
use super::error::RegisterError;
use crate::deploy::keys::{self, RepoKey};
use crate::deploy::secrets;
use crate::progress::Progress;
use crate::settings::{Settings, WEBHOOK_SECRET_VAR};
use crate::template::CoreOutputs;

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
    pub fn new(
        settings: &Settings,
        api: Box<dyn ProviderApi>,
        url: String,
        secret: String,
        targets: Vec<Target>,
        keys: Vec<RepoKey>,
        ping: bool,
    ) -> Registration {
        let name = key_title(settings);
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

/// The name of git2s3's hook and the title of its deploy key, after the stack.
pub fn key_title(settings: &Settings) -> String {
    format!("git2s3 {}", settings.stack_name)
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
    pub ping: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct KeyReport {
    pub repo: String,
    pub outcome: Outcome,
}

/// The token: from its variable, else a hidden prompt when someone can answer.
pub fn token(provider: Provider, explicit: Option<&str>, can_ask: bool) -> anyhow::Result<String> {
    let var = provider
        .token_var(explicit)
        .unwrap_or_else(|| "GIT2S3_TOKEN".into());
    if let Some(t) = std::env::var(&var).ok().filter(|t| !t.trim().is_empty()) {
        return Ok(t.trim().to_string());
    }
    if !can_ask {
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

/// The first webhook secret in `GIT2S3_WEBHOOK_SECRET`, if set: what a
/// sender signs with when there is no stack to read it from.
pub fn env_secret() -> Option<String> {
    std::env::var(WEBHOOK_SECRET_VAR)
        .ok()
        .as_deref()
        .and_then(first_secret)
}

/// The first of the webhook secrets (there may be one per line while rotating).
pub fn first_secret(text: &str) -> Option<String> {
    git2s3_lambda::webhook::auth::secret_lines(text)
        .next()
        .map(str::to_string)
}

/// Creates or updates the hooks, pings them, and adds the deploy keys;
/// `may_replace` is asked before a hook or key that exists is written over.
pub async fn register(
    reg: &Registration,
    progress: &Progress,
    may_replace: MayReplace<'_>,
) -> Result<Report, RegisterError> {
    let api = reg.api.as_ref();
    let mut report = Report {
        webhook_url: reg.hook.url.clone(),
        ..Report::default()
    };
    let mut queue = reg.targets.clone();
    while let Some(target) = queue.first().cloned() {
        queue.remove(0);
        let (outcome, hook) = match ensure_hook(api, &target, &reg.hook, may_replace).await {
            Ok(done) => done,
            Err(RegisterError::Denied { status, .. })
                if api.org_hook_falls_back_to_repos() && matches!(target, Target::Org(_)) =>
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
        let ping = if !reg.ping || outcome == Outcome::Kept {
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
        let outcome = ensure_key(api, &k.repo, &reg.key_title, &k.public_key, may_replace).await?;
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
        let outcome = match remove_hook(api, target, &reg.hook.url).await {
            Err(RegisterError::Denied { .. })
                if api.org_hook_falls_back_to_repos() && matches!(target, Target::Org(_)) =>
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
        let outcome = remove_key(api, &k.repo, &k.public_key).await?;
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
        Outcome::Kept => "kept as it was",
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
    if settings.provider.one_key_per_repo(repos.len()) {
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
    outputs: &CoreOutputs,
    sm: &aws_sdk_secretsmanager::Client,
    token: &str,
    deploy_key: bool,
    remove: bool,
) -> anyhow::Result<Registration> {
    let url = outputs.webhook_url(settings.method).ok_or_else(|| {
        anyhow::anyhow!("stack {} has no webhook URL output", settings.stack_name)
    })?;
    let secret = stack_secret(sm, settings).await?;
    let api = client(settings.provider, settings.api_url.as_deref(), token)?;
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
