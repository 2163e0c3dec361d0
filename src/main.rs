//! The `git2s3` binary: parse → logging → libgit2's process-wide limits
//! (before any thread starts) → run → exit code. Nothing else.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = git2s3::cli::Cli::parse();
    git2s3::logging::init(cli.global.verbose);
    let result = git2s3_lambda::fetch::git::runtime()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(git2s3::commands::run(&cli)));
    match result {
        Ok(code) => code,
        Err(err) => git2s3::failure::report(&err, cli.global.output),
    }
}
