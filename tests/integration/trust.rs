//! The trust model through the real `git2s3 serve` and moto: each attack on
//! the receiver, as a request a signed (or unsigned) sender could make, is
//! refused or skipped, and nothing is written to S3 and nothing is queued.
//! Each row is named after its attack (docs/security.md).
//!
//! serve is connected as a stack would be: the generic provider, the
//! repositories under `acme/`, the plain SSH server at 127.0.0.1:2222
//! (its host key listed), and an IP allow list of loopback.

use git2s3_lambda::webhook::sign;
use serde_json::json;

use crate::moto::moto;
use crate::server::{Server, WEBHOOK_SECRET};

const GOOD_URL: &str = "ssh://git@127.0.0.1:2222/srv/git/acme/api.git";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn push(repo: &str, git_ref: &str, ssh_url: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": git_ref, "after": SHA,
        "repository": { "full_name": repo, "ssh_url": ssh_url },
    }))
    .unwrap()
}

/// One row: the attack, the request's headers and body, the status it gets.
type Attack<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);

#[tokio::test(flavor = "multi_thread")]
async fn every_receiver_attack_is_refused_and_writes_and_queues_nothing() {
    let s3 = git2s3::aws::s3_client(&moto().sdk_config().await);
    let bucket = "trust-attacks";
    crate::moto::versioned_bucket(&s3, bucket).await;
    let known = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        known.path(),
        "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
    )
    .unwrap();
    let server = Server::start_with(
        bucket,
        &["--known-hosts".into(), known.path().display().to_string()],
        &[("GIT2S3_ALLOWED_IPS", "127.0.0.0/8")],
    );
    let generic = |delivery: &'static str, body: Vec<u8>| {
        let signature = sign(WEBHOOK_SECRET, &body);
        (
            vec![
                ("x-git2s3-event", "push"),
                ("x-git2s3-delivery", delivery),
                (
                    "x-hub-signature-256",
                    Box::leak(signature.into_boxed_str()) as &str,
                ),
            ],
            body,
        )
    };
    let good = push("acme/api", "refs/heads/main", GOOD_URL);
    let github = serde_json::to_vec(&json!({
        "ref": "refs/heads/main", "after": SHA,
        "repository": { "full_name": "acme/api", "ssh_url": "git@github.com:acme/api.git" },
    }))
    .unwrap();
    let github_signature = sign(WEBHOOK_SECRET, &github);
    let rows: Vec<Attack> = vec![
        (
            "an allowed IP without a signature",
            vec![("x-git2s3-event", "push"), ("x-git2s3-delivery", "a1")],
            good.clone(),
            401,
        ),
        (
            "another provider's push, signed with the stack's secret",
            vec![
                ("x-github-event", "push"),
                ("x-github-delivery", "a2"),
                ("x-hub-signature-256", &github_signature),
            ],
            github.clone(),
            403,
        ),
        {
            let (h, b) = generic("a3", push("victim/private", "refs/heads/main", GOOD_URL));
            ("a repository that is not connected", h, b, 403)
        },
        {
            let url = "ssh://git@evil.example.com:2222/srv/git/acme/api.git";
            let (h, b) = generic("a4", push("acme/api", "refs/heads/main", url));
            ("a clone URL on another host", h, b, 403)
        },
        {
            let url = "ssh://git@127.0.0.1:2222/srv/git/victim/private.git";
            let (h, b) = generic("a5", push("acme/api", "refs/heads/main", url));
            ("a clone URL naming another repository", h, b, 403)
        },
        {
            let (h, b) = generic(
                "a6",
                push("acme/api", "refs/heads/main", "/srv/git/acme/api.git"),
            );
            ("a local path as clone URL", h, b, 403)
        },
        {
            let url = "file:///srv/git/acme/api.git";
            let (h, b) = generic("a7", push("acme/api", "refs/heads/main", url));
            ("a file:// clone URL", h, b, 403)
        },
        {
            let (h, b) = generic(
                "a8",
                push(
                    "acme/%2e%2e/%2e%2e/victim/private",
                    "refs/heads/main",
                    GOOD_URL,
                ),
            );
            ("a repository path with a percent-encoded ..", h, b, 400)
        },
        {
            let (h, b) = generic("a9", push("acme/api", "refs/heads/tags/v1", GOOD_URL));
            ("a branch that would land under tags/, skipped", h, b, 202)
        },
        {
            let (h, b) = generic(
                "a10",
                push("acme/api", "refs/heads/main\u{202e}gnp.exe", GOOD_URL),
            );
            ("a ref with a bidi override, skipped", h, b, 202)
        },
    ];
    for (attack, headers, body, status) in rows {
        let (got, answer) = server.post_to("/gitpull", &headers, &body).await;
        assert_eq!(got, status, "{attack}: {answer}");
        if status == 202 {
            assert_eq!(answer["message"], "nothing to build", "{attack}: {answer}");
            assert!(
                !answer["skipped"].as_array().unwrap().is_empty(),
                "{attack}: {answer}"
            );
        }
    }
    server.wait_idle().await;
    let log = server.log_text();
    assert!(
        !log.contains("job failed") && !log.contains("zip written"),
        "{log}"
    );
    let objects = s3
        .list_object_versions()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert!(objects.versions().is_empty(), "something was written to S3");
}
