//! What a stack is connected to: one provider, the repositories in `repos`
//! or under `org`, and the hosts code may be fetched from. A webhook, even
//! a signed one, chooses none of these: the receiver and the worker check
//! every push against the [`Connection`] they were configured with.
//!
//! - [`Connection::check_provider`]: the push comes from the configured provider;
//! - [`Connection::check_repo`]: its repository is connected (a GitLab group
//!   covers its subgroups);
//! - [`Connection::check_ssh_url`]: the URL the worker would fetch from is an
//!   SSH URL on the provider's git host whose path names that repository.

use std::fmt;

use crate::fetch::hostkeys;
use crate::Provider;

/// Why a push is not the connected repository's. `Display` is the message
/// sent back with a 403, and names the setting to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotConnected {
    #[error(
        "this stack is connected to {configured}, and the webhook comes from {sent}: \
         set `provider` (--provider) to {sent} on a stack of its own"
    )]
    Provider {
        configured: Provider,
        sent: Provider,
    },
    #[error(
        "repository {repo} is not connected to this stack: add it to `repos` (--repo), \
         or set `org` (--org) to its owner"
    )]
    Repo { repo: String },
    #[error(
        "`{url}` is not an SSH URL git2s3 fetches from: {reason}. The webhook's URL must name \
         the repository on the provider's git host ({hosts})"
    )]
    SshUrl {
        url: String,
        reason: String,
        hosts: String,
    },
}

/// A host and port that code may be fetched from over SSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHost {
    /// Lower case; IPv6 without brackets.
    pub host: String,
    pub port: u16,
}

impl fmt::Display for GitHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.port, self.host.contains(':')) {
            (22, false) => write!(f, "{}", self.host),
            (port, true) => write!(f, "[{}]:{port}", self.host),
            (port, false) => write!(f, "{}:{port}", self.host),
        }
    }
}

/// What the stack is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub provider: Provider,
    /// `OWNER/REPO` (or a GitLab project's full path), compared without case.
    pub repos: Vec<String>,
    /// An organization, group, workspace or project: every repository below it.
    pub org: Option<String>,
    /// Where code may be fetched from over SSH.
    pub git_hosts: Vec<GitHost>,
    /// `clone_url`: the SSH URL of a repository, `{repo}` filled in.
    pub clone_url: Option<String>,
}

/// The placeholder `clone_url` names the repository with.
pub const REPO_PLACEHOLDER: &str = "{repo}";

impl Connection {
    /// With `clone_url` (blank is none): where the sweep lists a
    /// repository's heads, and for `generic`, the one URL a push may name.
    pub fn with_clone_url(mut self, template: Option<&str>) -> Connection {
        self.clone_url = template
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        self
    }

    /// The SSH URL `repo` is cloned from: `clone_url` filled in, else on a
    /// provider's git host `git@HOST:REPO.git`. `None` for a plain SSH
    /// server, or a Bitbucket Data Center (its SSH port and path are its
    /// own), without `clone_url`.
    pub fn clone_url(&self, repo: &str) -> Option<String> {
        if let Some(template) = &self.clone_url {
            return Some(template.replace(REPO_PLACEHOLDER, repo));
        }
        match self.provider {
            Provider::Generic | Provider::BitbucketServer => None,
            _ => self
                .git_hosts
                .iter()
                .find(|h| h.port == 22)
                .map(|h| format!("git@{}:{repo}.git", h.host)),
        }
    }

    /// The connection for `provider` with `repos` and `org`. The git hosts
    /// are the provider's own: its public SSH host, or for a self-managed
    /// server the host of `api_url` (on port 22, or any port `known_hosts`
    /// lists for it); for `generic`, every host `known_hosts` lists.
    pub fn new(
        provider: Provider,
        repos: Vec<String>,
        org: Option<String>,
        api_url: Option<&str>,
        known_hosts: &str,
    ) -> Connection {
        let listed: Vec<GitHost> = hostkeys::hosts(known_hosts)
            .into_iter()
            .map(|(host, port)| GitHost { host, port })
            .collect();
        let api_host = api_url.and_then(host_of_url);
        let mut git_hosts = Vec::new();
        match (provider, api_host, provider.facts().git_host) {
            (Provider::Generic, _, _) => git_hosts.extend(listed),
            (_, Some(host), _) => {
                git_hosts.push(GitHost {
                    host: host.clone(),
                    port: 22,
                });
                git_hosts.extend(listed.into_iter().filter(|h| h.host == host));
            }
            (_, None, Some(public)) => git_hosts.push(GitHost {
                host: public.to_string(),
                port: 22,
            }),
            (_, None, None) => {}
        }
        git_hosts.dedup();
        Connection {
            provider,
            repos,
            org,
            git_hosts,
            clone_url: None,
        }
    }

    /// The push comes from the configured provider.
    pub fn check_provider(&self, sent: Provider) -> Result<(), NotConnected> {
        if sent == self.provider {
            return Ok(());
        }
        Err(NotConnected::Provider {
            configured: self.provider,
            sent,
        })
    }

    /// The repository is in `repos`, or below `org`.
    pub fn check_repo(&self, repo: &str) -> Result<(), NotConnected> {
        let listed = self.repos.iter().any(|r| r.eq_ignore_ascii_case(repo));
        let below_org = self.org.as_deref().is_some_and(|org| {
            let org = org.trim_end_matches('/');
            repo.len() > org.len() + 1
                && repo.is_char_boundary(org.len())
                && repo[..org.len()].eq_ignore_ascii_case(org)
                && repo.as_bytes()[org.len()] == b'/'
        });
        if listed || below_org {
            return Ok(());
        }
        Err(NotConnected::Repo {
            repo: repo.to_string(),
        })
    }

    /// `url` is `ssh://[user@]host[:port]/path` or `[user@]host:path`, on
    /// one of the git hosts, and its path names `repo`: exactly for a
    /// provider, or as its last components for a plain SSH server, whose
    /// repositories live under any directory.
    pub fn check_ssh_url(&self, url: &str, repo: &str) -> Result<(), NotConnected> {
        let refuse = |reason: String| NotConnected::SshUrl {
            url: url.to_string(),
            reason,
            hosts: match self.git_hosts.is_empty() {
                true => "none is configured: list the server's host key in auth.known_hosts".into(),
                false => self
                    .git_hosts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            },
        };
        // With clone_url, a plain SSH server's push must name exactly it.
        if let (Provider::Generic, Some(_)) = (self.provider, &self.clone_url) {
            let wanted = self.clone_url(repo).unwrap_or_default();
            if url != wanted {
                return Err(refuse(format!("clone_url says {repo} is at `{wanted}`")));
            }
        }
        let parsed = SshUrl::parse(url).map_err(|r| refuse(r.to_string()))?;
        let host = GitHost {
            host: parsed.host.to_ascii_lowercase(),
            port: parsed.port,
        };
        if !self.git_hosts.contains(&host) {
            return Err(refuse(format!("{host} is not the provider's git host")));
        }
        let path = parsed.repo_path();
        let names_repo = match self.provider {
            Provider::Generic => {
                path.eq_ignore_ascii_case(repo)
                    || (path.len() > repo.len()
                        && path.is_char_boundary(path.len() - repo.len())
                        && path[path.len() - repo.len()..].eq_ignore_ascii_case(repo)
                        && path.as_bytes()[path.len() - repo.len() - 1] == b'/')
            }
            _ => path.eq_ignore_ascii_case(repo),
        };
        if !names_repo {
            return Err(refuse(format!(
                "its path `{path}` is not repository {repo}"
            )));
        }
        Ok(())
    }
}

/// An SSH URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SshUrl {
    host: String,
    port: u16,
    path: String,
}

impl SshUrl {
    fn parse(url: &str) -> Result<SshUrl, &'static str> {
        if url
            .chars()
            .any(|c| c.is_control() || (c.is_whitespace() && c != ' '))
        {
            return Err("it contains a control character or white space other than a space");
        }
        let (authority, path) = if let Some(rest) = url.strip_prefix("ssh://") {
            rest.split_once('/').ok_or("it has no path")?
        } else if url.contains("://") {
            return Err("only ssh:// and user@host:path URLs are fetched");
        } else {
            // scp-like: [user@]host:path, with no slash before the colon.
            match url.split_once(':') {
                Some((authority, path)) if !authority.contains('/') && !authority.is_empty() => {
                    (authority, path)
                }
                _ => return Err("it is a local path, not an SSH URL"),
            }
        };
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let scp = !url.starts_with("ssh://");
        let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or("its [host] is not closed")?;
            match after.strip_prefix(':') {
                Some(p) if !scp => (host, p.parse().map_err(|_| "its port is not a number")?),
                None if after.is_empty() => (host, 22),
                _ => return Err("its host is followed by something other than a port"),
            }
        } else {
            match host_port.rsplit_once(':') {
                Some((h, p)) if !scp => (h, p.parse().map_err(|_| "its port is not a number")?),
                _ => (host_port, 22),
            }
        };
        if host.is_empty() || host.starts_with('-') {
            return Err("it has no host");
        }
        Ok(SshUrl {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// The path without its leading `/` or `~/`, and without `.git` or a
    /// trailing `/`. A `..` component, or a character that means something
    /// else further down, leaves it unmatchable.
    fn repo_path(&self) -> String {
        let p = self.path.trim_start_matches('/');
        let p = p.strip_prefix("~/").unwrap_or(p).trim_end_matches('/');
        let p = p.strip_suffix(".git").unwrap_or(p);
        if p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
            || p.chars().any(crate::layout::is_treacherous)
        {
            return String::new();
        }
        p.to_string()
    }
}

/// The host of an http(s) URL, lower case, without brackets or port.
fn host_of_url(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.0,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(repos: &[&str], org: Option<&str>) -> Connection {
        Connection::new(
            Provider::Github,
            repos.iter().map(|r| r.to_string()).collect(),
            org.map(str::to_string),
            None,
            "",
        )
    }

    #[test]
    fn only_the_configured_provider_is_connected() {
        let c = github(&["acme/api"], None);
        assert!(c.check_provider(Provider::Github).is_ok());
        let err = c.check_provider(Provider::Gitlab).unwrap_err().to_string();
        assert!(
            err.contains("connected to github") && err.contains("`provider`"),
            "{err}"
        );
    }

    #[test]
    fn repositories_in_repos_or_below_org_are_connected() {
        let c = github(&["acme/api"], Some("tools"));
        assert!(c.check_repo("ACME/Api").is_ok());
        assert!(c.check_repo("tools/lint").is_ok());
        assert!(c.check_repo("tools/sub/deep").is_ok());
        for other in [
            "acme/api2",
            "acme/ap",
            "toolsx/lint",
            "tools",
            "victim/private",
        ] {
            let err = c.check_repo(other).unwrap_err().to_string();
            assert!(
                err.contains("`repos`") && err.contains("`org`"),
                "{other}: {err}"
            );
        }
        assert!(github(&[], None).check_repo("acme/api").is_err());
    }

    #[test]
    fn a_hosted_provider_fetches_only_from_its_own_host_and_repository() {
        let c = github(&["acme/api"], None);
        for ok in [
            "git@github.com:acme/api.git",
            "ssh://git@github.com/acme/api.git",
            "ssh://git@GitHub.com:22/acme/api",
        ] {
            assert!(c.check_ssh_url(ok, "acme/api").is_ok(), "{ok}");
        }
        for bad in [
            "git@evil.example.com:acme/api.git",
            "ssh://git@github.com:2222/acme/api.git",
            "git@github.com:victim/private.git",
            "git@github.com:acme/api/../../victim/private.git",
            "git@github.com:acme/%2e%2e/victim.git",
            "/srv/git/acme/api.git",
            "file:///srv/git/acme/api.git",
            "https://github.com/acme/api.git",
            "ext::sh -c touch% /tmp/pwned",
            "ssh://-oProxyCommand=x/acme/api",
        ] {
            assert!(c.check_ssh_url(bad, "acme/api").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_self_managed_server_fetches_from_the_api_urls_host() {
        let known = "[git.example.com]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";
        let c = Connection::new(
            Provider::Gitlab,
            vec!["group/sub/api".into()],
            None,
            Some("https://git.example.com/api/v4"),
            known,
        );
        assert!(c
            .check_ssh_url("git@git.example.com:group/sub/api.git", "group/sub/api")
            .is_ok());
        assert!(c
            .check_ssh_url(
                "ssh://git@git.example.com:2222/group/sub/api.git",
                "group/sub/api"
            )
            .is_ok());
        let err = c
            .check_ssh_url("git@gitlab.com:group/sub/api.git", "group/sub/api")
            .unwrap_err()
            .to_string();
        assert!(err.contains("git.example.com"), "{err}");
    }

    #[test]
    fn a_plain_ssh_server_fetches_from_its_known_hosts_below_any_directory() {
        let known = "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";
        let c = Connection::new(
            Provider::Generic,
            vec!["acme/api".into()],
            None,
            None,
            known,
        );
        assert!(c
            .check_ssh_url("ssh://git@127.0.0.1:2222/srv/git/acme/api.git", "acme/api")
            .is_ok());
        for bad in [
            "ssh://git@127.0.0.1:2223/srv/git/acme/api.git",
            "ssh://git@127.0.0.2:2222/srv/git/acme/api.git",
            "ssh://git@127.0.0.1:2222/srv/git/xacme/api.git",
            "ssh://git@127.0.0.1:2222/srv/git/victim/private.git",
        ] {
            assert!(c.check_ssh_url(bad, "acme/api").is_err(), "{bad}");
        }
        let none = Connection::new(Provider::Generic, vec!["acme/api".into()], None, None, "");
        let err = none
            .check_ssh_url("ssh://git@127.0.0.1:2222/srv/acme/api.git", "acme/api")
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.known_hosts"), "{err}");
    }

    /// Attack: on a plain SSH server every directory below the host looks
    /// alike; with clone_url, a push must name exactly the repository's URL.
    #[test]
    fn with_clone_url_a_plain_ssh_server_takes_exactly_that_url() {
        let known = "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";
        let c = Connection::new(
            Provider::Generic,
            vec!["acme/api".into()],
            None,
            None,
            known,
        )
        .with_clone_url(Some("ssh://git@127.0.0.1:2222/srv/git/{repo}.git"));
        assert_eq!(
            c.clone_url("acme/api").as_deref(),
            Some("ssh://git@127.0.0.1:2222/srv/git/acme/api.git")
        );
        assert!(c
            .check_ssh_url("ssh://git@127.0.0.1:2222/srv/git/acme/api.git", "acme/api")
            .is_ok());
        let err = c
            .check_ssh_url("ssh://git@127.0.0.1:2222/tmp/evil/acme/api.git", "acme/api")
            .unwrap_err()
            .to_string();
        assert!(err.contains("clone_url says acme/api is at"), "{err}");
    }

    #[test]
    fn clone_urls_follow_the_providers_git_host() {
        let hosted = github(&["acme/api"], None);
        assert_eq!(
            hosted.clone_url("acme/api").as_deref(),
            Some("git@github.com:acme/api.git")
        );
        let own = Connection::new(
            Provider::Gitea,
            vec![],
            Some("acme".into()),
            Some("https://git.example.com/api/v1"),
            "",
        );
        assert_eq!(
            own.clone_url("acme/api").as_deref(),
            Some("git@git.example.com:acme/api.git")
        );
        // Data Center's SSH port and paths are its own; a plain server has no host.
        let dc = Connection::new(
            Provider::BitbucketServer,
            vec![],
            None,
            Some("https://bitbucket.example.com"),
            "",
        );
        assert_eq!(dc.clone_url("PROJ/repo"), None);
        assert_eq!(
            Connection::new(Provider::Generic, vec![], None, None, "").clone_url("a/b"),
            None
        );
        // A blank clone_url is none.
        assert_eq!(hosted.clone().with_clone_url(Some(" ")).clone_url, None);
    }
}
