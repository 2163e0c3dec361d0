//! The test push for an installed stack, as `init` and `git2s3 verify` send
//! it: finds what to send (repository, branch and commit; webhook URL and
//! secret; bucket) and hands it to [`super::send`], which sends it and waits.

use std::time::Duration;

use git2s3_lambda::webhook::outgoing::PushSpec;
use git2s3_lambda::Provider;

use super::check::{Check, Verdict};
use super::send::{self, Plan};
use crate::aws::Clients;
use crate::deploy::stack::StackInfo;
use crate::progress::Progress;
use crate::register::{env_secret, stack_secret, Head, ProviderApi};
use crate::settings::{Method, Settings};

/// What the caller chose; everything else comes from the stack and API.
#[derive(Debug, Default)]
pub struct Options<'a> {
    pub branch: Option<&'a str>,
    pub commit: Option<&'a str>,
    pub ssh_url: Option<&'a str>,
    pub webhook_url: Option<&'a str>,
    pub timeout: Duration,
}

/// Sends the test push for an installed stack and waits for its zip. What
/// cannot be found before sending is a failed `head` check, not an error,
/// so that `init` still reports what it made.
pub async fn test_push(
    settings: &Settings,
    clients: &Clients,
    core: &StackInfo,
    api: Option<&dyn ProviderApi>,
    options: &Options<'_>,
    progress: &Progress,
) -> Verdict {
    progress.step("Sending a test push and waiting for its zip in S3");
    // The checks are printed with the command's result, once.
    match plan(settings, clients, core, api, options).await {
        Ok((plan, head)) => {
            progress.line(&head.detail);
            let mut verdict = send::run(&plan, head, clients, progress).await;
            if let Some(check) = status_token(settings, clients).await {
                verdict.ok &= check.ok;
                verdict.checks.push(check);
            }
            verdict
        }
        Err(e) => Verdict::not_sent(Check::fail("head", format!("{e:#}"))),
    }
}

/// With build status on (`pipeline.report_status`), the `status token`
/// check: the stored token is there, and where the provider lists a
/// token's scopes, one of them lets it set commit statuses.
pub async fn status_token(settings: &Settings, clients: &Clients) -> Option<Check> {
    const NAME: &str = "status token";
    if !settings.any_reports_status() {
        return None;
    }
    let id = settings.status_token_secret_id();
    let token = match crate::deploy::secrets::read(&clients.secrets, &id).await {
        Ok(Some(t)) if !t.trim().is_empty() => t,
        Ok(_) => {
            return Some(Check::fail(
                NAME,
                format!(
                    "secret {id} holds no token, so no run's state reaches the commit: set {} and \
                     run `git2s3 init` again, or set pipeline.report_status: false",
                    crate::deploy::secrets::stack::STATUS_TOKEN_VAR
                ),
            ))
        }
        Err(e) => return Some(Check::fail(NAME, format!("cannot read secret {id}: {e}"))),
    };
    let provider = settings.provider;
    let owner = match crate::register::client(provider, settings.api_url.as_deref(), token.trim()) {
        Ok(api) => api.whoami().await,
        Err(e) => Err(e),
    };
    Some(match owner {
        Err(e) => Check::fail(NAME, format!("the token in {id} was refused: {e}")),
        Ok(owner) => scope_check(provider, &owner.user, owner.scopes.as_deref(), &id),
    })
}

/// Whether a token whose owner is `user` and whose scopes are `scopes`
/// (`None` where the provider does not list them) may set commit statuses.
fn scope_check(provider: Provider, user: &str, scopes: Option<&str>, id: &str) -> Check {
    const NAME: &str = "status token";
    let needs = git2s3_lambda::report::status_scope(provider);
    let Some(scopes) = scopes else {
        return Check::pass(
            NAME,
            format!("token of {user} (its scopes cannot be read here; {needs}, and `git2s3 status` shows a refusal)"),
        );
    };
    let have: Vec<&str> = scopes.split(',').map(str::trim).collect();
    let wanted = git2s3_lambda::report::status_scopes(provider);
    if wanted.is_empty() || wanted.iter().any(|w| have.contains(w)) {
        Check::pass(NAME, format!("token of {user}; scopes: {scopes}"))
    } else {
        Check::fail(
            NAME,
            format!(
                "the token of {user} ({id}) cannot set commit statuses: {needs}; it has {scopes}"
            ),
        )
    }
}

/// What to send and where, and the `head` check that found the commit.
async fn plan(
    settings: &Settings,
    clients: &Clients,
    core: &StackInfo,
    api: Option<&dyn ProviderApi>,
    options: &Options<'_>,
) -> anyhow::Result<(Plan, Check)> {
    let repo = match (settings.repos.first(), &settings.org, api) {
        (Some(repo), _, _) => repo.clone(),
        (None, Some(org), Some(api)) => {
            api.repos(org).await?.into_iter().next().ok_or_else(|| {
                anyhow::anyhow!("{org} has no repository to test with: pass --repo OWNER/REPO")
            })?
        }
        _ => anyhow::bail!("the test push needs a repository: pass --repo OWNER/REPO"),
    };
    let branch = options.branch.map(str::to_string).or_else(|| {
        settings
            .all_pipelines()
            .into_iter()
            .find(|p| p.repo.eq_ignore_ascii_case(&repo))
            .map(|p| p.branch.clone())
    });
    let (head, source) = match (options.commit, api) {
        (Some(commit), _) => {
            let branch = branch.ok_or_else(|| {
                anyhow::anyhow!("--commit needs the branch it is on: pass --branch")
            })?;
            if !git2s3_lambda::webhook::is_commit_sha(commit) {
                anyhow::bail!("--commit {commit} is not a full commit id (40 or 64 hex digits)");
            }
            let head = Head {
                branch,
                commit: commit.to_ascii_lowercase(),
                ssh_url: None,
                project_id: None,
            };
            (head, "--commit".to_string())
        }
        (None, Some(api)) => (
            api.head(&repo, branch.as_deref()).await?,
            format!("{}'s API", api.name()),
        ),
        (None, None) => anyhow::bail!(
            "a plain SSH server has no API to read a branch's newest commit: run \
             `git2s3 verify --repo {repo} --branch BRANCH --commit SHA --ssh-url URL`"
        ),
    };
    let ssh_url = options.ssh_url.map(str::to_string).or(head.ssh_url);
    if settings.method == Method::GitPull
        && ssh_url.is_none()
        && settings.provider != Provider::Bitbucket
    {
        anyhow::bail!("no SSH URL to fetch {repo} from: pass --ssh-url");
    }
    let outputs = core.core();
    let stack_url = outputs.webhook_url(settings.method);
    let url = match (options.webhook_url, &stack_url) {
        (Some(url), _) => url.to_string(),
        (None, Some(url)) => url.clone(),
        (None, None) => anyhow::bail!(
            "stack {} has no webhook URL output: wait for it to finish, or pass --webhook-url",
            core.name
        ),
    };
    let secret = match env_secret() {
        Some(secret) => secret,
        None => stack_secret(&clients.secrets, settings).await?,
    };
    let bucket = outputs
        .bucket
        .or_else(|| settings.bucket.name.clone())
        .ok_or_else(|| core.missing_output("OutputBucketName"))?;
    let short = &head.commit[..12.min(head.commit.len())];
    let check = Check::pass(
        "head",
        format!("{repo} {} is at {short} ({source})", head.branch),
    );
    let enterprise_host = settings
        .api_url
        .as_deref()
        .and_then(|u| reqwest::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_string));
    let plan = Plan {
        provider: settings.provider,
        stack: (stack_url.as_deref() == Some(url.as_str())).then(|| core.clone()),
        url,
        secret,
        secret_id: settings.webhook_secret_id(),
        spec: PushSpec {
            repo,
            git_ref: format!("refs/heads/{}", head.branch),
            before: String::new(),
            after: head.commit,
            ssh_url,
            project_id: head.project_id,
            pusher: Some("git2s3-verify".into()),
            enterprise_host,
        },
        bucket,
        timeout: options.timeout,
        poll: Duration::from_secs(2),
    };
    Ok((plan, check))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_without_the_status_scope_is_named() {
        let id = "git2s3/s/status-token";
        let ok = scope_check(
            Provider::Github,
            "octocat",
            Some("admin:repo_hook, repo:status"),
            id,
        );
        assert!(ok.ok, "{}", ok.detail);
        let no = scope_check(
            Provider::Github,
            "octocat",
            Some("admin:repo_hook, read:org"),
            id,
        );
        assert!(!no.ok);
        assert!(
            no.detail.contains("repo:status") && no.detail.contains(id),
            "{}",
            no.detail
        );
        let gitlab = scope_check(
            Provider::Gitlab,
            "jane",
            Some("read_api, read_repository"),
            id,
        );
        assert!(
            !gitlab.ok && gitlab.detail.contains("api scope"),
            "{}",
            gitlab.detail
        );
        // A fine-grained token lists no scopes: a pass that says so.
        let fine = scope_check(Provider::Github, "octocat", None, id);
        assert!(
            fine.ok && fine.detail.contains("cannot be read"),
            "{}",
            fine.detail
        );
    }
}
