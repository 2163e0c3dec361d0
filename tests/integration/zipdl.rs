//! Zip download end to end: a GitHub Enterprise push webhook to
//! `git2s3 serve` on /zipdl, the archive fetched with the token from a
//! local server that speaks GitHub's zipball route (a 302 to a codeload
//! URL) and serves real `git archive` output, and the zip in moto's S3
//! without the provider's top folder, with modes intact.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use git2s3_lambda::webhook::sign;

use crate::moto::moto;
use crate::server::{Server, WEBHOOK_SECRET};
use crate::sshd::WorkTree;

const TOKEN: &str = "ghp_e2eTokenThatMustNotLeak";

struct Archives {
    repo: PathBuf,
}

async fn zipball(
    State(_): State<Arc<Archives>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}").into_response();
    }
    Redirect::temporary(&format!("/codeload/{owner}/{repo}/legacy.zip/{sha}")).into_response()
}

/// GitHub's `GET /repos/{owner}/{repo}/commits/{ref}`: the ref's commit, as
/// the worker asks for it before it downloads (`heads/BRANCH` or `tags/TAG`).
async fn commit_of_ref(
    State(archives): State<Arc<Archives>>,
    Path((_owner, _repo, git_ref)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}").into_response();
    }
    let name = git_ref
        .replacen("heads/", "refs/heads/", 1)
        .replacen("tags/", "refs/tags/", 1);
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "-q", &format!("{name}^{{commit}}")])
        .current_dir(&archives.repo)
        .output()
        .unwrap();
    if !out.status.success() {
        // GitHub's answer for a ref the repository does not have.
        return (
            StatusCode::NOT_FOUND,
            "{\"message\":\"No commit found for SHA\"}",
        )
            .into_response();
    }
    let sha = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // GitHub's commit object: the message and author under `commit`.
    axum::Json(serde_json::json!({
        "sha": sha,
        "commit": { "message": "first\n\nwith a body", "author": { "name": "Mona Lisa" } }
    }))
    .into_response()
}

async fn codeload(
    State(archives): State<Arc<Archives>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Response {
    let out = std::process::Command::new("git")
        .args([
            "archive",
            "--format=zip",
            &format!("--prefix={owner}-{repo}-{}/", &sha[..7]),
            &sha,
        ])
        .current_dir(&archives.repo)
        .output()
        .unwrap();
    ([("content-type", "application/zip")], out.stdout).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

/// GitHub's `GET /orgs/{org}/repos`: `acme/web` on the first page, with a
/// `Link` to the second, which holds `acme/api`.
async fn org_repos(Path(org): Path<String>, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !authorized(&headers) || org != "acme" {
        return (StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}").into_response();
    }
    let second = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .any(|p| p == "page=2");
    match second.then_some("2") {
        None | Some("1") => (
            [(
                "link",
                format!("<http://{host}/orgs/acme/repos?per_page=100&page=2>; rel=\"next\""),
            )],
            axum::Json(serde_json::json!([{ "full_name": "acme/web" }])),
        )
            .into_response(),
        _ => axum::Json(serde_json::json!([{ "full_name": "acme/api" }])).into_response(),
    }
}

/// GitHub's `GET /repos/{owner}/{repo}`: the repository, for the worker's
/// check that a ref's 404 means it is gone.
async fn repository(headers: HeaderMap) -> Response {
    match authorized(&headers) {
        true => axum::Json(serde_json::json!({ "full_name": "acme/web" })).into_response(),
        false => (StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}").into_response(),
    }
}

/// GitHub's branches and tags lists: `{name, commit: {sha}}`, a tag's
/// commit peeled, as `git for-each-ref` gives them from the repository.
async fn refs_list(
    State(archives): State<Arc<Archives>>,
    Path((_owner, _repo, kind)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let prefix = match kind.as_str() {
        "branches" => "refs/heads",
        "tags" => "refs/tags",
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    if !authorized(&headers) {
        return (StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}").into_response();
    }
    let out = std::process::Command::new("git")
        .args([
            "for-each-ref",
            "--format=%(refname:lstrip=2) %(objectname) %(*objectname)",
            prefix,
        ])
        .current_dir(&archives.repo)
        .output()
        .unwrap();
    let items: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let mut f = line.split(' ');
            let (name, object, peeled) =
                (f.next().unwrap(), f.next().unwrap(), f.next().unwrap_or(""));
            let sha = if peeled.is_empty() { object } else { peeled };
            serde_json::json!({ "name": name, "commit": { "sha": sha } })
        })
        .collect();
    axum::Json(items).into_response()
}

async fn provider(repo: PathBuf) -> SocketAddr {
    let app = Router::new()
        .route("/repos/{owner}/{repo}/zipball/{sha}", get(zipball))
        .route("/repos/{owner}/{repo}/commits/{*ref}", get(commit_of_ref))
        .route("/repos/{owner}/{repo}/{kind}", get(refs_list))
        .route("/repos/{owner}/{repo}", get(repository))
        .route("/orgs/{org}/repos", get(org_repos))
        .route("/codeload/{owner}/{repo}/legacy.zip/{sha}", get(codeload))
        .with_state(Arc::new(Archives { repo }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Waits (a minute at most) for the zip at `key`; its metadata and bytes.
async fn wait_for_zip(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    server: &Server,
) -> (std::collections::HashMap<String, String>, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(object) = s3.get_object().bucket(bucket).key(key).send().await {
            let meta = object.metadata().cloned().unwrap_or_default();
            return (
                meta,
                object.body.collect().await.unwrap().into_bytes().to_vec(),
            );
        }
        assert!(
            Instant::now() < deadline,
            "no zip; serve said:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn github_push(repo: &str, sha: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000000",
        "after": sha,
        "repository": { "full_name": repo, "ssh_url": format!("git@ghe.example.com:{repo}.git") },
        "pusher": { "name": "octocat" },
        "commits": [],
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn github_enterprise_zipball_lands_without_its_top_folder() {
    let s3 = git2s3::aws::s3_client(&moto().sdk_config().await);
    let bucket = "zipdl-e2e";
    s3.create_bucket().bucket(bucket).send().await.unwrap();

    let origin = tempfile::tempdir().unwrap();
    let work = WorkTree::new(origin.path());
    work.write("README.md", b"# zipped\n");
    work.write("bin/tool", b"#!/bin/sh\n");
    std::fs::set_permissions(
        work.dir.path().join("bin/tool"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let sha = work.commit("first");
    let addr = provider(work.dir.path().to_path_buf()).await;

    let api = format!("http://{addr}");
    let server = Server::start_with(
        bucket,
        &[],
        &[
            ("GIT2S3_GIT_TOKEN", TOKEN),
            ("GIT2S3_PROVIDER", "github-enterprise"),
            ("GIT2S3_API_URL", &api),
        ],
    );
    let body = github_push("acme/web", &sha);
    let signature = sign(WEBHOOK_SECRET, &body);
    let headers = [
        ("x-github-event", "push"),
        ("x-github-delivery", "ghes-1"),
        ("x-github-enterprise-host", "ghe.example.com"),
        ("x-hub-signature-256", signature.as_str()),
    ];
    let (status, answer) = server.post_to("/zipdl", &headers, &body).await;
    assert_eq!(status, 202, "{answer}");

    let key = "acme/web/main/acme_web.zip";
    let (meta, bytes) = wait_for_zip(&s3, bucket, key, &server).await;
    assert_eq!(meta["commit"], sha);
    // Read through the provider's API, as the archive holds no commit.
    assert_eq!(
        meta["codepipeline-artifact-revision-summary"],
        format!("{} first (Mona Lisa)", &sha[..7])
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> = archive.file_names().map(String::from).collect();
    names.sort();
    assert_eq!(names, vec!["README.md", "bin/tool"]);
    assert_eq!(
        archive.by_name("bin/tool").unwrap().unix_mode(),
        Some(0o100755)
    );
    assert!(
        !server.log_text().contains(TOKEN),
        "the token is in the log"
    );
}

/// A stack that downloads zips has no deploy key: its sweep lists the
/// org's repositories (two pages) and each one's branches and tags through
/// the provider's API with the token, and builds every ref, no webhook
/// sent. With `on_delete: delete`, a branch deleted on the server gets a
/// delete marker, once the API says it is gone and the repository is
/// still readable; the other refs keep their zips.
#[tokio::test(flavor = "multi_thread")]
async fn a_zip_download_stack_is_swept_through_the_api_and_a_gone_branch_deleted() {
    let s3 = git2s3::aws::s3_client(&moto().sdk_config().await);
    let bucket = "zipdl-sweep";
    crate::moto::versioned_bucket(&s3, bucket).await;
    let origin = tempfile::tempdir().unwrap();
    let work = WorkTree::new(origin.path());
    work.write("README.md", b"# swept\n");
    let sha = work.commit("first");
    work.git(&["branch", "dev"]);
    work.git(&["tag", "-a", "v1", "-m", "one"]);
    let addr = provider(work.dir.path().to_path_buf()).await;
    let api = format!("http://{addr}");
    let server = Server::start_with(
        bucket,
        &["--sweep-every".to_string(), "1s".to_string()],
        &[
            ("GIT2S3_GIT_TOKEN", TOKEN),
            ("GIT2S3_PROVIDER", "github-enterprise"),
            ("GIT2S3_API_URL", &api),
            ("GIT2S3_ON_DELETE", "delete"),
        ],
    );
    for repo in ["acme/web", "acme/api"] {
        let name = repo.replace('/', "_");
        for git_ref in ["main", "dev", "tags/v1"] {
            let key = format!("{repo}/{git_ref}/{name}.zip");
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let (meta, _) = wait_for_zip(&s3, bucket, &key, &server).await;
                if meta["commit"] == sha {
                    break;
                }
                assert!(Instant::now() < deadline, "{key}: {meta:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert!(server.log_text().contains("sweep: stale, queueing"));

    work.git(&["branch", "-D", "dev"]);
    let gone = "acme/web/dev/acme_web.zip";
    let deadline = Instant::now() + Duration::from_secs(60);
    while s3
        .head_object()
        .bucket(bucket)
        .key(gone)
        .send()
        .await
        .is_ok()
    {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let versions = s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(gone)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.versions().len(),
        1,
        "the old zip is kept as a version"
    );
    assert_eq!(versions.delete_markers().len(), 1);
    for key in [
        "acme/web/main/acme_web.zip",
        "acme/web/tags/v1/acme_web.zip",
    ] {
        assert!(
            s3.head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .is_ok(),
            "{key}"
        );
    }
    assert!(
        !server.log_text().contains(TOKEN),
        "the token is in the log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_fails_with_the_fix_and_writes_nothing() {
    let s3 = git2s3::aws::s3_client(&moto().sdk_config().await);
    let bucket = "zipdl-badtoken";
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let origin = tempfile::tempdir().unwrap();
    let work = WorkTree::new(origin.path());
    work.write("a.txt", b"a\n");
    let sha = work.commit("first");
    let addr = provider(work.dir.path().to_path_buf()).await;
    let api = format!("http://{addr}");
    let server = Server::start_with(
        bucket,
        &[],
        &[
            ("GIT2S3_GIT_TOKEN", "ghp_wrong"),
            ("GIT2S3_PROVIDER", "github-enterprise"),
            ("GIT2S3_API_URL", &api),
        ],
    );
    let body = github_push("acme/web", &sha);
    let signature = sign(WEBHOOK_SECRET, &body);
    let headers = [
        ("x-github-event", "push"),
        ("x-github-delivery", "ghes-2"),
        ("x-github-enterprise-host", "ghe.example.com"),
        ("x-hub-signature-256", signature.as_str()),
    ];
    server.post_to("/zipdl", &headers, &body).await;
    let log = server.wait_for_log("job failed").await;
    assert!(
        log.contains("answered 404") && log.contains("Contents read"),
        "{log}"
    );
    assert!(s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .is_empty());
}

/// Attack: a replayed, late or redriven delivery of an older push, signed
/// with the stack's secret. Zip download builds the ref's head, which the
/// provider's API gives at job time, so the older commit never replaces
/// the newer zip: nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_older_push_never_replaces_the_newer_zip() {
    let s3 = git2s3::aws::s3_client(&moto().sdk_config().await);
    let bucket = "zipdl-replay";
    crate::moto::versioned_bucket(&s3, bucket).await;
    let origin = tempfile::tempdir().unwrap();
    let work = WorkTree::new(origin.path());
    work.write("README.md", b"# one\n");
    let old = work.commit("one");
    work.write("README.md", b"# two\n");
    let new = work.commit("two");
    let addr = provider(work.dir.path().to_path_buf()).await;
    let api = format!("http://{addr}");
    let server = Server::start_with(
        bucket,
        &[],
        &[
            ("GIT2S3_GIT_TOKEN", TOKEN),
            ("GIT2S3_PROVIDER", "github-enterprise"),
            ("GIT2S3_API_URL", &api),
        ],
    );
    let send = |delivery: &'static str, sha: String| {
        let server = &server;
        async move {
            let body = github_push("acme/web", &sha);
            let signature = sign(WEBHOOK_SECRET, &body);
            let headers = [
                ("x-github-event", "push"),
                ("x-github-delivery", delivery),
                ("x-github-enterprise-host", "ghe.example.com"),
                ("x-hub-signature-256", signature.as_str()),
            ];
            let (status, answer) = server.post_to("/zipdl", &headers, &body).await;
            assert_eq!(status, 202, "{answer}");
            server.wait_idle().await;
        }
    };
    let key = "acme/web/main/acme_web.zip";
    // The delivery names the older commit, but the ref is at the newer one.
    send("replay-1", old.clone()).await;
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.metadata().unwrap()["commit"],
        new,
        "{}",
        server.log_text()
    );
    assert!(
        server.log_text().contains("building its head"),
        "{}",
        server.log_text()
    );
    // The same older delivery again, as a redrive would send it.
    send("replay-2", old).await;
    let versions = crate::gitpull::version_count(&s3, bucket, key).await;
    assert_eq!(versions, 1, "a second version was written");
    assert!(
        server.log_text().contains("already current"),
        "{}",
        server.log_text()
    );
}

/// Gitea's archive route, `GET /api/v1/repos/{owner}/{repo}/archive/{sha}.zip`:
/// `git archive` output under a `{repo}/` folder, for `token …` only.
async fn gitea_archive(
    State(archives): State<Arc<Archives>>,
    Path((_owner, repo, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("token {TOKEN}"))
    {
        return (StatusCode::NOT_FOUND, "{\"message\":\"Not Found\"}").into_response();
    }
    let Some(sha) = file.strip_suffix(".zip") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let out = std::process::Command::new("git")
        .args(["archive", "--format=zip", &format!("--prefix={repo}/"), sha])
        .current_dir(&archives.repo)
        .output()
        .unwrap();
    ([("content-type", "application/zip")], out.stdout).into_response()
}

/// Gitea's `GET /api/v1/repos/{owner}/{repo}/branches/{branch}`.
async fn gitea_branch(
    State(archives): State<Arc<Archives>>,
    Path((_owner, _repo, branch)): Path<(String, String, String)>,
) -> Response {
    let out = std::process::Command::new("git")
        .args(["rev-parse", &format!("refs/heads/{branch}")])
        .current_dir(&archives.repo)
        .output()
        .unwrap();
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    axum::Json(serde_json::json!({
        "name": branch,
        "commit": { "id": id, "message": "first\n", "author": { "name": "Gitea", "email": "someone@gitea.io", "username": "gitea" } }
    }))
    .into_response()
}

#[tokio::test(flavor = "multi_thread")]
async fn gitea_archive_lands_without_its_top_folder() {
    let s3 = git2s3::aws::s3_client(&moto().sdk_config().await);
    let bucket = "zipdl-gitea";
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let origin = tempfile::tempdir().unwrap();
    let work = WorkTree::new(origin.path());
    work.write("README.md", b"# from gitea\n");
    work.write("src/lib.rs", b"pub fn f() {}\n");
    let sha = work.commit("first");
    let app = Router::new()
        .route(
            "/api/v1/repos/{owner}/{repo}/archive/{file}",
            get(gitea_archive),
        )
        .route(
            "/api/v1/repos/{owner}/{repo}/branches/{branch}",
            get(gitea_branch),
        )
        .with_state(Arc::new(Archives {
            repo: work.dir.path().to_path_buf(),
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let api = format!("http://{addr}/api/v1");
    let server = Server::start_with(
        bucket,
        &[],
        &[
            ("GIT2S3_GIT_TOKEN", TOKEN),
            ("GIT2S3_PROVIDER", "gitea"),
            ("GIT2S3_API_URL", &api),
        ],
    );
    // The push as Gitea sends it: its own headers, GitHub's and a bare hex signature.
    let spec = git2s3_lambda::webhook::outgoing::PushSpec {
        repo: "acme/tool".into(),
        git_ref: "refs/heads/main".into(),
        after: sha.clone(),
        ssh_url: Some("ssh://git@127.0.0.1:2222/acme/tool.git".into()),
        pusher: Some("gitea".into()),
        ..Default::default()
    };
    let out = git2s3_lambda::webhook::outgoing::push(
        git2s3_lambda::Provider::Gitea,
        &spec,
        WEBHOOK_SECRET,
        "gitea-1",
    );
    let headers: Vec<(&str, &str)> = out.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, answer) = server.post_to("/zipdl", &headers, &out.body).await;
    assert_eq!(status, 202, "{answer}");

    let key = "acme/tool/main/acme_tool.zip";
    let (meta, bytes) = wait_for_zip(&s3, bucket, key, &server).await;
    assert_eq!(meta["commit"], sha);
    assert_eq!(meta["provider"], "gitea");
    assert_eq!(
        meta["codepipeline-artifact-revision-summary"],
        format!("{} first (Gitea)", &sha[..7])
    );
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> = archive.file_names().map(String::from).collect();
    names.sort();
    assert_eq!(names, vec!["README.md", "src/lib.rs"]);
    assert!(
        !server.log_text().contains(TOKEN),
        "the token is in the log"
    );
}
