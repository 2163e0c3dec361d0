//! SSH host keys the worker trusts: those of github.com, gitlab.com and
//! bitbucket.org, shipped in the binary (`known_hosts.txt`, as each service
//! publishes them), plus any the stack is configured with, in OpenSSH
//! known_hosts format (`host[,host…] type base64`, `[host]:port` for a port
//! other than 22). Hashed host names (`|1|…`) are not read: list hosts in
//! the clear, as `ssh-keyscan` prints them without `-H`.
//!
//! The Quick Start turned host-key checking off. git2s3 refuses any host
//! whose key it cannot match, and says how to add it.

use base64::Engine;
use sha2::{Digest, Sha256};

const BUILT_IN: &str = include_str!("known_hosts.txt");

/// One trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostKey {
    /// Patterns as written: `host` or `[host]:port`.
    hosts: Vec<String>,
    key_type: String,
    blob: Vec<u8>,
}

/// The keys the worker trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHosts {
    keys: Vec<HostKey>,
}

/// A known_hosts line that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("known_hosts line {line}: {reason} (expected `host key-type base64-key`, as ssh-keyscan prints it)")]
pub struct BadKnownHost {
    pub line: usize,
    pub reason: &'static str,
}

impl KnownHosts {
    /// The built-in keys and the configured ones.
    pub fn with_extra(extra: &str) -> Result<Self, BadKnownHost> {
        let mut keys = parse(BUILT_IN).expect("the built-in known_hosts parses");
        keys.extend(parse(extra)?);
        Ok(KnownHosts { keys })
    }

    /// Whether `blob` is a trusted key for `host` on `port`.
    pub fn trusts(&self, host: &str, port: u16, blob: &[u8]) -> bool {
        let pattern = pattern(host, port);
        self.keys
            .iter()
            .any(|k| k.blob == blob && k.hosts.iter().any(|h| h.eq_ignore_ascii_case(&pattern)))
    }

    /// Whether any key is listed for `host` on `port` (to tell "unknown
    /// host" from "changed key" in messages).
    pub fn knows(&self, host: &str, port: u16) -> bool {
        let pattern = pattern(host, port);
        self.keys
            .iter()
            .any(|k| k.hosts.iter().any(|h| h.eq_ignore_ascii_case(&pattern)))
    }
}

/// The hosts and ports `text` (known_hosts lines) lists keys for, host in
/// lower case; lines that do not parse, and wildcard patterns, list none.
pub fn hosts(text: &str) -> Vec<(String, u16)> {
    let keys = text.lines().filter_map(|line| parse(line).ok()).flatten();
    let mut out = Vec::new();
    for pattern in keys.flat_map(|k| k.hosts) {
        let (host, port) = match pattern.strip_prefix('[') {
            Some(rest) => match rest.split_once("]:") {
                Some((h, p)) => match p.parse() {
                    Ok(port) => (h.to_string(), port),
                    Err(_) => continue,
                },
                None => continue,
            },
            None => (pattern.clone(), 22),
        };
        if !host.is_empty() && !host.contains(['*', '?', '!']) {
            out.push((host.to_ascii_lowercase(), port));
        }
    }
    out
}

/// `host` for port 22, `[host]:port` otherwise, as OpenSSH writes them.
pub fn pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:<base64>`, as `ssh-keygen -l` prints a key's fingerprint.
pub fn fingerprint(blob: &[u8]) -> String {
    let digest = Sha256::digest(blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

fn parse(text: &str) -> Result<Vec<HostKey>, BadKnownHost> {
    let mut keys = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason| BadKnownHost {
            line: i + 1,
            reason,
        };
        let mut fields = line.split_whitespace();
        let (Some(hosts), Some(key_type), Some(key)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(bad("it has fewer than three fields"));
        };
        if hosts.starts_with('@') {
            return Err(bad("markers such as @cert-authority are not supported"));
        }
        if hosts.starts_with('|') {
            return Err(bad(
                "hashed host names are not supported; list the host in the clear",
            ));
        }
        let blob = base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| bad("the key is not valid base64"))?;
        keys.push(HostKey {
            hosts: hosts.split(',').map(String::from).collect(),
            key_type: key_type.to_string(),
            blob,
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_keys_have_the_published_fingerprints() {
        let keys = parse(BUILT_IN).unwrap();
        let got: Vec<(String, String, String)> = keys
            .iter()
            .map(|k| (k.hosts[0].clone(), k.key_type.clone(), fingerprint(&k.blob)))
            .collect();
        // As published by GitHub, GitLab and Bitbucket.
        for (host, key_type, print) in [
            (
                "github.com",
                "ssh-ed25519",
                "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
            ),
            (
                "github.com",
                "ecdsa-sha2-nistp256",
                "SHA256:p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM",
            ),
            (
                "github.com",
                "ssh-rsa",
                "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
            ),
            (
                "gitlab.com",
                "ssh-ed25519",
                "SHA256:eUXGGm1YGsMAS7vkcx6JOJdOGHPem5gQp4taiCfCLB8",
            ),
            (
                "gitlab.com",
                "ecdsa-sha2-nistp256",
                "SHA256:HbW3g8zUjNSksFbqTiUWPWg2Bq1x8xdGUrliXFzSnUw",
            ),
            (
                "gitlab.com",
                "ssh-rsa",
                "SHA256:ROQFvPThGrW4RuWLoL9tq9I9zJ42fK4XywyRtbOz/EQ",
            ),
            (
                "bitbucket.org",
                "ssh-ed25519",
                "SHA256:ybgmFkzwOSotHTHLJgHO0QN8L0xErw6vd0VhFA9m3SM",
            ),
        ] {
            assert!(
                got.contains(&(host.into(), key_type.into(), print.into())),
                "{host} {key_type} {print} missing from {got:?}"
            );
        }
    }

    #[test]
    fn configured_keys_are_trusted_for_their_host_and_port_only() {
        let blob = b"not-a-real-key-blob";
        let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
        let hosts = KnownHosts::with_extra(&format!(
            "# mine\n[git.internal]:2222,10.0.0.5 ssh-ed25519 {b64}\n"
        ))
        .unwrap();
        assert!(hosts.trusts("git.internal", 2222, blob));
        assert!(hosts.trusts("10.0.0.5", 22, blob));
        assert!(!hosts.trusts("git.internal", 22, blob));
        assert!(!hosts.trusts("git.internal", 2222, b"another"));
        assert!(hosts.knows("git.internal", 2222));
        assert!(!hosts.knows("elsewhere", 22));
    }

    #[test]
    fn unreadable_lines_are_refused_with_their_number() {
        for (text, reason) in [
            ("host ssh-ed25519", "fewer than three fields"),
            ("|1|abc|def ssh-ed25519 AAAA", "hashed"),
            ("host ssh-ed25519 !!!", "base64"),
            ("@revoked host ssh-ed25519 AAAA", "markers"),
        ] {
            let err = KnownHosts::with_extra(&format!("\n{text}")).unwrap_err();
            assert_eq!(err.line, 2);
            assert!(err.to_string().contains(reason), "{err}");
        }
    }
}
