//! The one rule for where a credential may be sent: an https:// URL, or
//! http:// to this machine (a local mock or tunnel), so that a token never
//! crosses the network in clear. The CLI's settings (`api_url`) and the
//! worker's archive download both check URLs with [`is_https_or_loopback`].

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

#[cfg(test)]
mod tests {
    use super::*;

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
