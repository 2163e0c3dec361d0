//! One module per subcommand, and the two things they share: loading the
//! configuration from the global flags, and reporting an error.

use std::process::ExitCode;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::settings::{self, Overrides, Settings, Sources};

pub mod render;
pub mod serve;

/// Runs the command the user asked for.
pub async fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Render(args) => render::run(&cli.global, args),
        Command::Serve(args) => serve::run(&cli.global, args).await,
    }
}

/// The AWS options from the global flags, with the configuration's region
/// as the fallback for --region.
pub fn aws_options(global: &GlobalArgs, settings: &Settings) -> crate::aws::AwsOptions {
    crate::aws::AwsOptions {
        profile: global.profile.clone(),
        region: global.region.clone().or_else(|| settings.region.clone()),
        endpoint_url: global.endpoint_url.clone(),
    }
}

/// Loads the configuration: defaults < file < GIT2S3_* < `overrides`.
pub fn load_settings(global: &GlobalArgs, overrides: &Overrides) -> anyhow::Result<Settings> {
    let env = |name: &str| std::env::var(name).ok();
    Ok(settings::load(&Sources {
        config_file: global.config.as_deref(),
        env: &env,
        overrides,
    })?)
}

/// Prints an error and its causes to stderr, and gives the exit code.
/// A closed pipe (`git2s3 render | head`) is not a failure.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let broken_pipe = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    ExitCode::FAILURE
}
