//! Git pull end to end: a push to a bare repo behind a real sshd, a signed
//! webhook to `git2s3 serve`, a libgit2 fetch over SSH, and the zip in
//! moto's S3, checked against the commit's tree.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client as S3;

use crate::moto::moto;
use crate::server::{Server, WEBHOOK_SECRET};
use crate::sshd::{Sshd, WorkTree};

async fn s3() -> S3 {
    git2s3::aws::s3_client(&moto().sdk_config().await)
}

/// Waits until the object at `key` records `commit`; returns its bytes.
pub async fn wait_for(s3: &S3, bucket: &str, key: &str, commit: &str, server: &Server) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(head) = s3.head_object().bucket(bucket).key(key).send().await {
            if head
                .metadata()
                .and_then(|m| m.get("commit"))
                .map(String::as_str)
                == Some(commit)
            {
                let object = s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .unwrap();
                return object.body.collect().await.unwrap().into_bytes().to_vec();
            }
        }
        assert!(
            Instant::now() < deadline,
            "s3://{bucket}/{key} never held {commit}; serve said:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many versions S3 keeps of `key`.
pub async fn version_count(s3: &S3, bucket: &str, key: &str) -> usize {
    let versions = s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    versions.versions().len()
}

/// path → (unix mode, bytes) of every entry in a zip.
pub fn zip_entries(bytes: &[u8]) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a valid zip");
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            f.read_to_end(&mut content).unwrap();
            (f.name().to_string(), (f.unix_mode().unwrap(), content))
        })
        .filter(|(name, _)| !name.ends_with('/'))
        .collect()
}

/// path → (unix mode, bytes) of every file in the commit's tree, as git lists it.
pub fn tree_entries(work: &WorkTree, commit: &str) -> BTreeMap<String, (u32, Vec<u8>)> {
    let listing = work.git(&[
        "ls-tree",
        "-r",
        "-z",
        "--format=%(objectmode) %(objectname) %(path)",
        commit,
    ]);
    listing
        .split('\0')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let mode = u32::from_str_radix(parts.next().unwrap(), 8).unwrap();
            let object = parts.next().unwrap();
            let path = parts.next().unwrap().to_string();
            let out = std::process::Command::new("git")
                .args(["cat-file", "blob", object])
                .current_dir(work.dir.path())
                .output()
                .unwrap();
            let mode = if mode == 0o120000 { 0o120777 } else { mode };
            (path, (mode, out.stdout))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn branch_tag_and_second_push_land_as_the_commits_trees() {
    let s3 = s3().await;
    let bucket = "gitpull-e2e";
    crate::moto::versioned_bucket(&s3, bucket).await;
    let sshd = Sshd::start(true);
    let url = sshd.bare_repo("acme/api");
    let work = WorkTree::new(&sshd.repo_path("acme/api"));
    work.write("README.md", b"# api\n");
    work.write(".gitignore", b"target/\n");
    work.write(".github/workflows/ci.yml", b"on: push\n");
    work.write("bin/deploy.sh", b"#!/bin/sh\necho deploy\n");
    work.write(
        "assets/logo.bin",
        &(0..=255u8).cycle().take(300_000).collect::<Vec<_>>(),
    );
    work.write("docs/ünïcode.md", "ü\n".as_bytes());
    std::os::unix::fs::symlink("README.md", work.dir.path().join("LINK.md")).unwrap();
    let script = work.dir.path().join("bin/deploy.sh");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let first = work.commit("first");
    work.git(&["push", "-q", "origin", "main"]);
    let server = Server::start(bucket, &sshd.deploy_key, &sshd.known_hosts);

    // A branch push.
    let (status, body) = server
        .push("delivery-1", "acme/api", &url, "refs/heads/main", &first)
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["jobs"][0]["key"], "acme/api/main/acme_api.zip");
    let zip = wait_for(&s3, bucket, "acme/api/main/acme_api.zip", &first, &server).await;
    assert_eq!(zip_entries(&zip), tree_entries(&work, &first));
    let entries = zip_entries(&zip);
    assert_eq!(entries["bin/deploy.sh"].0, 0o100755);
    assert_eq!(entries["LINK.md"], (0o120777, b"README.md".to_vec()));
    assert!(entries.contains_key(".gitignore") && entries.contains_key(".github/workflows/ci.yml"));
    // The first zip at a key is built cold, and says why.
    let zipped = format!("files={} zip_bytes=", entries.len());
    let log = server.log_text();
    assert!(
        log.contains(&zipped)
            && log.contains("building cold")
            && log.contains("there is no zip at the key yet"),
        "no cold build of {} files in serve's log:\n{log}",
        entries.len()
    );
    let head = s3
        .head_object()
        .bucket(bucket)
        .key("acme/api/main/acme_api.zip")
        .send()
        .await
        .unwrap();
    let meta = head.metadata().unwrap();
    assert_eq!(meta["ref"], "refs/heads/main");
    assert_eq!(meta["provider"], "generic");
    assert_eq!(meta["delivery-id"], "delivery-1");
    assert_eq!(meta["pusher"], "Test Pusher");
    // CodePipeline names the revision by its commit, from the fetched commit object.
    let author = work.git(&["log", "-1", "--format=%an", &first]);
    assert_eq!(
        meta["codepipeline-artifact-revision-summary"],
        format!("{} first ({})", &first[..7], author.trim())
    );

    // An annotated tag push lands under tags/, at the tagged commit.
    work.git(&["tag", "-a", "v1.0", "-m", "release"]);
    work.git(&["push", "-q", "origin", "v1.0"]);
    let tag_object = work.git(&["rev-parse", "v1.0"]).trim().to_string();
    let (status, _) = server
        .push(
            "delivery-2",
            "acme/api",
            &url,
            "refs/tags/v1.0",
            &tag_object,
        )
        .await;
    assert_eq!(status, 202);
    let zip = wait_for(
        &s3,
        bucket,
        "acme/api/tags/v1.0/acme_api.zip",
        &first,
        &server,
    )
    .await;
    assert_eq!(zip_entries(&zip), tree_entries(&work, &first));

    // A second push replaces the zip with a new version.
    work.write("README.md", b"# api, second edition\n");
    let second = work.commit("second");
    work.git(&["push", "-q", "origin", "main"]);
    let (status, _) = server
        .push("delivery-3", "acme/api", &url, "refs/heads/main", &second)
        .await;
    assert_eq!(status, 202);
    let zip = wait_for(&s3, bucket, "acme/api/main/acme_api.zip", &second, &server).await;
    assert_eq!(zip_entries(&zip)["README.md"].1, b"# api, second edition\n");
    assert_eq!(zip_entries(&zip), tree_entries(&work, &second));
    assert!(
        server
            .log_text()
            .contains("built on the previous zip and uploaded"),
        "the second push was not built on the first zip:\n{}",
        server.log_text()
    );
    assert_eq!(
        version_count(&s3, bucket, "acme/api/main/acme_api.zip").await,
        2,
        "the first zip is kept as a noncurrent version"
    );

    // A redelivery of the second push writes nothing new.
    let (status, _) = server
        .push("delivery-3", "acme/api", &url, "refs/heads/main", &second)
        .await;
    assert_eq!(status, 202);
    // A bad signature is refused and writes nothing.
    let (status, body) = server
        .post("delivery-4", b"{\"ref\":\"refs/heads/main\"}", "sha256=00")
        .await;
    assert_eq!(status, 401, "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        version_count(&s3, bucket, "acme/api/main/acme_api.zip").await,
        2,
        "a redelivery or a bad signature wrote a version"
    );

    // No log line carries the webhook secret or the deploy key.
    let log = server.log_text();
    let private_key = std::fs::read_to_string(&sshd.deploy_key).unwrap();
    let key_body = private_key.lines().nth(1).unwrap();
    assert!(
        !log.contains(WEBHOOK_SECRET),
        "the webhook secret is in the log"
    );
    assert!(!log.contains(key_body), "the deploy key is in the log");
    assert!(log.contains("zip written"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_deploy_key_is_reported_with_the_fix_and_writes_nothing() {
    let s3 = s3().await;
    let bucket = "gitpull-nokey";
    crate::moto::versioned_bucket(&s3, bucket).await;
    let sshd = Sshd::start(false);
    let url = sshd.bare_repo("acme/locked");
    let work = WorkTree::new(&sshd.repo_path("acme/locked"));
    work.write("a.txt", b"a\n");
    let commit = work.commit("one");
    work.git(&["push", "-q", "origin", "main"]);
    let server = Server::start(bucket, &sshd.deploy_key, &sshd.known_hosts);
    let (status, _) = server
        .push("nokey-1", "acme/locked", &url, "refs/heads/main", &commit)
        .await;
    assert_eq!(status, 202, "the receiver accepts; the worker fails");
    let log = server.wait_for_log("job failed").await;
    assert!(log.contains("Permission denied (publickey)"), "{log}");
    assert!(
        log.contains("git2s3 register-webhook --repo acme/locked --deploy-key"),
        "{log}"
    );
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    assert!(listed.contents().is_empty(), "something was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_host_key_is_refused() {
    let s3 = s3().await;
    let bucket = "gitpull-hostkey";
    crate::moto::versioned_bucket(&s3, bucket).await;
    let sshd = Sshd::start(true);
    let url = sshd.bare_repo("acme/mitm");
    let work = WorkTree::new(&sshd.repo_path("acme/mitm"));
    work.write("a.txt", b"a\n");
    let commit = work.commit("one");
    work.git(&["push", "-q", "origin", "main"]);
    // Trust nothing but the built-in keys: the test server is no git host
    // of the stack's, so the receiver refuses the push and queues nothing.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let server = Server::start(bucket, &sshd.deploy_key, empty.path());
    let (status, body) = server
        .push("mitm-1", "acme/mitm", &url, "refs/heads/main", &commit)
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("auth.known_hosts"),
        "{body}"
    );
    drop(server);
    // The host listed with another key (a man in the middle, or a
    // reinstalled server): the worker refuses the key it is shown.
    let other = tempfile::NamedTempFile::new().unwrap();
    let known = std::fs::read_to_string(&sshd.known_hosts).unwrap();
    let port = known.split_whitespace().next().unwrap();
    std::fs::write(
        other.path(),
        format!("{port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"),
    )
    .unwrap();
    let server = Server::start(bucket, &sshd.deploy_key, other.path());
    let (status, _) = server
        .push("mitm-2", "acme/mitm", &url, "refs/heads/main", &commit)
        .await;
    assert_eq!(status, 202);
    let log = server.wait_for_log("job failed").await;
    assert!(
        log.contains("changed") && log.contains("update auth.known_hosts"),
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

#[tokio::test(flavor = "multi_thread")]
async fn a_key_map_fetches_each_repository_with_its_own_key() {
    let s3 = s3().await;
    let bucket = "gitpull-keymap";
    crate::moto::versioned_bucket(&s3, bucket).await;
    let sshd = Sshd::start(true);
    let mut commits = Vec::new();
    for repo in ["acme/keyed", "acme/other"] {
        let url = sshd.bare_repo(repo);
        let work = WorkTree::new(&sshd.repo_path(repo));
        work.write("a.txt", repo.as_bytes());
        commits.push((repo, url, work.commit("one")));
        work.git(&["push", "-q", "origin", "main"]);
    }
    // acme/keyed has the key sshd accepts; every other repository gets a
    // key sshd does not know.
    let dir = tempfile::tempdir().unwrap();
    let stranger = dir.path().join("stranger");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(made.success());
    let map = serde_json::json!({
        "acme/keyed": std::fs::read_to_string(&sshd.deploy_key).unwrap(),
        "*": std::fs::read_to_string(&stranger).unwrap(),
    });
    let map_file = dir.path().join("keys.json");
    std::fs::write(&map_file, map.to_string()).unwrap();
    let server = Server::start(bucket, &map_file, &sshd.known_hosts);

    let (repo, url, commit) = &commits[0];
    server
        .push("map-1", repo, url, "refs/heads/main", commit)
        .await;
    wait_for(
        &s3,
        bucket,
        "acme/keyed/main/acme_keyed.zip",
        commit,
        &server,
    )
    .await;

    let (repo, url, commit) = &commits[1];
    server
        .push("map-2", repo, url, "refs/heads/main", commit)
        .await;
    let log = server.wait_for_log("job failed").await;
    assert!(
        log.contains("Permission denied (publickey)") && log.contains("acme/other"),
        "{log}"
    );
    let private = std::fs::read_to_string(&sshd.deploy_key).unwrap();
    assert!(!log.contains(private.lines().nth(1).unwrap()));
}
