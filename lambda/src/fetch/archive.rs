//! Zip download: the provider's zip archive of the pushed commit, fetched
//! over HTTPS with the token and rewritten on the fly without the
//! provider's top-level folder (`owner-repo-sha/`).
//!
//! The archive is read front to back as it arrives, by the zip reader
//! ([`crate::zip::read`]), which copies each entry's compressed bytes raw
//! into git2s3's own [`ZipWriter`]; this module names the entries (without
//! the top folder) and does the HTTP. Nothing touches the disk.
//!
//! TLS is always verified. A status other than 200, or a body that is not
//! a zip, is an error: the Quick Start unzipped error pages.

use std::io::{self, BufRead, Write};

use crate::job::Job;
use crate::listing::{Listing, MAX_PAGES};
use reqwest::Url;

use crate::secure_url::{
    encode_path, encode_segment, is_https_or_loopback, may_carry_credentials, MAX_REDIRECTS,
};
use crate::zip::read::ReadError;
use crate::zip::ZipWriter;
use crate::Provider;

/// How the worker authenticates to the provider's archive endpoint.
#[derive(Clone)]
pub enum Credentials {
    /// A personal, project or repository access token.
    Token(String),
    /// A Bitbucket Cloud OAuth consumer, exchanged for an access token.
    OauthConsumer { key: String, secret: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::Token(_) => "Token(<redacted>)",
            Credentials::OauthConsumer { .. } => "OauthConsumer(<redacted>)",
        })
    }
}

/// Where the provider's APIs are. Each field has the public service's
/// address as default; tests point them at a local server.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// GitHub Enterprise Server, GitLab self-managed, Bitbucket Data
    /// Center, Gitea or Forgejo API base (`https://HOST/api/v3`,
    /// `https://HOST/api/v4`, `https://HOST`, `https://HOST/api/v1`).
    /// `None` for the cloud services.
    pub api_url: Option<String>,
    pub github: String,
    pub gitlab: String,
    /// Bitbucket Cloud's web host, where archives and OAuth tokens live.
    pub bitbucket: String,
    /// Bitbucket Cloud's REST API, where refs are read.
    pub bitbucket_api: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        let public = |p: Provider, url: Option<&str>| {
            url.unwrap_or_else(|| panic!("{p} has a public address in the provider table"))
                .to_string()
        };
        Endpoints {
            api_url: None,
            github: public(Provider::Github, Provider::Github.facts().api_url),
            gitlab: public(Provider::Gitlab, Provider::Gitlab.facts().api_url),
            bitbucket: public(Provider::Bitbucket, Provider::Bitbucket.facts().web_url),
            bitbucket_api: public(Provider::Bitbucket, Provider::Bitbucket.facts().api_url),
        }
    }
}

/// Why a download failed, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the {0} provider has no archive to download: use the git-pull method (/gitpull)")]
    NoArchiveApi(Provider),
    #[error("{provider} needs its API URL for zip download: set api_url in git2s3.yaml (ProviderApiUrl on the stack)")]
    NoApiUrl { provider: Provider },
    #[error(
        "the {provider} payload for {repo} has no project id, which GitLab's archive API needs"
    )]
    NoProjectId { provider: Provider, repo: String },
    #[error("`{0}` is not an https:// URL; git2s3 sends tokens only over verified TLS (plain http only to loopback, for tests)")]
    NotHttps(String),
    #[error("{provider} answered {status} for GET {url}: {hint}")]
    Status {
        provider: Provider,
        status: u16,
        url: String,
        hint: &'static str,
    },
    #[error("GET {url} failed: {message}")]
    Http { url: String, message: String },
    #[error("the answer from {url} is not a zip archive (it starts with {start:?}); nothing was written")]
    NotZip { url: String, start: String },
    #[error("the archive is not readable: {0}")]
    Format(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl From<ReadError> for ArchiveError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Format(m) => ArchiveError::Format(m),
            ReadError::Io(e) => ArchiveError::Io(e),
        }
    }
}

fn check_url(url: &str) -> Result<(), ArchiveError> {
    if is_https_or_loopback(url) {
        Ok(())
    } else {
        Err(ArchiveError::NotHttps(url.to_string()))
    }
}

/// The API base for the job's provider: `api_url` for a self-hosted
/// server (which must be given), else the public service's.
fn api_base(
    provider: Provider,
    endpoints: &Endpoints,
    public: &str,
) -> Result<String, ArchiveError> {
    let base = match (provider, &endpoints.api_url) {
        (p, None) if p.needs_api_url() => return Err(ArchiveError::NoApiUrl { provider }),
        // github.com's API is always its own; an api_url means Enterprise.
        (Provider::Github, _) | (_, None) => public.to_string(),
        (_, Some(own)) => own.clone(),
    };
    Ok(base.trim_end_matches('/').to_string())
}

/// GitLab's numeric project id, which its archive and refs APIs take.
fn project_id(job: &Job) -> Result<String, ArchiveError> {
    job.project_id
        .as_deref()
        .map(encode_segment)
        .ok_or_else(|| ArchiveError::NoProjectId {
            provider: job.provider,
            repo: job.repo.clone(),
        })
}

/// The archive URL of the job's commit, every name in it percent-encoded.
pub fn archive_url(job: &Job, endpoints: &Endpoints) -> Result<String, ArchiveError> {
    let repo = encode_path(&job.repo);
    let commit = encode_segment(&job.commit);
    let url = match job.provider {
        Provider::Github | Provider::GithubEnterprise => {
            let api = api_base(job.provider, endpoints, &endpoints.github)?;
            format!("{api}/repos/{repo}/zipball/{commit}")
        }
        Provider::Gitlab => {
            let api = api_base(job.provider, endpoints, &endpoints.gitlab)?;
            let id = project_id(job)?;
            format!("{api}/projects/{id}/repository/archive.zip?sha={commit}")
        }
        Provider::Bitbucket => {
            let web = endpoints.bitbucket.trim_end_matches('/');
            format!("{web}/{repo}/get/{commit}.zip")
        }
        Provider::BitbucketServer => {
            let api = api_base(job.provider, endpoints, "")?;
            format!(
                "{api}/rest/api/latest/projects/{repo_dc}/archive?at={commit}&format=zip",
                repo_dc = data_center_repo(&job.repo)
            )
        }
        Provider::Gitea | Provider::Forgejo => {
            let api = api_base(job.provider, endpoints, "")?;
            format!("{api}/repos/{repo}/archive/{commit}.zip")
        }
        Provider::Generic => return Err(ArchiveError::NoArchiveApi(job.provider)),
    };
    check_url(&url)?;
    Ok(url)
}

/// `PROJECT/slug` as Data Center's API path: `PROJECT/repos/slug`.
fn data_center_repo(repo: &str) -> String {
    let (project, slug) = repo.split_once('/').unwrap_or((repo, ""));
    format!("{}/repos/{}", encode_segment(project), encode_segment(slug))
}

/// Where in a provider's answer about a ref its commit is: the commit
/// id, and where the API gives them, the message and the author's name
/// (JSON pointers).
struct HeadAt {
    url: String,
    commit: &'static str,
    message: Option<&'static str>,
    author: Option<&'static str>,
}

/// Where the provider's API says which commit the job's ref points at now.
fn head_url(job: &Job, endpoints: &Endpoints) -> Result<HeadAt, ArchiveError> {
    let git_ref = job
        .parsed_ref()
        .map_err(|e| ArchiveError::Format(e.to_string()))?;
    let tag = matches!(git_ref, crate::layout::GitRef::Tag(_));
    let name = git_ref.name();
    let repo = encode_path(&job.repo);
    let at = |url: String, commit, message, author| HeadAt {
        url,
        commit,
        message,
        author,
    };
    let head = match job.provider {
        Provider::Github | Provider::GithubEnterprise => {
            let api = api_base(job.provider, endpoints, &endpoints.github)?;
            let kind = if tag { "tags" } else { "heads" };
            at(
                format!("{api}/repos/{repo}/commits/{kind}/{}", encode_path(name)),
                "/sha",
                Some("/commit/message"),
                Some("/commit/author/name"),
            )
        }
        Provider::Gitlab => {
            let api = api_base(job.provider, endpoints, &endpoints.gitlab)?;
            let id = project_id(job)?;
            let kind = if tag { "tags" } else { "branches" };
            let name = encode_segment(name);
            at(
                format!("{api}/projects/{id}/repository/{kind}/{name}"),
                "/commit/id",
                Some("/commit/message"),
                Some("/commit/author_name"),
            )
        }
        Provider::Bitbucket => {
            let api = endpoints.bitbucket_api.trim_end_matches('/');
            let kind = if tag { "tags" } else { "branches" };
            let name = encode_segment(name);
            at(
                format!("{api}/repositories/{repo}/refs/{kind}/{name}"),
                "/target/hash",
                Some("/target/message"),
                Some("/target/author/user/display_name"),
            )
        }
        Provider::BitbucketServer => {
            let api = api_base(job.provider, endpoints, "")?;
            let until = encode_segment(&git_ref.full_name());
            let repo = data_center_repo(&job.repo);
            at(
                format!("{api}/rest/api/latest/projects/{repo}/commits?until={until}&limit=1"),
                "/values/0/id",
                Some("/values/0/message"),
                Some("/values/0/author/name"),
            )
        }
        Provider::Gitea | Provider::Forgejo => {
            let api = api_base(job.provider, endpoints, "")?;
            let name = encode_segment(name);
            match tag {
                // A tag's answer names its commit only.
                true => at(
                    format!("{api}/repos/{repo}/tags/{name}"),
                    "/commit/sha",
                    None,
                    None,
                ),
                false => at(
                    format!("{api}/repos/{repo}/branches/{name}"),
                    "/commit/id",
                    Some("/commit/message"),
                    Some("/commit/author/name"),
                ),
            }
        }
        Provider::Generic => return Err(ArchiveError::NoArchiveApi(job.provider)),
    };
    check_url(&head.url)?;
    Ok(head)
}

fn status_hint(provider: Provider, status: u16) -> &'static str {
    match (provider, status) {
        (_, 401) => "the token is invalid or expired: store a new one in the git-token secret",
        (Provider::Github | Provider::GithubEnterprise, 403 | 404) => {
            "the repo or commit does not exist, or the token cannot read it (classic token: repo scope; fine-grained: Contents read)"
        }
        (Provider::Gitlab, 403 | 404) => {
            "the project or commit does not exist, or the token cannot read it (it needs the read_repository or read_api scope)"
        }
        (Provider::Bitbucket | Provider::BitbucketServer, 403 | 404) => {
            "the repo or commit does not exist, or the token cannot read it (it needs repository read access)"
        }
        (Provider::Gitea | Provider::Forgejo, 403 | 404) => {
            "the repo or commit does not exist, or the token cannot read it (it needs the read:repository scope)"
        }
        (_, 429) => "rate limited: the job is retried by the queue",
        _ => "see the provider's status page; the job is retried by the queue",
    }
}

/// Exchanges a Bitbucket OAuth consumer for an access token (client credentials grant).
fn bitbucket_token(
    client: &reqwest::blocking::Client,
    base: &str,
    key: &str,
    secret: &str,
) -> Result<String, ArchiveError> {
    let url = format!("{}/site/oauth2/access_token", base.trim_end_matches('/'));
    check_url(&url)?;
    let response = client
        .post(&url)
        .basic_auth(key, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .map_err(|e| ArchiveError::Http {
            url: url.clone(),
            message: e.to_string(),
        })?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(ArchiveError::Status {
            provider: Provider::Bitbucket,
            status,
            url,
            hint: "the OAuth consumer key or secret is wrong, or the consumer is not private",
        });
    }
    let body: serde_json::Value = response.json().map_err(|e| ArchiveError::Http {
        url: url.clone(),
        message: e.to_string(),
    })?;
    body["access_token"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| ArchiveError::Http {
            url,
            message: "no access_token in the answer".into(),
        })
}

/// An authenticated client for one provider's API. Redirects are followed
/// here, not by reqwest: a credential goes only to the origin it was given
/// for (`secure_url::may_carry_credentials`), and never over plain http.
pub(crate) struct Session {
    client: reqwest::blocking::Client,
    provider: Provider,
    /// The header the credential goes in, and its value.
    credential: (&'static str, String),
}

impl Session {
    pub(crate) fn new(
        provider: Provider,
        endpoints: &Endpoints,
        credentials: &Credentials,
    ) -> Result<Self, ArchiveError> {
        let client = reqwest::blocking::Client::builder()
            .user_agent(concat!("git2s3/", env!("CARGO_PKG_VERSION")))
            .timeout(None)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| http_error("the HTTP client", &e))?;
        // The credential, in the header this provider reads it from.
        let credential = match (provider, credentials) {
            (Provider::Gitlab, Credentials::Token(t)) => ("private-token", t.clone()),
            (Provider::Gitea | Provider::Forgejo, Credentials::Token(t)) => {
                ("authorization", format!("token {t}"))
            }
            (_, Credentials::Token(t)) => ("authorization", format!("Bearer {t}")),
            (_, Credentials::OauthConsumer { key, secret }) => {
                let token = bitbucket_token(&client, &endpoints.bitbucket, key, secret)?;
                ("authorization", format!("Bearer {token}"))
            }
        };
        Ok(Session {
            client,
            provider,
            credential,
        })
    }

    /// GET `url` with the credential, following redirects by git2s3's rule.
    fn get(&self, url: &str) -> Result<reqwest::blocking::Response, ArchiveError> {
        let origin = Url::parse(url).map_err(|e| http_error(url, &e))?;
        let mut current = origin.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.client.get(current.as_str());
            if may_carry_credentials(&origin, &current) {
                request = request.header(self.credential.0, &self.credential.1);
                if matches!(self.provider, Provider::Github | Provider::GithubEnterprise) {
                    request = request
                        .header("accept", crate::provider::GITHUB_ACCEPT)
                        .header("x-github-api-version", crate::provider::GITHUB_API_VERSION);
                }
            }
            let response = request
                .send()
                .map_err(|e| http_error(current.as_str(), &e))?;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| http_error(current.as_str(), &"a redirect without a Location"))?;
            let next = current
                .join(location)
                .map_err(|e| http_error(current.as_str(), &e))?;
            check_url(next.as_str())?;
            current = next;
        }
        Err(http_error(
            url,
            &format!("more than {MAX_REDIRECTS} redirects"),
        ))
    }

    /// POSTs `body` as JSON to `url` with the credential; no redirect is
    /// followed (a write goes to the API it was given for, or nowhere).
    /// Returns the status and the answer's text.
    pub(crate) fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, String), ArchiveError> {
        check_url(url)?;
        let mut request = self
            .client
            .post(url)
            .header(self.credential.0, &self.credential.1)
            .header("content-type", "application/json")
            .body(body.to_string());
        if matches!(self.provider, Provider::Github | Provider::GithubEnterprise) {
            request = request
                .header("accept", crate::provider::GITHUB_ACCEPT)
                .header("x-github-api-version", crate::provider::GITHUB_API_VERSION);
        }
        let response = request.send().map_err(|e| http_error(url, &e))?;
        let status = response.status().as_u16();
        Ok((status, response.text().unwrap_or_default()))
    }

    /// GET `url`, refusing any status but 200.
    fn get_ok(&self, url: &str) -> Result<reqwest::blocking::Response, ArchiveError> {
        let response = self.get(url)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(ArchiveError::Status {
                provider: self.provider,
                status,
                hint: status_hint(self.provider, status),
                url: url.to_string(),
            });
        }
        Ok(response)
    }
}

fn http_error(url: &str, e: &dyn std::fmt::Display) -> ArchiveError {
    ArchiveError::Http {
        url: url.to_string(),
        message: e.to_string(),
    }
}

/// The repository's own address in the provider's API.
fn repo_url(job: &Job, endpoints: &Endpoints) -> Result<String, ArchiveError> {
    let repo = encode_path(&job.repo);
    let url = match job.provider {
        Provider::Github | Provider::GithubEnterprise => {
            format!(
                "{}/repos/{repo}",
                api_base(job.provider, endpoints, &endpoints.github)?
            )
        }
        Provider::Gitlab => format!(
            "{}/projects/{}",
            api_base(job.provider, endpoints, &endpoints.gitlab)?,
            project_id(job)?
        ),
        Provider::Bitbucket => format!(
            "{}/repositories/{repo}",
            endpoints.bitbucket_api.trim_end_matches('/')
        ),
        Provider::BitbucketServer => format!(
            "{}/rest/api/latest/projects/{}",
            api_base(job.provider, endpoints, "")?,
            data_center_repo(&job.repo)
        ),
        Provider::Gitea | Provider::Forgejo => {
            format!("{}/repos/{repo}", api_base(job.provider, endpoints, "")?)
        }
        Provider::Generic => return Err(ArchiveError::NoArchiveApi(job.provider)),
    };
    check_url(&url)?;
    Ok(url)
}

/// Whether the token can read the job's repository: a provider answers
/// 404 for a ref it cannot show too (GitHub, for a private repository the
/// token cannot read), so a ref's 404 means "gone" only when this is `Ok`.
pub fn repository_readable(
    job: &Job,
    endpoints: &Endpoints,
    credentials: &Credentials,
) -> Result<(), ArchiveError> {
    let url = repo_url(job, endpoints)?;
    Session::new(job.provider, endpoints, credentials)?.get_ok(&url)?;
    Ok(())
}

/// A ref's commit as the provider's API gives it: its id, and where the
/// API says, the first line of its message and its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub commit: String,
    pub subject: Option<String>,
    pub author: Option<String>,
}

/// The commit the job's ref points at now, as the provider's API says:
/// what zip download builds, whatever commit the payload named, so that a
/// replayed or late delivery can never put an older commit at the key.
pub fn head(
    job: &Job,
    endpoints: &Endpoints,
    credentials: &Credentials,
) -> Result<Head, ArchiveError> {
    let at = head_url(job, endpoints)?;
    let session = Session::new(job.provider, endpoints, credentials)?;
    let body: serde_json::Value = session
        .get_ok(&at.url)?
        .json()
        .map_err(|e| http_error(&at.url, &e))?;
    let text = |pointer: Option<&str>| {
        pointer
            .and_then(|p| body.pointer(p))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    let commit = text(Some(at.commit))
        .filter(|sha| crate::webhook::is_commit_sha(sha))
        .map(|sha| sha.to_ascii_lowercase())
        .ok_or_else(|| {
            ArchiveError::Format(format!(
                "{} answered GET {} without a commit id at {}",
                job.provider, at.url, at.commit
            ))
        })?;
    Ok(Head {
        commit,
        subject: text(at.message).and_then(|m| m.lines().next().map(str::to_string)),
        author: text(at.author),
    })
}

/// The provider's REST API base, which [`crate::listing`]'s paths are below.
pub(crate) fn rest_base(provider: Provider, endpoints: &Endpoints) -> Result<String, ArchiveError> {
    match provider {
        Provider::Github | Provider::GithubEnterprise => {
            api_base(provider, endpoints, &endpoints.github)
        }
        Provider::Gitlab => api_base(provider, endpoints, &endpoints.gitlab),
        Provider::Bitbucket => Ok(endpoints.bitbucket_api.trim_end_matches('/').to_string()),
        Provider::BitbucketServer | Provider::Gitea | Provider::Forgejo => {
            api_base(provider, endpoints, "")
        }
        Provider::Generic => Err(ArchiveError::NoArchiveApi(provider)),
    }
}

impl Session {
    /// Every item of `listing`, page by page (at most [`MAX_PAGES`]). A
    /// next page on another origin than the API's is not followed: the
    /// token goes only to the API it was given for.
    fn list(&self, base: &str, listing: &Listing) -> Result<Vec<serde_json::Value>, ArchiveError> {
        let first = format!("{base}{}", listing.path);
        check_url(&first)?;
        let origin = Url::parse(&first)
            .map_err(|e| http_error(&first, &e))?
            .origin();
        let mut items = Vec::new();
        let mut next = Some(first.clone());
        for page in 1..=MAX_PAGES {
            let Some(url) = next.take() else { break };
            let url = match Url::parse(&url) {
                Ok(u) => u,
                // A path, as GitLab's and Gitea's next pages are built.
                Err(_) => Url::parse(&format!("{base}{url}")).map_err(|e| http_error(&url, &e))?,
            };
            if url.origin() != origin {
                tracing::warn!(next = %url, "not following a next-page link to another server");
                break;
            }
            let response = self.get_ok(url.as_str())?;
            let headers = response.headers().clone();
            let body: serde_json::Value =
                response.json().map_err(|e| http_error(url.as_str(), &e))?;
            items.extend(listing.paging.items(&body));
            next = listing
                .paging
                .next(&first, page, items.len(), &body, &|name| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(|v| v.trim().to_string())
                });
        }
        Ok(items)
    }
}

/// Every branch and tag of `repo` and the commit each points at, through
/// the provider's API (as `git ls-remote` lists them over SSH): how a
/// stack that downloads zips, and has no deploy key, is swept.
pub fn list_refs(
    provider: Provider,
    repo: &str,
    endpoints: &Endpoints,
    credentials: &Credentials,
) -> Result<Vec<(String, String)>, ArchiveError> {
    let lists = crate::listing::refs(provider, repo).ok_or(ArchiveError::NoArchiveApi(provider))?;
    let base = rest_base(provider, endpoints)?;
    let session = Session::new(provider, endpoints, credentials)?;
    let mut heads = Vec::new();
    for list in &lists {
        for item in session.list(&base, &list.listing)? {
            if let Some((name, commit)) = list.head_of(&item) {
                if crate::webhook::is_commit_sha(&commit) {
                    heads.push((name, commit.to_ascii_lowercase()));
                }
            }
        }
    }
    Ok(heads)
}

/// The repositories of `org`, through the provider's API, by their
/// `owner/repo` names: what the sweep covers below an `org` when a token
/// is stored.
pub fn list_org_repos(
    provider: Provider,
    org: &str,
    endpoints: &Endpoints,
    credentials: &Credentials,
) -> Result<Vec<String>, ArchiveError> {
    let listing =
        crate::listing::org_repos(provider, org).ok_or(ArchiveError::NoArchiveApi(provider))?;
    let base = rest_base(provider, endpoints)?;
    let session = Session::new(provider, endpoints, credentials)?;
    Ok(session
        .list(&base, &listing)?
        .iter()
        .filter_map(|item| listing.name_of(item))
        .collect())
}

/// Downloads the job's archive and writes it, top folder stripped, into `zip`.
pub fn download<W: Write>(
    job: &Job,
    endpoints: &Endpoints,
    credentials: &Credentials,
    zip: &mut ZipWriter<W>,
) -> Result<u64, ArchiveError> {
    let url = archive_url(job, endpoints)?;
    let response = Session::new(job.provider, endpoints, credentials)?.get_ok(&url)?;
    let mut body = io::BufReader::with_capacity(256 * 1024, response);
    let start = body.fill_buf()?;
    if !start.starts_with(b"PK\x03\x04") {
        return Err(ArchiveError::NotZip {
            start: String::from_utf8_lossy(&start[..start.len().min(40)]).into_owned(),
            url,
        });
    }
    rewrite(body, zip)
}

/// Rewrites the provider's archive, read front to back, into `zip`
/// without its top folder. Returns the number of files written.
pub fn rewrite<R: BufRead, W: Write>(src: R, zip: &mut ZipWriter<W>) -> Result<u64, ArchiveError> {
    let mut top = None;
    Ok(crate::zip::read::copy_entries(src, zip, |name| {
        strip_top(name, &mut top)
    })?)
}

/// The name without its first component, or `None` for the top folder
/// itself and for directory entries.
fn strip_top(name: &str, top: &mut Option<String>) -> Result<Option<String>, ReadError> {
    let (first, rest) = name.split_once('/').unwrap_or((name, ""));
    match top {
        None => *top = Some(first.to_string()),
        Some(t) if t != first => {
            return Err(ReadError::Format(format!(
                "entries are not all under one top folder (`{t}/` and `{first}/`)"
            )))
        }
        _ => {}
    }
    Ok((!rest.is_empty() && !rest.ends_with('/')).then(|| rest.to_string()))
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};
    use std::process::Command;

    use super::*;
    use crate::test_git::git_bytes as git;
    use crate::zip::MODE_EXECUTABLE;

    fn job(provider: Provider, repo: &str, project_id: Option<&str>) -> Job {
        Job {
            provider,
            method: crate::job::Method::ZipDownload,
            repo: repo.into(),
            git_ref: "refs/heads/main".into(),
            commit: "c".repeat(40),
            ssh_url: None,
            project_id: project_id.map(String::from),
            delivery_id: "d".into(),
            pusher: None,
        }
    }

    #[test]
    fn archive_urls_per_provider() {
        let e = Endpoints::default();
        let sha = "c".repeat(40);
        assert_eq!(
            archive_url(&job(Provider::Github, "acme/api", None), &e).unwrap(),
            format!("https://api.github.com/repos/acme/api/zipball/{sha}")
        );
        assert_eq!(
            archive_url(&job(Provider::Gitlab, "g/sub/api", Some("42")), &e).unwrap(),
            format!("https://gitlab.com/api/v4/projects/42/repository/archive.zip?sha={sha}")
        );
        assert_eq!(
            archive_url(&job(Provider::Bitbucket, "ws/api", None), &e).unwrap(),
            format!("https://bitbucket.org/ws/api/get/{sha}.zip")
        );
        let own = Endpoints {
            api_url: Some("https://git.example.com/".into()),
            ..Endpoints::default()
        };
        assert_eq!(
            archive_url(&job(Provider::BitbucketServer, "PROJ/api", None), &own).unwrap(),
            format!("https://git.example.com/rest/api/latest/projects/PROJ/repos/api/archive?at={sha}&format=zip")
        );
        let forge = Endpoints {
            api_url: Some("https://codeberg.org/api/v1".into()),
            ..Endpoints::default()
        };
        for provider in [Provider::Gitea, Provider::Forgejo] {
            assert_eq!(
                archive_url(&job(provider, "acme/api", None), &forge).unwrap(),
                format!("https://codeberg.org/api/v1/repos/acme/api/archive/{sha}.zip")
            );
            assert!(matches!(
                archive_url(&job(provider, "acme/api", None), &e),
                Err(ArchiveError::NoApiUrl { .. })
            ));
        }
        assert!(matches!(
            archive_url(&job(Provider::GithubEnterprise, "a/b", None), &e),
            Err(ArchiveError::NoApiUrl { .. })
        ));
        // The repository itself, which a ref's 404 is read against.
        assert_eq!(
            repo_url(&job(Provider::Github, "acme/api", None), &e).unwrap(),
            "https://api.github.com/repos/acme/api"
        );
        assert_eq!(
            repo_url(&job(Provider::Gitlab, "g/sub/api", Some("42")), &e).unwrap(),
            "https://gitlab.com/api/v4/projects/42"
        );
        assert_eq!(
            repo_url(&job(Provider::Bitbucket, "ws/api", None), &e).unwrap(),
            "https://api.bitbucket.org/2.0/repositories/ws/api"
        );
        assert_eq!(
            repo_url(&job(Provider::Gitea, "acme/api", None), &forge).unwrap(),
            "https://codeberg.org/api/v1/repos/acme/api"
        );
        assert!(matches!(
            archive_url(&job(Provider::Generic, "a/b", None), &e),
            Err(ArchiveError::NoArchiveApi(_))
        ));
        let plain = Endpoints {
            api_url: Some("http://git.example.com".into()),
            ..Endpoints::default()
        };
        assert!(matches!(
            archive_url(&job(Provider::GithubEnterprise, "a/b", None), &plain),
            Err(ArchiveError::NotHttps(_))
        ));
        let local = Endpoints {
            api_url: Some("http://127.0.0.1:9000".into()),
            ..Endpoints::default()
        };
        assert!(archive_url(&job(Provider::GithubEnterprise, "a/b", None), &local).is_ok());
    }

    fn sample() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(d.join("src")).unwrap();
        std::fs::write(d.join("README.md"), "text\n".repeat(1000)).unwrap();
        std::fs::write(d.join("src/lib.rs"), "fn f() {}\n").unwrap();
        std::fs::write(d.join(".gitignore"), "target\n").unwrap();
        std::fs::write(d.join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            d.join("run.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("README.md", d.join("link")).unwrap();
        git(d, &["add", "-A"]);
        git(d, &["commit", "-q", "-m", "x"]);
        let head = String::from_utf8(git(d, &["rev-parse", "HEAD"]))
            .unwrap()
            .trim()
            .to_string();
        (dir, head)
    }

    fn entries(bytes: Vec<u8>) -> Vec<(String, u32, Vec<u8>)> {
        let mut a = ::zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut v: Vec<_> = (0..a.len())
            .map(|i| {
                let mut f = a.by_index(i).unwrap();
                let mut c = Vec::new();
                f.read_to_end(&mut c).unwrap();
                (f.name().to_string(), f.unix_mode().unwrap_or(0), c)
            })
            .collect();
        v.sort();
        v
    }

    fn rewritten(archive: Vec<u8>) -> Vec<(String, u32, Vec<u8>)> {
        let mut zip = ZipWriter::new(Vec::new());
        let files = rewrite(Cursor::new(archive), &mut zip).unwrap();
        let (bytes, _) = zip.finish().unwrap();
        let e = entries(bytes);
        assert_eq!(files as usize, e.len());
        e
    }

    /// What git2s3's own git-pull path makes of the same commit, but for
    /// its directory entries, which provider archives do not all have.
    fn expected(dir: &tempfile::TempDir, head: &str) -> Vec<(String, u32, Vec<u8>)> {
        let (bytes, _) =
            crate::snapshot::write_zip(&dir.path().join(".git"), head, Vec::new()).unwrap();
        let mut files = entries(bytes);
        files.retain(|(name, _, _)| !name.ends_with('/'));
        files
    }

    #[test]
    fn git_archive_output_is_rewritten_raw_without_its_top_folder() {
        let (dir, head) = sample();
        let prefix = format!("--prefix=acme-api-{}/", &head[..7]);
        let archive = git(dir.path(), &["archive", "--format=zip", &prefix, &head]);
        let got = rewritten(archive);
        assert_eq!(got, expected(&dir, &head));
        assert!(got
            .iter()
            .any(|(n, m, _)| n == "run.sh" && *m == MODE_EXECUTABLE));
    }

    /// An entry too large to hold in memory (one that does not compress,
    /// and one that does) is copied through a chunk at a time, and reads
    /// back whole; its neighbours are still written as before.
    #[test]
    fn entries_larger_than_the_stream_limit_are_copied_through() {
        let (dir, _) = sample();
        let mut noise = Vec::with_capacity(crate::zip::read::STREAM_BYTES + 100);
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        while noise.len() < crate::zip::read::STREAM_BYTES + 100 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(dir.path().join("big.bin"), &noise).unwrap();
        let text = "compressible line\n".repeat(crate::zip::read::STREAM_BYTES / 8);
        std::fs::write(dir.path().join("big.log"), &text).unwrap();
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-q", "-m", "big"]);
        let head = String::from_utf8(git(dir.path(), &["rev-parse", "HEAD"]))
            .unwrap()
            .trim()
            .to_string();
        let prefix = format!("--prefix=acme-api-{}/", &head[..7]);
        let archive = git(dir.path(), &["archive", "--format=zip", &prefix, &head]);
        let got = rewritten(archive);
        assert_eq!(got, expected(&dir, &head));
        let big = got.iter().find(|(n, _, _)| n == "big.bin").unwrap();
        assert!(big.2 == noise);
    }

    #[test]
    fn streamed_entries_with_data_descriptors_are_read() {
        let (dir, head) = sample();
        // Files above bigFileThreshold are streamed, sizes after the data.
        let archive = git(
            dir.path(),
            &[
                "-c",
                "core.bigFileThreshold=1",
                "archive",
                "--format=zip",
                "--prefix=top/",
                &head,
            ],
        );
        assert_eq!(rewritten(archive), expected(&dir, &head));
    }

    /// Info-ZIP's `zip` writing to a pipe cannot seek back, so every entry's
    /// sizes follow its data; deflated ones are read, and a stored one,
    /// which no stream reader can delimit, is refused by name.
    #[test]
    fn info_zip_writing_to_a_pipe_is_read_or_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        std::fs::create_dir_all(top.join("src")).unwrap();
        std::fs::write(top.join("README.md"), "text\n".repeat(1000)).unwrap();
        std::fs::write(top.join("src/lib.rs"), "pub fn f() {}\n".repeat(20)).unwrap();
        let zip_pipe = |dir: &std::path::Path| {
            let out = Command::new("sh")
                .args(["-c", "zip -q -r -y - top | cat"])
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(out.status.success());
            out.stdout
        };
        let got: Vec<(String, Vec<u8>)> = rewritten(zip_pipe(dir.path()))
            .into_iter()
            .map(|(n, _, c)| (n, c))
            .collect();
        assert_eq!(
            got,
            vec![
                ("README.md".to_string(), "text\n".repeat(1000).into_bytes()),
                (
                    "src/lib.rs".to_string(),
                    "pub fn f() {}\n".repeat(20).into_bytes()
                ),
            ]
        );
        // `zip -y` stores a symlink as its target, uncompressed.
        std::os::unix::fs::symlink("README.md", top.join("link")).unwrap();
        let mut zip = ZipWriter::new(Vec::new());
        let err = rewrite(Cursor::new(zip_pipe(dir.path())), &mut zip).unwrap_err();
        assert!(
            err.to_string()
                .contains("top/link is stored with its size after the data"),
            "{err}"
        );
    }

    #[test]
    fn error_pages_and_mixed_folders_are_refused() {
        let mut zip = ZipWriter::new(Vec::new());
        assert!(rewrite(Cursor::new(b"<html>rate limited</html>".to_vec()), &mut zip).is_err());
        let mut top = None;
        assert_eq!(strip_top("a/x", &mut top).unwrap(), Some("x".into()));
        assert_eq!(strip_top("a/", &mut top).unwrap(), None);
        assert!(strip_top("b/y", &mut top).is_err());
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let c = Credentials::Token("glpat-secret".into());
        assert!(!format!("{c:?}").contains("glpat"));
    }

    /// One local HTTP server: answers each request with what `answer`
    /// makes of it, and keeps every request's head (method, path, headers).
    fn server(
        answer: impl Fn(&str) -> Vec<u8> + Send + 'static,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                let mut reader = io::BufReader::new(conn.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                log.lock().unwrap().push(head.clone());
                let _ = conn.write_all(&answer(&head));
            }
        });
        (url, seen)
    }

    fn http(status: &str, extra: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {status}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// The sweep's listing through the API: a repository's branches and
    /// tags on two pages each (GitHub's `Link` header), every request with
    /// the token; a next page on another server is never asked for, so
    /// the token never goes there.
    #[test]
    fn refs_are_listed_page_by_page_and_never_from_another_server() {
        let (other, elsewhere_seen) = server(|_| http("200 OK", "", b"[]"));
        let (url, seen) = server(move |head| {
            let path = head
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let host = head
                .lines()
                .find_map(|l| l.strip_prefix("host: "))
                .unwrap_or_default()
                .trim()
                .to_string();
            let sha = |c: char| c.to_string().repeat(40);
            match path.as_str() {
                "/repos/acme/api/branches?per_page=100" => http(
                    "200 OK",
                    &format!("link: <http://{host}/repos/acme/api/branches?per_page=100&page=2>; rel=\"next\"\r\n"),
                    format!(r#"[{{"name":"main","commit":{{"sha":"{}"}}}}]"#, sha('a')).as_bytes(),
                ),
                "/repos/acme/api/branches?per_page=100&page=2" => http(
                    "200 OK",
                    "",
                    format!(r#"[{{"name":"dev","commit":{{"sha":"{}"}}}}]"#, sha('B')).as_bytes(),
                ),
                "/repos/acme/api/tags?per_page=100" => http(
                    "200 OK",
                    &format!("link: <{other}/steal?page=2>; rel=\"next\"\r\n"),
                    format!(r#"[{{"name":"v1","commit":{{"sha":"{}"}}}},{{"name":"bad","commit":{{"sha":"xyz"}}}}]"#, sha('c')).as_bytes(),
                ),
                _ => http("404 Not Found", "", b"{}"),
            }
        });
        let endpoints = Endpoints {
            api_url: Some(url.clone()),
            ..Endpoints::default()
        };
        let token = Credentials::Token("ghp_notARealToken".into());
        let heads = list_refs(Provider::GithubEnterprise, "acme/api", &endpoints, &token).unwrap();
        assert_eq!(
            heads,
            [
                ("refs/heads/main".to_string(), "a".repeat(40)),
                ("refs/heads/dev".to_string(), "b".repeat(40)),
                ("refs/tags/v1".to_string(), "c".repeat(40)),
            ]
        );
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(seen
            .iter()
            .all(|h| h.contains("authorization: Bearer ghp_notARealToken")));
        assert!(elsewhere_seen.lock().unwrap().is_empty());
    }

    /// Attack: the configured API answers 302 to another host. reqwest
    /// strips `Authorization` on a cross-host redirect, but not GitLab's
    /// `PRIVATE-TOKEN`, and it follows redirects to plain http. No
    /// credential header may reach a host other than the configured API's.
    #[test]
    fn a_redirect_to_another_host_gets_no_credential() {
        let (dir, head) = sample();
        let archive = git(
            dir.path(),
            &["archive", "--format=zip", "--prefix=acme-api-x/", "HEAD"],
        );
        let (elsewhere, seen_elsewhere) = server(move |_| http("200 OK", "", &archive));
        for (provider, project) in [(Provider::Gitlab, Some("42")), (Provider::Github, None)] {
            let target = format!("{elsewhere}/download.zip");
            let (api, seen_api) =
                server(move |_| http("302 Found", &format!("location: {target}\r\n"), b""));
            let mut j = job(provider, "acme/api", project);
            j.commit = head.clone();
            let endpoints = Endpoints {
                github: api.clone(),
                gitlab: api.clone(),
                ..Endpoints::default()
            };
            let mut zip = ZipWriter::new(Vec::new());
            let creds = Credentials::Token("glpat-secret-token-1234".into());
            let files = download(&j, &endpoints, &creds, &mut zip).unwrap();
            assert_eq!(files, 5, "{provider}");
            let to_api = seen_api.lock().unwrap().join("\n").to_ascii_lowercase();
            assert!(
                to_api.contains("glpat-secret-token-1234"),
                "{provider}: {to_api}"
            );
        }
        let leaked = seen_elsewhere
            .lock()
            .unwrap()
            .join("\n")
            .to_ascii_lowercase();
        assert!(!leaked.contains("glpat-secret-token-1234"), "{leaked}");
        assert!(
            !leaked.contains("private-token") && !leaked.contains("authorization"),
            "{leaked}"
        );
    }

    #[test]
    fn a_redirect_to_plain_http_elsewhere_is_refused() {
        let (api, _) = server(|_| {
            http(
                "302 Found",
                "location: http://git.example.com/a.zip\r\n",
                b"",
            )
        });
        let endpoints = Endpoints {
            github: api,
            ..Endpoints::default()
        };
        let mut zip = ZipWriter::new(Vec::new());
        let creds = Credentials::Token("t".into());
        let err = download(
            &job(Provider::Github, "acme/api", None),
            &endpoints,
            &creds,
            &mut zip,
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::NotHttps(_)), "{err}");
    }
}
