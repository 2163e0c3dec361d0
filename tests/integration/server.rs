//! The real `git2s3 serve` binary, on a free loopback port, against moto,
//! with its log kept for assertions; and a signed webhook sender that
//! speaks git2s3's generic hook format.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use git2s3_lambda::webhook::sign;

use crate::moto::moto;

pub const WEBHOOK_SECRET: &str = "e2e-webhook-secret-0f9b3c";

pub struct Server {
    pub url: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
    child: Child,
}

impl Server {
    /// Starts `git2s3 serve` for `bucket`, fetching with `ssh_key` and trusting `known_hosts`.
    pub fn start(bucket: &str, ssh_key: &Path, known_hosts: &Path) -> Server {
        let args = [
            "--ssh-key".to_string(),
            ssh_key.display().to_string(),
            "--known-hosts".to_string(),
            known_hosts.display().to_string(),
        ];
        Server::start_with(bucket, &args, &[])
    }

    /// Starts `git2s3 serve` for `bucket` with extra arguments and environment.
    /// It is connected to the plain SSH server's repositories under `acme/`
    /// unless `extra_env` says otherwise (GIT2S3_PROVIDER, GIT2S3_ORG, …).
    pub fn start_with(bucket: &str, extra_args: &[String], extra_env: &[(&str, &str)]) -> Server {
        Server::start_through(&moto().endpoint, bucket, extra_args, extra_env)
    }

    /// [`Server::start_with`], its AWS calls sent to `endpoint` (a fault
    /// proxy in front of moto) rather than to moto itself.
    pub fn start_through(
        endpoint: &str,
        bucket: &str,
        extra_args: &[String],
        extra_env: &[(&str, &str)],
    ) -> Server {
        let mut args = vec!["--bucket".to_string(), bucket.to_string()];
        args.extend_from_slice(extra_args);
        let mut env = vec![
            ("GIT2S3_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("GIT2S3_PROVIDER", "generic"),
            ("GIT2S3_ORG", "acme"),
        ];
        env.extend_from_slice(extra_env);
        Server::launch(endpoint, &args, &env)
    }

    /// Starts `git2s3 serve` with the configuration `config` and nothing
    /// else: the bucket, webhook secret and deploy keys come from the stack.
    pub fn beside_stack(config: &Path, known_hosts: &Path) -> Server {
        let args = [
            "--config".to_string(),
            config.display().to_string(),
            "--known-hosts".to_string(),
            known_hosts.display().to_string(),
        ];
        Server::launch(&moto().endpoint, &args, &[])
    }

    /// Starts `git2s3 serve` against `endpoint` with `args` and `env` only.
    fn launch(endpoint: &str, extra_args: &[String], extra_env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.path().join("serve.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_git2s3"));
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().to_string();
            if key.starts_with("GIT2S3_") || key.starts_with("AWS_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .current_dir(dir.path())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra_args)
            .args([
                "--endpoint-url",
                endpoint,
                "--region",
                crate::moto::REGION,
                "-v",
            ])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start git2s3 serve");
        crate::util::wait_for_port(port, "git2s3 serve", || {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
        Server {
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
            child,
        }
    }

    /// Waits up to 60 s until no job is queued or running.
    pub async fn wait_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let health = self.get_json("/healthz").await;
            if health["pending_jobs"] == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "jobs still pending:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// GET `path` (`/healthz`, `/dead-letters`) as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .unwrap_or_else(|e| panic!("serve answers {path}: {e}"))
            .json()
            .await
            .unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to 30 s for `needle` in the log, and returns the log.
    pub async fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log_text();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "`{needle}` never logged:\n{log}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Posts a signed generic push event; returns status and JSON body.
    pub async fn push(
        &self,
        delivery: &str,
        repo: &str,
        ssh_url: &str,
        git_ref: &str,
        after: &str,
    ) -> (u16, serde_json::Value) {
        let body = serde_json::to_vec(&serde_json::json!({
            "ref": git_ref,
            "before": "0000000000000000000000000000000000000000",
            "after": after,
            "repository": { "full_name": repo, "ssh_url": ssh_url },
            "pusher": { "name": "Test Pusher" },
        }))
        .unwrap();
        self.post(delivery, &body, &sign(WEBHOOK_SECRET, &body))
            .await
    }

    /// [`Server::push`], which must be accepted (202).
    pub async fn push_ok(
        &self,
        delivery: &str,
        repo: &str,
        ssh_url: &str,
        git_ref: &str,
        after: &str,
    ) {
        let (status, answer) = self.push(delivery, repo, ssh_url, git_ref, after).await;
        assert_eq!(status, 202, "{answer}\n{}", self.log_text());
    }

    /// Posts a generic push `body` with `signature` to /gitpull.
    pub async fn post(
        &self,
        delivery: &str,
        body: &[u8],
        signature: &str,
    ) -> (u16, serde_json::Value) {
        let headers = [
            ("x-git2s3-event", "push"),
            ("x-git2s3-delivery", delivery),
            ("x-hub-signature-256", signature),
        ];
        self.post_to("/gitpull", &headers, body).await
    }

    /// Posts `body` as JSON to `path` with `headers`; returns status and JSON body.
    pub async fn post_to(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("serve answers");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
