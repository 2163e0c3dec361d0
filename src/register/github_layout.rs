//! What GitHub's REST API lays out, and Gitea and Forgejo copy: hooks
//! under `/repos/{owner}/{repo}/hooks` and `/orgs/{org}/hooks`, deploy keys
//! listed, added (read-only, `{title, key, read_only: true}`) and deleted
//! under `/repos/{owner}/{repo}/keys`. Only their paging and their hook
//! bodies differ.

use reqwest::Method;
use serde_json::json;

use super::api::{encode, split_repo, Hook, Key, Target};
use super::error::RegisterError;
use super::http::{Api, Paging, Rights};

/// Where `target`'s hooks are, and what a refusal there means: `repo`'s
/// rights for a repository, `org`'s for an organization.
pub fn hooks_path(
    target: &Target,
    repo: Rights,
    org: Rights,
) -> Result<(String, Rights), RegisterError> {
    Ok(match target {
        Target::Repo(r) => {
            let (owner, name) = split_repo(r)?;
            (format!("/repos/{owner}/{name}/hooks"), repo)
        }
        Target::Org(o) => (format!("/orgs/{}/hooks", encode(o)), org),
    })
}

/// Every hook at `path` (from [`hooks_path`]); `query` sets the page size.
pub async fn list_hooks(
    api: &Api,
    path: &str,
    query: &str,
    paging: Paging,
    rights: Rights,
) -> Result<Vec<Hook>, RegisterError> {
    let list = api.list(&format!("{path}?{query}"), paging, rights).await?;
    Ok(list
        .iter()
        .map(|h| Hook::read(h, "/id", "/config/url"))
        .collect())
}

/// Deletes the hook `id` at `path`.
pub async fn delete_hook(
    api: &Api,
    path: &str,
    id: &str,
    rights: Rights,
) -> Result<(), RegisterError> {
    api.call(Method::DELETE, &format!("{path}/{id}"), None, rights)
        .await?;
    Ok(())
}

/// Every deploy key of `repo`; `query` sets the page size.
pub async fn list(
    api: &Api,
    repo: &str,
    query: &str,
    paging: Paging,
    rights: Rights,
) -> Result<Vec<Key>, RegisterError> {
    let (owner, name) = split_repo(repo)?;
    let list = api
        .list(
            &format!("/repos/{owner}/{name}/keys?{query}"),
            paging,
            rights,
        )
        .await?;
    Ok(list
        .iter()
        .map(|k| Key::read(k, "/id", "/key", "/title"))
        .collect())
}

/// Adds `key`, read-only, titled `title`.
pub async fn add(
    api: &Api,
    repo: &str,
    title: &str,
    key: &str,
    rights: Rights,
) -> Result<(), RegisterError> {
    let (owner, name) = split_repo(repo)?;
    let body = json!({"title": title, "key": key, "read_only": true});
    api.call(
        Method::POST,
        &format!("/repos/{owner}/{name}/keys"),
        Some(&body),
        rights,
    )
    .await?;
    Ok(())
}

/// Deletes the key with this id.
pub async fn delete(api: &Api, repo: &str, id: &str, rights: Rights) -> Result<(), RegisterError> {
    let (owner, name) = split_repo(repo)?;
    api.call(
        Method::DELETE,
        &format!("/repos/{owner}/{name}/keys/{id}"),
        None,
        rights,
    )
    .await?;
    Ok(())
}
