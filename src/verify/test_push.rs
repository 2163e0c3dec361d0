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
            send::run(&plan, head, clients, progress).await
        }
        Err(e) => Verdict::not_sent(Check::fail("head", format!("{e:#}"))),
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
