//! Gitea and Forgejo (API v1, which Forgejo keeps from Gitea): repository
//! and organization webhooks, read-only deploy keys, the test delivery.
//! Their hook type names the payload (`gitea` or `forgejo`); both sign it
//! with the hook's secret in their own `X-…-Signature` header.

use async_trait::async_trait;
use git2s3_lambda::Provider;
use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::Method;
use serde_json::{json, Value};

use super::api::{
    branch_head, split_repo, text_at, Branches, Head, Hook, HookSpec, Key, ProviderApi, Target,
    TokenOwner,
};
use super::error::RegisterError;
use super::github_layout;
use super::http::{secret_header, Api, Paging, Rights};

const HOOKS: Rights = Rights {
    what: "webhooks",
    needs: "the write:repository scope, as an admin of the repository",
};
const ORG_HOOKS: Rights = Rights {
    what: "organization webhooks",
    needs: "the write:organization scope, as an owner of the organization",
};
const KEYS: Rights = Rights {
    what: "deploy keys",
    needs: "the write:repository scope, as an admin of the repository",
};
const REPOS: Rights = Rights {
    what: "repositories",
    needs: "the read:organization and read:repository scopes",
};
const BRANCHES: Rights = Rights {
    what: "branches",
    needs: "the read:repository scope",
};
const WHOAMI: Rights = Rights {
    what: "the token's user",
    needs: "a valid token with the read:user scope",
};

/// The page size asked for; the server may answer with fewer.
const PAGE: &str = "limit=50";

pub struct Gitea {
    api: Api,
    /// The hook type: `gitea`, or `forgejo` on Forgejo.
    hook_type: &'static str,
}

impl Gitea {
    pub fn new(provider: Provider, base: &str, token: &str) -> Result<Self, RegisterError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            secret_header(&format!("token {}", token.trim()))?,
        );
        Ok(Gitea {
            api: Api::new(provider.facts().display, base, headers)?,
            hook_type: provider.as_str(),
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
        })
    }
}

#[async_trait]
impl ProviderApi for Gitea {
    fn name(&self) -> &'static str {
        self.api.provider()
    }

    async fn hooks(&self, target: &Target) -> Result<Vec<Hook>, RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        github_layout::list_hooks(&self.api, &path, PAGE, Paging::TotalCount, rights).await
    }

    async fn create_hook(&self, target: &Target, spec: &HookSpec) -> Result<Hook, RegisterError> {
        let (path, rights) = Self::hooks_path(target)?;
        let body = json!({
            "type": self.hook_type,
            "config": Self::config(spec),
            "events": ["push"],
            "active": true,
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
            "config": Self::config(spec),
            "events": ["push"],
            "active": true,
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

    /// A repository hook has a test delivery (a push of the newest
    /// commit); an organization hook has none.
    async fn ping(&self, target: &Target, id: &str) -> Result<bool, RegisterError> {
        let Target::Repo(_) = target else {
            return Ok(false);
        };
        let (path, rights) = Self::hooks_path(target)?;
        self.api
            .call(Method::POST, &format!("{path}/{id}/tests"), None, rights)
            .await?;
        Ok(true)
    }

    async fn keys(&self, repo: &str) -> Result<Vec<Key>, RegisterError> {
        github_layout::list(&self.api, repo, PAGE, Paging::TotalCount, KEYS).await
    }

    async fn add_key(&self, repo: &str, title: &str, key: &str) -> Result<(), RegisterError> {
        github_layout::add(&self.api, repo, title, key, KEYS).await
    }

    async fn delete_key(&self, repo: &str, id: &str) -> Result<(), RegisterError> {
        github_layout::delete(&self.api, repo, id, KEYS).await
    }

    async fn head(&self, repo: &str, branch: Option<&str>) -> Result<Head, RegisterError> {
        let (owner, name) = split_repo(repo)?;
        let at = Branches {
            repo_path: format!("/repos/{owner}/{name}"),
            under: "branches",
            default_branch: "/default_branch",
            commit: "/commit/id",
        };
        let (mut head, info) = branch_head(&self.api, BRANCHES, repo, branch, at).await?;
        head.ssh_url = Some(text_at(&info, "/ssh_url")).filter(|u| !u.is_empty());
        Ok(head)
    }

    async fn whoami(&self) -> Result<TokenOwner, RegisterError> {
        let (user, _) = self.api.call(Method::GET, "/user", None, WHOAMI).await?;
        Ok(TokenOwner {
            user: user["login"].as_str().unwrap_or("?").to_string(),
            // The API does not list a token's scopes.
            scopes: None,
        })
    }

    async fn repos(&self, org: &str) -> Result<Vec<String>, RegisterError> {
        let listing = git2s3_lambda::listing::org_repos(Provider::Gitea, org)
            .expect("every provider with an API lists an organization's repositories");
        self.api.names(&listing, REPOS).await
    }
}
