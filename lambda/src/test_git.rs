//! Tests only: running the `git` command line in a scratch repository, for
//! the unit tests that check git2s3's zips and pack reading against git's
//! own output.

use std::path::Path;
use std::process::Command;

/// Runs git in `dir` with a fixed identity and UTF-8 paths, and returns its
/// stdout; a failure panics with git's stderr.
pub fn git_bytes(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "protocol.file.allow=always",
            "-c",
            "core.quotePath=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// [`git_bytes`], as text.
pub fn git(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(git_bytes(dir, args)).expect("git prints UTF-8")
}
