//! The Git hosting services git2s3 knows, and every fact about each of
//! them, in one table ([`Facts`], one row per provider).
//!
//! The receiver (detection, authentication, delivery ids), the worker
//! (archive endpoints), the CLI's registration clients (base URLs), its
//! token variables, its deploy-key rule and the wizard's menu all read the
//! table; none of them writes a provider fact of its own. Adding a provider
//! is one row here, plus its payload parser and its registration client.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The `Accept` header of every GitHub REST call: GitHub's media type,
/// and plain JSON beside it (Prism, serving GitHub's own API description,
/// refuses the bare media type).
pub const GITHUB_ACCEPT: &str = "application/vnd.github+json, application/json";

/// The REST API version every GitHub call asks for (`X-GitHub-Api-Version`).
pub const GITHUB_API_VERSION: &str = "2022-11-28";

/// A Git hosting service, or a plain SSH server that runs git2s3's
/// post-receive hook (`generic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    Github,
    GithubEnterprise,
    Gitlab,
    Bitbucket,
    BitbucketServer,
    Gitea,
    Forgejo,
    Generic,
}

/// How a provider proves that a webhook is its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `sha256=<hex>`: an HMAC-SHA256 of the raw body, keyed with the secret.
    HmacSha256,
    /// The same HMAC as bare hex, with no `sha256=` (Gitea, Forgejo).
    HmacSha256Hex,
    /// The secret itself, sent as a header value (GitLab).
    Token,
}

/// The header that carries a webhook's proof, and what kind of proof it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// Lower-case header name.
    pub header: &'static str,
    pub scheme: Scheme,
}

/// Everything git2s3 knows about one provider. Header names are lower case.
#[derive(Debug)]
pub struct Facts {
    pub provider: Provider,
    /// The name in `git2s3.yaml`, on the command line and in logs.
    pub name: &'static str,
    /// The name people know it by, in messages.
    pub display: &'static str,
    /// The wizard's menu entry.
    pub label: &'static str,
    /// The public service's REST API, `None` where the user's own host
    /// serves it (the API URL must then be given).
    pub api_url: Option<&'static str>,
    /// The public service's web address, where archives and OAuth live
    /// outside the API (Bitbucket Cloud).
    pub web_url: Option<&'static str>,
    /// The public service's SSH host, `None` for self-hosted servers.
    pub git_host: Option<&'static str>,
    /// What the API URL of a self-hosted server looks like, for prompts.
    /// `Some` also means the wizard offers a self-hosted entry.
    pub self_hosted: Option<SelfHosted>,
    /// The environment variable that holds the API token by default.
    pub token_var: Option<&'static str>,
    /// The header that names the event, and so tells this provider's
    /// webhooks from the others.
    pub event_header: &'static str,
    /// The headers that carry the delivery id, the first present wins.
    pub delivery_headers: &'static [&'static str],
    /// How the webhook is authenticated.
    pub signature: Signature,
    /// Whether one deploy key may be added to several repositories.
    pub shared_deploy_key: bool,
    /// Whether the provider serves a zip archive of a commit, so that the
    /// zip-download method can use it.
    pub archive_api: bool,
}

/// The wizard's entry for a self-hosted server of this provider.
#[derive(Debug, Clone, Copy)]
pub struct SelfHosted {
    pub label: &'static str,
    pub api_url_example: &'static str,
}

const HUB_SIGNATURE_256: Signature = Signature {
    header: "x-hub-signature-256",
    scheme: Scheme::HmacSha256,
};

/// The table, in the order the CLI lists providers (and `Provider as usize`).
const FACTS: [Facts; 8] = [
    Facts {
        provider: Provider::Github,
        name: "github",
        display: "GitHub",
        label: "GitHub (github.com)",
        api_url: Some("https://api.github.com"),
        web_url: Some("https://github.com"),
        git_host: Some("github.com"),
        self_hosted: None,
        token_var: Some("GITHUB_TOKEN"),
        event_header: "x-github-event",
        delivery_headers: &["x-github-delivery"],
        signature: HUB_SIGNATURE_256,
        shared_deploy_key: false,
        archive_api: true,
    },
    Facts {
        provider: Provider::GithubEnterprise,
        name: "github-enterprise",
        display: "GitHub Enterprise Server",
        label: "GitHub Enterprise Server",
        api_url: None,
        web_url: None,
        git_host: None,
        self_hosted: Some(SelfHosted {
            label: "GitHub Enterprise Server",
            api_url_example: "https://github.example.com/api/v3",
        }),
        token_var: Some("GITHUB_TOKEN"),
        event_header: "x-github-event",
        delivery_headers: &["x-github-delivery"],
        signature: HUB_SIGNATURE_256,
        shared_deploy_key: false,
        archive_api: true,
    },
    Facts {
        provider: Provider::Gitlab,
        name: "gitlab",
        display: "GitLab",
        label: "GitLab (gitlab.com)",
        api_url: Some("https://gitlab.com/api/v4"),
        web_url: Some("https://gitlab.com"),
        git_host: Some("gitlab.com"),
        self_hosted: Some(SelfHosted {
            label: "GitLab self-managed",
            api_url_example: "https://gitlab.example.com/api/v4",
        }),
        token_var: Some("GITLAB_TOKEN"),
        event_header: "x-gitlab-event",
        // Idempotency-Key stays the same when GitLab retries a delivery.
        delivery_headers: &["idempotency-key", "x-gitlab-event-uuid"],
        signature: Signature {
            header: "x-gitlab-token",
            scheme: Scheme::Token,
        },
        shared_deploy_key: true,
        archive_api: true,
    },
    Facts {
        provider: Provider::Bitbucket,
        name: "bitbucket",
        display: "Bitbucket Cloud",
        label: "Bitbucket Cloud",
        api_url: Some("https://api.bitbucket.org/2.0"),
        web_url: Some("https://bitbucket.org"),
        git_host: Some("bitbucket.org"),
        self_hosted: None,
        token_var: Some("BITBUCKET_TOKEN"),
        event_header: "x-event-key",
        delivery_headers: &["x-request-uuid"],
        signature: Signature {
            header: "x-hub-signature",
            scheme: Scheme::HmacSha256,
        },
        shared_deploy_key: true,
        archive_api: true,
    },
    Facts {
        provider: Provider::BitbucketServer,
        name: "bitbucket-server",
        display: "Bitbucket Data Center",
        label: "Bitbucket Data Center",
        api_url: None,
        web_url: None,
        git_host: None,
        self_hosted: Some(SelfHosted {
            label: "Bitbucket Data Center",
            api_url_example: "https://bitbucket.example.com",
        }),
        token_var: Some("BITBUCKET_TOKEN"),
        event_header: "x-event-key",
        delivery_headers: &["x-request-id"],
        signature: Signature {
            header: "x-hub-signature",
            scheme: Scheme::HmacSha256,
        },
        shared_deploy_key: true,
        archive_api: true,
    },
    Facts {
        provider: Provider::Gitea,
        name: "gitea",
        display: "Gitea",
        label: "Gitea",
        api_url: None,
        web_url: None,
        git_host: None,
        self_hosted: Some(SelfHosted {
            label: "Gitea",
            api_url_example: "https://gitea.example.com/api/v1",
        }),
        token_var: Some("GITEA_TOKEN"),
        event_header: "x-gitea-event",
        delivery_headers: &["x-gitea-delivery"],
        signature: Signature {
            header: "x-gitea-signature",
            scheme: Scheme::HmacSha256Hex,
        },
        // Gitea reuses a deploy key already on another repository.
        shared_deploy_key: true,
        archive_api: true,
    },
    Facts {
        provider: Provider::Forgejo,
        name: "forgejo",
        display: "Forgejo",
        label: "Forgejo (Codeberg, or your own)",
        api_url: None,
        web_url: None,
        git_host: None,
        self_hosted: Some(SelfHosted {
            label: "Forgejo",
            api_url_example: "https://codeberg.org/api/v1",
        }),
        token_var: Some("FORGEJO_TOKEN"),
        event_header: "x-forgejo-event",
        delivery_headers: &["x-forgejo-delivery"],
        signature: Signature {
            header: "x-forgejo-signature",
            scheme: Scheme::HmacSha256Hex,
        },
        shared_deploy_key: true,
        archive_api: true,
    },
    Facts {
        provider: Provider::Generic,
        name: "generic",
        display: "plain SSH server",
        label: "Another SSH git server (post-receive hook)",
        api_url: None,
        web_url: None,
        git_host: None,
        self_hosted: None,
        token_var: None,
        event_header: "x-git2s3-event",
        delivery_headers: &["x-git2s3-delivery"],
        signature: HUB_SIGNATURE_256,
        shared_deploy_key: true,
        archive_api: false,
    },
];

impl Provider {
    /// Every provider, in the order the CLI lists them.
    pub const ALL: [Provider; 8] = [
        Provider::Github,
        Provider::GithubEnterprise,
        Provider::Gitlab,
        Provider::Bitbucket,
        Provider::BitbucketServer,
        Provider::Gitea,
        Provider::Forgejo,
        Provider::Generic,
    ];

    /// The order a webhook's sender is told by its event header: a
    /// Forgejo webhook carries Gitea's headers too, and both carry
    /// GitHub's, so the most specific comes first.
    pub const DETECTION: [Provider; 8] = [
        Provider::Forgejo,
        Provider::Gitea,
        Provider::Github,
        Provider::GithubEnterprise,
        Provider::Gitlab,
        Provider::Bitbucket,
        Provider::BitbucketServer,
        Provider::Generic,
    ];

    /// This provider's row of the table.
    pub fn facts(self) -> &'static Facts {
        &FACTS[self as usize]
    }

    /// The name used in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        self.facts().name
    }

    /// Every provider's name, in the order the CLI lists them.
    pub fn names() -> impl Iterator<Item = &'static str> {
        FACTS.iter().map(|f| f.name)
    }

    /// Whether the provider has an archive API that the zip-download method can use.
    pub fn has_archive_api(self) -> bool {
        self.facts().archive_api
    }

    /// Whether the provider runs on the user's own host, so its API URL must be given.
    pub fn needs_api_url(self) -> bool {
        self.facts().api_url.is_none() && self.facts().token_var.is_some()
    }

    /// The API to call: `api_url` when given, else the public service's.
    pub fn api_base(self, api_url: Option<&str>) -> Option<String> {
        api_url
            .or(self.facts().api_url)
            .map(|u| u.trim_end_matches('/').to_string())
    }

    /// The environment variable that holds the API token: `explicit` (a
    /// `--token-env` flag), else this provider's default.
    pub fn token_var(self, explicit: Option<&str>) -> Option<String> {
        explicit.or(self.facts().token_var).map(str::to_string)
    }

    /// Whether several repositories need a deploy key each, because the
    /// provider accepts a key on one repository only (GitHub).
    pub fn one_key_per_repo(self, repos: usize) -> bool {
        !self.facts().shared_deploy_key && repos > 1
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a provider name git2s3 does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown provider `{0}`: use one of {names}", names = Provider::names().collect::<Vec<_>>().join(", "))]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProvider(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>().unwrap(), p);
            let yaml = serde_json::to_string(&p).unwrap();
            assert_eq!(yaml, format!("\"{}\"", p.as_str()));
        }
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = "gogs".parse::<Provider>().unwrap_err().to_string();
        assert!(
            err.contains("`gogs`") && err.contains("bitbucket-server") && err.contains("forgejo"),
            "{err}"
        );
    }

    #[test]
    fn detection_tries_every_provider_once() {
        let mut seen: Vec<Provider> = Provider::DETECTION.to_vec();
        seen.sort_by_key(|p| *p as usize);
        assert_eq!(seen, Provider::ALL);
    }

    #[test]
    fn each_row_is_its_own_providers() {
        for (i, p) in Provider::ALL.into_iter().enumerate() {
            assert_eq!(FACTS[i].provider, p, "row {i}");
        }
    }

    #[test]
    fn self_hosted_providers_need_their_api_url() {
        let needs: Vec<_> = Provider::ALL
            .into_iter()
            .filter(|p| p.needs_api_url())
            .collect();
        assert_eq!(
            needs,
            [
                Provider::GithubEnterprise,
                Provider::BitbucketServer,
                Provider::Gitea,
                Provider::Forgejo
            ]
        );
        assert_eq!(
            Provider::Gitlab.api_base(Some("https://git.example.com/api/v4/")),
            Some("https://git.example.com/api/v4".into())
        );
        assert_eq!(Provider::BitbucketServer.api_base(None), None);
    }

    #[test]
    fn only_github_needs_a_key_per_repository() {
        assert!(Provider::Github.one_key_per_repo(2));
        assert!(Provider::GithubEnterprise.one_key_per_repo(3));
        assert!(!Provider::Github.one_key_per_repo(1));
        assert!(!Provider::Gitlab.one_key_per_repo(5));
    }
}
