//! The whole chain, as `scripts/demo.sh` runs it: `git2s3 init` with the
//! generic provider into moto (stack, secrets, Lambda artifact), `git2s3
//! serve` beside that stack (its bucket, webhook secret and deploy key
//! read from it), `git2s3 hook install` on a bare repo behind a real sshd,
//! and pushes over SSH that the hook turns into signed webhooks.
//!
//! moto ignores the template's VersioningConfiguration, so the test turns
//! versioning on through the S3 API, as the demo does.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::Client as S3;

use crate::deploy::Install;
use crate::gitpull::{tree_entries, version_count, zip_entries};
use crate::moto::moto;
use crate::server::Server;
use crate::sshd::{Sshd, WorkTree};

const MAIN: &str = "acme/api/main/acme_api.zip";
const FEATURE: &str = "acme/api/feature/login/acme_api.zip";
const TAG: &str = "acme/api/tags/v1.0/acme_api.zip";

/// The hook's background log.
fn hook_log(repo: &Path) -> String {
    std::fs::read_to_string(repo.join("git2s3/hook.log")).unwrap_or_default()
}

/// Waits until the hook has logged `n` deliveries (one line each).
async fn wait_for_deliveries(repo: &Path, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = hook_log(repo);
        if log.matches(" delivery ").count() >= n {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "the hook logged fewer than {n} deliveries:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The object's bytes and the commit in its metadata.
async fn object(s3: &S3, bucket: &str, key: &str) -> (Vec<u8>, String) {
    let got = s3.get_object().bucket(bucket).key(key).send().await;
    let got = got.unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e:?}"));
    let commit = got
        .metadata()
        .and_then(|m| m.get("commit"))
        .cloned()
        .unwrap_or_default();
    let bytes = got.body.collect().await.unwrap().into_bytes().to_vec();
    (bytes, commit)
}

/// Every key in the bucket, and the number of versions of all of them.
async fn inventory(s3: &S3, bucket: &str) -> (Vec<String>, usize) {
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let keys = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    (keys, version_count(s3, bucket, "").await)
}

/// `git2s3 hook send` run by hand, as after a failed delivery: `line` on stdin.
fn hook_send(install: &Install, args: &[&str], line: &str, secret: Option<&str>) -> String {
    let mut cmd = install.run(["hook", "send"]).args(args);
    if let Some(secret) = secret {
        cmd = cmd.env("GIT2S3_WEBHOOK_SECRET", secret);
    }
    let out = cmd.output_with_stdin(&format!("{line}\n"));
    assert!(out.status.success(), "hook send never fails");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn pushes_over_ssh_reach_s3_through_the_installed_hook() {
    let moto = moto();
    let s3 = git2s3::aws::s3_client(&moto.sdk_config().await);
    let install = Install::new(moto);
    let report = tokio::task::block_in_place(|| install.init("e2e", &[]));
    let bucket = report["bucket"].as_str().expect("init names the bucket");
    crate::moto::enable_versioning(&s3, bucket).await;

    // sshd lets the developer push (the test's key) and the worker pull
    // (the stack's deploy key, from init).
    let sshd = Sshd::start(true);
    sshd.authorize(report["public_key"].as_str().unwrap());
    let ssh_url = sshd.bare_repo("acme/api");
    let repo = sshd.repo_path("acme/api");
    let server = Server::beside_stack(install.config(), &sshd.known_hosts);
    let hook_url = format!("{}/gitpull", server.url);
    let target = [
        "--git-dir",
        repo.to_str().unwrap(),
        "--webhook-url",
        &hook_url,
        "--name",
        "acme/api",
        "--ssh-url",
        &ssh_url,
    ];
    let installed =
        tokio::task::block_in_place(|| install.run(["hook", "install"]).args(target).stdout());
    assert!(installed.contains("Installed"), "{installed}");

    let work = WorkTree::new(&repo);
    work.git(&["remote", "set-url", "origin", &ssh_url]);
    let ssh = format!("core.sshCommand={}", sshd.ssh_command());
    let push = |args: &[&str]| work.git(&[&["-c", ssh.as_str(), "push", "-q"], args].concat());

    // Two branches and a tag, in one push: three deliveries.
    work.write("README.md", b"# api\n");
    work.write(".gitignore", b"target/\n");
    work.write(".github/workflows/ci.yml", b"on: push\n");
    work.write("bin/deploy.sh", b"#!/bin/sh\necho deploy\n");
    std::fs::set_permissions(
        work.dir.path().join("bin/deploy.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("README.md", work.dir.path().join("LINK.md")).unwrap();
    work.write(
        "assets/blob.bin",
        &(0..=255u8).cycle().take(200_000).collect::<Vec<_>>(),
    );
    let first = work.commit("first");
    work.git(&["tag", "-a", "v1.0", "-m", "release 1.0"]);
    work.git(&["checkout", "-q", "-b", "feature/login"]);
    work.write("login.txt", b"login\n");
    let feature = work.commit("login");
    work.git(&["checkout", "-q", "main"]);
    tokio::task::block_in_place(|| push(&["origin", "main", "feature/login", "v1.0"]));
    let log = wait_for_deliveries(&repo, 3).await;
    assert_eq!(log.matches(": 202 queued for").count(), 3, "{log}");
    server.wait_idle().await;

    let (keys, versions) = inventory(&s3, bucket).await;
    assert_eq!(keys, [FEATURE, MAIN, TAG], "keys follow the layout");
    assert_eq!(versions, 3);
    for (key, commit) in [(MAIN, &first), (FEATURE, &feature), (TAG, &first)] {
        let (zip, recorded) = object(&s3, bucket, key).await;
        assert_eq!(&recorded, commit, "{key}");
        assert_eq!(zip_entries(&zip), tree_entries(&work, commit), "{key}");
    }
    let (zip, _) = object(&s3, bucket, MAIN).await;
    let entries = zip_entries(&zip);
    assert_eq!(entries["bin/deploy.sh"].0, 0o100755);
    assert_eq!(entries["LINK.md"], (0o120777, b"README.md".to_vec()));

    // A second push to main: a new version of the same key.
    work.write("README.md", b"# api, second\n");
    let second = work.commit("second");
    tokio::task::block_in_place(|| push(&["origin", "main"]));
    wait_for_deliveries(&repo, 4).await;
    server.wait_idle().await;
    assert_eq!(object(&s3, bucket, MAIN).await.1, second);
    assert_eq!(version_count(&s3, bucket, MAIN).await, 2);

    // 20 forced pushes to main at once, of 20 successive commits: each one
    // git accepts fires the hook, in whatever order they land, and the zip
    // ends at the branch's final head.
    let mut commits = Vec::new();
    for i in 0..20 {
        work.write("counter.txt", format!("{i}\n").as_bytes());
        commits.push(work.commit(&format!("push {i}")));
    }
    let pushes: Vec<_> = commits
        .iter()
        .map(|c| {
            Command::new("git")
                .args(["-c", &ssh, "push", "-q", &ssh_url])
                .arg(format!("+{c}:refs/heads/main"))
                .current_dir(work.dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let accepted = tokio::task::block_in_place(|| {
        pushes
            .into_iter()
            .map(|mut p| p.wait().unwrap().success())
            .filter(|ok| *ok)
            .count()
    });
    assert!(accepted >= 1, "no concurrent push got through");
    wait_for_deliveries(&repo, 4 + accepted).await;
    server.wait_idle().await;
    let head = Command::new("git")
        .args(["--git-dir", repo.to_str().unwrap(), "rev-parse", "main"])
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap().trim().to_string();
    let (zip, recorded) = object(&s3, bucket, MAIN).await;
    assert_eq!(recorded, head, "the zip holds the branch's final commit");
    assert_eq!(zip_entries(&zip), tree_entries(&work, &head));

    // A redelivery of the last event writes nothing.
    let log = hook_log(&repo);
    let last = log
        .lines()
        .rfind(|l| l.contains("refs/heads/main") && l.contains(": 202"))
        .unwrap();
    let fields: Vec<&str> = last.split_whitespace().collect();
    let line = format!("{} {} {}", fields[2], fields[3], fields[4]);
    let delivery = fields[6].trim_end_matches(':');
    let (_, before) = inventory(&s3, bucket).await;
    let redelivered = tokio::task::block_in_place(|| {
        hook_send(
            &install,
            &[&target[..], &["--delivery", delivery]].concat(),
            &line,
            None,
        )
    });
    assert!(redelivered.contains(": 202"), "{redelivered}");
    server.wait_for_log("duplicate delivery dropped").await;
    server.wait_idle().await;
    assert_eq!(inventory(&s3, bucket).await.1, before, "a redelivery wrote");

    // A bad signature is refused and writes nothing.
    Command::new("git")
        .args([
            "--git-dir",
            repo.to_str().unwrap(),
            "update-ref",
            "refs/heads/unsigned",
            &head,
        ])
        .status()
        .unwrap();
    let zeros = "0".repeat(40);
    let refused = tokio::task::block_in_place(|| {
        hook_send(
            &install,
            &target,
            &format!("{zeros} {head} refs/heads/unsigned"),
            Some("not-the-secret"),
        )
    });
    assert!(
        refused.contains(": 401") && refused.contains("run `git2s3 hook install` again"),
        "{refused}"
    );
    server.wait_idle().await;
    assert_eq!(
        inventory(&s3, bucket).await.1,
        before,
        "a bad signature wrote"
    );

    // No log holds the webhook secret or the deploy key.
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let read = |id: &'static str| {
        let sm = sm.clone();
        async move {
            sm.get_secret_value()
                .secret_id(id)
                .send()
                .await
                .unwrap()
                .secret_string()
                .unwrap()
                .to_string()
        }
    };
    let secret = read("git2s3/e2e/webhook-secret").await;
    let private = read("git2s3/e2e/ssh-deploy-key").await;
    let logs = [
        server.log_text(),
        hook_log(&repo),
        std::fs::read_to_string(sshd.dir.path().join("sshd.log")).unwrap(),
        installed,
        redelivered,
        refused,
        report.to_string(),
    ]
    .join("\n");
    assert!(
        !logs.contains(secret.trim()),
        "the webhook secret is in a log"
    );
    for line in private.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!logs.contains(line), "the deploy key is in a log");
    }
}
