//! Deploy keys where the API lays them out as GitHub's does: listed,
//! added and deleted under `/repos/{owner}/{repo}/keys`, added read-only
//! with `{title, key, read_only: true}`. GitHub, GitHub Enterprise Server,
//! Gitea and Forgejo; only their paging differs.

use reqwest::Method;
use serde_json::json;

use super::api::{split_repo, Key};
use super::error::RegisterError;
use super::http::{Api, Paging, Rights};

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
