//! Push events as the providers send them, signed: what git2s3's own
//! senders POST. The post-receive hook sends the `generic` one; `init` and
//! `git2s3 verify` send a test push in the stack's provider's own shape, so
//! that the receiver reads it exactly as it reads the provider's. The
//! tests below feed each one back through [`super::receive`].

use serde_json::{json, Value};

use super::auth::sign;
use crate::layout::GitRef;
use crate::provider::Scheme;
use crate::Provider;

/// One ref update to announce.
#[derive(Debug, Clone, Default)]
pub struct PushSpec {
    /// `owner/repo`, the GitLab project path, or Data Center's `PROJECT/slug`.
    pub repo: String,
    /// The full ref name, `refs/heads/…` or `refs/tags/…`.
    pub git_ref: String,
    /// The ref's previous commit (all zeros for a new ref).
    pub before: String,
    /// The ref's new commit (all zeros for a deletion).
    pub after: String,
    pub ssh_url: Option<String>,
    /// GitLab's numeric project id, which its archive API needs.
    pub project_id: Option<String>,
    pub pusher: Option<String>,
    /// GitHub Enterprise Server's host name (its `X-GitHub-Enterprise-Host`).
    pub enterprise_host: Option<String>,
}

/// A request ready to POST: its headers (content type included) and body.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Outgoing {
    /// The headers as the receiver reads them (lower-case names).
    pub fn header_map(&self) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for (k, v) in &self.headers {
            headers.insert(
                http::HeaderName::from_static(k),
                http::HeaderValue::from_str(v).expect("an outgoing header value is printable"),
            );
        }
        headers
    }
}

const ZERO: &str = "0000000000000000000000000000000000000000";

impl PushSpec {
    fn deleted(&self) -> bool {
        super::payload::is_zero_sha(&self.after)
    }

    fn before(&self) -> &str {
        if self.before.is_empty() {
            ZERO
        } else {
            &self.before
        }
    }

    /// The short name and whether the ref is a tag (`refs/heads/a/b` → `a/b`).
    fn short(&self) -> (String, bool) {
        match GitRef::parse(&self.git_ref) {
            Ok(GitRef::Tag(t)) => (t, true),
            Ok(GitRef::Branch(b)) => (b, false),
            Err(_) => (self.git_ref.clone(), false),
        }
    }
}

/// The signed push event `provider` would send for `spec`, with `delivery`
/// as its delivery id. `secret` is the webhook secret (GitLab sends it as
/// its token; the others sign the body with it).
pub fn push(provider: Provider, spec: &PushSpec, secret: &str, delivery: &str) -> Outgoing {
    let secret = secret.trim();
    let body = body(provider, spec).to_string().into_bytes();
    let signature = sign(secret, &body);
    let facts = provider.facts();
    let mut headers = vec![("content-type", "application/json".to_string())];
    let mut add = |name: &'static str, value: &str| headers.push((name, value.to_string()));
    add(facts.event_header, event_name(provider, spec));
    for name in facts.delivery_headers {
        add(name, delivery);
    }
    add(
        facts.signature.header,
        match facts.signature.scheme {
            Scheme::HmacSha256 => &signature,
            Scheme::HmacSha256Hex => signature.trim_start_matches("sha256="),
            Scheme::Token => secret,
        },
    );
    // Forgejo sends Gitea's headers too, and both send GitHub's, as the
    // real servers do: the receiver must tell them apart.
    if matches!(provider, Provider::Forgejo) {
        add("x-gitea-event", "push");
        add("x-gitea-delivery", delivery);
        add("x-gitea-signature", signature.trim_start_matches("sha256="));
    }
    if matches!(provider, Provider::Gitea | Provider::Forgejo) {
        add("x-github-event", "push");
        add("x-github-delivery", delivery);
        add("x-hub-signature-256", &signature);
    }
    if provider == Provider::GithubEnterprise {
        let host = spec
            .enterprise_host
            .as_deref()
            .unwrap_or("github-enterprise");
        add("x-github-enterprise-host", host);
    }
    Outgoing { headers, body }
}

/// The push event's name, in the provider's event header.
fn event_name(provider: Provider, spec: &PushSpec) -> &'static str {
    match provider {
        Provider::Github | Provider::GithubEnterprise | Provider::Generic => "push",
        Provider::Gitea | Provider::Forgejo => "push",
        Provider::Gitlab if spec.short().1 => "Tag Push Hook",
        Provider::Gitlab => "Push Hook",
        Provider::Bitbucket => "repo:push",
        Provider::BitbucketServer => "repo:refs_changed",
    }
}

/// The JSON body, in the provider's documented shape (the fields git2s3
/// reads, and the ones that identify the event).
fn body(provider: Provider, spec: &PushSpec) -> Value {
    let (name, tag) = spec.short();
    match provider {
        Provider::Github | Provider::GithubEnterprise | Provider::Generic => {
            let mut body = json!({
                "ref": spec.git_ref,
                "before": spec.before(),
                "after": spec.after,
                "created": spec.before() == ZERO,
                "deleted": spec.deleted(),
                "forced": false,
                "commits": [],
                "repository": {"full_name": spec.repo, "ssh_url": spec.ssh_url},
            });
            if let Some(name) = &spec.pusher {
                body["pusher"] = json!({ "name": name });
            }
            body
        }
        Provider::Gitea | Provider::Forgejo => {
            let (owner, short) = spec.repo.split_once('/').unwrap_or(("", &spec.repo));
            let user = spec
                .pusher
                .as_ref()
                .map(|name| json!({"login": name, "username": name}));
            json!({
                "ref": spec.git_ref,
                "before": spec.before(),
                "after": spec.after,
                "compare_url": "",
                "commits": [],
                "repository": {
                    "name": short,
                    "full_name": spec.repo,
                    "owner": {"login": owner, "username": owner},
                    "ssh_url": spec.ssh_url,
                },
                "pusher": user,
                "sender": user,
            })
        }
        Provider::Gitlab => json!({
            "object_kind": if tag { "tag_push" } else { "push" },
            "ref": spec.git_ref,
            "before": spec.before(),
            "after": spec.after,
            "checkout_sha": if spec.deleted() { Value::Null } else { json!(spec.after) },
            "user_username": spec.pusher,
            "project_id": spec.project_id.as_deref().and_then(|id| id.parse::<u64>().ok()),
            "project": {
                "path_with_namespace": spec.repo,
                "git_ssh_url": spec.ssh_url,
            },
            "commits": [],
            "total_commits_count": 0,
        }),
        Provider::Bitbucket => {
            let state = |hash: &str| {
                json!({
                    "type": if tag { "tag" } else { "branch" },
                    "name": name,
                    "target": {"type": "commit", "hash": hash},
                })
            };
            let (new, old) = if spec.deleted() {
                (Value::Null, state(spec.before()))
            } else if spec.before() == ZERO {
                (state(&spec.after), Value::Null)
            } else {
                (state(&spec.after), state(spec.before()))
            };
            json!({
                "actor": {"nickname": spec.pusher},
                "repository": {"type": "repository", "full_name": spec.repo},
                "push": {"changes": [{
                    "new": new,
                    "old": old,
                    "created": spec.before() == ZERO,
                    "closed": spec.deleted(),
                    "forced": false,
                }]},
            })
        }
        Provider::BitbucketServer => {
            let (project, slug) = spec.repo.split_once('/').unwrap_or(("", &spec.repo));
            let kind = if spec.deleted() {
                "DELETE"
            } else if spec.before() == ZERO {
                "ADD"
            } else {
                "UPDATE"
            };
            let clone: Vec<Value> = spec
                .ssh_url
                .iter()
                .map(|href| json!({"href": href, "name": "ssh"}))
                .collect();
            json!({
                "eventKey": "repo:refs_changed",
                "actor": {"name": spec.pusher},
                "repository": {
                    "slug": slug,
                    "project": {"key": project},
                    "links": {"clone": clone},
                },
                "changes": [{
                    "ref": {
                        "id": spec.git_ref,
                        "displayId": name,
                        "type": if tag { "TAG" } else { "BRANCH" },
                    },
                    "refId": spec.git_ref,
                    "fromHash": spec.before(),
                    "toHash": spec.after,
                    "type": kind,
                }],
            })
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::connection::Connection;
    use crate::filter::Filters;
    use crate::job::Method;
    use crate::webhook::{receive, AllowedIps, Outcome, ReceiverConfig, Request, Secrets};

    const SECRET: &str = "outgoing-secret";
    const SIGNED_BY_SECRET: [Provider; 7] = [
        Provider::Github,
        Provider::Generic,
        Provider::Gitlab,
        Provider::Bitbucket,
        Provider::BitbucketServer,
        Provider::Gitea,
        Provider::Forgejo,
    ];
    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const OLD: &str = "89abcdef0123456789abcdef0123456789abcdef";

    /// What a receiver connected to `provider` and acme/api makes of `out`.
    /// Zip download: the test URL is on no provider's git host.
    fn received(
        provider: Provider,
        out: &Outgoing,
        secret: &str,
    ) -> Result<Outcome, super::super::Rejection> {
        let headers = out.header_map();
        let config = ReceiverConfig {
            secrets: Secrets::from_lines(secret),
            allowed_ips: AllowedIps::default(),
            filters: Filters::all(),
            connection: Connection::new(provider, vec!["acme/api".into()], None, None, ""),
        };
        receive(
            &Request {
                method: Method::ZipDownload,
                headers: &headers,
                body: &out.body,
                source_ip: None,
            },
            &config,
        )
    }

    fn spec(repo: &str, git_ref: &str) -> PushSpec {
        PushSpec {
            repo: repo.into(),
            git_ref: git_ref.into(),
            before: OLD.into(),
            after: SHA.into(),
            ssh_url: Some("ssh://git@git.example.com/x.git".into()),
            project_id: Some("42".into()),
            pusher: Some("git2s3-verify".into()),
            enterprise_host: Some("ghe.example.com".into()),
        }
    }

    #[test]
    fn each_providers_push_reads_back_as_the_same_job() {
        for provider in Provider::ALL {
            for git_ref in ["refs/heads/release/1.x", "refs/tags/v1.0"] {
                let out = push(provider, &spec("acme/api", git_ref), SECRET, "d-1");
                let Ok(Outcome::Push {
                    provider: read,
                    jobs,
                    skipped,
                }) = received(provider, &out, SECRET)
                else {
                    panic!("{provider} {git_ref}: not read as a push");
                };
                assert_eq!(read, provider);
                assert!(skipped.is_empty(), "{provider}: {skipped:?}");
                let [job] = &jobs[..] else {
                    panic!("{provider}: {jobs:?}")
                };
                assert_eq!(job.repo, "acme/api", "{provider}");
                assert_eq!(job.git_ref, git_ref, "{provider}");
                assert_eq!(job.commit, SHA, "{provider}");
                assert_eq!(job.delivery_id, "d-1", "{provider}");
                assert_eq!(job.pusher.as_deref(), Some("git2s3-verify"), "{provider}");
                let ssh = match provider {
                    Provider::Bitbucket => "git@bitbucket.org:acme/api.git",
                    _ => "ssh://git@git.example.com/x.git",
                };
                assert_eq!(job.ssh_url.as_deref(), Some(ssh), "{provider}");
                let project = (provider == Provider::Gitlab).then_some("42");
                assert_eq!(job.project_id.as_deref(), project, "{provider}");
            }
        }
    }

    #[test]
    fn another_secret_is_refused_by_every_provider() {
        for provider in SIGNED_BY_SECRET {
            let out = push(provider, &spec("acme/api", "refs/heads/main"), SECRET, "d");
            let refused = received(provider, &out, "the-stacks-other-secret").unwrap_err();
            assert_eq!(refused.status(), 401, "{provider}");
        }
    }

    #[test]
    fn a_deletion_is_read_as_one() {
        for provider in SIGNED_BY_SECRET {
            let mut gone = spec("acme/api", "refs/heads/old");
            gone.after = ZERO.into();
            let Ok(Outcome::Push { jobs, skipped, .. }) =
                received(provider, &push(provider, &gone, SECRET, "d"), SECRET)
            else {
                panic!("{provider}");
            };
            assert!(jobs.is_empty(), "{provider}");
            assert_eq!(skipped[0].1, "deleted", "{provider}");
        }
    }
}
