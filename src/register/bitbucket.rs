//! Bitbucket Cloud (API 2.0): repository and workspace webhooks, deploy
//! keys. A token with a colon (`email:api-token`) is sent as Basic auth,
//! as Atlassian API tokens are; any other as a Bearer access token.
//! Bitbucket has no test event.

use async_trait::async_trait;
use base64::Engine;
use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::Method;
use serde_json::{json, Value};

use super::api::{
    branch_head, encode, scopes_header, split_repo, ssh_clone_link, Branches, Head, Hook, HookSpec,
    Key, ProviderApi, Target, TokenOwner,
};
use super::error::RegisterError;
use super::http::{secret_header, Api, Paging, Rights};

const HOOKS: Rights = Rights {
    what: "webhooks",
    needs: "the webhook scope and admin rights on the repository",
};
const WORKSPACE_HOOKS: Rights = Rights {
    what: "workspace webhooks",
    needs: "the webhook scope and admin rights on the workspace",
};
const KEYS: Rights = Rights {
    what: "deploy keys",
    needs: "the repository:admin scope",
};
const REPOS: Rights = Rights {
    what: "repositories",
    needs: "the repository scope",
};

const BRANCHES: Rights = Rights {
    what: "branches",
    needs: "the repository scope",
};
const WHOAMI: Rights = Rights {
    what: "the token's user",
    needs: "a valid token (the account:read scope for /user)",
};
pub struct Bitbucket {
    api: Api,
}

impl Bitbucket {
    pub fn new(base: &str, token: &str) -> Result<Self, RegisterError> {
        let token = token.trim();
        let auth = if token.contains(':') {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(token)
            )
        } else {
            format!("Bearer {token}")
        };
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, secret_header(&auth)?);
        Ok(Bitbucket {
            api: Api::new("Bitbucket", base, headers)?,
        })
    }

    fn hooks_path(target: &Target) -> Result<(String, Rights), RegisterError> {
        Ok(match target {
            Target::Repo(repo) => {
                let (ws, slug) = split_repo(repo)?;
                (format!("/repositories/{ws}/{slug}/hooks"), HOOKS)
            }
            Target::Org(ws) => (format!("/workspaces/{}/hooks", encode(ws)), WORKSPACE_HOOKS),
        })
    }

    fn body(spec: &HookSpec) -> Value {
        json!({
            "description": spec.name,
            "url": spec.url,
            "active": true,
            "secret": spec.secret,
            "events": ["repo:push"],
        })
    }
}

#[async_trait]
impl ProviderApi for Bitbucket {
    fn name(&self) -> &'static str {
        self.api.provider()
    }

    async fn hooks(&self, target: &Target) -> Result<Vec<Hook>, RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        let list = self.api.list(&path, Paging::BodyNext, rights).await?;
        Ok(list
            .iter()
            .map(|h| Hook::read(h, "/uuid", "/url"))
            .collect())
    }

    async fn create_hook(&self, target: &Target, spec: &HookSpec) -> Result<Hook, RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        let (created, _) = self
            .api
            .call(Method::POST, &path, Some(&Self::body(spec)), rights)
            .await?;
        Ok(Hook::created(&created, "/uuid", spec))
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
                &format!("{path}/{}", encode(id)),
                Some(&Self::body(spec)),
                rights,
            )
            .await?;
        Ok(())
    }

    async fn delete_hook(&self, target: &Target, id: &str) -> Result<(), RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        self.api
            .call(
                Method::DELETE,
                &format!("{path}/{}", encode(id)),
                None,
                rights,
            )
            .await?;
        Ok(())
    }

    async fn ping(&self, _target: &Target, _id: &str) -> Result<bool, RegisterError> {
        Ok(false)
    }

    async fn keys(&self, repo: &str) -> Result<Vec<Key>, RegisterError> {
        let (ws, slug) = split_repo(repo)?;
        let list = self
            .api
            .list(
                &format!("/repositories/{ws}/{slug}/deploy-keys"),
                Paging::BodyNext,
                KEYS,
            )
            .await?;
        Ok(list
            .iter()
            .map(|k| Key::read(k, "/id", "/key", "/label"))
            .collect())
    }

    async fn add_key(&self, repo: &str, title: &str, key: &str) -> Result<(), RegisterError> {
        let (ws, slug) = split_repo(repo)?;
        let body = json!({"key": key, "label": title});
        self.api
            .call(
                Method::POST,
                &format!("/repositories/{ws}/{slug}/deploy-keys"),
                Some(&body),
                KEYS,
            )
            .await?;
        Ok(())
    }

    async fn delete_key(&self, repo: &str, id: &str) -> Result<(), RegisterError> {
        let (ws, slug) = split_repo(repo)?;
        self.api
            .call(
                Method::DELETE,
                &format!("/repositories/{ws}/{slug}/deploy-keys/{id}"),
                None,
                KEYS,
            )
            .await?;
        Ok(())
    }

    async fn whoami(&self) -> Result<TokenOwner, RegisterError> {
        let (user, headers) = self.api.call(Method::GET, "/user", None, WHOAMI).await?;
        let name = user["username"]
            .as_str()
            .or(user["nickname"].as_str())
            .or(user["display_name"].as_str())
            .unwrap_or("?");
        Ok(TokenOwner {
            user: name.to_string(),
            scopes: scopes_header(&headers),
        })
    }

    async fn head(&self, repo: &str, branch: Option<&str>) -> Result<Head, RegisterError> {
        let (ws, slug) = split_repo(repo)?;
        let at = Branches {
            repo_path: format!("/repositories/{ws}/{slug}"),
            under: "refs/branches",
            default_branch: "/mainbranch/name",
            commit: "/target/hash",
        };
        let (mut head, info) = branch_head(&self.api, BRANCHES, repo, branch, at).await?;
        head.ssh_url = ssh_clone_link(&info);
        Ok(head)
    }

    async fn repos(&self, workspace: &str) -> Result<Vec<String>, RegisterError> {
        let listing =
            git2s3_lambda::listing::org_repos(git2s3_lambda::Provider::Bitbucket, workspace)
                .expect("every provider with an API lists an organization's repositories");
        self.api.names(&listing, REPOS).await
    }
}
