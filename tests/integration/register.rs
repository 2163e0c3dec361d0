//! `git2s3 register-webhook` and `unregister-webhook`, the real binary,
//! against a local HTTP mock (wiremock) for each provider: the exact
//! method, path, headers and JSON body of every request, each
//! provider's pagination, an idempotent re-run, and each error's message.
//! Answers are shaped like the examples in the providers' API docs.
//!
//! The runs need no stack: `--webhook-url`, `GIT2S3_WEBHOOK_SECRET` and
//! `--public-key`, as beside `git2s3 serve`.

use serde_json::{json, Value};
use wiremock::matchers::{
    body_json, header, headers, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::git2s3;

pub const HOOK_URL: &str = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/gitpull";
pub const SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
pub const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGv4pFtNiPmaAtqV9Y3QaX4Pp0T/8sT9fPbdrpVIV1cb git2s3@demo";
pub const TOKEN: &str = "test-token-not-real";

/// The public key in a file, as --public-key reads it.
pub fn key_file() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{KEY}\n")).unwrap();
    file
}

/// Runs `git2s3 <args> --yes --api-url <server>` without a stack, off the
/// async runtime.
pub async fn run(args: Vec<String>, api: String) -> std::process::Output {
    run_with(args, api, true).await
}

/// As [`run`], and without `--yes` unless `yes`.
async fn run_with(args: Vec<String>, api: String, yes: bool) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let key = key_file();
        git2s3()
            .env("GIT2S3_WEBHOOK_SECRET", SECRET)
            .env("GIT2S3_TEST_TOKEN", TOKEN)
            .args(&args)
            .args(yes.then_some("--yes"))
            .args([
                "--api-url",
                &api,
                "--webhook-url",
                HOOK_URL,
                "--token-env",
                "GIT2S3_TEST_TOKEN",
            ])
            .args([std::ffi::OsStr::new("--public-key"), key.path().as_os_str()])
            .output()
    })
    .await
    .unwrap()
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn ok(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "git2s3 failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--output json prints JSON")
}

pub fn err(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "git2s3 should have failed");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A GitHub repository webhook, as GET /repos/{owner}/{repo}/hooks lists it.
fn github_hook(id: u64, url: &str) -> Value {
    json!({
        "type": "Repository", "id": id, "name": "web", "active": true, "events": ["push"],
        "config": {"content_type": "json", "insecure_ssl": "0", "url": url},
        "updated_at": "2026-11-01T10:00:00Z", "created_at": "2026-11-01T10:00:00Z",
        "url": format!("https://api.github.com/repos/acme/api/hooks/{id}"),
        "test_url": format!("https://api.github.com/repos/acme/api/hooks/{id}/test"),
        "ping_url": format!("https://api.github.com/repos/acme/api/hooks/{id}/pings"),
        "deliveries_url": format!("https://api.github.com/repos/acme/api/hooks/{id}/deliveries"),
        "last_response": {"code": null, "status": "unused", "message": null}
    })
}

fn github_key(id: u64, key: &str, title: &str) -> Value {
    json!({"id": id, "key": key, "url": format!("https://api.github.com/repos/acme/api/keys/{id}"),
           "title": title, "verified": true, "created_at": "2026-11-01T10:00:00Z", "read_only": true})
}

fn github_headers(m: wiremock::MockBuilder) -> wiremock::MockBuilder {
    m.and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(headers(
            "accept",
            vec!["application/vnd.github+json", "application/json"],
        ))
        .and(header("x-github-api-version", "2022-11-28"))
}

#[tokio::test(flavor = "multi_thread")]
async fn github_hook_and_key_are_created_once_and_updated_on_a_rerun() {
    let server = MockServer::start().await;
    let base = server.uri();
    // Two pages of hooks (Link header), none of them git2s3's.
    github_headers(Mock::given(method("GET")).and(path("/repos/acme/api/hooks")))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([github_hook(1, "https://ci.example.com/hook")]))
                .insert_header("link", format!("<{base}/repositories/42/hooks?per_page=100&page=2>; rel=\"next\", <{base}/repositories/42/hooks?per_page=100&page=2>; rel=\"last\"").as_str()),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    github_headers(
        Mock::given(method("GET"))
            .and(path("/repositories/42/hooks"))
            .and(query_param("page", "2")),
    )
    .respond_with(
        ResponseTemplate::new(200)
            .set_body_json(json!([github_hook(2, "https://chat.example.com/hook")])),
    )
    .up_to_n_times(1)
    .expect(1)
    .mount(&server)
    .await;
    github_headers(Mock::given(method("POST")).and(path("/repos/acme/api/hooks")))
        .and(body_json(json!({
            "name": "web", "active": true, "events": ["push"],
            "config": {"url": HOOK_URL, "content_type": "json", "secret": SECRET, "insecure_ssl": "0"}
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(github_hook(12345678, HOOK_URL)))
        .expect(1)
        .mount(&server)
        .await;
    github_headers(Mock::given(method("POST")).and(path("/repos/acme/api/hooks/12345678/pings")))
        .respond_with(ResponseTemplate::new(204))
        .expect(2)
        .mount(&server)
        .await;
    github_headers(
        Mock::given(method("GET"))
            .and(path("/repos/acme/api/keys"))
            .and(query_param("per_page", "100")),
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!([github_key(
        7,
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 someone",
        "laptop"
    )])))
    .up_to_n_times(1)
    .expect(1)
    .mount(&server)
    .await;
    github_headers(Mock::given(method("POST")).and(path("/repos/acme/api/keys")))
        .and(body_json(
            json!({"title": "git2s3 git2s3", "key": KEY, "read_only": true}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(github_key(8, KEY, "git2s3 git2s3")))
        .expect(1)
        .mount(&server)
        .await;

    let cmd = args(&[
        "--output",
        "json",
        "register-webhook",
        "--provider",
        "github",
        "--repo",
        "acme/api",
        "--deploy-key",
    ]);
    let first = ok(&run(cmd.clone(), base.clone()).await);
    assert_eq!(first["hooks"][0]["outcome"], "created");
    assert_eq!(first["hooks"][0]["ping"], "sent");
    assert_eq!(first["keys"][0]["outcome"], "created");

    // The re-run finds the hook by its URL and the key by its material.
    github_headers(Mock::given(method("GET")).and(path("/repos/acme/api/hooks")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            github_hook(1, "https://ci.example.com/hook"),
            github_hook(12345678, HOOK_URL)
        ])))
        .expect(1)
        .mount(&server)
        .await;
    github_headers(Mock::given(method("PATCH")).and(path("/repos/acme/api/hooks/12345678")))
        .and(body_json(json!({
            "active": true, "events": ["push"],
            "config": {"url": HOOK_URL, "content_type": "json", "secret": SECRET, "insecure_ssl": "0"}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(github_hook(12345678, HOOK_URL)))
        .expect(1)
        .mount(&server)
        .await;
    // The same key with another comment is the same key.
    let listed = KEY.replace("git2s3@demo", "renamed");
    github_headers(Mock::given(method("GET")).and(path("/repos/acme/api/keys")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([github_key(
            8,
            &listed,
            "git2s3 git2s3"
        )])))
        .expect(1)
        .mount(&server)
        .await;
    let second = ok(&run(cmd, base).await);
    assert_eq!(second["hooks"][0]["outcome"], "updated");
    assert_eq!(second["keys"][0]["outcome"], "unchanged");
}

#[tokio::test(flavor = "multi_thread")]
async fn unregister_removes_only_what_git2s3_added() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/hooks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            github_hook(1, "https://ci.example.com/hook"),
            github_hook(9, HOOK_URL)
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            github_key(7, "ssh-rsa AAAAB3NzaC1yc2E someone", "laptop"),
            github_key(8, KEY, "git2s3 git2s3")
        ])))
        .mount(&server)
        .await;
    github_headers(Mock::given(method("DELETE")).and(path("/repos/acme/api/hooks/9")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    github_headers(Mock::given(method("DELETE")).and(path("/repos/acme/api/keys/8")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    // Anything else deleted would hit this and fail the expectation.
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let out = run(
        args(&[
            "--output",
            "json",
            "unregister-webhook",
            "--provider",
            "github",
            "--repo",
            "acme/api",
            "--deploy-key",
        ]),
        server.uri(),
    )
    .await;
    let report = ok(&out);
    assert_eq!(report["hooks"][0]["outcome"], "removed");
    assert_eq!(report["keys"][0]["outcome"], "removed");
}

#[tokio::test(flavor = "multi_thread")]
async fn github_errors_name_the_fix() {
    let cases: Vec<(u16, Value, &str)> = vec![
        (401, json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
         "GitHub answered 401 for GET /repos/acme/api/hooks?per_page=100: the token is invalid or expired"),
        (404, json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
         "GitHub answered 404 for GET /repos/acme/api/hooks?per_page=100: the repository, group or workspace does not exist, or the token may not manage its webhooks; it needs the admin:repo_hook scope (classic token) or Webhooks: write (fine-grained token)"),
        (403, json!({"message": "Resource not accessible by personal access token"}),
         "it needs the admin:repo_hook scope (classic token) or Webhooks: write (fine-grained token)"),
    ];
    for (status, body, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/repos/acme/api/hooks"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
        let e = err(&run(
            args(&[
                "register-webhook",
                "--provider",
                "github",
                "--repo",
                "acme/api",
            ]),
            server.uri(),
        )
        .await);
        assert!(e.contains(expected), "{status}: {e}");
    }

    // 422 "key is already in use": GitHub's one-repository rule.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/hooks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([github_hook(9, HOOK_URL)])))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/api/hooks/9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(github_hook(9, HOOK_URL)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/repos/acme/api/keys"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Validation Failed",
            "errors": [{"resource": "PublicKey", "code": "custom", "field": "key", "message": "key is already in use"}],
            "documentation_url": "https://docs.github.com/rest/deploy-keys/deploy-keys#create-a-deploy-key"
        })))
        .mount(&server).await;
    let e = err(&run(
        args(&[
            "register-webhook",
            "--provider",
            "github",
            "--repo",
            "acme/api",
            "--deploy-key",
            "--no-ping",
        ]),
        server.uri(),
    )
    .await);
    assert!(e.contains("GitHub answered 422 for POST /repos/acme/api/keys: key is already in use. GitHub allows a deploy key on one repository only"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_is_waited_out_as_the_headers_say() {
    let server = MockServer::start().await;
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/hooks"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"message": "API rate limit exceeded for user ID 1."})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/hooks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([github_hook(9, HOOK_URL)])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/api/hooks/9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(github_hook(9, HOOK_URL)))
        .mount(&server)
        .await;
    // A Retry-After on the next call is honoured too.
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/hooks/9/pings"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/hooks/9/pings"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let out = run(
        args(&[
            "--output",
            "json",
            "register-webhook",
            "--provider",
            "github",
            "--repo",
            "acme/api",
        ]),
        server.uri(),
    )
    .await;
    let report = ok(&out);
    assert_eq!(report["hooks"][0]["ping"], "sent");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("GitHub rate limit reached: waiting").count(),
        2,
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_pages_by_header_and_falls_back_from_a_group_hook_without_premium() {
    let server = MockServer::start().await;
    let token = || header("private-token", TOKEN);
    // A group hook needs Premium: 404 here.
    Mock::given(method("GET"))
        .and(path("/groups/acme/hooks"))
        .and(token())
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "404 Not Found"})))
        .expect(1)
        .mount(&server)
        .await;
    // The group's projects, over two pages (x-next-page).
    Mock::given(method("GET"))
        .and(path("/groups/acme/projects"))
        .and(query_param_is_missing("page"))
        .and(query_param("include_subgroups", "true"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-next-page", "2")
                .set_body_json(
                    json!([{"id": 4, "path_with_namespace": "acme/api", "name": "api"}]),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/groups/acme/projects"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-next-page", "")
                .set_body_json(
                    json!([{"id": 5, "path_with_namespace": "acme/web", "name": "web"}]),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    for (project, id) in [("acme%2Fapi", 41), ("acme%2Fweb", 51)] {
        Mock::given(method("GET")).and(path(format!("/projects/{project}/hooks"))).and(token())
            .respond_with(ResponseTemplate::new(200).insert_header("x-next-page", "").set_body_json(json!([
                {"id": 1, "url": "https://ci.example.com/hook", "push_events": true, "tag_push_events": false}
            ])))
            .expect(1).mount(&server).await;
        Mock::given(method("POST")).and(path(format!("/projects/{project}/hooks"))).and(token())
            .and(body_json(json!({"url": HOOK_URL, "token": SECRET, "push_events": true, "tag_push_events": true, "enable_ssl_verification": true})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "id": id, "url": HOOK_URL, "project_id": 4, "push_events": true, "tag_push_events": true,
                "enable_ssl_verification": true, "created_at": "2026-11-01T10:00:00Z"
            })))
            .expect(1).mount(&server).await;
        Mock::given(method("POST"))
            .and(path(format!(
                "/projects/{project}/hooks/{id}/test/push_events"
            )))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(json!({"message": "201 Created"})),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let out = run(
        args(&[
            "--output",
            "json",
            "register-webhook",
            "--provider",
            "gitlab",
            "--org",
            "acme",
        ]),
        server.uri(),
    )
    .await;
    let report = ok(&out);
    let targets: Vec<_> = report["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["acme/api", "acme/web"], "{report}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("group webhooks need GitLab Premium or Ultimate and the Owner role. Adding a hook to each of its 2 projects instead"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_deploy_key_and_maintainer_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/projects/acme%2Fapi/hooks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 3, "url": HOOK_URL}])))
        .mount(&server)
        .await;
    Mock::given(method("PUT")).and(path("/projects/acme%2Fapi/hooks/3"))
        .and(body_json(json!({"url": HOOK_URL, "token": SECRET, "push_events": true, "tag_push_events": true, "enable_ssl_verification": true})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 3, "url": HOOK_URL})))
        .expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/projects/acme%2Fapi/deploy_keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/projects/acme%2Fapi/deploy_keys"))
        .and(body_json(json!({"title": "git2s3 git2s3", "key": KEY, "can_push": false})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 12, "title": "git2s3 git2s3", "key": KEY, "can_push": false, "created_at": "2026-11-01T10:00:00Z"
        })))
        .expect(1).mount(&server).await;
    let report = ok(&run(
        args(&[
            "--output",
            "json",
            "register-webhook",
            "--provider",
            "gitlab",
            "--repo",
            "acme/api",
            "--deploy-key",
            "--no-ping",
        ]),
        server.uri(),
    )
    .await);
    assert_eq!(report["hooks"][0]["outcome"], "updated");
    assert_eq!(report["keys"][0]["outcome"], "created");

    let denied = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/projects/acme%2Fapi/hooks"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "403 Forbidden"})))
        .mount(&denied)
        .await;
    let e = err(&run(
        args(&[
            "register-webhook",
            "--provider",
            "gitlab",
            "--repo",
            "acme/api",
        ]),
        denied.uri(),
    )
    .await);
    assert!(
        e.contains("GitLab answered 403 for GET /projects/acme%2Fapi/hooks?per_page=100")
            && e.contains("the Maintainer role on the project"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bitbucket_cloud_follows_next_and_updates_by_uuid() {
    let server = MockServer::start().await;
    let base = server.uri();
    let auth = || header("authorization", format!("Bearer {TOKEN}").as_str());
    Mock::given(method("GET")).and(path("/repositories/acme/api/hooks")).and(query_param_is_missing("page")).and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "pagelen": 1, "size": 2, "page": 1,
            "values": [{"uuid": "{0c6b1e1a-7c1b-4b5e-9bd0-7d0a6a3a1f11}", "url": "https://ci.example.com/hook", "description": "CI", "active": true, "events": ["repo:push"], "subject_type": "repository"}],
            "next": format!("{base}/repositories/acme/api/hooks?page=2")
        })))
        .expect(1).mount(&server).await;
    Mock::given(method("GET")).and(path("/repositories/acme/api/hooks")).and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "pagelen": 1, "size": 2, "page": 2,
            "values": [{"uuid": "{5f4dcc3b-5aa7-4d6c-8e2b-1a2b3c4d5e6f}", "url": HOOK_URL, "description": "git2s3 git2s3", "active": true, "events": ["repo:push"], "subject_type": "repository"}]
        })))
        .expect(1).mount(&server).await;
    Mock::given(method("PUT")).and(path("/repositories/acme/api/hooks/%7B5f4dcc3b-5aa7-4d6c-8e2b-1a2b3c4d5e6f%7D")).and(auth())
        .and(body_json(json!({"description": "git2s3 git2s3", "url": HOOK_URL, "active": true, "secret": SECRET, "events": ["repo:push"]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"uuid": "{5f4dcc3b-5aa7-4d6c-8e2b-1a2b3c4d5e6f}", "url": HOOK_URL})))
        .expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/repositories/acme/api/deploy-keys"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"pagelen": 10, "values": [], "page": 1, "size": 0})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repositories/acme/api/deploy-keys"))
        .and(auth())
        .and(body_json(json!({"key": KEY, "label": "git2s3 git2s3"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": 123, "key": KEY, "label": "git2s3 git2s3", "type": "deploy_key"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let report = ok(&run(
        args(&[
            "--output",
            "json",
            "register-webhook",
            "--provider",
            "bitbucket",
            "--repo",
            "acme/api",
            "--deploy-key",
        ]),
        base,
    )
    .await);
    assert_eq!(report["hooks"][0]["outcome"], "updated");
    assert_eq!(report["hooks"][0]["ping"], "none");
    assert_eq!(report["keys"][0]["outcome"], "created");
}

#[tokio::test(flavor = "multi_thread")]
async fn bitbucket_data_center_pages_by_start_and_adds_a_read_only_access_key() {
    let server = MockServer::start().await;
    let auth = || header("authorization", format!("Bearer {TOKEN}").as_str());
    Mock::given(method("GET")).and(path("/rest/api/1.0/projects/PRJ/repos/api/webhooks")).and(query_param_is_missing("start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "size": 1, "limit": 1, "isLastPage": false, "start": 0, "nextPageStart": 1,
            "values": [{"id": 10, "name": "CI", "url": "https://ci.example.com/hook", "active": true, "events": ["repo:refs_changed"], "configuration": {}}]
        })))
        .expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/rest/api/1.0/projects/PRJ/repos/api/webhooks"))
        .and(query_param("start", "1"))
        .and(query_param("limit", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"size": 0, "limit": 100, "isLastPage": true, "start": 1, "values": []}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/rest/api/1.0/projects/PRJ/repos/api/webhooks")).and(auth())
        .and(body_json(json!({"name": "git2s3 git2s3", "url": HOOK_URL, "active": true, "events": ["repo:refs_changed"], "configuration": {"secret": SECRET}})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 11, "name": "git2s3 git2s3", "url": HOOK_URL, "active": true, "events": ["repo:refs_changed"]})))
        .expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/rest/keys/1.0/projects/PRJ/repos/api/ssh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"size": 0, "limit": 100, "isLastPage": true, "start": 0, "values": []}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/rest/keys/1.0/projects/PRJ/repos/api/ssh")).and(auth())
        .and(body_json(json!({"key": {"text": KEY, "label": "git2s3 git2s3"}, "permission": "REPO_READ"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"key": {"id": 1, "text": KEY, "label": "git2s3 git2s3"}, "permission": "REPO_READ"})))
        .expect(1).mount(&server).await;
    let report = ok(&run(
        args(&[
            "--output",
            "json",
            "register-webhook",
            "--provider",
            "bitbucket-server",
            "--repo",
            "PRJ/api",
            "--deploy-key",
        ]),
        server.uri(),
    )
    .await);
    assert_eq!(report["hooks"][0]["outcome"], "created");
    assert_eq!(report["keys"][0]["outcome"], "created");
}

#[test]
fn tokens_come_only_from_the_environment() {
    let out = git2s3()
        .env("GIT2S3_WEBHOOK_SECRET", SECRET)
        .args([
            "register-webhook",
            "--provider",
            "github",
            "--repo",
            "acme/api",
            "--webhook-url",
            HOOK_URL,
        ])
        .fails();
    assert!(out.contains("registering with github needs an API token: set GITHUB_TOKEN, or name the variable that holds it with --token-env"), "{out}");
    let help = git2s3().args(["register-webhook", "--help"]).stdout();
    assert!(
        !help.contains("--token "),
        "a token flag would put tokens in shell history:\n{help}"
    );
}

#[test]
fn github_refuses_one_deploy_key_on_several_repositories() {
    let key = key_file();
    let out = git2s3()
        .env("GIT2S3_WEBHOOK_SECRET", SECRET)
        .env("GITHUB_TOKEN", TOKEN)
        .args([
            "register-webhook",
            "--provider",
            "github",
            "--repo",
            "acme/api",
            "--repo",
            "acme/web",
            "--deploy-key",
        ])
        .args(["--webhook-url", HOOK_URL, "--api-url", "http://127.0.0.1:9"])
        .args([std::ffi::OsStr::new("--public-key"), key.path().as_os_str()])
        .fails();
    assert!(out.contains("GitHub allows a deploy key on one repository only, and --public-key would add one key to 2 repositories"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_provider_says_whose_token_it_is() {
    use git2s3::register::{client, TokenOwner};
    use git2s3_lambda::Provider;
    let server = MockServer::start().await;
    // GitLab: GET /user, then the token's own scopes.
    Mock::given(method("GET"))
        .and(path("/gitlab/user"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 1, "username": "john_smith", "name": "John Smith"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path("/gitlab/personal_access_tokens/self"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 4, "name": "git2s3", "scopes": ["api", "read_repository"], "active": true})))
        .mount(&server).await;
    // Bitbucket Cloud: GET /user, scopes in X-OAuth-Scopes.
    Mock::given(method("GET")).and(path("/bitbucket/user"))
        .respond_with(ResponseTemplate::new(200).insert_header("x-oauth-scopes", "webhook, repository:admin")
            .set_body_json(json!({"type": "user", "username": "evzijst", "display_name": "Erik van Zijst"})))
        .mount(&server).await;
    // Data Center: any authenticated answer names the user in X-AUSERNAME.
    Mock::given(method("GET")).and(path("/dc/rest/api/1.0/application-properties"))
        .respond_with(ResponseTemplate::new(200).insert_header("x-ausername", "jdoe")
            .set_body_json(json!({"version": "8.19.1", "buildNumber": "8019001", "displayName": "Bitbucket"})))
        .mount(&server).await;
    let who = |provider, base: String| async move {
        client(provider, Some(&base), TOKEN)
            .unwrap()
            .whoami()
            .await
            .unwrap()
    };
    let uri = server.uri();
    assert_eq!(
        who(Provider::Gitlab, format!("{uri}/gitlab")).await,
        TokenOwner {
            user: "john_smith".into(),
            scopes: Some("api, read_repository".into())
        }
    );
    assert_eq!(
        who(Provider::Bitbucket, format!("{uri}/bitbucket")).await,
        TokenOwner {
            user: "evzijst".into(),
            scopes: Some("webhook, repository:admin".into())
        }
    );
    assert_eq!(
        who(Provider::BitbucketServer, format!("{uri}/dc")).await,
        TokenOwner {
            user: "jdoe".into(),
            scopes: None
        }
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_provider_names_a_branchs_newest_commit() {
    use git2s3::register::{client, Head, RegisterError};
    use git2s3_lambda::Provider;
    let server = MockServer::start().await;
    let get = |p: &str, body: Value| {
        Mock::given(method("GET"))
            .and(path(p.to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
    };
    const SHA: &str = "7638417db6d59f3c431d3e1f261cc637155684cd";
    // GitHub: the repository (default branch, SSH URL), then the branch.
    get(
        "/github/repos/acme/api",
        json!({"full_name": "acme/api", "default_branch": "main", "ssh_url": "git@github.com:acme/api.git"}),
    )
    .mount(&server)
    .await;
    get(
        "/github/repos/acme/api/branches/main",
        json!({"name": "main", "commit": {"sha": SHA}, "protected": false}),
    )
    .mount(&server)
    .await;
    // GitLab: the project by its encoded path, then the branch.
    get(
        "/gitlab/projects/acme%2Fapi",
        json!({"id": 3, "path_with_namespace": "acme/api", "default_branch": "main", "ssh_url_to_repo": "git@gitlab.example.com:acme/api.git"}),
    )
    .mount(&server)
    .await;
    get(
        "/gitlab/projects/acme%2Fapi/repository/branches/release%2F1.x",
        json!({"name": "release/1.x", "commit": {"id": SHA, "short_id": "7638417"}}),
    )
    .mount(&server)
    .await;
    // Bitbucket Cloud: the repository's main branch, then its ref.
    get(
        "/bitbucket/repositories/acme/api",
        json!({"full_name": "acme/api", "mainbranch": {"type": "branch", "name": "master"},
               "links": {"clone": [{"name": "https", "href": "https://bitbucket.org/acme/api.git"},
                                   {"name": "ssh", "href": "git@bitbucket.org:acme/api.git"}]}}),
    )
    .mount(&server)
    .await;
    get(
        "/bitbucket/repositories/acme/api/refs/branches/master",
        json!({"type": "branch", "name": "master", "target": {"type": "commit", "hash": SHA}}),
    )
    .mount(&server)
    .await;
    // Data Center: the repository's clone links, then the default branch,
    // or a named one through the filtered branch list.
    get(
        "/dc/rest/api/1.0/projects/PRJ/repos/api",
        json!({"slug": "api", "project": {"key": "PRJ"},
               "links": {"clone": [{"href": "ssh://git@bitbucket.example.com:7999/prj/api.git", "name": "ssh"}]}}),
    )
    .mount(&server)
    .await;
    get(
        "/dc/rest/api/1.0/projects/PRJ/repos/api/branches/default",
        json!({"id": "refs/heads/main", "displayId": "main", "type": "BRANCH", "latestCommit": SHA, "isDefault": true}),
    )
    .mount(&server)
    .await;
    Mock::given(method("GET"))
        .and(path("/dc/rest/api/1.0/projects/PRJ/repos/api/branches"))
        .and(query_param("filterText", "dev"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "size": 2, "limit": 100, "isLastPage": true, "start": 0,
            "values": [
                {"id": "refs/heads/dev-old", "displayId": "dev-old", "latestCommit": "0000000000000000000000000000000000000001"},
                {"id": "refs/heads/dev", "displayId": "dev", "latestCommit": SHA}
            ]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/dc/rest/api/1.0/projects/PRJ/repos/api/branches"))
        .and(query_param("filterText", "gone"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "size": 0, "limit": 100, "isLastPage": true, "start": 0, "values": []
        })))
        .mount(&server)
        .await;

    let uri = server.uri();
    let head = |provider, base: String, repo: &'static str, branch: Option<&'static str>| async move {
        client(provider, Some(&base), TOKEN)
            .unwrap()
            .head(repo, branch)
            .await
    };
    let want = |branch: &str, ssh: &str| Head {
        branch: branch.into(),
        commit: SHA.into(),
        ssh_url: Some(ssh.into()),
        project_id: None,
    };
    assert_eq!(
        head(Provider::Github, format!("{uri}/github"), "acme/api", None)
            .await
            .unwrap(),
        want("main", "git@github.com:acme/api.git")
    );
    assert_eq!(
        head(
            Provider::Gitlab,
            format!("{uri}/gitlab"),
            "acme/api",
            Some("release/1.x")
        )
        .await
        .unwrap(),
        Head {
            project_id: Some("3".into()),
            ..want("release/1.x", "git@gitlab.example.com:acme/api.git")
        }
    );
    assert_eq!(
        head(
            Provider::Bitbucket,
            format!("{uri}/bitbucket"),
            "acme/api",
            None
        )
        .await
        .unwrap(),
        want("master", "git@bitbucket.org:acme/api.git")
    );
    let dc_ssh = "ssh://git@bitbucket.example.com:7999/prj/api.git";
    assert_eq!(
        head(
            Provider::BitbucketServer,
            format!("{uri}/dc"),
            "PRJ/api",
            None
        )
        .await
        .unwrap(),
        want("main", dc_ssh)
    );
    assert_eq!(
        head(
            Provider::BitbucketServer,
            format!("{uri}/dc"),
            "PRJ/api",
            Some("dev")
        )
        .await
        .unwrap(),
        want("dev", dc_ssh)
    );
    // A branch the list does not have: the error names it and the fix.
    let err = head(
        Provider::BitbucketServer,
        format!("{uri}/dc"),
        "PRJ/api",
        Some("gone"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RegisterError::NoBranch { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "Bitbucket Data Center lists no branch `gone` in PRJ/api: push it first, or pass --branch with one that exists"
    );
}

/// Attack: the configured API answers 302 to another host. reqwest strips
/// `Authorization` on a cross-host redirect, but not GitLab's
/// `PRIVATE-TOKEN`, so the other host received the token. Now the
/// redirect is not followed, and the error says why.
#[tokio::test]
async fn a_redirect_to_another_host_never_receives_the_token() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&elsewhere)
        .await;
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/projects/acme%2Fapi/hooks"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/stolen", elsewhere.uri()).as_str()),
        )
        .mount(&api)
        .await;
    let e = err(&run(
        args(&[
            "register-webhook",
            "--provider",
            "gitlab",
            "--repo",
            "acme/api",
            "--no-ping",
        ]),
        api.uri(),
    )
    .await);
    assert!(
        e.contains("302") && e.contains("does not follow with the token"),
        "{e}"
    );
    let reached = elsewhere.received_requests().await.unwrap();
    assert!(reached.is_empty(), "the other host was called: {reached:?}");
    for request in api.received_requests().await.unwrap() {
        assert!(
            request.headers.get("private-token").is_some()
                || request.headers.get("authorization").is_some()
        );
    }
}

/// Safety: register-webhook writes over an existing hook, and
/// unregister-webhook removes one, only with --yes when no one can be
/// asked; creating what is missing needs no --yes.
#[tokio::test]
async fn replacing_or_removing_needs_an_explicit_yes() {
    let server = MockServer::start().await;
    github_headers(Mock::given(method("GET")).and(path("/repos/acme/api/hooks")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([github_hook(7, HOOK_URL)])))
        .mount(&server)
        .await;
    github_headers(Mock::given(method("GET")).and(path("/repos/acme/new/hooks")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    github_headers(Mock::given(method("POST")).and(path("/repos/acme/new/hooks")))
        .respond_with(ResponseTemplate::new(201).set_body_json(github_hook(8, HOOK_URL)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&server)
        .await;
    let register = |repo: &str| {
        args(&[
            "register-webhook",
            "--provider",
            "github",
            "--repo",
            repo,
            "--no-ping",
        ])
    };
    let e = err(&run_with(register("acme/api"), server.uri(), false).await);
    assert!(
        e.contains("Update git2s3's existing webhook on acme/api") && e.contains("pass --yes"),
        "{e}"
    );
    let mut json_register = args(&["--output", "json"]);
    json_register.extend(register("acme/new"));
    let created = ok(&run_with(json_register, server.uri(), false).await);
    assert_eq!(created["hooks"][0]["outcome"], "created");
    let e = err(&run_with(
        args(&[
            "unregister-webhook",
            "--provider",
            "github",
            "--repo",
            "acme/api",
        ]),
        server.uri(),
        false,
    )
    .await);
    assert!(
        e.contains("Remove git2s3's webhook") && e.contains("pass --yes"),
        "{e}"
    );
}

/// A plain SSH server has no API: `register-webhook` says what to set up
/// there, as text or as one JSON document, and never prints the secret.
#[test]
fn generic_says_what_to_set_up_as_text_or_json() {
    let key = key_file();
    let run = |json: bool| {
        git2s3()
            .env("GIT2S3_WEBHOOK_SECRET", SECRET)
            .args(json.then_some("--output=json"))
            .args([
                "register-webhook",
                "--provider",
                "generic",
                "--repo",
                "acme/api",
                "--webhook-url",
                HOOK_URL,
            ])
            .args([std::ffi::OsStr::new("--public-key"), key.path().as_os_str()])
            .stdout()
    };
    let text = run(false);
    assert!(
        text.contains(&format!("--webhook-url {HOOK_URL}")) && !text.contains(SECRET),
        "{text}"
    );
    let json = run(true);
    assert!(!json.contains(SECRET), "{json}");
    let doc: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    assert_eq!(doc["provider"], "generic");
    assert_eq!(doc["registered"], false);
    assert_eq!(doc["webhook_url"], HOOK_URL);
    assert!(doc["public_ssh_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("ssh-ed25519 ")));
    assert!(doc["webhook_secret_id"].is_string(), "{doc}");
}
