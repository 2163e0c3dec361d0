//! What git2s3 asks of a provider, [`ProviderApi`], and the types its
//! answers come in: hooks, keys, heads, deliveries, token owners. Each
//! provider module implements the trait over [`super::http::Api`].

use async_trait::async_trait;
use serde::Serialize;

use super::error::RegisterError;
use super::http;

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
pub(super) fn id_at(v: &serde_json::Value, pointer: &str) -> String {
    v.pointer(pointer).map(id_string).unwrap_or_default()
}

/// The string at `pointer`; empty if absent.
pub(super) fn text_at(v: &serde_json::Value, pointer: &str) -> String {
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
    pub ssh_url: Option<String>,
    /// GitLab's numeric project id.
    pub project_id: Option<String>,
}

impl Head {
    /// The head of `branch` in `repo`, or [`RegisterError::NoBranch`] when
    /// the answer names no commit.
    pub(super) fn new(
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
pub(super) struct Branches<'a> {
    /// The repository's path: `/repos/acme/api`.
    pub repo_path: String,
    /// Below it, the branch collection: `branches`.
    pub under: &'a str,
    pub default_branch: &'a str,
    pub commit: &'a str,
}

/// The repository, then the branch (`branch`, else its default): the head
/// as GitHub, GitLab and Bitbucket Cloud give it, with the repository's
/// own answer for the fields each reads from it.
pub(super) async fn branch_head(
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
pub(super) fn ssh_clone_link(repo: &serde_json::Value) -> Option<String> {
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
    /// Something of git2s3's was there, and the user said to leave it.
    Kept,
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
    /// Whether a hook on an organization that the provider refuses (403)
    /// may be replaced by a hook on each of its repositories: GitLab, whose
    /// group hooks need a paid tier and the Owner role.
    fn org_hook_falls_back_to_repos(&self) -> bool {
        false
    }

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

/// An id as providers send it, a JSON number or string, as text.
pub(super) fn id_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// `OWNER/REPO` split in two, each part percent-encoded as one URL path
/// segment, or an error naming the expected form.
pub fn split_repo(repo: &str) -> Result<(String, String), RegisterError> {
    repo.split_once('/')
        .filter(|(o, r)| !o.is_empty() && !r.is_empty())
        .map(|(o, r)| (encode(o), encode(r)))
        .ok_or_else(|| RegisterError::Unsupported(format!("`{repo}` is not OWNER/REPO")))
}

/// Percent-encodes a path segment (GitLab project paths, Data Center keys).
pub use git2s3_lambda::secure_url::encode_segment as encode;
