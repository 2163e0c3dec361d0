//! Bitbucket Data Center (REST API 1.0): repository and project webhooks,
//! and read-only SSH access keys (its deploy keys). Repositories are
//! `PROJECT/slug`; the base URL is the server's (`https://HOST`).
//! Data Center has no test event through this API.

use async_trait::async_trait;
use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::Method;
use serde_json::{json, Value};

use super::api::{
    encode, split_repo, ssh_clone_link, text_at, Head, Hook, HookSpec, Key, ProviderApi, Target,
    TokenOwner,
};
use super::error::RegisterError;
use super::http::{secret_header, Api, Paging, Rights};

const HOOKS: Rights = Rights {
    what: "webhooks",
    needs: "Repository admin permission (an HTTP access token with Repository admin)",
};
const PROJECT_HOOKS: Rights = Rights {
    what: "project webhooks",
    needs: "Project admin permission (an HTTP access token with Project admin)",
};
const KEYS: Rights = Rights {
    what: "access keys",
    needs: "Repository admin permission (an HTTP access token with Repository admin)",
};
const REPOS: Rights = Rights {
    what: "repositories",
    needs: "Project read permission",
};

const BRANCHES: Rights = Rights {
    what: "branches",
    needs: "Repository read permission",
};
const WHOAMI: Rights = Rights {
    what: "the token's user",
    needs: "a valid HTTP access token",
};
pub struct Server {
    api: Api,
}

impl Server {
    pub fn new(base: &str, token: &str) -> Result<Self, RegisterError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            secret_header(&format!("Bearer {}", token.trim()))?,
        );
        Ok(Server {
            api: Api::new("Bitbucket Data Center", base, headers)?,
        })
    }

    fn hooks_path(target: &Target) -> Result<(String, Rights), RegisterError> {
        Ok(match target {
            Target::Repo(repo) => {
                let (project, slug) = split_repo(repo)?;
                (
                    format!("/rest/api/1.0/projects/{}/repos/{}/webhooks", project, slug),
                    HOOKS,
                )
            }
            Target::Org(project) => (
                format!("/rest/api/1.0/projects/{}/webhooks", encode(project)),
                PROJECT_HOOKS,
            ),
        })
    }

    fn keys_path(repo: &str) -> Result<String, RegisterError> {
        let (project, slug) = split_repo(repo)?;
        Ok(format!(
            "/rest/keys/1.0/projects/{}/repos/{}/ssh",
            project, slug
        ))
    }

    fn body(spec: &HookSpec) -> Value {
        json!({
            "name": spec.name,
            "url": spec.url,
            "active": true,
            "events": ["repo:refs_changed"],
            "configuration": {"secret": spec.secret},
        })
    }
}

#[async_trait]
impl ProviderApi for Server {
    fn name(&self) -> &'static str {
        self.api.provider()
    }

    async fn hooks(&self, target: &Target) -> Result<Vec<Hook>, RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        let list = self
            .api
            .list(&format!("{path}?limit=100"), Paging::StartLimit, rights)
            .await?;
        Ok(list.iter().map(|h| Hook::read(h, "/id", "/url")).collect())
    }

    async fn create_hook(&self, target: &Target, spec: &HookSpec) -> Result<Hook, RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        let (created, _) = self
            .api
            .call(Method::POST, &path, Some(&Self::body(spec)), rights)
            .await?;
        Ok(Hook::created(&created, "/id", spec))
    }

    async fn update_hook(
        &self,
        target: &Target,
        id: &str,
        spec: &HookSpec,
    ) -> Result<(), RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        self.api
            .call(
                Method::PUT,
                &format!("{path}/{id}"),
                Some(&Self::body(spec)),
                rights,
            )
            .await?;
        Ok(())
    }

    async fn delete_hook(&self, target: &Target, id: &str) -> Result<(), RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        self.api
            .call(Method::DELETE, &format!("{path}/{id}"), None, rights)
            .await?;
        Ok(())
    }

    async fn ping(&self, _target: &Target, _id: &str) -> Result<bool, RegisterError> {
        Ok(false)
    }

    async fn keys(&self, repo: &str) -> Result<Vec<Key>, RegisterError> {
        let path = Self::keys_path(repo)?;
        let list = self
            .api
            .list(&format!("{path}?limit=100"), Paging::StartLimit, KEYS)
            .await?;
        Ok(list
            .iter()
            .map(|k| Key::read(k, "/key/id", "/key/text", "/key/label"))
            .collect())
    }

    async fn add_key(&self, repo: &str, title: &str, key: &str) -> Result<(), RegisterError> {
        let body = json!({"key": {"text": key, "label": title}, "permission": "REPO_READ"});
        self.api
            .call(Method::POST, &Self::keys_path(repo)?, Some(&body), KEYS)
            .await?;
        Ok(())
    }

    async fn delete_key(&self, repo: &str, id: &str) -> Result<(), RegisterError> {
        self.api
            .call(
                Method::DELETE,
                &format!("{}/{id}", Self::keys_path(repo)?),
                None,
                KEYS,
            )
            .await?;
        Ok(())
    }

    async fn whoami(&self) -> Result<TokenOwner, RegisterError> {
        // Data Center has no "who am I" resource; every authenticated
        // answer names the user in X-AUSERNAME.
        let (_, headers) = self
            .api
            .call(
                Method::GET,
                "/rest/api/1.0/application-properties",
                None,
                WHOAMI,
            )
            .await?;
        let user = headers
            .get("x-ausername")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegisterError::Unsupported(
                "Bitbucket Data Center answered without X-AUSERNAME: the token was not accepted as a user's".into(),
            ))?;
        Ok(TokenOwner {
            user: user.to_string(),
            scopes: None,
        })
    }

    async fn head(&self, repo: &str, branch: Option<&str>) -> Result<Head, RegisterError> {
        let (project, slug) = split_repo(repo)?;
        let path = format!("/rest/api/1.0/projects/{}/repos/{}", project, slug);
        let (info, _) = self.api.call(Method::GET, &path, None, BRANCHES).await?;
        let tip = match branch {
            None => {
                let (tip, _) = self
                    .api
                    .call(
                        Method::GET,
                        &format!("{path}/branches/default"),
                        None,
                        BRANCHES,
                    )
                    .await?;
                tip
            }
            Some(name) => self
                .api
                .list(
                    &format!("{path}/branches?filterText={}&limit=100", encode(name)),
                    Paging::StartLimit,
                    BRANCHES,
                )
                .await?
                .into_iter()
                .find(|b| b["displayId"] == name)
                .unwrap_or_else(|| serde_json::json!({ "displayId": name })),
        };
        Head::new(
            self.name(),
            repo,
            text_at(&tip, "/displayId"),
            text_at(&tip, "/latestCommit"),
            ssh_clone_link(&info),
        )
    }

    async fn repos(&self, project: &str) -> Result<Vec<String>, RegisterError> {
        let listing =
            git2s3_lambda::listing::org_repos(git2s3_lambda::Provider::BitbucketServer, project)
                .expect("every provider with an API lists an organization's repositories");
        self.api.names(&listing, REPOS).await
    }
}
