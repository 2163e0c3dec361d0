//! Registration with the Git provider: the push webhook and the read-only
//! deploy key, through each provider's REST API.
//!
//! Every provider implements [`ProviderApi`], a handful of list, create,
//! update and delete calls. What to do with them is written once, here:
//! a hook is found by its URL and updated, or created; a key is found by
//! its key material (or, for a replaced key, by git2s3's title) and added
//! once; removal deletes exactly what matches git2s3's URL and key, and
//! nothing else. So every operation converges when run again.
//!
//! - [`http`]: one authenticated client, errors that name the fix, rate
//!   limits with a countdown, the four pagination styles;
//! - [`github`], [`gitlab`], [`bitbucket`], [`bitbucket_server`]: the APIs.

pub mod bitbucket;
pub mod bitbucket_server;
pub mod github;
pub mod gitlab;
pub mod http;

use async_trait::async_trait;
use git2s3_lambda::Provider;
use serde::Serialize;

/// What went wrong talking to the provider, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{provider} answered 401 for {call}: the token is invalid or expired; create a new one and set it in the token variable")]
    Unauthorized {
        provider: &'static str,
        call: String,
    },
    #[error(
        "{provider} answered {status} for {call}: the repository, group or workspace does not exist, \
         or the token may not manage its {what}; it needs {needs}"
    )]
    Denied {
        provider: &'static str,
        status: u16,
        call: String,
        what: &'static str,
        needs: &'static str,
    },
    #[error(
        "{provider} answered 422 for {call}: key is already in use. GitHub allows a deploy key on one \
         repository only, across all of GitHub: remove it from the other repository, or give each \
         repository its own key"
    )]
    KeyInUse {
        provider: &'static str,
        call: String,
    },
    #[error("{provider} kept answering with its rate limit (next try in {seconds} s): run the command again later")]
    RateLimited {
        provider: &'static str,
        seconds: u64,
    },
    #[error("{provider} answered {status} for {call}: {message}")]
    Failed {
        provider: &'static str,
        status: u16,
        call: String,
        message: String,
    },
    #[error("cannot reach {provider} at {url}: {message}. Check the network and --api-url")]
    Unreachable {
        provider: &'static str,
        url: String,
        message: String,
    },
    #[error("{provider} answered {call} with something that is not the JSON expected: {message}")]
    BadAnswer {
        provider: &'static str,
        call: String,
        message: String,
    },
    #[error(
        "the token holds characters that cannot go in an HTTP header: check the token variable"
    )]
    BadToken,
    #[error("{provider} lists no branch `{branch}` in {repo}: push it first, or pass --branch with one that exists")]
    NoBranch {
        provider: &'static str,
        repo: String,
        branch: String,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Where a hook goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `OWNER/REPO` (GitLab: the project path; Data Center: `PROJECT/slug`).
    Repo(String),
    /// A GitHub organization, GitLab group, Bitbucket workspace or Data Center project.
    Org(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Repo(r) => write!(f, "{r}"),
            Target::Org(o) => write!(f, "{o} (whole organization)"),
        }
    }
}

/// The hook git2s3 wants.
#[derive(Debug, Clone)]
pub struct HookSpec {
    pub url: String,
    /// The webhook secret: HMAC key, or GitLab's token. Never logged.
    pub secret: String,
    /// Shown in the provider's UI where it has a name or description.
    pub name: String,
}

/// A hook as the provider lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub id: String,
    pub url: String,
}

/// A deploy key as the provider lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub id: String,
    pub key: String,
    pub title: String,
}

/// The id (a JSON number or string) at `pointer`, as text; empty if absent.
fn id_at(v: &serde_json::Value, pointer: &str) -> String {
    v.pointer(pointer).map(id_string).unwrap_or_default()
}

/// The string at `pointer`; empty if absent.
fn text_at(v: &serde_json::Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Hook {
    /// A listed hook, with its id and URL at these JSON pointers.
    pub fn read(v: &serde_json::Value, id: &str, url: &str) -> Hook {
        Hook {
            id: id_at(v, id),
            url: text_at(v, url),
        }
    }

    /// The hook just made from `spec`: its id at `id` in the answer.
    pub fn created(answer: &serde_json::Value, id: &str, spec: &HookSpec) -> Hook {
        Hook {
            id: id_at(answer, id),
            url: spec.url.clone(),
        }
    }
}

impl Key {
    /// A listed key, with its id, key material and title at these JSON pointers.
    pub fn read(v: &serde_json::Value, id: &str, key: &str, title: &str) -> Key {
        Key {
            id: id_at(v, id),
            key: text_at(v, key),
            title: text_at(v, title),
        }
    }
}

/// The latest delivery of a hook, where the provider's API lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub delivered_at: String,
    pub event: String,
    /// The HTTP status the endpoint answered (0: no answer).
    pub status_code: u16,
    pub status: String,
}

/// A branch's newest commit, as the provider's API reports it, and where
/// to fetch it from: what a test push announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    pub branch: String,
    pub commit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_url: Option<String>,
    /// GitLab's numeric project id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

impl Head {
    /// The head of `branch` in `repo`, or [`RegisterError::NoBranch`] when
    /// the answer names no commit.
    fn new(
        provider: &'static str,
        repo: &str,
        branch: String,
        commit: String,
        ssh_url: Option<String>,
    ) -> Result<Head, RegisterError> {
        if commit.is_empty() || branch.is_empty() {
            return Err(RegisterError::NoBranch {
                provider,
                repo: repo.to_string(),
                branch,
            });
        }
        Ok(Head {
            branch,
            commit,
            ssh_url: ssh_url.filter(|u| !u.is_empty()),
            project_id: None,
        })
    }
}

/// Where an API lists a repository and its branches, and where its answers
/// hold the default branch's name and a branch's commit (JSON pointers).
struct Branches<'a> {
    /// The repository's path: `/repos/acme/api`.
    repo_path: String,
    /// Below it, the branch collection: `branches`.
    under: &'a str,
    default_branch: &'a str,
    commit: &'a str,
}

/// The repository, then the branch (`branch`, else its default): the head
/// as GitHub, GitLab and Bitbucket Cloud give it, with the repository's
/// own answer for the fields each reads from it.
async fn branch_head(
    api: &http::Api,
    rights: http::Rights,
    repo: &str,
    branch: Option<&str>,
    at: Branches<'_>,
) -> Result<(Head, serde_json::Value), RegisterError> {
    let (info, _) = api
        .call(reqwest::Method::GET, &at.repo_path, None, rights)
        .await?;
    let branch = branch.map_or_else(|| text_at(&info, at.default_branch), str::to_string);
    let path = format!("{}/{}/{}", at.repo_path, at.under, encode(&branch));
    let (tip, _) = api.call(reqwest::Method::GET, &path, None, rights).await?;
    let commit = text_at(&tip, at.commit);
    Ok((Head::new(api.provider(), repo, branch, commit, None)?, info))
}

/// The `ssh` entry of a Bitbucket repository's `links.clone` list.
fn ssh_clone_link(repo: &serde_json::Value) -> Option<String> {
    repo.pointer("/links/clone")?
        .as_array()?
        .iter()
        .find(|l| l["name"] == "ssh")
        .map(|l| text_at(l, "/href"))
}

/// What a call to [`ensure_hook`] or [`ensure_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Removed,
    Absent,
}

/// Who a token belongs to: the wizard's one-line check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub user: String,
    /// The scopes, as the provider lists them; `None` where it does not.
    pub scopes: Option<String>,
}

/// The scopes a response header lists (`X-OAuth-Scopes`), if any.
pub fn scopes_header(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get("x-oauth-scopes")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The calls git2s3 makes to a provider.
#[async_trait]
pub trait ProviderApi: Send + Sync {
    fn name(&self) -> &'static str;
    async fn hooks(&self, target: &Target) -> Result<Vec<Hook>, RegisterError>;
    async fn create_hook(&self, target: &Target, spec: &HookSpec) -> Result<Hook, RegisterError>;
    async fn update_hook(
        &self,
        target: &Target,
        id: &str,
        spec: &HookSpec,
    ) -> Result<(), RegisterError>;
    async fn delete_hook(&self, target: &Target, id: &str) -> Result<(), RegisterError>;
    /// Asks the provider to send its test event; `Ok(false)` where it has none.
    async fn ping(&self, target: &Target, id: &str) -> Result<bool, RegisterError>;
    async fn keys(&self, repo: &str) -> Result<Vec<Key>, RegisterError>;
    async fn add_key(&self, repo: &str, title: &str, key: &str) -> Result<(), RegisterError>;
    async fn delete_key(&self, repo: &str, id: &str) -> Result<(), RegisterError>;
    /// Every repository of an organization, group, workspace or project.
    async fn repos(&self, org: &str) -> Result<Vec<String>, RegisterError>;
    /// Who the token belongs to, and its scopes where the API says.
    async fn whoami(&self) -> Result<TokenOwner, RegisterError>;
    /// The newest commit of `branch`, or of the default branch.
    async fn head(&self, repo: &str, branch: Option<&str>) -> Result<Head, RegisterError>;
    /// The hook's latest delivery: `Err(Unsupported)` where the API has no
    /// delivery log, `Ok(None)` before the first delivery.
    async fn last_delivery(
        &self,
        _target: &Target,
        _id: &str,
    ) -> Result<Option<Delivery>, RegisterError> {
        Err(RegisterError::Unsupported(format!(
            "{}'s API does not list webhook deliveries",
            self.name()
        )))
    }
}

/// The client for `provider`, at `api_url` or the provider's public API.
pub fn client(
    provider: Provider,
    api_url: Option<&str>,
    token: &str,
) -> Result<Box<dyn ProviderApi>, RegisterError> {
    Ok(match provider {
        Provider::Github | Provider::GithubEnterprise => Box::new(github::GitHub::new(
            api_url.unwrap_or(github::API),
            token,
        )?),
        Provider::Gitlab => Box::new(gitlab::GitLab::new(api_url.unwrap_or(gitlab::API), token)?),
        Provider::Bitbucket => Box::new(bitbucket::Bitbucket::new(
            api_url.unwrap_or(bitbucket::API),
            token,
        )?),
        Provider::BitbucketServer => Box::new(bitbucket_server::Server::new(
            api_url.ok_or_else(|| RegisterError::Unsupported("bitbucket-server needs --api-url https://HOST".into()))?,
            token,
        )?),
        Provider::Generic => {
            return Err(RegisterError::Unsupported(
                "a plain SSH server has no API: use `git2s3 hook install` on the server, or add the hook by hand".into(),
            ))
        }
    })
}

/// The key's type and base64 body, without its comment.
pub fn key_material(key: &str) -> String {
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Creates the hook, or updates the one with the same URL (its secret
/// cannot be read back, so it is always written).
pub async fn ensure_hook(
    api: &dyn ProviderApi,
    target: &Target,
    spec: &HookSpec,
) -> Result<(Outcome, Hook), RegisterError> {
    let existing = api.hooks(target).await?;
    match existing.into_iter().find(|h| h.url == spec.url) {
        Some(hook) => {
            api.update_hook(target, &hook.id, spec).await?;
            Ok((Outcome::Updated, hook))
        }
        None => Ok((Outcome::Created, api.create_hook(target, spec).await?)),
    }
}

/// Deletes the hooks with git2s3's URL, and only those.
pub async fn remove_hook(
    api: &dyn ProviderApi,
    target: &Target,
    url: &str,
) -> Result<Outcome, RegisterError> {
    let mut outcome = Outcome::Absent;
    for hook in api
        .hooks(target)
        .await?
        .into_iter()
        .filter(|h| h.url == url)
    {
        api.delete_hook(target, &hook.id).await?;
        outcome = Outcome::Removed;
    }
    Ok(outcome)
}

/// Adds the read-only deploy key unless the repo has it. A key with
/// git2s3's title but other material (an older git2s3 key) is replaced.
pub async fn ensure_key(
    api: &dyn ProviderApi,
    repo: &str,
    title: &str,
    key: &str,
) -> Result<Outcome, RegisterError> {
    let wanted = key_material(key);
    let existing = api.keys(repo).await?;
    if existing.iter().any(|k| key_material(&k.key) == wanted) {
        return Ok(Outcome::Unchanged);
    }
    let mut outcome = Outcome::Created;
    for old in existing.iter().filter(|k| k.title == title) {
        api.delete_key(repo, &old.id).await?;
        outcome = Outcome::Updated;
    }
    api.add_key(repo, title, key).await?;
    Ok(outcome)
}

/// Deletes the deploy key with this key material, and only that.
pub async fn remove_key(
    api: &dyn ProviderApi,
    repo: &str,
    key: &str,
) -> Result<Outcome, RegisterError> {
    let wanted = key_material(key);
    let mut outcome = Outcome::Absent;
    for k in api
        .keys(repo)
        .await?
        .into_iter()
        .filter(|k| key_material(&k.key) == wanted)
    {
        api.delete_key(repo, &k.id).await?;
        outcome = Outcome::Removed;
    }
    Ok(outcome)
}

/// An id as providers send it, a JSON number or string, as text.
fn id_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// GitHub allows a deploy key on one repository only, across all of
/// GitHub, so one `--public-key` for `repos` repositories is refused
/// before any call. (The stack's secret gets one key per repository.)
pub fn check_github_key_limit(provider: Provider, repos: usize) -> Result<(), RegisterError> {
    if matches!(provider, Provider::Github | Provider::GithubEnterprise) && repos > 1 {
        return Err(RegisterError::Unsupported(format!(
            "GitHub allows a deploy key on one repository only, and --public-key would add one key to \
             {repos} repositories. Leave out --public-key: the stack's deploy-key secret then gets a \
             key of its own for each repository"
        )));
    }
    Ok(())
}

/// `OWNER/REPO` split in two, or an error naming the expected form.
pub fn split_repo(repo: &str) -> Result<(&str, &str), RegisterError> {
    repo.split_once('/')
        .filter(|(o, r)| !o.is_empty() && !r.is_empty())
        .ok_or_else(|| RegisterError::Unsupported(format!("`{repo}` is not OWNER/REPO")))
}

/// Percent-encodes a path segment (GitLab project paths, Data Center keys).
pub fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
