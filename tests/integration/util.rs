//! Runs the `git2s3` binary the way a user would, in an environment with no
//! `GIT2S3_*` or `AWS_*` variables from the outside, and in a scratch
//! directory so that no stray git2s3.yaml is read.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root, for reading `templates/` and `.venv/`.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Git2s3 {
    cmd: Command,
    // Kept alive for the command's lifetime.
    _scratch: tempfile::TempDir,
}

/// `git2s3` with no arguments yet.
pub fn git2s3() -> Git2s3 {
    let scratch = tempfile::tempdir().expect("create scratch dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_git2s3"));
    cmd.current_dir(scratch.path());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("GIT2S3_") || key.starts_with("AWS_") || key == "RUST_LOG" {
            cmd.env_remove(key.as_ref());
        }
    }
    Git2s3 {
        cmd,
        _scratch: scratch,
    }
}

impl Git2s3 {
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn config(mut self, path: &Path) -> Self {
        self.cmd.arg("--config").arg(path);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// The command, and the scratch directory it runs in (keep it alive).
    pub fn into_command(self) -> (Command, tempfile::TempDir) {
        (self.cmd, self._scratch)
    }

    pub fn output(mut self) -> Output {
        self.cmd.output().expect("run git2s3")
    }

    /// Runs with `input` on stdin.
    pub fn output_with_stdin(mut self, input: &str) -> Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run git2s3");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin.write_all(input.as_bytes()).expect("write stdin");
        drop(stdin);
        child.wait_with_output().expect("wait for git2s3")
    }

    /// Runs, asserts success, and returns stdout.
    pub fn stdout(self) -> String {
        let desc = format!("{:?}", self.cmd);
        let out = self.output();
        assert!(
            out.status.success(),
            "{desc} failed with {}:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Runs, asserts failure with nothing on stdout, and returns stderr.
    pub fn fails(self) -> String {
        let desc = format!("{:?}", self.cmd);
        let out = self.output();
        assert!(
            !out.status.success(),
            "{desc} succeeded but should have failed"
        );
        assert!(
            out.stdout.is_empty(),
            "{desc} printed to stdout while failing"
        );
        String::from_utf8(out.stderr).expect("stderr is UTF-8")
    }

    /// Runs (with `--output json`), expects exit 1 and one JSON error
    /// document on stdout, and gives its `error` object.
    pub fn fails_json(self) -> serde_json::Value {
        let desc = format!("{:?}", self.cmd);
        let out = self.output();
        assert_eq!(out.status.code(), Some(1), "{desc} should exit 1");
        let mut doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{desc} printed no one JSON document: {e}"));
        let error = doc["error"].take();
        for key in ["message", "hint", "kind"] {
            assert!(error.get(key).is_some(), "{desc}: no {key} in {error}");
        }
        error
    }
}

/// Writes `text` to a git2s3.yaml in a fresh directory.
pub fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create config dir");
    let path = dir.path().join("git2s3.yaml");
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

/// Waits until something listens on `port`, for up to a minute; `log`
/// says what went wrong if nothing does.
pub fn wait_for_port(port: u16, what: &str, log: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not listen on port {port} within 60 s:\n{}",
            log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
