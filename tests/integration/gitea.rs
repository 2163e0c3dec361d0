//! Gitea and Forgejo registration, the real binary against wiremock: the
//! exact method, path, `Authorization: token …` header and JSON body of
//! each call, with answers shaped as Gitea's API documentation (swagger,
//! API v1) shows them: `Hook`, `DeployKey`, `User`; its `X-Total-Count`
//! paging, with a server page smaller than the one asked for; and each
//! error naming the scope the token lacks.

use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::register::{args, err, ok, run, HOOK_URL, KEY, SECRET, TOKEN};

fn auth() -> wiremock::matchers::HeaderExactMatcher {
    header("authorization", format!("token {TOKEN}").as_str())
}

/// A hook as `GET /repos/{owner}/{repo}/hooks` lists it.
fn hook(id: u64, kind: &str, url: &str) -> Value {
    json!({
        "id": id, "type": kind, "branch_filter": "*",
        "config": {"content_type": "json", "url": url},
        "events": ["push"], "authorization_header": "", "active": true,
        "updated_at": "2026-11-01T10:00:00Z", "created_at": "2026-11-01T10:00:00Z"
    })
}

/// A list answer, with the `X-Total-Count` Gitea sends with it.
fn listed(items: Value) -> ResponseTemplate {
    let n = items.as_array().map_or(0, Vec::len).to_string();
    ResponseTemplate::new(200)
        .insert_header("x-total-count", n.as_str())
        .set_body_json(items)
}

fn hook_config() -> Value {
    json!({"url": HOOK_URL, "content_type": "json", "secret": SECRET})
}

#[tokio::test(flavor = "multi_thread")]
async fn gitea_repo_hook_pages_by_total_count_and_gets_the_key_and_test_delivery() {
    let server = MockServer::start().await;
    // The server pages by 1 although 50 were asked for: X-Total-Count says 2.
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/hooks"))
        .and(query_param("page", "2"))
        .and(auth())
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-total-count", "2")
                .set_body_json(json!([hook(7, "gitea", HOOK_URL)])),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/hooks"))
        .and(query_param("limit", "50"))
        .and(auth())
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-total-count", "2")
                .set_body_json(json!([hook(1, "gitea", "https://ci.example.com/hook")])),
        )
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/acme/api/hooks/7"))
        .and(auth())
        .and(body_json(
            json!({"config": hook_config(), "events": ["push"], "active": true}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(hook(7, "gitea", HOOK_URL)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/hooks/7/tests"))
        .and(auth())
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/keys"))
        .and(auth())
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-total-count", "0")
                .set_body_json(json!([])),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/acme/api/keys"))
        .and(auth())
        .and(body_json(json!({"title": "git2s3 git2s3", "key": KEY, "read_only": true})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 12, "key_id": 3, "key": KEY, "url": "https://gitea.example.com/api/v1/repos/acme/api/keys/12",
            "title": "git2s3 git2s3", "fingerprint": "SHA256:x", "created_at": "2026-11-01T10:00:00Z",
            "read_only": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    let report = ok(&run(
        args(&[
            "--output",
            "json",
            "register-webhook",
            "--provider",
            "gitea",
            "--repo",
            "acme/api",
            "--deploy-key",
        ]),
        server.uri(),
    )
    .await);
    assert_eq!(report["hooks"][0]["outcome"], "updated", "{report}");
    assert_eq!(report["hooks"][0]["ping"], "sent");
    assert_eq!(report["keys"][0]["outcome"], "created");
}

#[tokio::test(flavor = "multi_thread")]
async fn forgejo_org_hook_has_its_own_type_and_is_removed_by_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/hooks"))
        .and(auth())
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-total-count", "0")
                .set_body_json(json!([])),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/orgs/acme/hooks"))
        .and(auth())
        .and(body_json(json!({
            "type": "forgejo", "config": hook_config(), "events": ["push"], "active": true
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(hook(9, "forgejo", HOOK_URL)))
        .expect(1)
        .mount(&server)
        .await;
    let report = ok(&run(
        args(&[
            "--output",
            "json",
            "register-webhook",
            "--provider",
            "forgejo",
            "--org",
            "acme",
        ]),
        server.uri(),
    )
    .await);
    assert_eq!(report["hooks"][0]["outcome"], "created", "{report}");
    // An organization hook has no test delivery.
    assert_eq!(report["hooks"][0]["ping"], "none");

    Mock::given(method("GET"))
        .and(path("/orgs/acme/hooks"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-total-count", "2")
                .set_body_json(json!([
                    hook(8, "forgejo", "https://ci.example.com/hook"),
                    hook(9, "forgejo", HOOK_URL)
                ])),
        )
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/orgs/acme/hooks/9"))
        .and(auth())
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let removed = ok(&run(
        args(&[
            "--output",
            "json",
            "unregister-webhook",
            "--provider",
            "forgejo",
            "--org",
            "acme",
        ]),
        server.uri(),
    )
    .await);
    assert_eq!(removed["hooks"][0]["outcome"], "removed", "{removed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_call_names_the_scope_the_token_lacks() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/hooks"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"message": "token does not have at least one of required scope(s): [write:repository]", "url": "https://gitea.example.com/api/swagger"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/hooks"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"message": "Forbidden"})))
        .mount(&server)
        .await;
    let repo = err(&run(
        args(&[
            "register-webhook",
            "--provider",
            "gitea",
            "--repo",
            "acme/api",
        ]),
        server.uri(),
    )
    .await);
    assert!(
        repo.contains("Gitea answered 403 for GET /repos/acme/api/hooks")
            && repo.contains("write:repository"),
        "{repo}"
    );
    let org = err(&run(
        args(&["register-webhook", "--provider", "gitea", "--org", "acme"]),
        server.uri(),
    )
    .await);
    assert!(org.contains("write:organization"), "{org}");
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_and_head_read_the_user_and_the_branch() {
    use git2s3::register::{client, TokenOwner};
    use git2s3_lambda::Provider;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 1, "login": "gitea", "full_name": "Gitea", "email": "someone@gitea.io"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 140, "full_name": "acme/api", "default_branch": "main",
            "ssh_url": "ssh://git@gitea.example.com:2222/acme/api.git"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/branches/main"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": "main", "commit": {"id": "bffeb74224043ba2feb48d137756c8a9331c449a", "message": "Webhooks Yay!"}
        })))
        .mount(&server)
        .await;
    let api = client(Provider::Forgejo, Some(&server.uri()), TOKEN).unwrap();
    assert_eq!(
        api.whoami().await.unwrap(),
        TokenOwner {
            user: "gitea".into(),
            scopes: None
        }
    );
    let head = api.head("acme/api", None).await.unwrap();
    assert_eq!(head.branch, "main");
    assert_eq!(head.commit, "bffeb74224043ba2feb48d137756c8a9331c449a");
    assert_eq!(
        head.ssh_url.as_deref(),
        Some("ssh://git@gitea.example.com:2222/acme/api.git")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_repo_hook_every_org_repository_and_removal_of_the_key() {
    let server = MockServer::start().await;
    // --all-repos: the org's repositories, with the configured one listed again.
    Mock::given(method("GET"))
        .and(path("/orgs/acme/repos"))
        .and(auth())
        .respond_with(listed(json!([
            {"id": 1, "full_name": "acme/api", "default_branch": "main"},
            {"id": 2, "full_name": "acme/web", "default_branch": "main"}
        ])))
        .mount(&server)
        .await;
    for repo in ["acme/api", "acme/web", "ops/deploy"] {
        Mock::given(method("GET"))
            .and(path(format!("/repos/{repo}/keys")))
            .respond_with(listed(json!([])))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/repos/{repo}/keys")))
            .and(auth())
            .and(body_json(
                json!({"title": "git2s3 git2s3", "key": KEY, "read_only": true}),
            ))
            .respond_with(ResponseTemplate::new(201).set_body_json(
                json!({"id": 30, "key": KEY, "title": "git2s3 git2s3", "read_only": true}),
            ))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/orgs/acme/hooks"))
        .respond_with(listed(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/orgs/acme/hooks"))
        .and(body_json(json!({
            "type": "gitea", "config": hook_config(), "events": ["push"], "active": true
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(hook(5, "gitea", HOOK_URL)))
        .expect(1)
        .mount(&server)
        .await;
    // A repository outside the org gets a hook of its own.
    Mock::given(method("GET"))
        .and(path("/repos/ops/deploy/hooks"))
        .respond_with(listed(json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/ops/deploy/hooks"))
        .and(auth())
        .and(body_json(json!({
            "type": "gitea", "config": hook_config(), "events": ["push"], "active": true
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(hook(6, "gitea", HOOK_URL)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/ops/deploy/hooks/6/tests"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let report = ok(&run(
        args(&[
            "--output",
            "json",
            "register-webhook",
            "--provider",
            "gitea",
            "--org",
            "acme",
            "--repo",
            "ops/deploy",
            "--deploy-key",
            "--all-repos",
        ]),
        server.uri(),
    )
    .await);
    let hooks: Vec<(&str, &str)> = report["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["target"].as_str().unwrap(),
                h["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hooks,
        [
            ("acme (whole organization)", "created"),
            ("ops/deploy", "created")
        ],
        "{report}"
    );
    let keys: Vec<&str> = report["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["repo"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["ops/deploy", "acme/api", "acme/web"], "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unregister_removes_only_git2s3s_hook_and_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/hooks"))
        .respond_with(listed(json!([
            hook(1, "gitea", "https://ci.example.com/hook"),
            hook(7, "gitea", HOOK_URL)
        ])))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/repos/acme/api/hooks/7"))
        .and(auth())
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/api/keys"))
        .respond_with(listed(json!([
            {"id": 11, "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOfSomeoneElse laptop", "title": "laptop", "read_only": true},
            {"id": 12, "key": KEY, "title": "git2s3 git2s3", "read_only": true}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/repos/acme/api/keys/12"))
        .and(auth())
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let removed = ok(&run(
        args(&[
            "--output",
            "json",
            "unregister-webhook",
            "--provider",
            "gitea",
            "--repo",
            "acme/api",
            "--deploy-key",
        ]),
        server.uri(),
    )
    .await);
    assert_eq!(removed["hooks"][0]["outcome"], "removed", "{removed}");
    assert_eq!(removed["keys"][0]["outcome"], "removed");
}
