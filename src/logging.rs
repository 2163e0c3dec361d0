//! Logging for the CLI: human-readable lines on stderr, so that stdout
//! stays clean for `render` and `--output json`.
//!
//! `-v` turns on debug for git2s3, `-vv` trace for everything; RUST_LOG, when
//! set, wins over both.

use tracing_subscriber::EnvFilter;

/// The filter for a `-v` count, unless RUST_LOG says otherwise.
pub fn filter(verbose: u8) -> EnvFilter {
    if let Ok(filter) = EnvFilter::try_from_default_env() {
        return filter;
    }
    EnvFilter::new(match verbose {
        0 => "warn",
        1 => "warn,git2s3=debug,git2s3_lambda=debug",
        _ => "trace",
    })
}

pub fn init(verbose: u8) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(verbose > 1)
        .try_init();
}
