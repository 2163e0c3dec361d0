//! GitLab (gitlab.com or self-managed, REST API v4): project and group
//! webhooks, deploy keys, the test push event. Projects are addressed by
//! their URL-encoded path (`acme%2Fapi`).

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use super::api::{
    branch_head, encode, id_at, text_at, Branches, Head, Hook, HookSpec, Key, ProviderApi, Target,
    TokenOwner,
};
use super::error::RegisterError;
use super::http::{secret_header, Api, Paging, Rights};

const HOOKS: Rights = Rights {
    what: "webhooks",
    needs: "the Maintainer role on the project and the api scope",
};
const GROUP_HOOKS: Rights = Rights {
    what: "group webhooks",
    needs: "the Owner role on the group, the api scope, and GitLab Premium or Ultimate (group webhooks are a paid feature)",
};
const KEYS: Rights = Rights {
    what: "deploy keys",
    needs: "the Maintainer role on the project and the api scope",
};
const REPOS: Rights = Rights {
    what: "projects",
    needs: "at least the Reporter role on the group and the read_api scope",
};

const BRANCHES: Rights = Rights {
    what: "branches",
    needs: "at least the Reporter role on the project and the read_api scope",
};
const WHOAMI: Rights = Rights {
    what: "the token's user",
    needs: "a valid token with the api scope",
};
pub struct GitLab {
    api: Api,
}

impl GitLab {
    pub fn new(base: &str, token: &str) -> Result<Self, RegisterError> {
        let mut headers = HeaderMap::new();
        headers.insert("private-token", secret_header(token.trim())?);
        Ok(GitLab {
            api: Api::new("GitLab", base, headers)?,
        })
    }

    fn hooks_path(target: &Target) -> (String, Rights) {
        match target {
            Target::Repo(repo) => (format!("/projects/{}/hooks", encode(repo)), HOOKS),
            Target::Org(group) => (format!("/groups/{}/hooks", encode(group)), GROUP_HOOKS),
        }
    }

    fn body(spec: &HookSpec) -> Value {
        json!({
            "url": spec.url,
            "token": spec.secret,
            "push_events": true,
            "tag_push_events": true,
            "enable_ssl_verification": true,
        })
    }
}

#[async_trait]
impl ProviderApi for GitLab {
    fn org_hook_falls_back_to_repos(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        self.api.provider()
    }

    async fn hooks(&self, target: &Target) -> Result<Vec<Hook>, RegisterError> {
        let (path, rights) = Self::hooks_path(target);
        let list = self
            .api
            .list(
                &format!("{path}?per_page=100"),
                Paging::NextPageHeader,
                rights,
            )
            .await?;
        Ok(list.iter().map(|h| Hook::read(h, "/id", "/url")).collect())
    }

    async fn create_hook(&self, target: &Target, spec: &HookSpec) -> Result<Hook, RegisterError> {
        let (path, rights) = Self::hooks_path(target);
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
        let (path, rights) = Self::hooks_path(target);
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
        let (path, rights) = Self::hooks_path(target);
        self.api
            .call(Method::DELETE, &format!("{path}/{id}"), None, rights)
            .await?;
        Ok(())
    }

    async fn ping(&self, target: &Target, id: &str) -> Result<bool, RegisterError> {
        let (path, rights) = Self::hooks_path(target);
        self.api
            .call(
                Method::POST,
                &format!("{path}/{id}/test/push_events"),
                None,
                rights,
            )
            .await?;
        Ok(true)
    }

    async fn keys(&self, repo: &str) -> Result<Vec<Key>, RegisterError> {
        let list = self
            .api
            .list(
                &format!("/projects/{}/deploy_keys?per_page=100", encode(repo)),
                Paging::NextPageHeader,
                KEYS,
            )
            .await?;
        Ok(list
            .iter()
            .map(|k| Key::read(k, "/id", "/key", "/title"))
            .collect())
    }

    async fn add_key(&self, repo: &str, title: &str, key: &str) -> Result<(), RegisterError> {
        let body = json!({"title": title, "key": key, "can_push": false});
        self.api
            .call(
                Method::POST,
                &format!("/projects/{}/deploy_keys", encode(repo)),
                Some(&body),
                KEYS,
            )
            .await?;
        Ok(())
    }

    async fn delete_key(&self, repo: &str, id: &str) -> Result<(), RegisterError> {
        self.api
            .call(
                Method::DELETE,
                &format!("/projects/{}/deploy_keys/{id}", encode(repo)),
                None,
                KEYS,
            )
            .await?;
        Ok(())
    }

    async fn whoami(&self) -> Result<TokenOwner, RegisterError> {
        let (user, _) = self.api.call(Method::GET, "/user", None, WHOAMI).await?;
        // Personal, group and project access tokens can read their own scopes.
        let scopes = match self
            .api
            .call(Method::GET, "/personal_access_tokens/self", None, WHOAMI)
            .await
        {
            Ok((token, _)) => token["scopes"].as_array().map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            Err(_) => None,
        };
        Ok(TokenOwner {
            user: user["username"].as_str().unwrap_or("?").to_string(),
            scopes,
        })
    }

    async fn head(&self, repo: &str, branch: Option<&str>) -> Result<Head, RegisterError> {
        let at = Branches {
            repo_path: format!("/projects/{}", encode(repo)),
            under: "repository/branches",
            default_branch: "/default_branch",
            commit: "/commit/id",
        };
        let (mut head, project) = branch_head(&self.api, BRANCHES, repo, branch, at).await?;
        head.ssh_url = Some(text_at(&project, "/ssh_url_to_repo")).filter(|u| !u.is_empty());
        head.project_id = Some(id_at(&project, "/id")).filter(|id| !id.is_empty());
        Ok(head)
    }

    async fn repos(&self, group: &str) -> Result<Vec<String>, RegisterError> {
        let listing = git2s3_lambda::listing::org_repos(git2s3_lambda::Provider::Gitlab, group)
            .expect("every provider with an API lists an organization's repositories");
        self.api.names(&listing, REPOS).await
    }
}
