//! Faults, injected by a small proxy in front of the real part (moto's S3,
//! SQS or Secrets Manager, or the loopback sshd; see [`crate::proxy`]),
//! through `git2s3 serve` or the real `bootstrap` under cargo-lambda's
//! emulator. Each ends with the right zip in S3, or with the job set aside
//! with its reason, and never with a partial or wrong object.

use std::time::{Duration, Instant};

use aws_sdk_s3::Client as S3;
use serde_json::Value;

use crate::gitpull::{tree_entries, version_count, wait_for, zip_entries};
use crate::moto::moto;
use crate::proxy::{Proxy, SlowDown};
use crate::server::Server;
use crate::sshd::{Sshd, WorkTree};
use crate::warm::cold;

async fn s3() -> S3 {
    git2s3::aws::s3_client(&moto().sdk_config().await)
}

fn moto_port() -> u16 {
    moto().endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

/// `n` bytes that do not compress, so the zip is as big as the file.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What each fault test starts from: a versioned bucket in moto, the
/// loopback sshd, and on it a repository `acme/<name>` with a README and a
/// file of `megabytes` of noise (12 makes a zip of two multipart parts),
/// pushed to `main`.
struct Scene {
    s3: S3,
    bucket: &'static str,
    sshd: Sshd,
    url: String,
    work: WorkTree,
    commit: String,
}

impl Scene {
    async fn new(bucket: &'static str, name: &str, megabytes: usize) -> Scene {
        let s3 = s3().await;
        crate::moto::versioned_bucket(&s3, bucket).await;
        let sshd = Sshd::start(true);
        let url = sshd.bare_repo(&format!("acme/{name}"));
        let work = WorkTree::new(&sshd.repo_path(&format!("acme/{name}")));
        work.write("README.md", b"fault injection\n");
        work.write("data/noise.bin", &noise(megabytes << 20, name.len() as u64));
        let commit = work.commit("first");
        work.git(&["push", "-q", "origin", "main"]);
        Scene {
            s3,
            bucket,
            sshd,
            url,
            work,
            commit,
        }
    }
}

fn fetch_args(sshd: &Sshd, known_hosts: &std::path::Path, more: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--ssh-key".to_string(),
        sshd.deploy_key.display().to_string(),
        "--known-hosts".to_string(),
        known_hosts.display().to_string(),
    ];
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

/// The multipart uploads left unfinished in `bucket`.
async fn unfinished_uploads(s3: &S3, bucket: &str) -> Vec<String> {
    let listed = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    listed
        .uploads()
        .iter()
        .map(|u| u.key().unwrap_or_default().to_string())
        .collect()
}

/// The zip at `key` holds `commit`'s tree, exactly.
async fn assert_zip_is(
    s3: &S3,
    bucket: &str,
    key: &str,
    work: &WorkTree,
    commit: &str,
    server: &Server,
) {
    let bytes = wait_for(s3, bucket, key, commit, server).await;
    assert_eq!(zip_entries(&bytes), tree_entries(work, commit));
}

/// Fault: moto stops in the middle of a multipart upload. The SDK's
/// retries run out while it is down, the try fails (and cannot abort the
/// upload, as S3 is gone), and `serve` tries the job again; the next try
/// aborts what the first left, once moto is back, and lands the zip.
#[tokio::test(flavor = "multi_thread")]
async fn s3_gone_mid_multipart_upload_the_retry_aborts_the_left_upload_and_lands() {
    let Scene {
        s3,
        bucket,
        sshd,
        url,
        work,
        commit,
    } = Scene::new("fault-s3-gone", "gone", 12).await;
    let proxy = Proxy::start(moto_port());
    proxy.down_when_sent(b"partNumber=");
    let server = Server::start_through(
        &proxy.endpoint(),
        bucket,
        &fetch_args(
            &sshd,
            &sshd.known_hosts,
            &["--retry-delay", "3s", "--attempts", "3"],
        ),
        &[],
    );
    server
        .push_ok("gone-1", "acme/gone", &url, "refs/heads/main", &commit)
        .await;
    server.wait_for_log("job will be tried again").await;
    assert!(proxy.is_down(), "the upload never reached its parts");
    proxy.up();
    let key = "acme/gone/main/acme_gone.zip";
    assert_zip_is(&s3, bucket, key, &work, &commit, &server).await;
    let log = server.log_text();
    assert!(
        log.contains("could not abort the multipart upload")
            && log.contains("aborting the multipart upload an earlier try left"),
        "{log}"
    );
    assert_eq!(unfinished_uploads(&s3, bucket).await, Vec::<String>::new());
    assert_eq!(version_count(&s3, bucket, key).await, 1);
}

/// Fault: S3 answers 503 SlowDown to 3 requests in 10. The SDK's standard
/// retry mode with five attempts (`store::S3_ATTEMPTS`) carries every
/// request through: the job succeeds on its first try.
#[tokio::test(flavor = "multi_thread")]
async fn s3_slow_down_on_a_third_of_requests_is_carried_by_the_sdk_retries() {
    let Scene {
        s3,
        bucket,
        sshd,
        url,
        work,
        commit,
    } = Scene::new("fault-slow-down", "slow", 12).await;
    let proxy = SlowDown::start(&moto().endpoint);
    let server = Server::start_through(
        &proxy.endpoint(),
        bucket,
        &fetch_args(&sshd, &sshd.known_hosts, &["--retry-delay", "1s"]),
        &[],
    );
    work.git(&["push", "-q", "origin", "main:dev"]);
    for (delivery, git_ref) in [("slow-1", "refs/heads/main"), ("slow-2", "refs/heads/dev")] {
        server
            .push_ok(delivery, "acme/slow", &url, git_ref, &commit)
            .await;
    }
    for branch in ["main", "dev"] {
        let key = format!("acme/slow/{branch}/acme_slow.zip");
        assert_zip_is(&s3, bucket, &key, &work, &commit, &server).await;
        assert_eq!(version_count(&s3, bucket, &key).await, 1);
    }
    let (requests, refused) = proxy.counts();
    assert!(refused >= 3, "only {refused} of {requests} refused");
    let log = server.log_text();
    assert!(
        !log.contains("job will be tried again") && !log.contains("job failed"),
        "a try failed: {log}"
    );
    assert_eq!(unfinished_uploads(&s3, bucket).await, Vec::<String>::new());
}

/// Fault: the SSH connection drops half-way through the pack. The try
/// fails; the next one fetches afresh into a new scratch directory (no
/// part of the broken pack is reused) and lands the right tree; the
/// scratch directories are gone afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn ssh_cut_mid_pack_is_retried_with_a_fresh_fetch() {
    let Scene {
        s3,
        bucket,
        sshd,
        url: _,
        work,
        commit,
    } = Scene::new("fault-ssh-cut", "cut", 3).await;
    let proxy = Proxy::start(sshd.port);
    let (known_hosts, url) = through(&sshd, &proxy, "acme/cut");
    // The handshake and the ref advertisement are a few kilobytes; the
    // pack is 3 MB.
    proxy.cut_next_after(400_000);
    let scratch = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        bucket,
        &fetch_args(&sshd, &known_hosts, &["--retry-delay", "1s"]),
        &[("TMPDIR", scratch.path().to_str().unwrap())],
    );
    server
        .push_ok("cut-1", "acme/cut", &url, "refs/heads/main", &commit)
        .await;
    assert_zip_is(
        &s3,
        bucket,
        "acme/cut/main/acme_cut.zip",
        &work,
        &commit,
        &server,
    )
    .await;
    assert_eq!(proxy.cuts(), 1);
    assert!(proxy.connections() >= 2);
    server.wait_idle().await;
    let log = server.log_text();
    assert!(log.contains("job will be tried again"), "{log}");
    let left: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
}

/// A known_hosts file that names the proxy's port with sshd's host key,
/// and `repo`'s SSH URL through the proxy.
fn through(sshd: &Sshd, proxy: &Proxy, repo: &str) -> (std::path::PathBuf, String) {
    let line = std::fs::read_to_string(&sshd.known_hosts).unwrap();
    let key = line.split_once(' ').unwrap().1;
    let path = sshd.dir.path().join(format!("known_hosts.{}", proxy.port));
    std::fs::write(&path, format!("[127.0.0.1]:{} {key}", proxy.port)).unwrap();
    let url = format!(
        "ssh://{}@127.0.0.1:{}{}",
        sshd.user,
        proxy.port,
        sshd.repo_path(repo).display()
    );
    (path, url)
}

/// Fault: the SSH connection drops half-way through a warm push's pack
/// (what changed since the previous zip). That fetch failing is a reason
/// to build cold, in the same try: a fresh connection fetches the whole
/// tree, and the zip is the cold zip of the new commit.
#[tokio::test(flavor = "multi_thread")]
async fn ssh_cut_mid_warm_fetch_builds_cold_in_the_same_try() {
    let Scene {
        s3,
        bucket,
        sshd,
        url: _,
        work,
        commit,
    } = Scene::new("fault-warm-cut", "warm-cut", 1).await;
    let proxy = Proxy::start(sshd.port);
    let (known_hosts, url) = through(&sshd, &proxy, "acme/warm-cut");
    let key = "acme/warm-cut/main/acme_warm-cut.zip";
    let server = Server::start_with(
        bucket,
        &fetch_args(&sshd, &known_hosts, &["--retry-delay", "1s"]),
        &[],
    );
    server
        .push_ok(
            "warm-cut-1",
            "acme/warm-cut",
            &url,
            "refs/heads/main",
            &commit,
        )
        .await;
    assert_zip_is(&s3, bucket, key, &work, &commit, &server).await;
    // The second push adds 3 MB that does not compress: its warm pack is
    // that large, and the cut comes inside it.
    work.write("data/more.bin", &noise(3 << 20, 7));
    let second = work.commit("second");
    work.git(&["push", "-q", "origin", "main"]);
    let connections = proxy.connections();
    proxy.cut_next_after(400_000);
    server
        .push_ok(
            "warm-cut-2",
            "acme/warm-cut",
            &url,
            "refs/heads/main",
            &second,
        )
        .await;
    let zip = wait_for(&s3, bucket, key, &second, &server).await;
    assert!(zip == cold(&work, &second), "not the cold zip of {second}");
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(
        proxy.connections(),
        connections + 2,
        "the warm fetch, then the cold one"
    );
    server.wait_idle().await;
    let log = server.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("building cold") && l.contains("the warm fetch failed")),
        "{log}"
    );
    assert!(!log.contains("job will be tried again"), "{log}");
}

/// Fault: the worker's timeout hits while the zip is being uploaded (S3
/// slowed to 1 MB/s). A try cut off by its timeout writes nothing; a job
/// whose next try is unhindered lands; one whose every try times out is
/// set aside with the reason, and no object is written at its key.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_timeout_mid_upload_is_retried_then_dead_lettered_and_nothing_is_half_written() {
    let Scene {
        s3,
        bucket,
        sshd,
        url,
        work,
        commit,
    } = Scene::new("fault-timeout", "late", 12).await;
    work.git(&["push", "-q", "origin", "main:slow"]);
    let proxy = Proxy::start(moto_port());
    proxy.throttle(1 << 20);
    let server = Server::start_through(
        &proxy.endpoint(),
        bucket,
        &fetch_args(
            &sshd,
            &sshd.known_hosts,
            &[
                "--job-timeout",
                "3s",
                "--attempts",
                "2",
                "--retry-delay",
                "1s",
            ],
        ),
        &[],
    );
    // Every try of `slow` times out.
    server
        .push_ok("late-slow", "acme/late", &url, "refs/heads/slow", &commit)
        .await;
    server.wait_for_log("job dead-lettered").await;
    let dead = server.get_json("/dead-letters").await;
    assert_eq!(dead.as_array().unwrap().len(), 1, "{dead}");
    assert_eq!(dead[0]["git_ref"], "refs/heads/slow");
    assert_eq!(dead[0]["attempts"], 2);
    assert!(
        dead[0]["reason"]
            .as_str()
            .unwrap()
            .contains("--job-timeout"),
        "{dead}"
    );
    let slow_key = "acme/late/slow/acme_late.zip";
    assert_eq!(version_count(&s3, bucket, slow_key).await, 0);

    // `main`'s first try times out too; its second, with S3 at full speed, lands.
    server
        .push_ok("late-main", "acme/late", &url, "refs/heads/main", &commit)
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.log_text().matches("job will be tried again").count() < 2 {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy.throttle(0);
    let key = "acme/late/main/acme_late.zip";
    assert_zip_is(&s3, bucket, key, &work, &commit, &server).await;
    assert_eq!(version_count(&s3, bucket, key).await, 1);
    // The timed-out try's upload was aborted by the next one.
    let left = unfinished_uploads(&s3, bucket).await;
    assert!(!left.iter().any(|k| k == key), "{left:?}");
    let health = server.get_json("/healthz").await;
    assert_eq!(health["dead_letters"], 1);
}

/// Fault: `serve` is killed (SIGKILL) with jobs pending. Its queue is in
/// memory, so they are lost: nothing is written for them. A `serve`
/// started again with `--sweep-every` finds the refs whose zips are
/// missing and builds them.
#[tokio::test(flavor = "multi_thread")]
async fn serve_killed_with_jobs_pending_loses_them_and_the_sweep_builds_them() {
    let Scene {
        s3,
        bucket,
        sshd,
        url: _,
        work,
        commit,
    } = Scene::new("fault-killed", "killed", 1).await;
    work.git(&["push", "-q", "origin", "main:dev"]);
    // A fetch at 20 kB/s: the jobs are still running when serve dies.
    let proxy = Proxy::start(sshd.port);
    proxy.throttle(20_000);
    let (known_hosts, url) = through(&sshd, &proxy, "acme/killed");
    let first = Server::start_with(bucket, &fetch_args(&sshd, &known_hosts, &[]), &[]);
    for (delivery, git_ref) in [("k-1", "refs/heads/main"), ("k-2", "refs/heads/dev")] {
        first
            .push_ok(delivery, "acme/killed", &url, git_ref, &commit)
            .await;
    }
    let health = first.get_json("/healthz").await;
    assert_eq!(health["pending_jobs"], 2);
    drop(first);
    let key = |b: &str| format!("acme/killed/{b}/acme_killed.zip");
    for b in ["main", "dev"] {
        assert_eq!(version_count(&s3, bucket, &key(b)).await, 0);
    }

    let clone_url = sshd.clone_url_template();
    let again = Server::start_with(
        bucket,
        &fetch_args(&sshd, &sshd.known_hosts, &["--sweep-every", "1s"]),
        &[
            ("GIT2S3_REPOS", "acme/killed"),
            ("GIT2S3_CLONE_URL", &clone_url),
        ],
    );
    for b in ["main", "dev"] {
        assert_zip_is(&s3, bucket, &key(b), &work, &commit, &again).await;
    }
}

/// The generic fixture's push as API Gateway delivers it, signed with
/// `secret`, with `delivery` as its delivery id.
fn api_gateway_push(secret: &str, delivery: &str) -> Value {
    use base64::Engine;
    let root = crate::util::repo_root();
    let payload =
        std::fs::read_to_string(root.join("lambda/tests/data/webhooks/generic-push.json")).unwrap();
    let template =
        std::fs::read_to_string(root.join("lambda/tests/data/apigw-proxy-gitpull.json")).unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(&payload);
    serde_json::from_str(
        &template
            .replace(
                "SIGNATURE",
                &git2s3_lambda::webhook::sign(secret, payload.as_bytes()),
            )
            .replace("5c2f1e8a-delivery", delivery)
            .replace("\"BODY\"", &format!("\"{body}\"")),
    )
    .unwrap()
}

/// The real `bootstrap` in the receiver role under cargo-lambda's
/// emulator, for the generic fixture's repository, with a FIFO queue and
/// its webhook secret `secret` in moto, and `env` on top (an endpoint
/// through a proxy, a time to live).
struct Receiver {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    port: u16,
    logs: tempfile::TempDir,
    function: Option<crate::runtime::Killed>,
    _emulator: crate::runtime::Killed,
}

impl Receiver {
    async fn start(name: &str, secret: &str, env: &[(&str, &str)]) -> Receiver {
        let aws = moto().sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let queue_url = crate::moto::fifo_queue(&sqs, &format!("{name}.fifo")).await;
        let secret_id = format!("git2s3/{name}/webhook-secret");
        aws_sdk_secretsmanager::Client::new(&aws)
            .create_secret()
            .name(&secret_id)
            .secret_string(secret)
            .send()
            .await
            .unwrap();
        let (emulator, port) = crate::runtime::emulator();
        let logs = tempfile::tempdir().unwrap();
        let mut all = vec![
            ("GIT2S3_ROLE", "receiver"),
            ("GIT2S3_QUEUE_URL", queue_url.as_str()),
            ("GIT2S3_WEBHOOK_SECRET_ID", secret_id.as_str()),
            ("GIT2S3_PROVIDER", "generic"),
            ("GIT2S3_REPOS", "infra/deploy-scripts"),
            ("GIT2S3_KNOWN_HOSTS", crate::runtime::FIXTURE_HOST_KEY),
        ];
        all.extend_from_slice(env);
        let function = crate::runtime::function(port, &all, &logs.path().join("receiver.log"));
        Receiver {
            sqs,
            queue_url,
            port,
            logs,
            function: Some(function),
            _emulator: emulator,
        }
    }

    async fn invoke(&self, event: &Value) -> Value {
        crate::runtime::invoke(self.port, event).await
    }

    /// Stops the function, and returns its log.
    fn stop(&mut self) -> String {
        self.function.take();
        std::fs::read_to_string(self.logs.path().join("receiver.log")).unwrap()
    }

    /// How many messages the queue holds.
    async fn queued(&self) -> usize {
        queued(&self.sqs, &self.queue_url).await
    }
}

async fn queued(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> usize {
    let mut bodies = 0;
    for _ in 0..3 {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .send()
            .await
            .unwrap();
        bodies += got.messages().len();
    }
    bodies
}

/// Fault: SQS is down when the webhook arrives. The receiver answers 503
/// (the provider delivers it again) and queues nothing; the redelivery,
/// once SQS is back, queues the job, and a second redelivery of the same
/// delivery id is dropped by the FIFO queue's deduplication.
#[tokio::test(flavor = "multi_thread")]
async fn sqs_down_answers_503_and_the_redeliveries_queue_the_job_once() {
    let proxy = Proxy::start(moto_port());
    proxy.down();
    let sqs_endpoint = proxy.endpoint();
    let receiver = Receiver::start(
        "fault-sqs-down",
        "sqs-down-secret",
        &[("AWS_ENDPOINT_URL_SQS", &sqs_endpoint)],
    )
    .await;
    let event = api_gateway_push("sqs-down-secret", "sqs-down-1");
    let answer = receiver.invoke(&event).await;
    assert_eq!(answer["statusCode"], 503, "{answer}");
    assert!(
        answer["body"].as_str().unwrap().contains("could not queue"),
        "{answer}"
    );
    assert_eq!(receiver.queued().await, 0);
    proxy.up();
    for _ in 0..2 {
        let answer = receiver.invoke(&event).await;
        assert_eq!(answer["statusCode"], 202, "{answer}");
    }
    assert_eq!(receiver.queued().await, 1);
}

/// Fault: Secrets Manager fails when the receiver's cached secret is due
/// to be read again. Webhooks signed with the cached secret keep being
/// accepted; the failure is logged once, not once per read; and the read
/// that works again says so.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_manager_down_at_a_refresh_keeps_the_cached_secret_and_says_so_once() {
    let proxy = Proxy::start(moto_port());
    let secrets_endpoint = proxy.endpoint();
    let mut receiver = Receiver::start(
        "fault-secrets-down",
        "secrets-down-secret",
        &[
            ("GIT2S3_SECRET_TTL_SECONDS", "1"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &secrets_endpoint),
        ],
    )
    .await;
    let push = |n: usize| api_gateway_push("secrets-down-secret", &format!("secrets-down-{n}"));
    assert_eq!(receiver.invoke(&push(0)).await["statusCode"], 202);
    proxy.down();
    for n in 1..=3 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let answer = receiver.invoke(&push(n)).await;
        assert_eq!(answer["statusCode"], 202, "{answer}");
    }
    proxy.up();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(receiver.invoke(&push(4)).await["statusCode"], 202);
    let log = receiver.stop();
    assert_eq!(receiver.queued().await, 5);
    assert_eq!(
        log.matches("could not read the secrets again").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains("read the secrets again; the reads before this one had failed"),
        "{log}"
    );
    assert!(
        !log.contains("secrets-down-secret"),
        "the secret is in the log"
    );
}
