//! The receiver's logic against captured payloads (`tests/data/webhooks/`,
//! modelled on each provider's documented examples), a table of bad input,
//! and properties over arbitrary input.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::connection::Connection;

const SECRET: &str = "wh-secret-for-tests";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/webhooks/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The repositories of the fixtures, and of the tests that rename them.
const FIXTURE_REPOS: &[&str] = &[
    "Codertocat/Hello-World",
    "acme-ws/web-app",
    "infra/deploy-scripts",
    "mike/diaspora",
    "jsmith/example",
    "platform/backend/api",
    "PROJ/repository",
    "gitea/webhooks",
    "forgejo/webhooks",
    "équipe/mon dépôt",
];

/// A host key line for `host`, for the git hosts of self-managed and plain servers.
fn known_host(host: &str) -> String {
    format!(
        "{host} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
}

/// A receiver connected to the provider that `sender` (a name [`signed`]
/// takes) stands for, and to every fixture's repository, on the git host
/// its fixtures name (GitLab's documented examples use example.com).
fn config_for(sender: &str) -> ReceiverConfig {
    let (provider, api_url, known) = match sender {
        "github" => (Provider::Github, None, String::new()),
        "ghes" => (
            Provider::GithubEnterprise,
            Some("https://ghe.example.com/api/v3"),
            String::new(),
        ),
        "gitlab" => (
            Provider::Gitlab,
            Some("https://example.com/api/v4"),
            String::new(),
        ),
        "bitbucket" => (Provider::Bitbucket, None, String::new()),
        "bitbucket-server" => (
            Provider::BitbucketServer,
            Some("https://bitbucket.example.com"),
            known_host("[bitbucket.example.com]:7999"),
        ),
        "generic" => (
            Provider::Generic,
            None,
            known_host("[git.internal.example]:2222"),
        ),
        // The documented examples' server, with SSH on port 2222.
        "gitea" => (
            Provider::Gitea,
            Some("https://localhost:3000/api/v1"),
            known_host("[localhost]:2222"),
        ),
        "forgejo" => (
            Provider::Forgejo,
            Some("https://localhost:3000/api/v1"),
            known_host("[localhost]:2222"),
        ),
        other => panic!("no such provider {other}"),
    };
    ReceiverConfig {
        secrets: Secrets::from_lines(SECRET),
        allowed_ips: AllowedIps::default(),
        filters: Filters::all(),
        connection: Connection::new(
            provider,
            FIXTURE_REPOS.iter().map(|r| r.to_string()).collect(),
            None,
            api_url,
            &known,
        ),
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

/// The headers each provider sends with a correctly signed `body`.
fn signed(provider: &str, event: &str, body: &[u8]) -> HeaderMap {
    let sig = sign(SECRET, body);
    let json = ("content-type", "application/json");
    match provider {
        "github" => headers(&[
            json,
            ("x-github-event", event),
            ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("x-hub-signature-256", &sig),
        ]),
        "ghes" => headers(&[
            json,
            ("x-github-event", event),
            ("x-github-delivery", "d-ghes"),
            ("x-github-enterprise-host", "ghe.example.com"),
            ("x-hub-signature-256", &sig),
        ]),
        "gitlab" => headers(&[
            json,
            ("x-gitlab-event", event),
            ("x-gitlab-token", SECRET),
            ("x-gitlab-event-uuid", "ev-1"),
            ("idempotency-key", "idem-1"),
        ]),
        "bitbucket" => headers(&[
            json,
            ("x-event-key", event),
            ("x-request-uuid", "req-1"),
            ("x-hook-uuid", "hook-1"),
            ("x-hub-signature", &sig),
        ]),
        "bitbucket-server" => headers(&[
            json,
            ("x-event-key", event),
            ("x-request-id", "dc-1"),
            ("x-hub-signature", &sig),
        ]),
        "generic" => headers(&[
            json,
            ("x-git2s3-event", event),
            ("x-git2s3-delivery", "gen-1"),
            ("x-hub-signature-256", &sig),
        ]),
        // As the servers send them: their own headers, and GitHub's and
        // Gogs' (Forgejo adds Gitea's too).
        "gitea" | "forgejo" => {
            let hex = sig.trim_start_matches("sha256=");
            let mut h = headers(&[
                json,
                ("x-gitea-event", event),
                ("x-gitea-delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
                ("x-gitea-signature", hex),
                ("x-gogs-event", event),
                ("x-github-event", event),
                ("x-github-delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
                ("x-hub-signature-256", &sig),
            ]);
            if provider == "forgejo" {
                h.extend(headers(&[
                    ("x-forgejo-event", event),
                    ("x-forgejo-delivery", "fj-6266f16"),
                    ("x-forgejo-signature", hex),
                ]));
            }
            h
        }
        other => panic!("no such provider {other}"),
    }
}

fn run(
    method: Method,
    headers: &HeaderMap,
    body: &[u8],
    config: &ReceiverConfig,
) -> Result<Outcome, Rejection> {
    receive(
        &Request {
            method,
            headers,
            body,
            source_ip: Some("198.51.100.10".parse().unwrap()),
        },
        config,
    )
}

fn push(provider: &str, event: &str, file: &str) -> Outcome {
    let body = fixture(file);
    run(
        Method::GitPull,
        &signed(provider, event, &body),
        &body,
        &config_for(provider),
    )
    .unwrap()
}

/// (repo, ref, commit, delivery, ssh_url) of each job.
fn summary(outcome: &Outcome) -> Vec<(String, String, String, String, Option<String>)> {
    let Outcome::Push { jobs, .. } = outcome else {
        panic!("expected a push, got {outcome:?}")
    };
    jobs.iter()
        .map(|j| {
            (
                j.repo.clone(),
                j.git_ref.clone(),
                j.commit.clone(),
                j.delivery_id.clone(),
                j.ssh_url.clone(),
            )
        })
        .collect()
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn github_branch_push_is_one_job() {
    let outcome = push("github", "push", "github-push.json");
    assert_eq!(
        summary(&outcome),
        vec![(
            s("Codertocat/Hello-World"),
            s("refs/heads/main"),
            s("0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"),
            s("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            Some(s("git@github.com:Codertocat/Hello-World.git"))
        )]
    );
    let Outcome::Push { provider, jobs, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(provider, Provider::Github);
    assert_eq!(jobs[0].pusher.as_deref(), Some("Codertocat"));
    assert_eq!(
        jobs[0].object_key().unwrap(),
        "Codertocat/Hello-World/main/Codertocat_Hello-World.zip"
    );
}

#[test]
fn github_enterprise_is_told_apart_by_its_host_header() {
    let body = fixture("github-push.json");
    let h = signed("ghes", "push", &body);
    let Ok(Outcome::Push { provider, .. }) =
        run(Method::ZipDownload, &h, &body, &config_for("ghes"))
    else {
        panic!()
    };
    assert_eq!(provider, Provider::GithubEnterprise);
}

#[test]
fn github_tag_push_lands_under_tags() {
    let outcome = push("github", "push", "github-push-tag.json");
    let Outcome::Push { jobs, .. } = &outcome else {
        panic!()
    };
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].object_key().unwrap(),
        "Codertocat/Hello-World/tags/v1.0.0/Codertocat_Hello-World.zip"
    );
}

#[test]
fn github_branch_deletion_writes_nothing() {
    let outcome = push("github", "push", "github-push-delete.json");
    assert_eq!(
        outcome,
        Outcome::Push {
            provider: Provider::Github,
            jobs: vec![],
            skipped: vec![(s("refs/heads/feature/old"), s("deleted"))]
        }
    );
}

#[test]
fn github_ping_is_a_pong() {
    assert_eq!(
        push("github", "ping", "github-ping.json"),
        Outcome::Pong {
            provider: Provider::Github
        }
    );
}

#[test]
fn other_github_events_are_ignored() {
    assert_eq!(
        push("github", "issues", "github-issues.json"),
        Outcome::Ignored {
            provider: Provider::Github,
            event: s("issues")
        }
    );
}

#[test]
fn github_form_encoded_payload_is_accepted() {
    let json = fixture("github-push.json");
    let body =
        serde_urlencoded::to_string([("payload", String::from_utf8(json).unwrap())]).unwrap();
    let mut h = signed("github", "push", body.as_bytes());
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let outcome = run(Method::GitPull, &h, body.as_bytes(), &config_for("github")).unwrap();
    assert_eq!(summary(&outcome).len(), 1);
}

#[test]
fn gitlab_push_uses_the_idempotency_key_and_project_id() {
    let outcome = push("gitlab", "Push Hook", "gitlab-push.json");
    assert_eq!(
        summary(&outcome),
        vec![(
            s("mike/diaspora"),
            s("refs/heads/master"),
            s("da1560886d4f094c3e6c9ef40349f7d38b5d27d7"),
            s("idem-1"),
            Some(s("git@example.com:mike/diaspora.git"))
        )]
    );
    let Outcome::Push { jobs, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(jobs[0].project_id.as_deref(), Some("15"));
    assert_eq!(jobs[0].pusher.as_deref(), Some("jsmith"));
}

#[test]
fn gitlab_tag_push_builds_the_commit_the_tag_points_at() {
    let outcome = push("gitlab", "Tag Push Hook", "gitlab-tag-push.json");
    let Outcome::Push { jobs, .. } = &outcome else {
        panic!()
    };
    assert_eq!(jobs[0].git_ref, "refs/tags/v1.0.0");
    assert_eq!(jobs[0].commit, "5937ac0a7beb003549fc5fd26fc247adbce4a52e");
    assert_eq!(
        jobs[0].object_key().unwrap(),
        "jsmith/example/tags/v1.0.0/jsmith_example.zip"
    );
}

#[test]
fn gitlab_deletion_in_a_nested_group_writes_nothing() {
    let Outcome::Push { jobs, skipped, .. } =
        push("gitlab", "Push Hook", "gitlab-push-nested-delete.json")
    else {
        panic!()
    };
    assert!(jobs.is_empty());
    assert_eq!(skipped, vec![(s("refs/heads/feature/done"), s("deleted"))]);
}

#[test]
fn bitbucket_cloud_push_gives_one_job_per_change() {
    let outcome = push("bitbucket", "repo:push", "bitbucket-push.json");
    let ssh = Some(s("git@bitbucket.org:acme-ws/web-app.git"));
    assert_eq!(
        summary(&outcome),
        vec![
            (
                s("acme-ws/web-app"),
                s("refs/heads/main"),
                s("709d658dc5b6d6afcd46049c2f332ee3f515a67d"),
                s("req-1"),
                ssh.clone()
            ),
            (
                s("acme-ws/web-app"),
                s("refs/tags/v2.1.0"),
                s("709d658dc5b6d6afcd46049c2f332ee3f515a67d"),
                s("req-1"),
                ssh
            ),
        ]
    );
    let Outcome::Push { jobs, skipped, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(
        skipped,
        vec![(s("refs/heads/feature/retired"), s("deleted"))]
    );
    assert_ne!(jobs[0].deduplication_id(), jobs[1].deduplication_id());
    assert_eq!(jobs[0].pusher.as_deref(), Some("emma"));
}

#[test]
fn bitbucket_data_center_push_and_ping() {
    let outcome = push(
        "bitbucket-server",
        "repo:refs_changed",
        "bitbucket-server-refs-changed.json",
    );
    let ssh = Some(s(
        "ssh://git@bitbucket.example.com:7999/proj/repository.git",
    ));
    assert_eq!(
        summary(&outcome),
        vec![
            (
                s("PROJ/repository"),
                s("refs/heads/master"),
                s("178864a7d521b6f5e720b386b2c2b0ef8563e0dc"),
                s("dc-1"),
                ssh.clone()
            ),
            (
                s("PROJ/repository"),
                s("refs/tags/1.4.0"),
                s("178864a7d521b6f5e720b386b2c2b0ef8563e0dc"),
                s("dc-1"),
                ssh
            ),
        ]
    );
    assert_eq!(
        push(
            "bitbucket-server",
            "diagnostics:ping",
            "bitbucket-server-ping.json"
        ),
        Outcome::Pong {
            provider: Provider::BitbucketServer
        }
    );
}

#[test]
fn generic_hook_push() {
    let outcome = push("generic", "push", "generic-push.json");
    assert_eq!(
        summary(&outcome),
        vec![(
            s("infra/deploy-scripts"),
            s("refs/heads/main"),
            s("c0ffee0123456789abcdef0123456789abcdef01"),
            s("gen-1"),
            Some(s(
                "ssh://git@git.internal.example:2222/srv/git/infra/deploy-scripts.git"
            ))
        )]
    );
}

#[test]
fn gitea_push_is_told_from_github_and_builds_its_ssh_url() {
    let outcome = push("gitea", "push", "gitea-push.json");
    assert_eq!(
        summary(&outcome),
        vec![(
            s("gitea/webhooks"),
            s("refs/heads/develop"),
            s("bffeb74224043ba2feb48d137756c8a9331c449a"),
            s("f6266f16-1bf3-46a5-9ea4-602e06ead473"),
            Some(s("ssh://gitea@localhost:2222/gitea/webhooks.git"))
        )]
    );
    let Outcome::Push { provider, jobs, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(provider, Provider::Gitea);
    assert_eq!(jobs[0].pusher.as_deref(), Some("gitea"));
}

/// Gitea's "Test Delivery" button sends a push of the default branch's
/// newest commit (`before` equals `after`): it is built like any push.
#[test]
fn gitea_test_delivery_is_built_like_a_push() {
    let outcome = push("gitea", "push", "gitea-test-delivery.json");
    let Outcome::Push { jobs, skipped, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].git_ref, "refs/heads/main");
    assert_eq!(jobs[0].commit, "bffeb74224043ba2feb48d137756c8a9331c449a");
}

#[test]
fn forgejo_is_told_from_gitea_and_reads_its_own_delivery_id() {
    let outcome = push("forgejo", "push", "forgejo-push.json");
    let Outcome::Push { provider, jobs, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(*provider, Provider::Forgejo);
    assert_eq!(jobs[0].delivery_id, "fj-6266f16");
    assert_eq!(jobs[0].repo, "forgejo/webhooks");
}

#[test]
fn gitea_tag_push_deletion_and_pull_request() {
    let tag = push("gitea", "push", "gitea-push-tag.json");
    let Outcome::Push { jobs, .. } = &tag else {
        panic!("{tag:?}")
    };
    assert_eq!(
        jobs[0].object_key().unwrap(),
        "gitea/webhooks/tags/v1.0.0/gitea_webhooks.zip"
    );
    assert_eq!(
        push("gitea", "delete", "gitea-delete.json"),
        Outcome::Push {
            provider: Provider::Gitea,
            jobs: vec![],
            skipped: vec![(s("refs/heads/feature/old"), s("deleted"))]
        }
    );
    // A push whose `after` is all zeros is a deletion too.
    let mut zeros: Value = serde_json::from_slice(&fixture("gitea-push.json")).unwrap();
    zeros["after"] = Value::from("0".repeat(40));
    let body = serde_json::to_vec(&zeros).unwrap();
    let Ok(Outcome::Push { jobs, skipped, .. }) = run(
        Method::GitPull,
        &signed("gitea", "push", &body),
        &body,
        &config_for("gitea"),
    ) else {
        panic!()
    };
    assert!(jobs.is_empty());
    assert_eq!(skipped, vec![(s("refs/heads/develop"), s("deleted"))]);
    assert_eq!(
        push("gitea", "pull_request", "gitea-pull-request.json"),
        Outcome::Ignored {
            provider: Provider::Gitea,
            event: s("pull_request")
        }
    );
}

#[test]
fn with_on_delete_delete_a_deletion_inside_the_filters_is_a_job() {
    let body = fixture("github-push-delete.json");
    let mut config = config_for("github");
    config.filters = Filters::all().with_on_delete(crate::filter::OnDelete::Delete);
    let Ok(Outcome::Push { jobs, skipped, .. }) = run(
        Method::GitPull,
        &signed("github", "push", &body),
        &body,
        &config,
    ) else {
        panic!()
    };
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].is_deletion());
    assert_eq!(jobs[0].git_ref, "refs/heads/feature/old");
    // Outside the filters, a deletion touches nothing.
    config.filters = Filters::from_csv("", "feature/*", "")
        .unwrap()
        .with_on_delete(crate::filter::OnDelete::Delete);
    let Ok(Outcome::Push { jobs, skipped, .. }) = run(
        Method::GitPull,
        &signed("github", "push", &body),
        &body,
        &config,
    ) else {
        panic!()
    };
    assert!(jobs.is_empty());
    assert_eq!(skipped, vec![(s("refs/heads/feature/old"), s("deleted"))]);
}

#[test]
fn gitea_file_lists_count_only_when_every_commit_carries_them() {
    let mut config = config_for("gitea");
    config.filters = Filters::from_csv("", "", "src/**").unwrap();
    // Gitea's documented example lists no files: the path filter cannot
    // tell, so the push builds.
    let body = fixture("gitea-push.json");
    let Ok(Outcome::Push { jobs, .. }) = run(
        Method::GitPull,
        &signed("gitea", "push", &body),
        &body,
        &config,
    ) else {
        panic!()
    };
    assert_eq!(jobs.len(), 1);
    // Forgejo's lists them all: src/main.rs matches, and docs/ alone would not.
    let mut config = config_for("forgejo");
    config.filters = Filters::from_csv("", "", "src/**").unwrap();
    let body = fixture("forgejo-push.json");
    let outcome = run(
        Method::GitPull,
        &signed("forgejo", "push", &body),
        &body,
        &config,
    )
    .unwrap();
    assert_eq!(summary(&outcome).len(), 1);
    config.filters = Filters::from_csv("", "", "infra/**").unwrap();
    let Ok(Outcome::Push { jobs, skipped, .. }) = run(
        Method::GitPull,
        &signed("forgejo", "push", &body),
        &body,
        &config,
    ) else {
        panic!()
    };
    assert!(jobs.is_empty(), "{skipped:?}");
}

#[test]
fn the_route_picks_the_method() {
    let body = fixture("github-push.json");
    let outcome = run(
        Method::ZipDownload,
        &signed("github", "push", &body),
        &body,
        &config_for("github"),
    )
    .unwrap();
    let Outcome::Push { jobs, .. } = outcome else {
        panic!()
    };
    assert_eq!(jobs[0].method, Method::ZipDownload);
}

#[test]
fn filters_leave_out_refs_and_say_why() {
    let mut cfg = config_for("github");
    cfg.filters = Filters::new(&[s("release/*")], &[], &[]).unwrap();
    let body = fixture("github-push.json");
    let outcome = run(
        Method::GitPull,
        &signed("github", "push", &body),
        &body,
        &cfg,
    )
    .unwrap();
    let Outcome::Push { jobs, skipped, .. } = outcome else {
        panic!()
    };
    assert!(jobs.is_empty());
    assert_eq!(
        skipped[0].1,
        "the ref matches none of the include_refs globs"
    );
}

#[test]
fn path_filters_use_the_listed_files() {
    let mut cfg = config_for("gitlab");
    cfg.filters = Filters::new(&[], &[], &[s("app/**")]).unwrap();
    let body = fixture("gitlab-push.json");
    let outcome = run(
        Method::GitPull,
        &signed("gitlab", "Push Hook", &body),
        &body,
        &cfg,
    )
    .unwrap();
    assert_eq!(
        summary(&outcome).len(),
        1,
        "app/controller/application.rb matches"
    );
    cfg.filters = Filters::new(&[], &[], &[s("docs/**")]).unwrap();
    let outcome = run(
        Method::GitPull,
        &signed("gitlab", "Push Hook", &body),
        &body,
        &cfg,
    )
    .unwrap();
    assert_eq!(summary(&outcome).len(), 0);
}

#[test]
fn a_rotated_secret_still_verifies() {
    let mut cfg = config_for("github");
    cfg.secrets = Secrets::from_lines(&format!("next-secret\n{SECRET}"));
    let body = fixture("github-push.json");
    assert!(run(
        Method::GitPull,
        &signed("github", "push", &body),
        &body,
        &cfg
    )
    .is_ok());
}

/// Attack: a SaaS's webhook egress range is shared by all its customers,
/// so an address alone proves nothing. A signature is always required;
/// the allow list only narrows where a signed call may come from.
#[test]
fn an_allowed_ip_without_a_signature_is_refused() {
    let body = fixture("bitbucket-push.json");
    let mut unsigned = signed("bitbucket", "repo:push", &body);
    unsigned.remove("x-hub-signature");
    let mut cfg = config_for("bitbucket");
    cfg.allowed_ips = AllowedIps::from_csv("198.51.100.0/24").unwrap();
    assert_eq!(
        run(Method::GitPull, &unsigned, &body, &cfg),
        Err(Rejection::Unauthorized(
            "the request carries no signature or token"
        ))
    );
    // Signed, from inside the list: in. Signed, from outside: 403.
    let signed_headers = signed("bitbucket", "repo:push", &body);
    assert!(run(Method::GitPull, &signed_headers, &body, &cfg).is_ok());
    cfg.allowed_ips = AllowedIps::from_csv("203.0.113.0/24").unwrap();
    let refused = run(Method::GitPull, &signed_headers, &body, &cfg).unwrap_err();
    assert_eq!(refused.status(), 403);
    assert!(
        refused.to_string().contains("auth.allowed_ips"),
        "{refused}"
    );
    // No secret at all: nothing authenticates, whatever the address.
    cfg.secrets = Secrets::default();
    cfg.allowed_ips = AllowedIps::from_csv("198.51.100.0/24").unwrap();
    assert_eq!(
        run(Method::GitPull, &unsigned, &body, &cfg)
            .unwrap_err()
            .status(),
        401
    );
}

/// Attack: one ref the receiver cannot build (a Data Center branch named
/// `tags/v1`, which would land under the tags prefix) must not throw away
/// the rest of the push, since providers do not retry a 4xx.
#[test]
fn one_bad_ref_skips_only_itself() {
    let body = fixture("bitbucket-server-refs-changed.json");
    let mut v: Value = serde_json::from_slice(&body).unwrap();
    let mut shadow = v["changes"][0].clone();
    shadow["refId"] = Value::from("refs/heads/tags/v1");
    shadow["ref"]["id"] = Value::from("refs/heads/tags/v1");
    shadow["ref"]["displayId"] = Value::from("tags/v1");
    let mut not_hex = v["changes"][0].clone();
    not_hex["refId"] = Value::from("refs/heads/other");
    not_hex["ref"]["id"] = Value::from("refs/heads/other");
    not_hex["toHash"] = Value::from("zzzz");
    let changes = v["changes"].as_array_mut().unwrap();
    changes.push(shadow);
    changes.push(not_hex);
    let body = serde_json::to_vec(&v).unwrap();
    let h = signed("bitbucket-server", "repo:refs_changed", &body);
    let Ok(Outcome::Push { jobs, skipped, .. }) =
        run(Method::GitPull, &h, &body, &config_for("bitbucket-server"))
    else {
        panic!("not accepted")
    };
    let built: Vec<&str> = jobs.iter().map(|j| j.git_ref.as_str()).collect();
    assert_eq!(built, ["refs/heads/master", "refs/tags/1.4.0"]);
    let reasons: Vec<&str> = skipped.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        reasons,
        ["refs/heads/old", "refs/heads/tags/v1", "refs/heads/other"],
        "{skipped:?}"
    );
    assert!(skipped[1].1.contains("tags/ prefix"), "{skipped:?}");
    assert!(skipped[2].1.contains("not a commit id"), "{skipped:?}");
}

#[test]
fn a_missing_delivery_id_falls_back_to_the_body_hash() {
    let body = fixture("generic-push.json");
    let mut h = signed("generic", "push", &body);
    h.remove("x-git2s3-delivery");
    let a = run(Method::GitPull, &h, &body, &config_for("generic")).unwrap();
    let b = run(Method::GitPull, &h, &body, &config_for("generic")).unwrap();
    let (Outcome::Push { jobs: a, .. }, Outcome::Push { jobs: b, .. }) = (a, b) else {
        panic!()
    };
    assert!(a[0].delivery_id.starts_with("body-sha256:"));
    assert_eq!(a[0].deduplication_id(), b[0].deduplication_id());
}

/// Each row: what is wrong, the request, the status it must get.
#[test]
fn bad_input_gets_its_documented_status_and_no_job() {
    let good = fixture("github-push.json");
    let sig = |body: &[u8]| sign(SECRET, body);
    let with = |pairs: &[(&str, &str)]| headers(pairs);
    let json = ("content-type", "application/json");
    let push_headers = |body: &[u8]| signed("github", "push", body);
    let mut odd_ref = serde_json::from_slice::<Value>(&good).unwrap();
    odd_ref["ref"] = Value::from("refs/heads/../../etc/passwd");
    let odd_ref = serde_json::to_vec(&odd_ref).unwrap();
    let mut bad_sha = serde_json::from_slice::<Value>(&good).unwrap();
    bad_sha["after"] = Value::from("not-a-sha");
    let bad_sha = serde_json::to_vec(&bad_sha).unwrap();
    let mut bad_repo = serde_json::from_slice::<Value>(&good).unwrap();
    bad_repo["repository"]["full_name"] = Value::from("../escape");
    let bad_repo = serde_json::to_vec(&bad_repo).unwrap();
    let huge = vec![b' '; body::MAX_BODY_BYTES + 1];
    let truncated = &good[..good.len() / 2];
    let missing_fields = br#"{"ref":"refs/heads/main"}"#.to_vec();
    let wrong_sig = sign("not-the-secret", &good);
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = serde_json::from_slice::<Value>(&good).unwrap();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let bidi_ref = edit(&|v| v["ref"] = Value::from("refs/heads/main\u{202e}gnp.exe"));
    let encoded_dots = edit(&|v| {
        v["repository"]["full_name"] = Value::from("Codertocat/%2e%2e/%2e%2e/victim/private")
    });
    let query_repo = edit(&|v| v["repository"]["full_name"] = Value::from("Codertocat/x?y=z"));
    let victim = edit(&|v| v["repository"]["full_name"] = Value::from("victim/private"));
    let evil_host = edit(&|v| {
        v["repository"]["ssh_url"] = Value::from("git@evil.example.com:Codertocat/Hello-World.git")
    });
    let other_repo_url =
        edit(&|v| v["repository"]["ssh_url"] = Value::from("git@github.com:victim/private.git"));
    let local_path = edit(&|v| v["repository"]["ssh_url"] = Value::from("/srv/git/private.git"));
    let file_url =
        edit(&|v| v["repository"]["ssh_url"] = Value::from("file:///srv/git/private.git"));
    let gitlab = fixture("gitlab-push.json");
    let gitea = fixture("gitea-push.json");
    let mut gitea_without_own_signature = signed("gitea", "push", &gitea);
    gitea_without_own_signature.remove("x-gitea-signature");
    let mut gitea_prefixed = signed("gitea", "push", &gitea);
    gitea_prefixed.insert(
        "x-gitea-signature",
        HeaderValue::from_str(&sig(&gitea)).unwrap(),
    );
    let mut gitea_wrong = signed("gitea", "push", &gitea);
    gitea_wrong.insert(
        "x-gitea-signature",
        HeaderValue::from_str(sign("not-the-secret", &gitea).trim_start_matches("sha256="))
            .unwrap(),
    );
    let gitea_evil_host = {
        let mut v = serde_json::from_slice::<Value>(&gitea).unwrap();
        v["repository"]["ssh_url"] =
            Value::from("ssh://git@evil.example.com:2222/gitea/webhooks.git");
        serde_json::to_vec(&v).unwrap()
    };
    let mut forgejo_forged = signed("forgejo", "push", &fixture("forgejo-push.json"));
    forgejo_forged.insert("x-forgejo-signature", HeaderValue::from_static("00"));
    let mut allowed_ip = config_for("github");
    allowed_ip.allowed_ips = AllowedIps::from_csv("198.51.100.0/24").unwrap();
    let mut outside_ips = config_for("github");
    outside_ips.allowed_ips = AllowedIps::from_csv("203.0.113.0/24").unwrap();

    let rows: Vec<(&str, HeaderMap, Vec<u8>, ReceiverConfig, u16)> = vec![
        (
            "missing signature",
            with(&[json, ("x-github-event", "push")]),
            good.clone(),
            config_for("github"),
            401,
        ),
        (
            "wrong signature",
            with(&[
                json,
                ("x-github-event", "push"),
                ("x-hub-signature-256", &wrong_sig),
            ]),
            good.clone(),
            config_for("github"),
            401,
        ),
        (
            "SHA-1 signature only",
            with(&[
                json,
                ("x-github-event", "push"),
                (
                    "x-hub-signature",
                    "sha1=0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
                ),
            ]),
            good.clone(),
            config_for("github"),
            401,
        ),
        (
            "empty secret configured",
            push_headers(&good),
            good.clone(),
            ReceiverConfig {
                secrets: Secrets::from_lines(""),
                ..config_for("github")
            },
            401,
        ),
        (
            "wrong GitLab token",
            with(&[
                json,
                ("x-gitlab-event", "Push Hook"),
                ("x-gitlab-token", "guess"),
            ]),
            fixture("gitlab-push.json"),
            config_for("github"),
            401,
        ),
        (
            "wrong content type",
            with(&[
                ("content-type", "text/plain"),
                ("x-github-event", "push"),
                ("x-hub-signature-256", &sig(&good)),
            ]),
            good.clone(),
            config_for("github"),
            415,
        ),
        (
            "no content type",
            with(&[
                ("x-github-event", "push"),
                ("x-hub-signature-256", &sig(&good)),
            ]),
            good.clone(),
            config_for("github"),
            415,
        ),
        (
            "malformed JSON",
            push_headers(b"{not json"),
            b"{not json".to_vec(),
            config_for("github"),
            400,
        ),
        (
            "truncated body",
            push_headers(truncated),
            truncated.to_vec(),
            config_for("github"),
            400,
        ),
        (
            "huge body",
            push_headers(&huge),
            huge.clone(),
            config_for("github"),
            413,
        ),
        (
            "unknown provider (Gogs)",
            with(&[json, ("x-gogs-event", "push")]),
            good.clone(),
            config_for("github"),
            400,
        ),
        (
            "missing fields",
            push_headers(&missing_fields),
            missing_fields.clone(),
            config_for("github"),
            400,
        ),
        // 202: the push is answered, that ref is skipped with its reason,
        // and nothing is queued for it.
        (
            "ref with ..",
            push_headers(&odd_ref),
            odd_ref.clone(),
            config_for("github"),
            202,
        ),
        (
            "commit id that is not a sha",
            push_headers(&bad_sha),
            bad_sha.clone(),
            config_for("github"),
            202,
        ),
        (
            "ref with a bidi override",
            push_headers(&bidi_ref),
            bidi_ref.clone(),
            config_for("github"),
            202,
        ),
        (
            "repo path with a percent-encoded ..",
            push_headers(&encoded_dots),
            encoded_dots.clone(),
            config_for("github"),
            400,
        ),
        (
            "repo path with a query",
            push_headers(&query_repo),
            query_repo.clone(),
            config_for("github"),
            400,
        ),
        (
            "an allowed IP without a signature",
            with(&[json, ("x-github-event", "push")]),
            good.clone(),
            allowed_ip.clone(),
            401,
        ),
        (
            "signed, from outside the allow list",
            push_headers(&good),
            good.clone(),
            outside_ips,
            403,
        ),
        (
            "another provider's push, signed with the stack's secret",
            signed("gitlab", "Push Hook", &gitlab),
            gitlab.clone(),
            config_for("github"),
            403,
        ),
        (
            "a repository that is not connected",
            push_headers(&victim),
            victim.clone(),
            config_for("github"),
            403,
        ),
        (
            "a clone URL on another host",
            push_headers(&evil_host),
            evil_host.clone(),
            config_for("github"),
            403,
        ),
        (
            "a clone URL naming another repository",
            push_headers(&other_repo_url),
            other_repo_url.clone(),
            config_for("github"),
            403,
        ),
        (
            "a local path as clone URL",
            push_headers(&local_path),
            local_path.clone(),
            config_for("github"),
            403,
        ),
        (
            "a file:// clone URL",
            push_headers(&file_url),
            file_url.clone(),
            config_for("github"),
            403,
        ),
        (
            "repo path escaping its prefix",
            push_headers(&bad_repo),
            bad_repo.clone(),
            config_for("github"),
            400,
        ),
        (
            "Gitea: only GitHub's signature, none of its own",
            gitea_without_own_signature,
            gitea.clone(),
            config_for("gitea"),
            401,
        ),
        (
            "Gitea: its signature with GitHub's sha256= prefix",
            gitea_prefixed,
            gitea.clone(),
            config_for("gitea"),
            401,
        ),
        (
            "Gitea: signed with another secret",
            gitea_wrong,
            gitea.clone(),
            config_for("gitea"),
            401,
        ),
        (
            "Forgejo push to a Gitea stack",
            signed("forgejo", "push", &fixture("forgejo-push.json")),
            fixture("forgejo-push.json"),
            config_for("gitea"),
            403,
        ),
        (
            "Gitea push to a GitHub stack (it carries GitHub's headers too)",
            signed("gitea", "push", &gitea),
            gitea.clone(),
            config_for("github"),
            403,
        ),
        (
            "Gitea: an ssh_url on another host",
            signed("gitea", "push", &gitea_evil_host),
            gitea_evil_host.clone(),
            config_for("gitea"),
            403,
        ),
        (
            "Forgejo: a forged X-Forgejo-Signature beside a good Gitea one",
            forgejo_forged,
            fixture("forgejo-push.json"),
            config_for("forgejo"),
            401,
        ),
    ];
    for (what, headers, body, cfg, status) in rows {
        let result = run(Method::GitPull, &headers, &body, &cfg);
        match result {
            Ok(Outcome::Push { jobs, skipped, .. }) if status == 202 => {
                assert!(jobs.is_empty(), "{what}: queued {jobs:?}");
                assert_eq!(skipped.len(), 1, "{what}: {skipped:?}");
            }
            Err(rejection) => {
                assert_eq!(rejection.status(), status, "{what}: {rejection}");
                let message = rejection.to_string();
                assert!(
                    !message.contains(SECRET),
                    "{what}: the message leaks the secret"
                );
            }
            Ok(outcome) => panic!("{what}: accepted as {outcome:?}"),
        }
    }
}

#[test]
fn deletions_non_push_events_and_replays_write_nothing_new() {
    // Deleted branch and other events: accepted, no job.
    let Outcome::Push { jobs, .. } = push("github", "push", "github-push-delete.json") else {
        panic!()
    };
    assert!(jobs.is_empty());
    assert!(matches!(
        push("github", "issues", "github-issues.json"),
        Outcome::Ignored { .. }
    ));
    // A replayed delivery produces the same deduplication id, which the
    // FIFO queue (and serve's queue) drops.
    let a = push("github", "push", "github-push.json");
    let b = push("github", "push", "github-push.json");
    let (Outcome::Push { jobs: a, .. }, Outcome::Push { jobs: b, .. }) = (a, b) else {
        panic!()
    };
    assert_eq!(a[0].deduplication_id(), b[0].deduplication_id());
}

#[test]
fn repo_names_with_spaces_or_unicode_are_kept() {
    let body = fixture("generic-push.json");
    let mut v: Value = serde_json::from_slice(&body).unwrap();
    v["repository"]["full_name"] = Value::from("équipe/mon dépôt");
    v["repository"]["ssh_url"] =
        Value::from("ssh://git@git.internal.example:2222/srv/git/équipe/mon dépôt.git");
    let body = serde_json::to_vec(&v).unwrap();
    let outcome = run(
        Method::GitPull,
        &signed("generic", "push", &body),
        &body,
        &config_for("generic"),
    )
    .unwrap();
    let Outcome::Push { jobs, .. } = outcome else {
        panic!()
    };
    assert_eq!(
        jobs[0].object_key().unwrap(),
        "équipe/mon dépôt/main/équipe_mon dépôt.zip"
    );
}

fn provider_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let names = prop::sample::select(vec![
        "x-github-event",
        "x-gitlab-event",
        "x-event-key",
        "x-git2s3-event",
        "x-hub-signature-256",
        "x-hub-signature",
        "x-gitlab-token",
        "content-type",
        "x-request-uuid",
        "x-github-enterprise-host",
    ]);
    let values = prop::sample::select(vec![
        "push",
        "ping",
        "Push Hook",
        "Tag Push Hook",
        "repo:push",
        "repo:refs_changed",
        "diagnostics:ping",
        "application/json",
        "application/x-www-form-urlencoded",
        "sha256=00",
        "",
        "x",
    ]);
    prop::collection::vec(
        (names.prop_map(String::from), values.prop_map(String::from)),
        0..6,
    )
}

proptest! {
    /// Whatever arrives, the receiver answers without panicking, and only a
    /// correctly signed request is ever accepted.
    #[test]
    fn arbitrary_requests_never_panic_and_unsigned_ones_never_pass(
        pairs in provider_headers(),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut h = HeaderMap::new();
        for (k, v) in &pairs {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), v);
            }
        }
        // No generated header can carry a valid signature, so every request
        // is refused, with one of the documented statuses.
        match run(Method::GitPull, &h, &body, &config_for("github")) {
            Ok(outcome) => prop_assert!(false, "accepted without a signature: {:?}", outcome),
            Err(e) => prop_assert!([400, 401].contains(&e.status()), "status {}", e.status()),
        }
    }

    /// Signed payloads with arbitrary field values parse or are refused, never panic.
    #[test]
    fn signed_arbitrary_push_fields_never_panic(
        git_ref in ".{0,40}",
        after in "[0-9a-f]{0,64}|.{0,10}",
        repo in ".{0,30}",
    ) {
        let body = serde_json::to_vec(&serde_json::json!({
            "ref": git_ref, "after": after, "repository": {"full_name": repo}
        })).unwrap();
        for provider in ["github", "generic"] {
            let result = run(Method::GitPull, &signed(provider, "push", &body), &body, &config_for("github"));
            if let Ok(Outcome::Push { jobs, .. }) = result {
                for job in jobs {
                    prop_assert!(job.object_key().is_ok());
                }
            }
        }
    }

    #[test]
    fn signatures_verify_only_for_the_signed_body(
        secret in "[ -~]{1,40}",
        body in prop::collection::vec(any::<u8>(), 0..256),
        other in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let secrets = Secrets::from_lines(&secret);
        prop_assume!(!secrets.is_empty());
        let trimmed = secret.trim();
        prop_assert!(secrets.verify_hmac_sha256(&body, &sign(trimmed, &body)));
        if other != body {
            prop_assert!(!secrets.verify_hmac_sha256(&other, &sign(trimmed, &body)));
        }
    }
}
