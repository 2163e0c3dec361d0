//! Who may call: HMAC-SHA256 signatures and GitLab tokens, checked in
//! constant time against every configured secret (so a secret can be
//! rotated), and an optional source-IP allow list.
//!
//! An empty or blank secret is dropped when the secrets are loaded, so it
//! can never authenticate. No function here logs or formats a secret or a
//! signature.

use std::fmt;
use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// One webhook secret. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The webhook secrets a secret's text holds: one per line, the current
/// one first (what hooks are registered with), trimmed, blank lines left out.
pub fn secret_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|s| !s.is_empty())
}

/// The secrets a webhook may be signed with: the current one, and during a
/// rotation the next one.
#[derive(Clone, Debug, Default)]
pub struct Secrets(Vec<Secret>);

impl Secrets {
    /// Secrets one per line, as the Secrets Manager secret holds them.
    /// Blank lines and surrounding white space are dropped.
    pub fn from_lines(text: &str) -> Self {
        Secrets(secret_lines(text).map(|s| Secret(s.to_string())).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Checks a `sha256=<hex>` signature of `body` against every secret.
    pub fn verify_hmac_sha256(&self, body: &[u8], header: &str) -> bool {
        match header.trim().strip_prefix("sha256=") {
            Some(hex_digest) => self.verify_hmac_sha256_hex(body, hex_digest),
            None => false,
        }
    }

    /// Checks a bare hex HMAC-SHA256 of `body` (Gitea's and Forgejo's
    /// `X-Gitea-Signature`, `X-Forgejo-Signature`) against every secret.
    pub fn verify_hmac_sha256_hex(&self, body: &[u8], hex_digest: &str) -> bool {
        let Ok(expected) = hex::decode(hex_digest.trim()) else {
            return false;
        };
        let mut ok = false;
        for secret in &self.0 {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.0.as_bytes())
                .expect("HMAC takes keys of any length");
            mac.update(body);
            // verify_slice compares in constant time.
            ok |= mac.verify_slice(&expected).is_ok();
        }
        ok
    }

    /// Checks a plain token (GitLab's `X-Gitlab-Token`) against every
    /// secret. Both sides are hashed first, so that the comparison takes the
    /// same time whatever their lengths.
    pub fn verify_token(&self, token: &str) -> bool {
        let given = Sha256::digest(token.as_bytes());
        let mut ok = subtle::Choice::from(0);
        for secret in &self.0 {
            ok |= Sha256::digest(secret.0.as_bytes()).ct_eq(&given);
        }
        bool::from(ok)
    }
}

/// The `sha256=<hex>` signature a sender computes; for git2s3's own
/// post-receive hook and for tests.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// CIDR blocks allowed to call without a signature.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedIps(Vec<(IpAddr, u8)>);

/// A CIDR block that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a CIDR block such as 192.0.2.0/24 or 2001:db8::/32")]
pub struct BadCidr(pub String);

impl AllowedIps {
    /// Comma-separated CIDRs, as the Lambda's environment holds them.
    pub fn from_csv(text: &str) -> Result<Self, BadCidr> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_cidr)
            .collect::<Result<_, _>>()
            .map(AllowedIps)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|&(net, len)| match (canonical(net), ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), len),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), len),
            _ => false,
        })
    }
}

/// One CIDR block: an address and a prefix length that fits it.
pub fn parse_cidr(item: &str) -> Result<(IpAddr, u8), BadCidr> {
    let bad = || BadCidr(item.to_string());
    let (addr, len) = item.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > if addr.is_ipv4() { 32 } else { 128 } {
        return Err(bad());
    }
    Ok((addr, len))
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    let full = usize::from(len / 8);
    let rest = len % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_from_any_configured_secret_verifies() {
        let secrets = Secrets::from_lines("old-secret\n\n  new-secret  \n");
        assert_eq!(secrets.len(), 2);
        let body = b"{\"ref\":\"refs/heads/main\"}";
        assert!(secrets.verify_hmac_sha256(body, &sign("old-secret", body)));
        assert!(secrets.verify_hmac_sha256(body, &sign("new-secret", body)));
        assert!(!secrets.verify_hmac_sha256(body, &sign("other", body)));
        assert!(!secrets.verify_hmac_sha256(b"tampered", &sign("old-secret", body)));
    }

    #[test]
    fn malformed_signatures_never_verify() {
        let secrets = Secrets::from_lines("s");
        for header in [
            "",
            "sha256=",
            "sha1=abcd",
            "sha256=zz",
            "sha256=abcd",
            "abcd",
        ] {
            assert!(!secrets.verify_hmac_sha256(b"x", header), "{header:?}");
        }
    }

    #[test]
    fn empty_secrets_never_authenticate() {
        let none = Secrets::from_lines("\n   \n");
        assert!(none.is_empty());
        assert!(!none.verify_hmac_sha256(b"x", &sign("", b"x")));
        assert!(!none.verify_token(""));
    }

    #[test]
    fn tokens_compare_exactly() {
        let secrets = Secrets::from_lines("tok-1\ntok-2");
        assert!(secrets.verify_token("tok-2"));
        assert!(!secrets.verify_token("tok-"));
        assert!(!secrets.verify_token("tok-22"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let secrets = Secrets::from_lines("hunter2");
        assert!(!format!("{secrets:?}").contains("hunter2"));
    }

    #[test]
    fn allow_list_matches_cidr_blocks() {
        let ips =
            AllowedIps::from_csv("104.192.136.0/21, 2401:1d80:1010::/64,10.0.0.1/32").unwrap();
        assert!(ips.contains("104.192.143.255".parse().unwrap()));
        assert!(!ips.contains("104.192.144.0".parse().unwrap()));
        assert!(ips.contains("2401:1d80:1010::1".parse().unwrap()));
        assert!(ips.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(!ips.contains("10.0.0.2".parse().unwrap()));
        assert!(AllowedIps::from_csv("").unwrap().is_empty());
        assert!(AllowedIps::from_csv("10.0.0.0/33").is_err());
        assert!(AllowedIps::from_csv("10.0.0.0").is_err());
    }
}
