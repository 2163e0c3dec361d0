//! The `git2s3` binary: parse → logging → run → exit code. Nothing else.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = git2s3::cli::Cli::parse();
    git2s3::logging::init(cli.global.verbose);
    match git2s3::commands::run(&cli).await {
        Ok(code) => code,
        Err(err) => git2s3::commands::report(&err),
    }
}
