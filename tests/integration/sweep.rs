//! The sweep, with real parts: the loopback sshd, `git2s3 serve
//! --sweep-every` and moto. Pushes whose webhook never came (no hook is
//! installed) are built by the sweep; a force push is rebuilt; a ref
//! outside the filters is never queued; a sweep that finds nothing stale
//! queues nothing. `git2s3 sync` is tested against a stack in moto.

use std::time::{Duration, Instant};

use aws_sdk_s3::Client as S3;

use crate::moto::moto;
use crate::server::Server;
use crate::sshd::{Sshd, WorkTree};

/// The commit recorded on the zip at `key`, if there is one.
async fn zip_commit(s3: &S3, bucket: &str, key: &str) -> Option<String> {
    let head = s3.head_object().bucket(bucket).key(key).send().await.ok()?;
    head.metadata()?.get("commit").cloned()
}

/// Waits until every `(key, commit)` is in the bucket.
async fn wait_for_all(s3: &S3, bucket: &str, want: &[(String, String)], server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut missing = Vec::new();
        for (key, commit) in want {
            if zip_commit(s3, bucket, key).await.as_deref() != Some(commit.as_str()) {
                missing.push(key.clone());
            }
        }
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not built: {missing:?}\nserve said:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_builds_pushes_whose_webhook_never_came() {
    let s3 = git2s3::aws::s3_client(&moto().sdk_config().await);
    let bucket = "sweep-e2e";
    crate::moto::versioned_bucket(&s3, bucket).await;
    let sshd = Sshd::start(true);
    let url = sshd.bare_repo("acme/swept");
    let work = WorkTree::new(&sshd.repo_path("acme/swept"));
    work.write("README.md", b"one\n");
    let first = work.commit("one");
    // Five branches and four tags (two annotated) in one push, with no
    // hook, and a sixth branch outside the filters.
    let branches = [
        "main",
        "dev",
        "release/1.x",
        "feature/a",
        "feature/b",
        "wip/skip-me",
    ];
    for b in &branches[1..] {
        work.git(&["branch", b]);
    }
    work.git(&["tag", "v1"]);
    work.git(&["tag", "v2"]);
    work.git(&["tag", "-a", "v3", "-m", "three"]);
    work.git(&["tag", "-a", "v4", "-m", "four"]);
    work.git(&["push", "-q", "origin", "--all"]);
    work.git(&["push", "-q", "origin", "--tags"]);

    let clone_url = sshd.clone_url_template();
    assert_eq!(clone_url.replace("{repo}", "acme/swept"), url);
    let args = [
        "--ssh-key".to_string(),
        sshd.deploy_key.display().to_string(),
        "--known-hosts".to_string(),
        sshd.known_hosts.display().to_string(),
        "--sweep-every".to_string(),
        "1s".to_string(),
    ];
    let server = Server::start_with(
        bucket,
        &args,
        &[
            ("GIT2S3_REPOS", "acme/swept"),
            ("GIT2S3_CLONE_URL", &clone_url),
            ("GIT2S3_EXCLUDE_REFS", "wip/*"),
        ],
    );
    let key = |r: &str| format!("acme/swept/{r}/acme_swept.zip");
    let mut want: Vec<(String, String)> = branches[..5]
        .iter()
        .map(|b| (key(b), first.clone()))
        .collect();
    for t in ["v1", "v2", "v3", "v4"] {
        want.push((key(&format!("tags/{t}")), first.clone()));
    }
    wait_for_all(&s3, bucket, &want, &server).await;
    // Nine refs inside the filters; the tenth never queued or built.
    assert_eq!(want.len(), 9);
    assert_eq!(zip_commit(&s3, bucket, &key("wip/skip-me")).await, None);
    let log = server.log_text();
    assert!(
        log.contains("sweep: stale, queueing") && !log.contains("wip/skip-me"),
        "{log}"
    );

    // A force push to unrelated history is rebuilt.
    work.git(&["checkout", "-q", "--orphan", "rewritten"]);
    work.write("README.md", b"rewritten\n");
    let rewritten = work.commit("rewritten");
    work.git(&["push", "-q", "-f", "origin", "rewritten:dev"]);
    wait_for_all(&s3, bucket, &[(key("dev"), rewritten.clone())], &server).await;

    // A push whose webhook does come, while the sweep runs every second:
    // the new commit is built once, a single new version.
    let versions_of = |key: String| {
        let s3 = s3.clone();
        async move {
            s3.list_object_versions()
                .bucket(bucket)
                .prefix(&key)
                .send()
                .await
                .unwrap()
                .versions()
                .len()
        }
    };
    let main_versions = versions_of(key("main")).await;
    work.git(&["checkout", "-q", "main"]);
    work.write("README.md", b"two\n");
    let second = work.commit("two");
    work.git(&["push", "-q", "origin", "main"]);
    let (status, body) = server
        .push(
            "webhook-main",
            "acme/swept",
            &url,
            "refs/heads/main",
            &second,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    wait_for_all(&s3, bucket, &[(key("main"), second.clone())], &server).await;

    // A branch deleted on the server keeps its zip (on_delete: keep).
    work.git(&["push", "-q", "origin", ":feature/a"]);
    // Now every zip holds its head: the next sweeps queue nothing, and no
    // object gets another version.
    let versions = |s3: S3| async move {
        s3.list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .unwrap()
            .versions()
            .len()
    };
    let before = versions(s3.clone()).await;
    let log_len = server.log_text().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let fresh = server.log_text()[log_len..].to_string();
        if fresh.matches("sweep done").count() >= 2 {
            assert!(!fresh.contains("sweep: stale"), "{fresh}");
            break;
        }
        assert!(Instant::now() < deadline, "no sweep ran:\n{fresh}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(versions(s3.clone()).await, before);
    assert_eq!(
        zip_commit(&s3, bucket, &key("feature/a")).await,
        Some(first.clone())
    );
    // The webhook and the sweeps that raced it wrote the new commit once.
    assert_eq!(versions_of(key("main")).await, main_versions + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_on_delete_delete_a_gone_branch_gets_a_delete_marker_and_a_live_one_never() {
    let s3 = git2s3::aws::s3_client(&moto().sdk_config().await);
    let bucket = "sweep-pruned";
    crate::moto::versioned_bucket(&s3, bucket).await;
    let sshd = Sshd::start(true);
    let url = sshd.bare_repo("acme/pruned");
    let work = WorkTree::new(&sshd.repo_path("acme/pruned"));
    work.write("README.md", b"one\n");
    let first = work.commit("one");
    work.git(&["branch", "feature/old"]);
    work.git(&["push", "-q", "origin", "--all"]);
    let clone_url = sshd.clone_url_template();
    let args = [
        "--ssh-key".to_string(),
        sshd.deploy_key.display().to_string(),
        "--known-hosts".to_string(),
        sshd.known_hosts.display().to_string(),
        "--sweep-every".to_string(),
        "1s".to_string(),
    ];
    let server = Server::start_with(
        bucket,
        &args,
        &[
            ("GIT2S3_REPOS", "acme/pruned"),
            ("GIT2S3_CLONE_URL", &clone_url),
            ("GIT2S3_ON_DELETE", "delete"),
        ],
    );
    let key = |r: &str| format!("acme/pruned/{r}/acme_pruned.zip");
    wait_for_all(
        &s3,
        bucket,
        &[
            (key("main"), first.clone()),
            (key("feature/old"), first.clone()),
        ],
        &server,
    )
    .await;

    // Attack: a signed deletion webhook for a branch that still exists. The
    // worker asks the server, which still has it: the zip stays.
    let (status, body) = server
        .push(
            "forged-deletion",
            "acme/pruned",
            &url,
            "refs/heads/main",
            git2s3_lambda::job::DELETED,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    server
        .wait_for_log("the ref still exists on the Git server")
        .await;
    assert_eq!(
        zip_commit(&s3, bucket, &key("main")).await,
        Some(first.clone())
    );

    // Deleted on the server: the sweep finds its zip without a ref, and the
    // zip gets a delete marker; its version stays.
    work.git(&["push", "-q", "origin", ":feature/old"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while zip_commit(&s3, bucket, &key("feature/old")).await.is_some() {
        assert!(
            Instant::now() < deadline,
            "the zip was not deleted:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let listed = s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(key("feature/old"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.delete_markers().len(), 1, "{listed:?}");
    assert_eq!(listed.versions().len(), 1);
    assert_eq!(zip_commit(&s3, bucket, &key("main")).await, Some(first));
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_lists_the_stale_refs_and_queues_exactly_those_jobs_after_a_yes() {
    use crate::deploy::Install;

    let moto = moto();
    let sshd = Sshd::start(false);
    let url = sshd.bare_repo("acme/api");
    let work = WorkTree::new(&sshd.repo_path("acme/api"));
    work.write("README.md", b"api\n");
    let head = work.commit("first");
    work.git(&["tag", "-a", "v1", "-m", "one"]);
    work.git(&["push", "-q", "origin", "main", "v1"]);
    let clone_url = sshd.clone_url_template();
    let known = std::fs::read_to_string(&sshd.known_hosts).unwrap();
    let install = Install::new(moto);
    std::fs::write(
        install.config(),
        format!(
            "clone_url: \"{clone_url}\"\nauth:\n  known_hosts:\n    - \"{}\"\n",
            known.trim()
        ),
    )
    .unwrap();
    let report = tokio::task::block_in_place(|| install.init("synced", &["--skip-register"]));
    // The stack's own deploy key is the one the server trusts.
    sshd.authorize(report["public_key"].as_str().unwrap());

    let dry: serde_json::Value = serde_json::from_str(&tokio::task::block_in_place(|| {
        install
            .run(["--output", "json", "sync", "--dry-run"])
            .stdout()
    }))
    .unwrap();
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(dry["queued"], 0);
    let repo = &dry["repos"][0];
    assert_eq!(repo["repo"], "acme/api");
    assert_eq!(repo["url"], url.as_str());
    assert_eq!(repo["error"], serde_json::Value::Null);
    let mut stale: Vec<(String, String, serde_json::Value)> = repo["stale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["ref"].as_str().unwrap().to_string(),
                s["head"].as_str().unwrap().to_string(),
                s["zip_commit"].clone(),
            )
        })
        .collect();
    stale.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        stale,
        [
            (
                "refs/heads/main".to_string(),
                head.clone(),
                serde_json::Value::Null
            ),
            // The annotated tag's commit, not the tag object.
            (
                "refs/tags/v1".to_string(),
                head.clone(),
                serde_json::Value::Null
            ),
        ]
    );

    // Without a terminal and --yes, nothing is queued.
    let refused =
        tokio::task::block_in_place(|| install.run(["--output", "json", "sync"]).fails_json());
    assert_eq!(refused["kind"], "needs-yes", "{refused}");

    let done: serde_json::Value = serde_json::from_str(&tokio::task::block_in_place(|| {
        install.run(["--output", "json", "sync", "--yes"]).stdout()
    }))
    .unwrap();
    assert_eq!(done["queued"], 2, "{done}");
    // Exactly those jobs are on the stack's job queue.
    let config = moto.sdk_config().await;
    let cf = git2s3::aws::cloudformation_client(&config);
    let info = git2s3::deploy::stack::describe(&cf, "synced")
        .await
        .unwrap()
        .unwrap();
    let queue = info.core().job_queue_url.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut jobs: Vec<git2s3_lambda::Job> = Vec::new();
    for _ in 0..5 {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        jobs.extend(
            out.messages()
                .iter()
                .map(|m| serde_json::from_str(m.body().unwrap()).unwrap()),
        );
        if jobs.len() >= 2 {
            break;
        }
    }
    jobs.sort_by(|a, b| a.git_ref.cmp(&b.git_ref));
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    for (job, git_ref) in jobs.iter().zip(["refs/heads/main", "refs/tags/v1"]) {
        assert_eq!(job.git_ref, git_ref);
        assert_eq!(job.repo, "acme/api");
        assert_eq!(job.commit, head);
        assert_eq!(job.ssh_url.as_deref(), Some(url.as_str()));
        assert_eq!(job.delivery_id, format!("sweep-{head}"));
        assert_eq!(job.provider, git2s3_lambda::Provider::Generic);
    }
}
