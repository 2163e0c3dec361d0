//! The real Lambda wiring: the `bootstrap` binary, in each role, polling
//! cargo-lambda's emulator of the Lambda runtime API
//! (`cargo lambda watch --only-lambda-apis`), invoked once with an API
//! Gateway event and once with an SQS event, its AWS calls going to moto
//! (secrets, queue, bucket).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use git2s3_lambda::webhook::sign;
use git2s3_lambda::{Job, Method, Provider};
use serde_json::{json, Value};

use crate::moto::{moto, REGION};
use crate::util::repo_root;

pub(crate) struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The emulator of the Lambda runtime and invoke APIs.
pub(crate) fn emulator() -> (Killed, u16) {
    let cargo_lambda = repo_root().join(".venv/bin/cargo-lambda");
    assert!(
        cargo_lambda.exists(),
        "{} is missing: run scripts/setup.sh",
        cargo_lambda.display()
    );
    let port = free_port();
    let child = Command::new(cargo_lambda)
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "--invoke-port",
            &port.to_string(),
        ])
        .current_dir(repo_root().join("lambda"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start cargo lambda watch");
    let child = Killed(child);
    crate::util::wait_for_port(port, "cargo lambda watch", String::new);
    (child, port)
}

/// The `bootstrap` binary that `cargo test --workspace` builds beside this
/// test binary (the lambda crate's own tests need it too).
fn bootstrap() -> PathBuf {
    // Test binaries run from <target>/debug/deps/.
    let path = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("bootstrap");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Starts `bootstrap` against the emulator with the role's environment.
pub(crate) fn function(port: u16, env: &[(&str, &str)], log: &std::path::Path) -> Killed {
    let mut cmd = Command::new(bootstrap());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        if key.starts_with("GIT2S3_") || key.starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    let child = cmd
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{port}/.rt"),
        )
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .expect("start bootstrap");
    Killed(child)
}

/// The host key of the generic fixture's server (`git.internal.example:2222`).
pub(crate) const FIXTURE_HOST_KEY: &str = "[git.internal.example]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

pub(crate) async fn invoke(port: u16, event: &Value) -> Value {
    let url = format!("http://127.0.0.1:{port}/2015-03-31/functions/_/invocations");
    let response = reqwest::Client::new()
        .post(&url)
        .json(event)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("the emulator answers");
    assert!(
        response.status().is_success(),
        "invoke answered {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_answers_api_gateway_and_sqs_events_in_the_emulator() {
    let aws = moto().sdk_config().await;
    let (_emulator, port) = emulator();
    let logs = tempfile::tempdir().unwrap();

    // Receiver: a signed API Gateway event becomes a message on the FIFO queue.
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url = crate::moto::fifo_queue(&sqs, "runtime-jobs.fifo").await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    secrets
        .create_secret()
        .name("git2s3/runtime/webhook-secret")
        .secret_string("runtime-secret")
        .send()
        .await
        .unwrap();
    let receiver = function(
        port,
        &[
            ("GIT2S3_ROLE", "receiver"),
            ("GIT2S3_QUEUE_URL", &queue_url),
            ("GIT2S3_WEBHOOK_SECRET_ID", "git2s3/runtime/webhook-secret"),
            // The fixture's repository, on its plain SSH server.
            ("GIT2S3_PROVIDER", "generic"),
            ("GIT2S3_REPOS", "infra/deploy-scripts"),
            ("GIT2S3_KNOWN_HOSTS", FIXTURE_HOST_KEY),
        ],
        &logs.path().join("receiver.log"),
    );
    let payload =
        std::fs::read_to_string(repo_root().join("lambda/tests/data/webhooks/generic-push.json"))
            .unwrap();
    let template =
        std::fs::read_to_string(repo_root().join("lambda/tests/data/apigw-proxy-gitpull.json"))
            .unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(&payload);
    let event: Value = serde_json::from_str(
        &template
            .replace("SIGNATURE", &sign("runtime-secret", payload.as_bytes()))
            .replace("\"BODY\"", &format!("\"{body}\"")),
    )
    .unwrap();
    let answer = invoke(port, &event).await;
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let messages = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(messages.messages().len(), 1);
    let job: Job = serde_json::from_str(messages.messages()[0].body().unwrap()).unwrap();
    assert_eq!(job.repo, "infra/deploy-scripts");
    // Rotate: the new secret alone is stored. The warm container read the
    // secret a moment ago (its time to live is 5 minutes), and a webhook
    // signed with one it does not know makes it read the secret again.
    secrets
        .put_secret_value()
        .secret_id("git2s3/runtime/webhook-secret")
        .secret_string("rotated-secret")
        .send()
        .await
        .unwrap();
    let rotated: Value = serde_json::from_str(
        &template
            .replace("SIGNATURE", &sign("rotated-secret", payload.as_bytes()))
            .replace("5c2f1e8a-delivery", "after-rotation")
            .replace("\"BODY\"", &format!("\"{body}\"")),
    )
    .unwrap();
    assert_eq!(invoke(port, &rotated).await["statusCode"], 202);
    assert_eq!(
        invoke(port, &event).await["statusCode"],
        401,
        "the old secret still works"
    );
    drop(receiver);
    let log = std::fs::read_to_string(logs.path().join("receiver.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("push queued"))
        .unwrap_or_else(|| panic!("no JSON log line: {log}"));
    let parsed: Value = serde_json::from_str(line).expect("logs are JSON lines");
    assert_eq!(parsed["level"], "INFO");
    assert!(!log.contains("runtime-secret"), "the secret is in the log");

    // Worker: an SQS batch with a job already built and an unreadable message;
    // only the unreadable one is reported as failed.
    let s3 = git2s3::aws::s3_client(&aws);
    s3.create_bucket()
        .bucket("runtime-zips")
        .send()
        .await
        .unwrap();
    let done = Job {
        provider: Provider::Generic,
        method: Method::GitPull,
        repo: "acme/api".into(),
        git_ref: "refs/heads/main".into(),
        commit: "a".repeat(40),
        ssh_url: Some("ssh://git@127.0.0.1:1/nowhere.git".into()),
        project_id: None,
        delivery_id: "d-1".into(),
        pusher: None,
    };
    s3.put_object()
        .bucket("runtime-zips")
        .key(done.object_key().unwrap())
        .metadata("commit", &done.commit)
        .body(b"PK".to_vec().into())
        .send()
        .await
        .unwrap();
    let _worker = function(
        port,
        &[
            ("GIT2S3_ROLE", "worker"),
            ("GIT2S3_OUTPUT_BUCKET", "runtime-zips"),
            ("GIT2S3_PROVIDER", "generic"),
            ("GIT2S3_REPOS", "acme/api"),
        ],
        &logs.path().join("worker.log"),
    );
    let record = |id: &str, body: &str| {
        json!({
            "messageId": id, "receiptHandle": "rh", "body": body, "attributes": {},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:runtime-jobs.fifo", "awsRegion": REGION
        })
    };
    let event = json!({ "Records": [
        record("m-1", &serde_json::to_string(&done).unwrap()),
        record("m-2", "not a job"),
    ]});
    let answer = invoke(port, &event).await;
    assert_eq!(
        answer["batchItemFailures"],
        json!([{ "itemIdentifier": "m-2" }]),
        "{answer}"
    );
}

/// Attack: at `LogLevel: TRACE`, lambda_runtime logs the raw API Gateway
/// event with its headers, and GitLab's `X-Gitlab-Token` is the webhook
/// secret itself. No log level may print a header value: a GitLab push and
/// a signed push, through the real `bootstrap` at TRACE, leave neither the
/// token nor the signature in any log line, and queue nothing they should not.
#[tokio::test(flavor = "multi_thread")]
async fn at_trace_no_log_line_holds_a_token_or_a_signature() {
    const SECRET: &str = "trace-level-webhook-secret-7e51";
    let aws = moto().sdk_config().await;
    let (_emulator, port) = emulator();
    let logs = tempfile::tempdir().unwrap();
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url = crate::moto::fifo_queue(&sqs, "runtime-trace-jobs.fifo").await;
    aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name("git2s3/runtime-trace/webhook-secret")
        .secret_string(SECRET)
        .send()
        .await
        .unwrap();
    let log = logs.path().join("receiver.log");
    let receiver = function(
        port,
        &[
            ("GIT2S3_ROLE", "receiver"),
            ("GIT2S3_QUEUE_URL", &queue_url),
            (
                "GIT2S3_WEBHOOK_SECRET_ID",
                "git2s3/runtime-trace/webhook-secret",
            ),
            ("GIT2S3_PROVIDER", "gitlab"),
            ("GIT2S3_REPOS", "mike/diaspora"),
            ("GIT2S3_PROVIDER_API_URL", "https://example.com/api/v4"),
            ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
        ],
        &log,
    );
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("lambda/tests/data/apigw-proxy-gitpull.json"))
            .unwrap(),
    )
    .unwrap();
    let event = |headers: Value, payload: &str| {
        let mut e = template.clone();
        e["headers"] = headers;
        e["body"] = Value::from(base64::engine::general_purpose::STANDARD.encode(payload));
        e
    };
    let gitlab =
        std::fs::read_to_string(repo_root().join("lambda/tests/data/webhooks/gitlab-push.json"))
            .unwrap();
    let token_event = event(
        json!({
            "content-type": "application/json",
            "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Token": SECRET,
            "X-Gitlab-Event-UUID": "trace-1",
        }),
        &gitlab,
    );
    assert_eq!(invoke(port, &token_event).await["statusCode"], 202);
    // A signed push from another provider: refused, and its signature
    // must not show either.
    let generic =
        std::fs::read_to_string(repo_root().join("lambda/tests/data/webhooks/generic-push.json"))
            .unwrap();
    let signature = sign(SECRET, generic.as_bytes());
    let signed_event = event(
        json!({
            "content-type": "application/json",
            "X-Git2s3-Event": "push",
            "X-Git2s3-Delivery": "trace-2",
            "X-Hub-Signature-256": signature,
        }),
        &generic,
    );
    assert_eq!(invoke(port, &signed_event).await["statusCode"], 403);
    drop(receiver);
    let text = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
    assert!(
        text.contains("TRACE") || text.contains("push queued"),
        "no log at all: {text}"
    );
    assert!(!text.contains(SECRET), "the token is in the log:\n{text}");
    let hex = signature.trim_start_matches("sha256=");
    assert!(!text.contains(hex), "the signature is in the log:\n{text}");
    let messages = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let jobs: Vec<Job> = messages
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(jobs.len(), 1, "only the GitLab push is queued: {jobs:?}");
    assert_eq!(jobs[0].repo, "mike/diaspora");
}

/// The sshd's deploy key, stored in moto as the secret `id`.
async fn store_deploy_key(
    aws: &aws_config::SdkConfig,
    id: &str,
    sshd: &crate::sshd::Sshd,
) -> aws_sdk_secretsmanager::Client {
    let secrets = aws_sdk_secretsmanager::Client::new(aws);
    secrets
        .create_secret()
        .name(id)
        .secret_string(std::fs::read_to_string(&sshd.deploy_key).unwrap())
        .send()
        .await
        .unwrap();
    secrets
}

/// A warm worker holds the deploy key it read at start (its time to live
/// is 5 minutes). After `git2s3 rotate deploy-key` removes the old key
/// from the server, the first job is refused; that makes the worker read
/// the secret again, and the job's retry builds with the new key.
#[tokio::test(flavor = "multi_thread")]
async fn a_warm_worker_refused_its_deploy_key_reads_the_rotated_one() {
    use crate::sshd::{Sshd, WorkTree};

    let aws = moto().sdk_config().await;
    let (_emulator, port) = emulator();
    let logs = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(true);
    let url = sshd.bare_repo("acme/rotated");
    let work = WorkTree::new(&sshd.repo_path("acme/rotated"));
    work.write("a.txt", b"one\n");
    let first = work.commit("one");
    work.git(&["push", "-q", "origin", "main"]);

    let key_id = "git2s3/rtkey/ssh-deploy-key";
    let secrets = store_deploy_key(&aws, key_id, &sshd).await;
    let s3 = git2s3::aws::s3_client(&aws);
    crate::moto::versioned_bucket(&s3, "rtkey-zips").await;
    let known_hosts = std::fs::read_to_string(&sshd.known_hosts).unwrap();
    let _worker = function(
        port,
        &[
            ("GIT2S3_ROLE", "worker"),
            ("GIT2S3_OUTPUT_BUCKET", "rtkey-zips"),
            ("GIT2S3_PROVIDER", "generic"),
            ("GIT2S3_REPOS", "acme/rotated"),
            ("GIT2S3_SSH_KEY_SECRET_ID", key_id),
            ("GIT2S3_KNOWN_HOSTS", &known_hosts),
        ],
        &logs.path().join("worker.log"),
    );
    let job = |delivery: &str, commit: &str| {
        let job = Job {
            provider: Provider::Generic,
            method: Method::GitPull,
            repo: "acme/rotated".into(),
            git_ref: "refs/heads/main".into(),
            commit: commit.into(),
            ssh_url: Some(url.clone()),
            project_id: None,
            delivery_id: delivery.into(),
            pusher: None,
        };
        json!({ "Records": [{
            "messageId": delivery, "receiptHandle": "rh", "body": serde_json::to_string(&job).unwrap(),
            "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:rtkey-jobs.fifo", "awsRegion": REGION
        }]})
    };
    let built = |answer: &Value| answer["batchItemFailures"] == json!([]);
    let answer = invoke(port, &job("d-1", &first)).await;
    assert!(built(&answer), "{answer}");

    // The rotation: a new key in the secret, and only it on the server.
    let new_key = logs.path().join("new_key");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "rotated", "-f"])
        .arg(&new_key)
        .status()
        .unwrap();
    assert!(keygen.success());
    std::fs::copy(
        new_key.with_extension("pub"),
        sshd.dir.path().join("authorized_keys"),
    )
    .unwrap();
    secrets
        .put_secret_value()
        .secret_id(key_id)
        .secret_string(std::fs::read_to_string(&new_key).unwrap())
        .send()
        .await
        .unwrap();
    work.write("a.txt", b"two\n");
    let second = work.commit("two");
    work.git(&["push", "-q", "origin", "main"]);

    let refused = invoke(port, &job("d-2", &second)).await;
    assert_eq!(
        refused["batchItemFailures"],
        json!([{ "itemIdentifier": "d-2" }]),
        "the old key is refused: {refused}"
    );
    let retried = invoke(port, &job("d-2", &second)).await;
    assert!(built(&retried), "the retry reads the new key: {retried}");
    let head = s3
        .head_object()
        .bucket("rtkey-zips")
        .key("acme/rotated/main/acme_rotated.zip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("commit"))
            .map(String::as_str),
        Some(second.as_str())
    );
}

/// The `sweep` role, as the stack's schedule invokes it: an EventBridge
/// "Scheduled Event" (the shape in AWS's documentation) makes it list the
/// repository's heads over the real sshd and queue a job for each ref
/// with no zip, on moto's FIFO queue.
#[tokio::test(flavor = "multi_thread")]
async fn the_sweep_role_answers_a_scheduled_event_by_queueing_the_stale_refs() {
    use crate::sshd::{Sshd, WorkTree};

    let aws = moto().sdk_config().await;
    let (_emulator, port) = emulator();
    let logs = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(true);
    let url = sshd.bare_repo("acme/scheduled");
    let work = WorkTree::new(&sshd.repo_path("acme/scheduled"));
    work.write("a.txt", b"a\n");
    let head = work.commit("one");
    work.git(&["tag", "v1"]);
    work.git(&["push", "-q", "origin", "main", "v1"]);

    let key_id = "git2s3/rtsweep/ssh-deploy-key";
    store_deploy_key(&aws, key_id, &sshd).await;
    let s3 = git2s3::aws::s3_client(&aws);
    crate::moto::versioned_bucket(&s3, "rtsweep-zips").await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url = crate::moto::fifo_queue(&sqs, "rtsweep-jobs.fifo").await;
    let clone_url = sshd.clone_url_template();
    let known_hosts = std::fs::read_to_string(&sshd.known_hosts).unwrap();
    let _sweep = function(
        port,
        &[
            ("GIT2S3_ROLE", "sweep"),
            ("GIT2S3_OUTPUT_BUCKET", "rtsweep-zips"),
            ("GIT2S3_QUEUE_URL", &queue_url),
            ("GIT2S3_PROVIDER", "generic"),
            ("GIT2S3_REPOS", "acme/scheduled"),
            ("GIT2S3_SSH_KEY_SECRET_ID", key_id),
            ("GIT2S3_KNOWN_HOSTS", &known_hosts),
            ("GIT2S3_CLONE_URL", &clone_url),
        ],
        &logs.path().join("sweep.log"),
    );
    let scheduled = json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
        "time": "2015-10-08T16:53:06Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"],
        "detail": {}
    });
    let answer = invoke(port, &scheduled).await;
    assert_eq!(
        answer,
        json!({"repos": 1, "queued": 2, "failed": []}),
        "{}",
        std::fs::read_to_string(logs.path().join("sweep.log")).unwrap_or_default()
    );
    let messages = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let mut refs: Vec<(String, String, Option<String>)> = messages
        .messages()
        .iter()
        .map(|m| {
            let job: Job = serde_json::from_str(m.body().unwrap()).unwrap();
            (job.git_ref, job.commit, job.ssh_url)
        })
        .collect();
    refs.sort();
    assert_eq!(
        refs,
        [
            (s("refs/heads/main"), head.clone(), Some(url.clone())),
            (s("refs/tags/v1"), head.clone(), Some(url.clone())),
        ]
    );
}

fn s(v: &str) -> String {
    v.to_string()
}
