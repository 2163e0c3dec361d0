//! Logging for the CLI: human-readable lines on stderr, so that stdout
//! stays clean for `render` and `--output json`.
//!
//! `-v` turns on debug for git2s3, `-vv` trace; `RUST_LOG`, when set to a
//! level, wins over both. Whatever the level, other crates never log below
//! info (the same filter as the Lambda's, `git2s3_lambda::logging`): below
//! it they print HTTP headers and bodies, where tokens and secrets travel.

use git2s3_lambda::logging::{filter as level_filter, parse_level};
use tracing::Level;
use tracing_subscriber::EnvFilter;

/// The filter for a `-v` count, unless RUST_LOG names a level.
pub fn filter(verbose: u8) -> EnvFilter {
    if let Ok(text) = std::env::var("RUST_LOG") {
        match parse_level(&text) {
            Some(level) => return level_filter(level, level),
            None => eprintln!(
                "warning: RUST_LOG={text} is not a level: git2s3 takes trace, debug, info, warn or \
                 error there (other crates never log below info, so no secret reaches a log); using -v"
            ),
        }
    }
    match verbose {
        // Other crates' warnings (the SDK's retries and credential chain,
        // with whole responses in them) are detail: behind -v.
        0 => level_filter(Level::WARN, Level::ERROR),
        1 => level_filter(Level::DEBUG, Level::WARN),
        _ => level_filter(Level::TRACE, Level::TRACE),
    }
}

pub fn init(verbose: u8) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(verbose))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(verbose > 1)
        .try_init();
}
