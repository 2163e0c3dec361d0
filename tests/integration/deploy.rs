//! The deploy engine end to end: `git2s3 init --yes`, `update-stack`,
//! `status` and `destroy`, run as the real binary against moto's server.
//!
//! moto's gaps that matter here:
//! - it stores Lambda code without running it, so the zip deployed is a real
//!   Linux program (`/usr/bin/true`) named `bootstrap`, which passes the
//!   CLI's checks without a 30-minute `cargo lambda build`;
//! - it ignores the template's VersioningConfiguration, so the destroy test
//!   turns versioning on through the S3 API before writing 1,500 versions;
//! - its ExecuteChangeSet left stack outputs and parameters stale until
//!   scripts/patch_moto.py (run by scripts/setup.sh) fixed that;
//! - it never leaves a stack in ROLLBACK_COMPLETE or UPDATE_ROLLBACK_FAILED
//!   (it fails such requests synchronously), so those states' handling is
//!   unit-tested in src/deploy/stack.rs instead.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::moto::{moto, Moto, REGION};
use crate::util::{git2s3, Git2s3};

/// A Lambda zip holding a real x86_64/arm64 Linux program as `bootstrap`.
pub fn lambda_zip() -> &'static Path {
    static ZIP: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &ZIP.get_or_init(|| {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bootstrap.zip");
        let program = std::fs::read("/usr/bin/true").expect("read /usr/bin/true");
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        writer.start_file("bootstrap", options).unwrap();
        writer.write_all(&program).unwrap();
        writer.finish().unwrap();
        (dir, path)
    })
    .1
}

pub fn architecture() -> &'static str {
    if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "x86_64"
    }
}

/// One installation: a config file in its own directory, and the
/// credentials git2s3 runs with.
pub struct Install {
    _dir: tempfile::TempDir,
    config: PathBuf,
    endpoint: String,
    key: (String, String),
}

impl Install {
    pub fn new(moto: &Moto) -> Self {
        Self::as_user(moto, "testing", "testing")
    }

    pub fn as_user(moto: &Moto, key: &str, secret: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Install {
            config: dir.path().join("git2s3.yaml"),
            _dir: dir,
            endpoint: moto.endpoint.clone(),
            key: (key.into(), secret.into()),
        }
    }

    /// `git2s3 <args>` with this install's config and credentials.
    pub fn run<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(&self, args: I) -> Git2s3 {
        git2s3()
            .config(&self.config)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", &self.key.0)
            .env("AWS_SECRET_ACCESS_KEY", &self.key.1)
            .args(args)
    }

    /// `git2s3 init --yes --stack-name STACK --provider PROVIDER
    /// --lambda-zip ZIP EXTRA…`.
    pub fn init_cmd(&self, stack: &str, provider: &str, extra: &[&str]) -> Git2s3 {
        self.run([
            "init",
            "--yes",
            "--stack-name",
            stack,
            "--provider",
            provider,
        ])
        .args([
            std::ffi::OsStr::new("--lambda-zip"),
            lambda_zip().as_os_str(),
        ])
        .args(extra)
    }

    /// `git2s3 init --yes` for a generic-provider stack, as JSON.
    pub fn init(&self, stack: &str, extra: &[&str]) -> Value {
        let common = [
            "--output",
            "json",
            "--architecture",
            architecture(),
            "--repo",
            "acme/api",
        ];
        let out = self
            .init_cmd(stack, "generic", &[&common[..], extra].concat())
            .stdout();
        serde_json::from_str(&out).expect("init --output json prints JSON")
    }

    /// The configuration file `init` writes.
    pub fn config(&self) -> &Path {
        &self.config
    }

    fn config_text(&self) -> String {
        std::fs::read_to_string(&self.config).expect("git2s3.yaml was written")
    }
}

pub async fn secret(moto: &Moto, id: &str) -> Option<String> {
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    sm.get_secret_value()
        .secret_id(id)
        .send()
        .await
        .ok()
        .and_then(|o| o.secret_string().map(str::to_string))
}

/// Writes `lines` to a new stream of log group `group` in moto, the first
/// `first_ms` from now (negative: in the past), each `step_ms` after it.
async fn put_log_lines(moto: &Moto, group: &str, first_ms: i64, step_ms: i64, lines: &[&str]) {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config().await);
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name("test")
        .send()
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events = lines.iter().enumerate().map(|(i, m)| {
        aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
            .timestamp(now + first_ms + i as i64 * step_ms)
            .message(*m)
            .build()
            .unwrap()
    });
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name("test")
        .set_log_events(Some(events.collect()))
        .send()
        .await
        .unwrap();
}

async fn stack_status(moto: &Moto, stack: &str) -> Option<String> {
    let cf = git2s3::aws::cloudformation_client(&moto.sdk_config().await);
    git2s3::deploy::stack::describe(&cf, stack)
        .await
        .unwrap()
        .map(|s| s.status)
}

#[tokio::test(flavor = "multi_thread")]
async fn init_creates_stack_secrets_and_artifact_and_a_rerun_converges() {
    let moto = moto();
    let install = Install::new(moto);
    let first = install.init(
        "initdemo",
        &["--bucket", "initdemo-zips", "--pipeline-branch", "main"],
    );

    assert_eq!(first["stack"]["status"], "CREATE_COMPLETE");
    assert_eq!(
        stack_status(moto, "initdemo").await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert_eq!(
        stack_status(moto, "initdemo-pipeline").await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert_eq!(first["bucket"], "initdemo-zips");
    assert!(first["git_pull_url"]
        .as_str()
        .unwrap()
        .ends_with("/prod/gitpull"));
    assert!(first["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["outcome"] == "created"));

    // The secrets hold what the worker and receiver read.
    let webhook = secret(moto, "git2s3/initdemo/webhook-secret")
        .await
        .unwrap();
    assert!(webhook.len() == 64 && webhook.bytes().all(|b| b.is_ascii_hexdigit()));
    let private = secret(moto, "git2s3/initdemo/ssh-deploy-key")
        .await
        .unwrap();
    let key = ssh_key::PrivateKey::from_openssh(&private).unwrap();
    let public = key.public_key().to_openssh().unwrap();
    assert_eq!(first["public_key"], public.as_str());

    // The artifact is in the artifacts bucket, keyed by its hash.
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(lambda_zip()).unwrap()))
    };
    let artifact = &first["artifact"];
    assert_eq!(
        artifact["bucket"],
        "git2s3-artifacts-123456789012-us-east-1"
    );
    assert_eq!(artifact["key"], format!("lambda/{sha}/bootstrap.zip"));
    // Whichever test's init ran first uploaded it; the others found it.
    assert!(artifact["uploaded"].is_boolean());
    let s3 = git2s3::aws::s3_client(&moto.sdk_config().await);
    let head = s3
        .head_object()
        .bucket(artifact["bucket"].as_str().unwrap())
        .key(artifact["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.content_length(),
        Some(std::fs::metadata(lambda_zip()).unwrap().len() as i64)
    );

    // git2s3.yaml holds every choice and the public key, never a secret.
    let config = install.config_text();
    for expected in [
        "stack_name: initdemo",
        // From AWS_REGION: init saves the region the stack lives in.
        "region: us-east-1",
        "provider: generic",
        "- acme/api",
        "name: initdemo-zips",
        "branch: main",
        &public,
    ] {
        assert!(
            config.contains(expected),
            "git2s3.yaml lacks {expected:?}:\n{config}"
        );
    }
    assert!(
        !config.contains(&webhook),
        "git2s3.yaml holds the webhook secret"
    );
    assert!(
        !config.contains("PRIVATE KEY"),
        "git2s3.yaml holds the private key"
    );

    // A second run, from the written config alone, changes nothing.
    let second = install.init("initdemo", &[]);
    assert!(
        second["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "kept"),
        "{second}"
    );
    assert_eq!(second["artifact"]["uploaded"], false);
    assert_eq!(second["public_key"], public.as_str());
    assert_eq!(
        second["stack"]["status"], "CREATE_COMPLETE",
        "the rerun updated the stack"
    );
    assert_eq!(
        secret(moto, "git2s3/initdemo/webhook-secret")
            .await
            .unwrap(),
        webhook
    );
    assert_eq!(install.config_text(), config);
}

#[tokio::test(flavor = "multi_thread")]
async fn update_stack_shows_a_diff_with_exit_codes_and_applies_it() {
    let moto = moto();
    let install = Install::new(moto);
    install.init("updemo", &[]);

    let diff = |env: Option<(&str, &str)>| {
        let mut cmd = install.run(["update-stack", "--diff"]);
        if let Some((k, v)) = env {
            cmd = cmd.env(k, v);
        }
        let out = cmd.output();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let (code, out) = diff(None);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("stack updemo: no changes"), "{out}");

    // Changes are 2, as Terraform's -detailed-exitcode.
    let (code, out) = diff(Some(("GIT2S3_LOG_RETENTION_DAYS", "60")));
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("parameter LogRetentionDays: \"30\" -> \"60\""),
        "{out}"
    );
    // --diff changed nothing.
    let (code, _) = diff(None);
    assert_eq!(code, Some(0));

    let out = install
        .run(["--output", "json", "update-stack", "--yes"])
        .env("GIT2S3_LOG_RETENTION_DAYS", "60")
        .stdout();
    let applied: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(applied[0]["status"], "UPDATE_COMPLETE", "{applied}");
    let cf = git2s3::aws::cloudformation_client(&moto.sdk_config().await);
    let info = git2s3::deploy::stack::describe(&cf, "updemo")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.parameters["LogRetentionDays"], "60");
    assert!(install.config_text().contains("retention_days: 60"));
    let (code, out) = diff(None);
    assert_eq!(code, Some(0), "{out}");

    // A second update with nothing to do is success, and needs no --yes.
    let out = install.run(["update-stack"]).stdout();
    assert!(out.contains("updemo: UPDATE_COMPLETE"), "{out}");

    // An error is exit code 1, as for every command, with the fix.
    let out = install
        .run(["update-stack", "--diff", "--stack-name", "nosuchstack"])
        .output();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("stack nosuchstack does not exist in us-east-1: run `git2s3 init` first"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_stack_zips_queues_and_pipeline_as_json() {
    let moto = moto();
    let install = Install::new(moto);
    install.init(
        "statdemo",
        &["--bucket", "statdemo-zips", "--pipeline-branch", "main"],
    );
    let s3 = git2s3::aws::s3_client(&moto.sdk_config().await);
    s3.put_object()
        .bucket("statdemo-zips")
        .key("acme/api/main/acme_api.zip")
        .body(
            b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
                .to_vec()
                .into(),
        )
        .metadata("commit", "0123456789abcdef0123456789abcdef01234567")
        .metadata("ref", "refs/heads/main")
        .send()
        .await
        .unwrap();
    // Two sweeps in the sweep function's log (moto runs no Lambda code):
    // status shows the last round and each repository's last result.
    let lines = [
        r#"{"level":"INFO","message":"sweep: swept","repo":"acme/api","stale":2,"current":0}"#,
        r#"{"level":"INFO","message":"sweep done","repos":1,"queued":2,"failed":0}"#,
        r#"{"level":"INFO","message":"sweep: swept","repo":"acme/api","stale":0,"current":2}"#,
        r#"{"level":"INFO","message":"sweep done","repos":1,"queued":0,"failed":0}"#,
    ];
    put_log_lines(moto, "/git2s3/statdemo/sweep", -60_000, 1000, &lines).await;

    let out = install.run(["--output", "json", "status"]).stdout();
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["stack"]["name"], "statdemo");
    assert_eq!(status["stack"]["status"], "CREATE_COMPLETE");
    assert_eq!(
        status["stack"]["outputs"]["OutputBucketName"],
        "statdemo-zips"
    );
    let zips = status["zips"].as_array().unwrap();
    assert_eq!(zips.len(), 1, "{status}");
    assert_eq!(zips[0]["key"], "acme/api/main/acme_api.zip");
    assert_eq!(
        zips[0]["commit"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(zips[0]["git_ref"], "refs/heads/main");
    assert_eq!(zips[0]["size"], 22);
    assert_eq!(status["queue"]["waiting"], 0);
    assert_eq!(status["queue"]["dead_letters"], 0);
    assert_eq!(status["pipeline"]["stack"]["name"], "statdemo-pipeline");
    // A git-pull stack's pipeline does not report build status by default.
    assert_eq!(status["pipeline"]["build_status"], Value::Null, "{status}");
    assert_eq!(status["sweeps"]["last"]["queued"], 0, "{status}");
    assert_eq!(status["sweeps"]["last"]["repos"], 1);
    assert_eq!(status["sweeps"]["repos"][0]["repo"], "acme/api");
    assert_eq!(status["sweeps"]["repos"][0]["current"], 2);
    assert_eq!(status["sweeps"]["repos"][0]["stale"], 0);

    let text = install.run(["status"]).stdout();
    assert!(
        text.contains("acme/api/main/acme_api.zip  commit 0123456789abcdef"),
        "{text}"
    );
    assert!(text.contains("dead-letter queue: 0"), "{text}");
    assert!(text.contains("  acme/api: 0 stale, 2 current"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_leaves_nothing_even_with_1500_object_versions() {
    let moto = moto();
    let install = Install::new(moto);
    install.init(
        "gonedemo",
        &["--bucket", "gonedemo-zips", "--pipeline-branch", "main"],
    );
    let config = moto.sdk_config().await;
    let s3 = git2s3::aws::s3_client(&config);
    crate::moto::enable_versioning(&s3, "gonedemo-zips").await;
    // 1,500 versions over three keys, and a delete marker on one of them:
    // more than one ListObjectVersions page and one DeleteObjects batch.
    // One writer per key: moto can lose versions written to one key at once.
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..3 {
        let s3 = s3.clone();
        tasks.spawn(async move {
            for i in 0..500 {
                let key = format!("acme/api/b{worker}/acme_api.zip");
                s3.put_object()
                    .bucket("gonedemo-zips")
                    .key(key)
                    .body(format!("version {worker}-{i}").into_bytes().into())
                    .send()
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    s3.delete_object()
        .bucket("gonedemo-zips")
        .key("acme/api/b0/acme_api.zip")
        .send()
        .await
        .unwrap();

    let out = install
        .run(["--output", "json", "destroy", "--yes"])
        .stdout();
    let removed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(removed["object_versions"], 1501, "{removed}");
    assert_eq!(
        removed["stacks"],
        serde_json::json!(["gonedemo-pipeline", "gonedemo"])
    );
    assert_eq!(removed["buckets"], serde_json::json!(["gonedemo-zips"]));
    assert_eq!(
        removed["secrets"],
        serde_json::json!([
            "git2s3/gonedemo/webhook-secret",
            "git2s3/gonedemo/ssh-deploy-key"
        ])
    );

    assert_eq!(stack_status(moto, "gonedemo").await, None);
    assert_eq!(stack_status(moto, "gonedemo-pipeline").await, None);
    assert!(s3
        .head_bucket()
        .bucket("gonedemo-zips")
        .send()
        .await
        .is_err());
    assert_eq!(secret(moto, "git2s3/gonedemo/webhook-secret").await, None);
    assert_eq!(secret(moto, "git2s3/gonedemo/ssh-deploy-key").await, None);

    // Destroying again finds nothing to do, and says so.
    let again: Value = serde_json::from_str(
        &install
            .run(["--output", "json", "destroy", "--yes"])
            .stdout(),
    )
    .unwrap();
    assert_eq!(again["stacks"], serde_json::json!([]));
    assert_eq!(again["buckets"], serde_json::json!([]));
    assert_eq!(again["secrets"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_bucket_name_stops_init_before_anything_is_created() {
    let moto = moto();
    let s3 = git2s3::aws::s3_client(&moto.sdk_config().await);
    s3.create_bucket()
        .bucket("somebody-elses-zips")
        .send()
        .await
        .unwrap();
    let install = Install::new(moto);
    let err = install
        .init_cmd("takendemo", "generic", &["--bucket", "somebody-elses-zips"])
        .fails();
    assert!(
        err.contains("bucket somebody-elses-zips already exists in this account and is not stack takendemo's: pick another name with --bucket"),
        "{err}"
    );
    assert_eq!(stack_status(moto, "takendemo").await, None);
    assert_eq!(secret(moto, "git2s3/takendemo/webhook-secret").await, None);
    assert!(!install.config.exists());
}

#[test]
fn provider_registration_and_missing_tokens_fail_first_with_the_flag_to_use() {
    let moto = moto();
    let install = Install::new(moto);
    let err = install
        .init_cmd("regdemo", "github", &["--repo", "acme/api"])
        .fails();
    assert!(
        err.contains("registering with github needs an API token: set GITHUB_TOKEN, or name the variable that holds it with --token-env"),
        "{err}"
    );
    let err = install.init_cmd("regdemo", "gitlab", &[]).fails();
    assert!(
        err.contains("init registers the webhook with gitlab, so it needs the repositories: pass --repo OWNER/REPO"),
        "{err}"
    );
    let err = install
        .init_cmd(
            "tokendemo",
            "github",
            &[
                "--repo",
                "acme/api",
                "--method",
                "zip-download",
                "--skip-register",
                "--token-env",
                "NO_SUCH_TOKEN_VAR",
            ],
        )
        .fails();
    assert!(
        err.contains("zip download needs the provider's API token, and secret git2s3/tokendemo/git-token does not hold one yet: set NO_SUCH_TOKEN_VAR"),
        "{err}"
    );

    let err = install
        .init_cmd("piperepo", "generic", &["--pipeline-branch", "main"])
        .fails();
    assert!(
        err.contains(
            "--pipeline-branch needs the repository the pipeline builds: pass --repo OWNER/REPO"
        ),
        "{err}"
    );
}

#[test]
fn a_missing_lambda_zip_names_the_build_command() {
    let install = Install::new(moto());
    let err = install
        .run([
            "init",
            "--yes",
            "--stack-name",
            "nozip",
            "--provider",
            "generic",
        ])
        .env("CARGO_TARGET_DIR", "/nonexistent")
        .fails();
    assert!(
        err.contains("no Lambda zip found; looked in: /nonexistent/lambda/bootstrap/bootstrap.zip"),
        "{err}"
    );
    assert!(
        err.contains("cargo lambda build --release --output-format zip"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn init_registers_the_hook_and_key_and_destroy_removes_them() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let moto = moto();
    let github = MockServer::start().await;
    let mount = |m: &'static str, p: &'static str, status: u16, body: Value| {
        Mock::given(method(m))
            .and(path(p))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
    };
    mount("GET", "/repos/acme/api/hooks", 200, json!([]))
        .up_to_n_times(1)
        .mount(&github)
        .await;
    mount(
        "POST",
        "/repos/acme/api/hooks",
        201,
        json!({"id": 77, "config": {}}),
    )
    .expect(1)
    .mount(&github)
    .await;
    mount("POST", "/repos/acme/api/hooks/77/pings", 204, Value::Null)
        .expect(1)
        .mount(&github)
        .await;
    mount("GET", "/repos/acme/api/keys", 200, json!([]))
        .up_to_n_times(1)
        .mount(&github)
        .await;
    mount("POST", "/repos/acme/api/keys", 201, json!({"id": 5}))
        .expect(1)
        .mount(&github)
        .await;

    let install = Install::new(moto);
    let api = github.uri();
    let report = tokio::task::block_in_place(|| {
        let out = install
            .init_cmd(
                "regstack",
                "github",
                &[
                    "--output",
                    "json",
                    "--repo",
                    "acme/api",
                    "--api-url",
                    &api,
                    "--architecture",
                    architecture(),
                ],
            )
            .env("GITHUB_TOKEN", "test-token")
            .stdout();
        serde_json::from_str::<Value>(&out).unwrap()
    });
    assert_eq!(
        report["registered"]["hooks"][0]["outcome"], "created",
        "{report}"
    );
    assert_eq!(report["registered"]["hooks"][0]["ping"], "sent");
    assert_eq!(report["registered"]["keys"][0]["outcome"], "created");

    // The hook carries the stack's URL and the secret in Secrets Manager; the key is the stack's.
    let requests = github.received_requests().await.unwrap();
    let body = |m: &str, p: &str| -> Value {
        let r = requests
            .iter()
            .find(|r| r.method.as_str() == m && r.url.path() == p)
            .unwrap();
        serde_json::from_slice(&r.body).unwrap()
    };
    let hook = body("POST", "/repos/acme/api/hooks");
    assert_eq!(hook["config"]["url"], report["git_pull_url"]);
    let stored = secret(moto, "git2s3/regstack/webhook-secret")
        .await
        .unwrap();
    assert_eq!(hook["config"]["secret"], stored.as_str());
    assert_eq!(
        body("POST", "/repos/acme/api/keys")["key"],
        report["public_key"]
    );
    assert_eq!(body("POST", "/repos/acme/api/keys")["read_only"], true);

    // destroy removes exactly those two.
    let url = report["git_pull_url"].clone();
    mount("GET", "/repos/acme/api/hooks", 200, json!([{"id": 76, "config": {"url": "https://ci.example.com"}}, {"id": 77, "config": {"url": url}}])).mount(&github).await;
    mount("GET", "/repos/acme/api/keys", 200, json!([{"id": 4, "key": "ssh-rsa AAAAother", "title": "laptop"}, {"id": 5, "key": report["public_key"], "title": "git2s3 regstack"}])).mount(&github).await;
    mount("DELETE", "/repos/acme/api/hooks/77", 204, Value::Null)
        .expect(1)
        .mount(&github)
        .await;
    mount("DELETE", "/repos/acme/api/keys/5", 204, Value::Null)
        .expect(1)
        .mount(&github)
        .await;
    // status reads the hook's latest delivery from GitHub.
    mount(
        "GET",
        "/repos/acme/api/hooks/77/deliveries",
        200,
        json!([{"id": 12345678, "guid": "0b989ba4-242f-11e5-81e1-c7b6966d2516", "delivered_at": "2026-11-22T08:00:00Z",
                "redelivery": false, "duration": 0.27, "status": "OK", "status_code": 200, "event": "push",
                "action": null, "installation_id": null, "repository_id": 42}]),
    )
    .expect(1)
    .mount(&github)
    .await;
    let status = tokio::task::block_in_place(|| {
        let out = install
            .run(["--output", "json", "status"])
            .env("GITHUB_TOKEN", "test-token")
            .stdout();
        serde_json::from_str::<Value>(&out).unwrap()
    });
    assert_eq!(status["webhooks"][0]["registered"], true, "{status}");
    assert_eq!(status["webhooks"][0]["last_delivery"]["status_code"], 200);
    assert_eq!(status["webhooks"][0]["last_delivery"]["event"], "push");

    let removed = tokio::task::block_in_place(|| {
        let out = install
            .run(["--output", "json", "destroy", "--yes"])
            .env("GITHUB_TOKEN", "test-token")
            .stdout();
        serde_json::from_str::<Value>(&out).unwrap()
    });
    assert_eq!(
        removed["unregistered"]["hooks"][0]["outcome"], "removed",
        "{removed}"
    );
    assert_eq!(removed["unregistered"]["keys"][0]["outcome"], "removed");
    assert_eq!(stack_status(moto, "regstack").await, None);
}

/// The public half of each key in a deploy-key secret, by repository.
fn public_keys(secret_text: &str) -> std::collections::BTreeMap<String, String> {
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_str(secret_text).expect("the deploy-key secret is a JSON map");
    map.into_iter()
        .map(|(repo, pem)| {
            let key = ssh_key::PrivateKey::from_openssh(&pem).unwrap();
            (repo, key.public_key().to_openssh().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn github_repositories_each_get_their_own_deploy_key() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let moto = moto();
    let install = Install::new(moto);
    // init with two GitHub repositories: a default key plus one each.
    let report: Value = tokio::task::block_in_place(|| {
        let out = install
            .init_cmd(
                "perrepo",
                "github",
                &[
                    "--output",
                    "json",
                    "--repo",
                    "acme/api",
                    "--repo",
                    "acme/web",
                    "--org",
                    "acme",
                    "--skip-register",
                    "--architecture",
                    architecture(),
                ],
            )
            .stdout();
        serde_json::from_str(&out).unwrap()
    });
    let id = "git2s3/perrepo/ssh-deploy-key";
    let keys = public_keys(&secret(moto, id).await.unwrap());
    assert_eq!(
        keys.keys().collect::<Vec<_>>(),
        ["*", "acme/api", "acme/web"]
    );
    assert_eq!(report["public_key"].as_str(), Some(keys["*"].as_str()));
    let distinct: std::collections::BTreeSet<&String> = keys.values().collect();
    assert_eq!(distinct.len(), 3, "every key differs");

    // register-webhook --all-repos: the org has a third repository, which
    // gets a key of its own, stored before it is registered.
    let github = MockServer::start().await;
    let mount = |m: &'static str, p: &'static str, status: u16, body: Value| {
        Mock::given(method(m))
            .and(path(p))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
    };
    mount(
        "GET",
        "/orgs/acme/repos",
        200,
        json!([{"full_name": "acme/api"}, {"full_name": "acme/web"}, {"full_name": "acme/docs"}]),
    )
    .mount(&github)
    .await;
    mount("GET", "/orgs/acme/hooks", 200, json!([]))
        .mount(&github)
        .await;
    mount(
        "POST",
        "/orgs/acme/hooks",
        201,
        json!({"id": 9, "config": {}}),
    )
    .expect(1)
    .mount(&github)
    .await;
    for repo in ["api", "web", "docs"] {
        let keys_path: &'static str =
            Box::leak(format!("/repos/acme/{repo}/keys").into_boxed_str());
        mount("GET", keys_path, 200, json!([])).mount(&github).await;
        mount("POST", keys_path, 201, json!({"id": 1}))
            .expect(1)
            .mount(&github)
            .await;
    }
    let api = github.uri();
    let register = || {
        tokio::task::block_in_place(|| {
            install
                .run(["register-webhook", "--yes", "--deploy-key", "--all-repos"])
                .args(["--no-ping", "--api-url", &api])
                .env("GITHUB_TOKEN", "test-token")
                .stdout()
        })
    };
    register();
    let keys = public_keys(&secret(moto, id).await.unwrap());
    assert_eq!(
        keys.keys().collect::<Vec<_>>(),
        ["*", "acme/api", "acme/docs", "acme/web"]
    );
    let requests = github.received_requests().await.unwrap();
    for repo in ["acme/api", "acme/web", "acme/docs"] {
        let posted = requests
            .iter()
            .find(|r| r.method.as_str() == "POST" && r.url.path() == format!("/repos/{repo}/keys"))
            .unwrap();
        let body: Value = serde_json::from_slice(&posted.body).unwrap();
        assert_eq!(body["key"].as_str(), Some(keys[repo].as_str()), "{repo}");
    }

    // A re-run adds no key: the secret is unchanged.
    let before = secret(moto, id).await;
    github.reset().await;
    mount(
        "GET",
        "/orgs/acme/repos",
        200,
        json!([{"full_name": "acme/api"}, {"full_name": "acme/web"}, {"full_name": "acme/docs"}]),
    )
    .mount(&github)
    .await;
    mount(
        "GET",
        "/orgs/acme/hooks",
        200,
        json!([{"id": 9, "config": {"url": report["git_pull_url"]}}]),
    )
    .mount(&github)
    .await;
    mount(
        "PATCH",
        "/orgs/acme/hooks/9",
        200,
        json!({"id": 9, "config": {}}),
    )
    .mount(&github)
    .await;
    for (repo, short) in [
        ("acme/api", "api"),
        ("acme/web", "web"),
        ("acme/docs", "docs"),
    ] {
        let keys_path: &'static str =
            Box::leak(format!("/repos/acme/{short}/keys").into_boxed_str());
        mount(
            "GET",
            keys_path,
            200,
            json!([{"id": 1, "key": keys[repo], "title": "git2s3 perrepo"}]),
        )
        .mount(&github)
        .await;
    }
    let out = register();
    assert_eq!(out.matches("already there").count(), 3, "{out}");
    assert_eq!(secret(moto, id).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn zip_download_stores_the_token_or_the_oauth_consumer() {
    let moto = moto();
    let install = Install::new(moto);
    let init = |stack: &str, provider: &str, env: &[(&str, &str)]| {
        let mut cmd = install.init_cmd(
            stack,
            provider,
            &[
                "--repo",
                "acme/api",
                "--method",
                "zip-download",
                "--skip-register",
                "--architecture",
                architecture(),
            ],
        );
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        tokio::task::block_in_place(|| cmd.stdout())
    };
    init("tokenstack", "github", &[("GITHUB_TOKEN", "ghp_first")]);
    assert_eq!(
        secret(moto, "git2s3/tokenstack/git-token").await.as_deref(),
        Some("ghp_first")
    );
    // A new token replaces the stored one; no deploy key is made for zip download.
    init("tokenstack", "github", &[("GITHUB_TOKEN", "ghp_second")]);
    assert_eq!(
        secret(moto, "git2s3/tokenstack/git-token").await.as_deref(),
        Some("ghp_second")
    );
    assert_eq!(secret(moto, "git2s3/tokenstack/ssh-deploy-key").await, None);

    // Bitbucket Cloud with an OAuth consumer (configured in git2s3.yaml).
    let oauth = Install::new(moto);
    std::fs::write(&oauth.config, "auth:\n  bitbucket_oauth_consumer: true\n").unwrap();
    let cmd = oauth
        .init_cmd(
            "oauthstack",
            "bitbucket",
            &[
                "--repo",
                "acme/api",
                "--method",
                "zip-download",
                "--skip-register",
                "--architecture",
                architecture(),
            ],
        )
        .env("BITBUCKET_OAUTH_KEY", "consumer-key")
        .env("BITBUCKET_OAUTH_SECRET", "consumer-secret");
    tokio::task::block_in_place(|| cmd.stdout());
    let stored: Value = serde_json::from_str(
        &secret(moto, "git2s3/oauthstack/bitbucket-oauth-consumer")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        stored,
        json!({"key": "consumer-key", "secret": "consumer-secret"})
    );
    assert!(!oauth.config_text().contains("consumer-secret"));

    let missing = Install::new(moto);
    std::fs::write(&missing.config, "auth:\n  bitbucket_oauth_consumer: true\n").unwrap();
    let err = tokio::task::block_in_place(|| {
        missing
            .init_cmd(
                "oauthmissing",
                "bitbucket",
                &[
                    "--repo",
                    "acme/api",
                    "--method",
                    "zip-download",
                    "--skip-register",
                ],
            )
            .fails()
    });
    assert!(err.contains("needs its key and secret, and secret git2s3/oauthmissing/bitbucket-oauth-consumer does not hold them yet: set BITBUCKET_OAUTH_KEY and BITBUCKET_OAUTH_SECRET"), "{err}");
}

/// Attack: the artifacts bucket's name is predictable, and an object at
/// the zip's key was reused on its name alone. Now the object is read and
/// hashed before it is reused, and the stack's functions are pinned to the
/// object version that was checked or uploaded. (A region of its own, so
/// that its artifacts bucket is this test's alone.)
#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_lambda_zip_is_replaced_and_the_stack_runs_the_checked_version() {
    let moto = moto();
    let install = Install::new(moto);
    let region = "eu-west-1";
    let first = install.init("pinned", &["--region", region]);
    let (bucket, key) = (
        first["artifact"]["bucket"].as_str().unwrap().to_string(),
        first["artifact"]["key"].as_str().unwrap().to_string(),
    );
    assert_eq!(bucket, format!("git2s3-artifacts-123456789012-{region}"));
    let pinned = first["artifact"]["version"].as_str().unwrap().to_string();
    let mut config = moto.sdk_config().await.into_builder();
    config.set_region(Some(aws_types::region::Region::new(region)));
    let config = config.build();
    let cf = aws_sdk_cloudformation::Client::new(&config);
    let parameter =
        |stack: aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput| {
            stack.stacks()[0]
                .parameters()
                .iter()
                .find(|p| p.parameter_key() == Some("LambdaCodeObjectVersion"))
                .and_then(|p| p.parameter_value().map(str::to_string))
        };
    let stack = cf
        .describe_stacks()
        .stack_name("pinned")
        .send()
        .await
        .unwrap();
    assert_eq!(parameter(stack).as_deref(), Some(pinned.as_str()));

    // Someone with write access swaps the object at the zip's key.
    let s3 = git2s3::aws::s3_client(&config);
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(b"PK\x03\x04 not the bootstrap git2s3 built".to_vec().into())
        .send()
        .await
        .unwrap();
    let second = install.init("pinned", &["--region", region]);
    assert_eq!(second["artifact"]["uploaded"], true, "{second}");
    let repinned = second["artifact"]["version"].as_str().unwrap().to_string();
    assert_ne!(repinned, pinned);
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .version_id(&repinned)
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(
        bytes.as_ref(),
        std::fs::read(lambda_zip()).unwrap().as_slice()
    );
    let stack = cf
        .describe_stacks()
        .stack_name("pinned")
        .send()
        .await
        .unwrap();
    assert_eq!(parameter(stack).as_deref(), Some(repinned.as_str()));
}

/// Safety: with no terminal (as here: stdin is not one) and without
/// --yes, nothing is changed or deleted; a command that would change
/// something stops with exit 1 and says to pass --yes. Before, no terminal
/// counted as a yes, so `git2s3 destroy < /dev/null` deleted everything.
#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_changed_or_deleted_without_an_explicit_yes() {
    let moto = moto();
    let install = Install::new(moto);
    install.init("consent", &[]);
    for ci in [None, Some("true")] {
        let mut destroy = install.run(["destroy"]);
        if let Some(ci) = ci {
            destroy = destroy.env("CI", ci);
        }
        let err = destroy.fails();
        assert!(err.contains("pass --yes to apply without asking"), "{err}");
        assert_eq!(
            stack_status(moto, "consent").await.as_deref(),
            Some("CREATE_COMPLETE")
        );
        assert!(secret(moto, "git2s3/consent/webhook-secret")
            .await
            .is_some());

        let mut update = install
            .run(["update-stack"])
            .env("GIT2S3_LOG_RETENTION_DAYS", "60");
        if let Some(ci) = ci {
            update = update.env("CI", ci);
        }
        let err = update.fails();
        assert!(err.contains("pass --yes"), "{err}");
    }
    let cf = git2s3::aws::cloudformation_client(&moto.sdk_config().await);
    let info = git2s3::deploy::stack::describe(&cf, "consent")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        info.parameters["LogRetentionDays"], "30",
        "update-stack changed the stack"
    );

    // init of a new stack stops before it makes anything.
    let err = install
        .run([
            "init",
            "--stack-name",
            "unasked",
            "--provider",
            "generic",
            "--repo",
            "acme/api",
        ])
        .args([
            std::ffi::OsStr::new("--lambda-zip"),
            lambda_zip().as_os_str(),
        ])
        .args(["--architecture", architecture()])
        .fails();
    assert!(err.contains("pass --yes"), "{err}");
    assert_eq!(stack_status(moto, "unasked").await, None);
    assert!(secret(moto, "git2s3/unasked/webhook-secret")
        .await
        .is_none());
}

/// Safety: a mistaken destroy loses no secret. destroy schedules its
/// secrets for deletion with a recovery window (7 days unless
/// --secret-recovery-days), and init within the window restores them with
/// their old values; --force-delete-secrets deletes them at once.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_survive_a_destroy_and_init_restores_them() {
    let moto = moto();
    let install = Install::new(moto);
    install.init("undo", &[]);
    let webhook = secret(moto, "git2s3/undo/webhook-secret").await.unwrap();
    let removed: Value = serde_json::from_str(
        &install
            .run(["--output", "json", "destroy", "--yes"])
            .stdout(),
    )
    .unwrap();
    assert_eq!(removed["secrets_recoverable_days"], 7, "{removed}");
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    let described = sm
        .describe_secret()
        .secret_id("git2s3/undo/webhook-secret")
        .send()
        .await
        .unwrap();
    assert!(
        described.deleted_date().is_some(),
        "not scheduled for deletion"
    );

    install.init("undo", &[]);
    assert_eq!(
        secret(moto, "git2s3/undo/webhook-secret").await.as_deref(),
        Some(webhook.as_str()),
        "init did not restore the secret with its old value"
    );

    let removed: Value = serde_json::from_str(
        &install
            .run([
                "--output",
                "json",
                "destroy",
                "--yes",
                "--force-delete-secrets",
            ])
            .stdout(),
    )
    .unwrap();
    assert_eq!(
        removed["secrets_recoverable_days"],
        Value::Null,
        "{removed}"
    );
    let gone = sm
        .describe_secret()
        .secret_id("git2s3/undo/webhook-secret")
        .send()
        .await;
    assert!(gone.is_err(), "the secret is still there: {gone:?}");
}

/// Safety: the deployed stack is the baseline, not the local file. From an
/// empty directory, `update-stack --diff --stack-name S` planned the output
/// bucket's name and the deploy key back to empty, which replaces the
/// bucket; --yes would have applied it. Now every setting neither given
/// nor in git2s3.yaml keeps the stack's value, and a plan that would
/// replace the bucket or change the deploy key or a secret's id needs
/// --allow-replace on top of --yes.
#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_stack_is_the_baseline_and_replacing_needs_allow_replace() {
    let moto = moto();
    let install = Install::new(moto);
    install.init("baseline", &["--bucket", "baseline-zips"]);
    // A directory with no git2s3.yaml: nothing to change, and it says what
    // it kept.
    let in_empty_dir = |args: &[&str]| {
        crate::util::git2s3()
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .args(args)
            .into_command()
    };
    let (mut cmd, _dir) = in_empty_dir(&["update-stack", "--diff", "--stack-name", "baseline"]);
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("stack baseline: no changes"), "{text}");
    assert!(
        text.contains("kept from the deployed stack")
            && text.contains("OutputBucketName")
            && text.contains("PublicSSHKey"),
        "{text}"
    );
    let (mut cmd, dir) = in_empty_dir(&["update-stack", "--yes", "--stack-name", "baseline"]);
    let out = cmd.output().unwrap();
    let applied = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(applied.contains("baseline: CREATE_COMPLETE"), "{applied}");
    assert!(
        !dir.path().join("git2s3.yaml").exists(),
        "an incomplete git2s3.yaml was written"
    );

    // A new deploy key in the configuration: refused without --allow-replace.
    let config = std::fs::read_to_string(install.config()).unwrap();
    let old_key = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("public_ssh_key: "))
        .unwrap()
        .to_string();
    let new_key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl other";
    std::fs::write(install.config(), config.replace(&old_key, new_key)).unwrap();
    let diff = install.run(["update-stack", "--diff"]).output();
    let shown = String::from_utf8_lossy(&diff.stdout).to_string();
    assert_eq!(diff.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("PublicSSHKey") && shown.contains("(needs --allow-replace)"),
        "{shown}"
    );
    let err = install.run(["update-stack", "--yes"]).fails();
    assert!(
        err.contains("changes PublicSSHKey") && err.contains("--allow-replace"),
        "{err}"
    );
    let cf = git2s3::aws::cloudformation_client(&moto.sdk_config().await);
    let info = git2s3::deploy::stack::describe(&cf, "baseline")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.parameters["PublicSSHKey"], old_key);
    let out = install
        .run(["update-stack", "--yes", "--allow-replace"])
        .stdout();
    assert!(out.contains("baseline: UPDATE_COMPLETE"), "{out}");
    let info = git2s3::deploy::stack::describe(&cf, "baseline")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.parameters["PublicSSHKey"], new_key);
}

/// A reader that closes the pipe at once (`git2s3 status | head -0`): the
/// command ends quietly with exit 0, as ripgrep does. Before, it panicked
/// with exit 101.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_ends_quietly_with_exit_0() {
    let moto = moto();
    let install = Install::new(moto);
    install.init("piped", &[]);
    for args in [&["status"][..], &["--output", "json", "status"][..]] {
        let (mut cmd, _dir) = install.run(args).into_command();
        let mut child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away before a line is read
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{stderr}"
        );
    }
}

/// Every prompt has a flag: the wizard's filter and retention screens too
/// (--include-ref, --exclude-ref, --include-path, --noncurrent-version-days).
/// And update-stack refuses a new architecture without a Lambda zip built
/// for it, as init does: the zip the stack runs would not start.
#[tokio::test(flavor = "multi_thread")]
async fn filters_and_retention_have_flags_and_a_new_architecture_needs_its_zip() {
    let moto = moto();
    let install = Install::new(moto);
    install.init(
        "flagged",
        &[
            "--include-ref",
            "main",
            "--include-ref",
            "release/*",
            "--exclude-ref",
            "wip/*",
            "--include-path",
            "src/**",
            "--noncurrent-version-days",
            "30",
        ],
    );
    let cf = git2s3::aws::cloudformation_client(&moto.sdk_config().await);
    let info = git2s3::deploy::stack::describe(&cf, "flagged")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.parameters["IncludeRefs"], "main,release/*");
    assert_eq!(info.parameters["ExcludeRefs"], "wip/*");
    assert_eq!(info.parameters["IncludePaths"], "src/**");
    assert_eq!(info.parameters["NoncurrentVersionDays"], "30");

    let other = match architecture() {
        "arm64" => "x86_64",
        _ => "arm64",
    };
    let err = install
        .run(["update-stack", "--diff", "--architecture", other])
        .fails();
    assert!(
        err.contains(&format!("lambda.architecture is {other}"))
            && err.contains("pass --lambda-zip with a zip built for"),
        "{err}"
    );
}

/// `git2s3 logs` reads the functions' log groups (moto has them): the
/// worker's events since a time, a filter, and JSON one event per line.
#[tokio::test(flavor = "multi_thread")]
async fn logs_prints_the_functions_events_as_text_or_json_lines() {
    let moto = moto();
    let install = Install::new(moto);
    install.init("logged", &[]);
    let cf = git2s3::aws::cloudformation_client(&moto.sdk_config().await);
    let info = git2s3::deploy::stack::describe(&cf, "logged")
        .await
        .unwrap()
        .unwrap();
    let outputs = info.core();
    for (group, messages) in [
        (
            outputs.worker_log_group.unwrap(),
            ["zip written key=acme/api/main", "job failed error=boom"],
        ),
        (
            outputs.receiver_log_group.unwrap(),
            ["push queued repo=acme/api", "push queued again"],
        ),
    ] {
        put_log_lines(moto, &group, -60_000, 1, &messages).await;
    }
    let text = install.run(["logs", "--since", "1h"]).stdout();
    assert!(
        text.contains("worker   zip written")
            && text.contains("receiver push queued repo=acme/api"),
        "{text}"
    );
    let json = install
        .run([
            "--output", "json", "logs", "worker", "--since", "1h", "--filter", "failed",
        ])
        .stdout();
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    assert_eq!(lines.len(), 1, "{json}");
    assert_eq!(lines[0]["function"], "worker");
    assert_eq!(lines[0]["message"], "job failed error=boom");
    let err = install.run(["logs", "--since", "ten minutes"]).fails();
    assert!(
        err.contains("is not an age such as 30s, 10m, 2h or 1d"),
        "{err}"
    );
}

/// `git2s3 redrive` moves the dead-letter queue's jobs back to the job
/// queue: never without a yes (no terminal here), and a message that is
/// not a job stays. Under `--output json` a refusal, like any error, is
/// one JSON error document.
#[tokio::test(flavor = "multi_thread")]
async fn redrive_moves_dead_jobs_back_only_with_a_yes() {
    let moto = moto();
    let install = Install::new(moto);
    install.init("redriven", &[]);
    let config = moto.sdk_config().await;
    let cf = git2s3::aws::cloudformation_client(&config);
    let info = git2s3::deploy::stack::describe(&cf, "redriven")
        .await
        .unwrap()
        .unwrap();
    let outputs = info.core();
    let dlq = outputs.dead_letter_queue_url.unwrap();
    let queue = outputs.job_queue_url.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let jobs: Vec<git2s3_lambda::Job> = ["main", "release"]
        .iter()
        .map(|branch| git2s3_lambda::Job {
            provider: git2s3_lambda::Provider::Github,
            method: git2s3_lambda::Method::GitPull,
            repo: "acme/api".into(),
            git_ref: format!("refs/heads/{branch}"),
            commit: "a".repeat(40),
            ssh_url: None,
            project_id: None,
            delivery_id: format!("d-{branch}"),
            pusher: None,
        })
        .collect();
    for job in &jobs {
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(serde_json::to_string(job).unwrap())
            .message_group_id(job.group_id())
            .message_deduplication_id(job.deduplication_id())
            .send()
            .await
            .unwrap();
    }
    // The worker's log: two tries of d-main (the last one counts), another
    // delivery's failure, and a line that is not an error.
    let group = outputs.worker_log_group.clone().unwrap();
    let lines = [
        r#"{"level":"ERROR","delivery":"d-main","error":"first try: timeout","message":"job failed"}"#,
        r#"{"level":"ERROR","delivery":"d-other","error":"not ours","message":"job failed"}"#,
        r#"{"level":"INFO","delivery":"d-release","message":"zip written"}"#,
        r#"{"level":"ERROR","delivery":"d-main","error":"Permission denied (publickey)","message":"job failed"}"#,
    ];
    put_log_lines(moto, &group, 1000, 1, &lines).await;
    sqs.send_message()
        .queue_url(&dlq)
        .message_body("not a job")
        .message_group_id("other")
        .message_deduplication_id("other")
        .send()
        .await
        .unwrap();
    let count = |url: String| {
        let sqs = sqs.clone();
        async move {
            let out = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .unwrap();
            let attrs = out.attributes().unwrap();
            let n = |a: aws_sdk_sqs::types::QueueAttributeName| {
                attrs.get(&a).map_or(0, |v| v.parse::<u64>().unwrap())
            };
            n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                + n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        }
    };

    let refused = install.run(["redrive"]).fails();
    assert!(
        refused.contains("2 job(s) in the dead-letter queue")
            && refused.contains("acme/api refs/heads/main")
            && refused.contains("--yes"),
        "{refused}"
    );
    let error = install.run(["--output", "json", "redrive"]).fails_json();
    assert_eq!(error["kind"], "needs-yes", "{error}");
    assert_eq!(error["hint"], "pass --yes to apply without asking");
    let missing = install
        .run(["--output", "json", "status", "--stack-name", "absent"])
        .fails_json();
    assert_eq!(missing["kind"], "deploy", "{missing}");
    assert!(
        missing["hint"]
            .as_str()
            .is_some_and(|h| h.starts_with("run `git2s3 init` first")),
        "{missing}"
    );
    assert_eq!(
        count(dlq.clone()).await,
        3,
        "a refused redrive moves nothing"
    );
    assert_eq!(count(queue.clone()).await, 0);

    let report: serde_json::Value = serde_json::from_str(
        &install
            .run(["--output", "json", "redrive", "--yes"])
            .stdout(),
    )
    .unwrap();
    assert_eq!(report["stack"], "redriven");
    assert_eq!(report["moved"].as_array().unwrap().len(), 2, "{report}");
    // Each job's reason is its delivery's last ERROR line, or null.
    let reason = |delivery: &str| {
        report["moved"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["delivery"] == delivery)
            .map(|d| d["reason"].clone())
            .unwrap()
    };
    assert_eq!(
        reason("d-main"),
        "Permission denied (publickey)",
        "{report}"
    );
    assert_eq!(reason("d-release"), serde_json::Value::Null, "{report}");
    assert_eq!(report["unreadable"], 1);
    assert_eq!(report["waiting"], 0, "{report}");
    let received = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let mut refs: Vec<String> = received
        .messages()
        .iter()
        .map(|m| {
            serde_json::from_str::<git2s3_lambda::Job>(m.body().unwrap())
                .unwrap()
                .git_ref
        })
        .collect();
    refs.sort();
    assert_eq!(refs, ["refs/heads/main", "refs/heads/release"]);
    assert_eq!(
        count(dlq).await,
        1,
        "only the message that is not a job stays"
    );
}

/// `status`'s build status: the report function's lines of the last day
/// (as the Lambda writes them; moto runs no Lambda code) give the last
/// status posted and the last one refused, with the scope it needs.
#[tokio::test(flavor = "multi_thread")]
async fn build_status_reports_are_read_from_the_report_functions_log() {
    let moto = moto();
    let group = "/git2s3/reportdemo-pipeline/report";
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config().await);
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .unwrap();
    let lines = [
        r#"{"level":"INFO","message":"status posted","repo":"acme/api","commit":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","state":"Running","context":"git2s3/p"}"#,
        r#"{"level":"INFO","message":"run not reported","reason":"version v1 is not a git2s3 zip"}"#,
        r#"{"level":"ERROR","message":"commit status refused","error":"github refused the commit status for acme/api@0d1a26e (403): the token needs the repo:status scope (classic) or Commit statuses: write (fine-grained)"}"#,
        r#"{"level":"INFO","message":"status posted","repo":"acme/api","commit":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","state":"Succeeded","context":"git2s3/p"}"#,
    ];
    put_log_lines(moto, group, -60_000, 1000, &lines).await;
    let reports = git2s3::deploy::logs::reports(&logs, group).await.unwrap();
    let posted = reports.last_posted.expect("a status was posted");
    assert_eq!(
        (posted.repo.as_str(), posted.state.as_str()),
        ("acme/api", "Succeeded")
    );
    assert!(reports
        .last_refused
        .expect("one was refused")
        .error
        .contains("Commit statuses: write"));
}

/// `pipelines:` lists more pipelines, each with a stack of its own (tagged
/// with its core stack): `update-stack` creates a new one, `status` lists
/// every one, and one no longer listed is deleted only after a yes. A
/// pipeline for a repository the stack does not connect is refused.
#[tokio::test(flavor = "multi_thread")]
async fn pipelines_are_added_listed_and_removed_only_after_a_yes() {
    let moto = moto();
    let install = Install::new(moto);
    install.init(
        "multi",
        &[
            "--repo",
            "acme/web",
            "--bucket",
            "multi-zips",
            "--pipeline-branch",
            "main",
        ],
    );
    let cf = git2s3::aws::cloudformation_client(&moto.sdk_config().await);
    let first = install.config_text();
    std::fs::write(
        install.config(),
        format!("{first}pipelines:\n  - repo: acme/web\n    branch: main\n    buildspec: ci/buildspec.yml\n"),
    )
    .unwrap();
    let out = install
        .run(["--output", "json", "update-stack", "--yes"])
        .stdout();
    assert!(out.contains("multi-acme-web-main"), "{out}");
    // The file update-stack writes keeps the list, so the next run keeps the stack.
    let written = install.config_text();
    assert!(
        written.contains("pipelines:") && written.contains("buildspec: ci/buildspec.yml"),
        "{written}"
    );
    let again = install.run(["update-stack", "--diff"]).output();
    let again = String::from_utf8_lossy(&again.stdout).to_string();
    assert!(!again.contains("would be deleted"), "{again}");
    let web = cf
        .describe_stacks()
        .stack_name("multi-acme-web-main")
        .send()
        .await
        .unwrap();
    let web = &web.stacks()[0];
    assert!(web
        .tags()
        .iter()
        .any(|t| t.key() == Some("git2s3:pipeline-of") && t.value() == Some("multi")));
    assert!(web
        .parameters()
        .iter()
        .any(|p| p.parameter_key() == Some("BuildSpec")
            && p.parameter_value() == Some("ci/buildspec.yml")));

    let status: Value =
        serde_json::from_str(&install.run(["--output", "json", "status"]).stdout()).unwrap();
    let names: Vec<&str> = status["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["stack"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["multi-pipeline", "multi-acme-web-main"], "{status}");
    assert_eq!(status["pipeline"]["stack"]["name"], "multi-pipeline");

    // No longer listed: with no one to ask and no --yes, nothing is deleted.
    std::fs::write(install.config(), &first).unwrap();
    let err = install.run(["update-stack"]).fails();
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(
        stack_status(moto, "multi-acme-web-main").await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    let diff = install.run(["update-stack", "--diff"]).output();
    let text = String::from_utf8_lossy(&diff.stdout).to_string();
    assert!(
        text.contains("multi-acme-web-main: would be deleted"),
        "{text}"
    );
    let out = install
        .run(["--output", "json", "update-stack", "--yes"])
        .stdout();
    assert!(out.contains("DELETE_COMPLETE"), "{out}");
    assert_eq!(stack_status(moto, "multi-acme-web-main").await, None);
    assert_eq!(
        stack_status(moto, "multi-pipeline").await.as_deref(),
        Some("CREATE_COMPLETE")
    );

    // A repository the stack does not connect gets no pipeline.
    std::fs::write(
        install.config(),
        format!("{first}pipelines:\n  - repo: other/tool\n    branch: main\n"),
    )
    .unwrap();
    let err = install.run(["update-stack", "--yes"]).fails();
    assert!(err.contains("no zip is ever made for other/tool"), "{err}");
}
