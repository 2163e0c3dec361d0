//! The one rule for where a credential may be sent: an https:// URL, or
//! http:// to this machine (a local mock or tunnel), so that a token never
//! crosses the network in clear; and after a redirect, only to the origin
//! it was given for. The CLI's settings (`api_url`), its registration
//! client and the worker's archive download all follow it:
//! [`is_https_or_loopback`] and [`may_carry_credentials`].

use reqwest::Url;

/// An https:// URL with a host, or an http:// URL whose host is loopback.
pub fn is_https_or_loopback(url: &str) -> bool {
    if let Some(rest) = url.strip_prefix("https://") {
        return !rest.is_empty();
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => h,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Whether a request to `to`, reached by a redirect from a request to
/// `from` that carried a credential (a token header, or basic auth), may
/// carry it too: the same scheme, host and port, and that one secure. A
/// provider's redirect to its own download host (GitHub's codeload, with
/// a signed URL) is followed without it.
pub fn may_carry_credentials(from: &Url, to: &Url) -> bool {
    from.scheme() == to.scheme()
        && from.host_str() == to.host_str()
        && from.port_or_known_default() == to.port_or_known_default()
        && is_https_or_loopback(to.as_str())
}

/// A name as one URL path segment (or query value): every byte but
/// letters, digits and `-_.~` percent-encoded, `/` included. Every API URL
/// git2s3 builds puts names through this, so a name never adds a segment,
/// a query or a fragment.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `owner/repo` (or a deeper path) with each of its components encoded
/// on its own, for APIs that take the path as segments.
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// The most redirects followed from one request.
pub const MAX_REDIRECTS: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_single_segments() {
        assert_eq!(encode_segment("group/sub api"), "group%2Fsub%20api");
        assert_eq!(encode_segment("%2e%2e"), "%252e%252e");
        assert_eq!(encode_path("acme/re?po#x"), "acme/re%3Fpo%23x");
    }

    #[test]
    fn credentials_follow_a_redirect_only_to_the_same_secure_origin() {
        let url = |u: &str| Url::parse(u).unwrap();
        let api = url("https://git.example.com/api/v4/projects/1/repository/archive.zip");
        assert!(may_carry_credentials(
            &api,
            &url("https://git.example.com/other")
        ));
        assert!(may_carry_credentials(
            &api,
            &url("https://git.example.com:443/x")
        ));
        for other in [
            "https://evil.example.com/x",
            "http://git.example.com/x",
            "https://git.example.com:8443/x",
            "https://codeload.github.com/acme/api/legacy.zip/main",
        ] {
            assert!(!may_carry_credentials(&api, &url(other)), "{other}");
        }
        let local = url("http://127.0.0.1:8080/a");
        assert!(may_carry_credentials(
            &local,
            &url("http://127.0.0.1:8080/b")
        ));
        assert!(!may_carry_credentials(
            &local,
            &url("http://127.0.0.1:9090/b")
        ));
    }

    #[test]
    fn api_urls_are_https_or_this_machine() {
        for ok in [
            "https://git.example.com/api/v3",
            "http://127.0.0.1:8080",
            "http://localhost/api/v4",
            "http://[::1]:9000/x",
        ] {
            assert!(is_https_or_loopback(ok), "{ok}");
        }
        for bad in [
            "http://git.example.com",
            "http://127.0.0.1.evil.com",
            "https://",
            "ftp://x",
            "http://localhost.example.com:80",
        ] {
            assert!(!is_https_or_loopback(bad), "{bad}");
        }
    }

    #[test]
    fn a_loopback_prefix_on_another_host_is_not_loopback() {
        // The worker's own check once took these for loopback.
        for bad in ["http://127.0.0.1.evil.com/x", "http://localhost@evil.com/"] {
            assert!(!is_https_or_loopback(bad), "{bad}");
        }
    }
}
