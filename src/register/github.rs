//! GitHub and GitHub Enterprise Server (REST API v3, `2022-11-28`):
//! repository and organization webhooks, deploy keys, the ping event.

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::Method;
use serde_json::{json, Value};

use super::api::{
    branch_head, scopes_header, split_repo, text_at, Branches, Delivery, Head, Hook, HookSpec, Key,
    ProviderApi, Target, TokenOwner,
};
use super::error::RegisterError;
use super::github_layout;
use super::http::{secret_header, Api, Paging, Rights};

const HOOKS: Rights = Rights {
    what: "webhooks",
    needs: "the admin:repo_hook scope (classic token) or Webhooks: write (fine-grained token)",
};
const ORG_HOOKS: Rights = Rights {
    what: "organization webhooks",
    needs: "the admin:org_hook scope (classic token) or the organization permission Webhooks: write (fine-grained token), as an organization owner",
};
const KEYS: Rights = Rights {
    what: "deploy keys",
    needs: "the repo scope (classic token) or Administration: write (fine-grained token)",
};
const REPOS: Rights = Rights {
    what: "repositories",
    needs: "read access to the organization's repositories (Metadata: read)",
};

const BRANCHES: Rights = Rights {
    what: "branches",
    needs: "read access to the repository (the repo scope for a private one, or Contents: read for a fine-grained token)",
};
const WHOAMI: Rights = Rights {
    what: "the token's user",
    needs: "a valid token (any scope)",
};
pub struct GitHub {
    api: Api,
}

impl GitHub {
    pub fn new(base: &str, token: &str) -> Result<Self, RegisterError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            secret_header(&format!("Bearer {}", token.trim()))?,
        );
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(git2s3_lambda::provider::GITHUB_ACCEPT),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static(git2s3_lambda::provider::GITHUB_API_VERSION),
        );
        Ok(GitHub {
            api: Api::new("GitHub", base, headers)?,
        })
    }

    fn hooks_path(target: &Target) -> Result<(String, Rights), RegisterError> {
        github_layout::hooks_path(target, HOOKS, ORG_HOOKS)
    }

    fn config(spec: &HookSpec) -> Value {
        json!({
            "url": spec.url,
            "content_type": "json",
            "secret": spec.secret,
            "insecure_ssl": "0",
        })
    }
}

#[async_trait]
impl ProviderApi for GitHub {
    fn name(&self) -> &'static str {
        self.api.provider()
    }

    async fn hooks(&self, target: &Target) -> Result<Vec<Hook>, RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        github_layout::list_hooks(&self.api, &path, "per_page=100", Paging::LinkHeader, rights)
            .await
    }

    async fn create_hook(&self, target: &Target, spec: &HookSpec) -> Result<Hook, RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        let body = json!({
            "name": "web",
            "active": true,
            "events": ["push"],
            "config": Self::config(spec),
        });
        let (created, _) = self
            .api
            .call(Method::POST, &path, Some(&body), rights)
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
        let body = json!({
            "active": true,
            "events": ["push"],
            "config": Self::config(spec),
        });
        self.api
            .call(Method::PATCH, &format!("{path}/{id}"), Some(&body), rights)
            .await?;
        Ok(())
    }

    async fn delete_hook(&self, target: &Target, id: &str) -> Result<(), RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        github_layout::delete_hook(&self.api, &path, id, rights).await
    }

    async fn ping(&self, target: &Target, id: &str) -> Result<bool, RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        self.api
            .call(Method::POST, &format!("{path}/{id}/pings"), None, rights)
            .await?;
        Ok(true)
    }

    async fn keys(&self, repo: &str) -> Result<Vec<Key>, RegisterError> {
        github_layout::list(&self.api, repo, "per_page=100", Paging::LinkHeader, KEYS).await
    }

    async fn add_key(&self, repo: &str, title: &str, key: &str) -> Result<(), RegisterError> {
        github_layout::add(&self.api, repo, title, key, KEYS).await
    }

    async fn delete_key(&self, repo: &str, id: &str) -> Result<(), RegisterError> {
        github_layout::delete(&self.api, repo, id, KEYS).await
    }

    async fn last_delivery(
        &self,
        target: &Target,
        id: &str,
    ) -> Result<Option<Delivery>, RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        let (list, _) = self
            .api
            .call(
                Method::GET,
                &format!("{path}/{id}/deliveries?per_page=1"),
                None,
                rights,
            )
            .await?;
        Ok(list.as_array().and_then(|l| l.first()).map(|d| Delivery {
            delivered_at: d["delivered_at"].as_str().unwrap_or_default().to_string(),
            event: d["event"].as_str().unwrap_or_default().to_string(),
            status_code: d["status_code"].as_u64().unwrap_or_default() as u16,
            status: d["status"].as_str().unwrap_or_default().to_string(),
        }))
    }

    async fn head(&self, repo: &str, branch: Option<&str>) -> Result<Head, RegisterError> {
        let (owner, name) = split_repo(repo)?;
        let at = Branches {
            repo_path: format!("/repos/{owner}/{name}"),
            under: "branches",
            default_branch: "/default_branch",
            commit: "/commit/sha",
        };
        let (mut head, info) = branch_head(&self.api, BRANCHES, repo, branch, at).await?;
        head.ssh_url = Some(text_at(&info, "/ssh_url")).filter(|u| !u.is_empty());
        Ok(head)
    }

    async fn whoami(&self) -> Result<TokenOwner, RegisterError> {
        let (user, headers) = self.api.call(Method::GET, "/user", None, WHOAMI).await?;
        Ok(TokenOwner {
            user: user["login"].as_str().unwrap_or("?").to_string(),
            // Fine-grained tokens list no scopes.
            scopes: scopes_header(&headers),
        })
    }

    async fn repos(&self, org: &str) -> Result<Vec<String>, RegisterError> {
        let listing = git2s3_lambda::listing::org_repos(git2s3_lambda::Provider::Github, org)
            .expect("every provider with an API lists an organization's repositories");
        self.api.names(&listing, REPOS).await
    }
}
