//! Logging in Lambda: JSON lines when `AWS_LAMBDA_LOG_FORMAT` is `JSON`
//! (the stack sets it), plain text otherwise; the level from
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else info.
//!
//! Secrets never reach a log line, at any level. git2s3's own code logs no
//! header value, secret or key. Other crates do below info: at TRACE,
//! `lambda_runtime` logs the raw API Gateway event (GitLab's
//! `X-Gitlab-Token` header is the webhook secret itself), and the AWS SDK
//! logs response bodies (a GetSecretValue answer holds the secret). So
//! [`filter`] lets only git2s3's own crates follow the level down; every
//! other crate is held at info at most.

use tracing::Level;
use tracing_subscriber::EnvFilter;

/// The crates whose log lines git2s3 wrote, and so knows hold no secret.
const OWN_CRATES: &[&str] = &["git2s3", "git2s3_lambda", "bootstrap"];

/// `own` for git2s3's crates; for every other crate, `others`, but never
/// below info.
pub fn filter(own: Level, others: Level) -> EnvFilter {
    let others = others.min(Level::INFO);
    let mut directives = vec![others.as_str().to_ascii_lowercase()];
    let own = own.as_str().to_ascii_lowercase();
    directives.extend(OWN_CRATES.iter().map(|c| format!("{c}={own}")));
    EnvFilter::new(directives.join(","))
}

/// A level as `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` spells it, if it is one.
pub fn parse_level(text: &str) -> Option<Level> {
    text.trim().parse().ok()
}

pub fn init() {
    let level = ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok().as_deref().and_then(parse_level))
        .unwrap_or(Level::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level, level))
        .with_target(false)
        .without_time(); // CloudWatch stamps each line.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_crates_never_log_below_info() {
        let shown = filter(Level::TRACE, Level::TRACE).to_string();
        assert!(
            shown.starts_with("info,") || shown.contains(",info"),
            "{shown}"
        );
        for own in OWN_CRATES {
            assert!(shown.contains(&format!("{own}=trace")), "{shown}");
        }
        assert!(!shown.contains("lambda_runtime"), "{shown}");
        let quiet = filter(Level::WARN, Level::WARN).to_string();
        assert!(quiet.contains("warn") && !quiet.contains("info"), "{quiet}");
    }

    #[test]
    fn levels_parse_as_lambda_spells_them() {
        assert_eq!(parse_level("TRACE"), Some(Level::TRACE));
        assert_eq!(parse_level("warn"), Some(Level::WARN));
        assert_eq!(parse_level("hyper=trace"), None);
    }
}
