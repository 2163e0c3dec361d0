//! `git2s3 verify`, the test push that ends `init`: against a stack in
//! moto, `git2s3 serve` beside it and a real sshd. It passes when the zip
//! comes, and otherwise names the check that failed. The stack's own
//! diagnosis (dead-letter queue, worker log, job queue) is read from moto.

use std::net::TcpListener;
use std::process::Output;
use std::time::SystemTime;

use crate::deploy::Install;
use crate::moto::moto;
use crate::server::Server;
use crate::sshd::{Sshd, WorkTree};

const MAIN: &str = "acme/api/main/acme_api.zip";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_push_becomes_a_zip_or_names_the_check_that_failed() {
    let moto = moto();
    let s3 = git2s3::aws::s3_client(&moto.sdk_config().await);
    let install = Install::new(moto);
    let report = tokio::task::block_in_place(|| install.init("verify", &[]));
    let bucket = report["bucket"].as_str().unwrap().to_string();
    let skipped = report["verify_skipped"].as_str().unwrap_or_default();
    assert!(skipped.is_empty(), "init without --verify sends nothing");

    // A repository with one commit, pushed with no hook: no zip yet.
    let sshd = Sshd::start(true);
    sshd.authorize(report["public_key"].as_str().unwrap());
    let ssh_url = sshd.bare_repo("acme/api");
    let work = WorkTree::new(&sshd.repo_path("acme/api"));
    work.write("README.md", b"# api\n");
    let head = work.commit("first");
    work.git(&["push", "-q", "origin", "main"]);
    let server = Server::beside_stack(install.config(), &sshd.known_hosts);
    let webhook = format!("{}/gitpull", server.url);

    let verify = |extra: &[&str], env: Option<(&str, &str)>| {
        let mut cmd = install
            .run(["verify", "--repo", "acme/api", "--branch", "main"])
            .args(["--commit", &head, "--webhook-url", &webhook])
            .args(extra);
        if let Some((k, v)) = env {
            cmd = cmd.env(k, v);
        }
        tokio::task::block_in_place(|| cmd.output())
    };

    // The zip comes: every check passes, and S3 holds the commit.
    let out = verify(&["--ssh-url", &ssh_url, "--timeout", "60"], None);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    for line in [
        format!("acme/api main is at {}", &head[..12]),
        "answered 202: queued for acme/api/main/acme_api.zip".into(),
        format!("s3://{bucket}/{MAIN} holds {}", &head[..12]),
        "The test zip is in S3".into(),
    ] {
        assert!(shown.contains(&line), "no `{line}` in:\n{shown}");
    }
    let got = s3
        .head_object()
        .bucket(&bucket)
        .key(MAIN)
        .send()
        .await
        .unwrap();
    let meta = got.metadata().unwrap();
    assert_eq!(meta["commit"], head);
    assert_eq!(meta["pusher"], "git2s3-verify");
    assert!(
        meta["delivery-id"].starts_with("git2s3-verify-"),
        "{meta:?}"
    );

    // Again: the zip already holds the commit, which is still a pass.
    let out = verify(&["--ssh-url", &ssh_url, "--output", "json"], None);
    assert!(out.status.success(), "{}", text(&out));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["ok"], true);
    let zip = &verdict["checks"][2];
    assert_eq!(zip["name"], "zip");
    assert!(
        zip["detail"].as_str().unwrap().contains("already holds"),
        "{verdict}"
    );

    // A receiver with another secret: the `receiver` check names it.
    let out = verify(
        &["--ssh-url", &ssh_url],
        Some(("GIT2S3_WEBHOOK_SECRET", "not-the-stacks-secret")),
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("FAILED receiver") && shown.contains("refused the signature (401"),
        "{shown}"
    );
    assert!(shown.contains("the `receiver` check failed"), "{shown}");
    assert!(
        !shown.contains("not-the-stacks-secret"),
        "a secret was printed"
    );

    // Nothing listening there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("http://127.0.0.1:{port}/gitpull");
    let out = tokio::task::block_in_place(|| {
        install
            .run(["verify", "--repo", "acme/api", "--branch", "main"])
            .args(["--commit", &head, "--ssh-url", &ssh_url])
            .args(["--webhook-url", &closed])
            .output()
    });
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains(&format!("no answer from {closed} after 3 attempts")),
        "{shown}"
    );

    // A new commit, accepted, but the worker cannot fetch it: the zip never
    // comes, and as the receiver is not the stack's, the `zip` check says
    // where to look.
    work.write("README.md", b"# api, again\n");
    let second = work.commit("second");
    work.git(&["push", "-q", "origin", "main"]);
    // The URL still names acme/api on the stack's git host (the receiver
    // refuses any other), in a directory that does not exist.
    let wrong = ssh_url.replace("/acme/api.git", "/missing/acme/api.git");
    let out = tokio::task::block_in_place(|| {
        install
            .run(["verify", "--repo", "acme/api", "--branch", "main"])
            .args(["--commit", &second, "--ssh-url", &wrong])
            .args(["--webhook-url", &webhook, "--timeout", "4"])
            .output()
    });
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("answered 202"), "{shown}");
    assert!(
        shown.contains("FAILED zip") && shown.contains("is not the stack's webhook"),
        "{shown}"
    );
    server.wait_idle().await;
    assert!(
        server.log_text().contains("missing/acme/api"),
        "the worker tried the wrong URL"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_zip_is_explained_from_the_stacks_queues_and_worker_log() {
    let moto = moto();
    let config = moto.sdk_config().await;
    let install = Install::new(moto);
    tokio::task::block_in_place(|| install.init("diagnose", &[]));
    let clients = git2s3::aws::Clients::new(&config);
    let stack = git2s3::deploy::stack::describe(&clients.cloudformation, "diagnose")
        .await
        .unwrap()
        .expect("the stack exists");
    let sent = SystemTime::now();
    let delivery = "git2s3-verify-test";

    // Quiet stack: every check passes, so the `zip` check must say where to look.
    let checks = git2s3::verify::diagnose::after_timeout(&clients, &stack, delivery, sent, 9).await;
    let names: Vec<_> = checks.iter().map(|c| (c.name, c.ok)).collect();
    assert_eq!(
        names,
        [
            ("dead-letter queue", true),
            ("worker log", true),
            ("job queue", true)
        ],
        "{checks:?}"
    );

    // What the worker leaves when a job fails three times: its JSON error
    // line in its log group, and the job in the dead-letter queue.
    let group = &stack.outputs["WorkerLogGroupName"];
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name("2026/11/22/[$LATEST]test")
        .send()
        .await
        .unwrap();
    let line = serde_json::json!({
        "level": "ERROR",
        "repo": "acme/api",
        "delivery": delivery,
        "error": "Permission denied (publickey) for git@github.com:acme/api.git: the deploy key is not registered on this repo",
        "message": "job failed",
    });
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name("2026/11/22/[$LATEST]test")
        .log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now_ms)
                .message(line.to_string())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&config);
    for queue in ["DeadLetterQueueUrl", "JobQueueUrl"] {
        sqs.send_message()
            .queue_url(&stack.outputs[queue])
            .message_body("{}")
            .message_group_id("g")
            .message_deduplication_id("d")
            .send()
            .await
            .unwrap();
    }

    let checks = git2s3::verify::diagnose::after_timeout(&clients, &stack, delivery, sent, 9).await;
    let failed: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
    assert_eq!(failed.len(), 3, "{checks:?}");
    assert!(failed[0].detail.contains("1 job(s) failed 3 times"));
    assert!(
        failed[1].detail.contains("Permission denied (publickey)")
            && failed[1].detail.contains(group.as_str()),
        "{:?}",
        failed[1]
    );
    assert!(
        failed[2].detail.contains("1 job(s) wait")
            && failed[2].detail.contains("list-event-source-mappings"),
        "{:?}",
        failed[2]
    );
}
