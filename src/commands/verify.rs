//! `git2s3 verify`: the test push on its own. [`crate::verify`] finds what
//! to send, sends it and waits; this prints the verdict.

use std::process::ExitCode;
use std::time::Duration;

use git2s3_lambda::Provider;

use crate::cli::{GlobalArgs, OutputFormat, VerifyArgs};
use crate::context;
use crate::progress::Progress;
use crate::register;
use crate::verify::{print_text, test_push, Options};

/// `git2s3 verify`.
pub async fn run(global: &GlobalArgs, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let context::Deployed {
        settings,
        clients,
        stack: core,
    } = context::deployed(global, &context::target_overrides(&args.target)).await?;
    let api = match settings.provider == Provider::Generic || args.commit.is_some() {
        true => None,
        false => {
            let can_ask = context::Consent::new(global).can_ask();
            let token = register::token(settings.provider, args.token_env.as_deref(), can_ask)?;
            Some(register::client(
                settings.provider,
                settings.api_url.as_deref(),
                &token,
            )?)
        }
    };
    let options = Options {
        branch: args.branch.as_deref(),
        commit: args.commit.as_deref(),
        ssh_url: args.ssh_url.as_deref(),
        webhook_url: args.webhook_url.as_deref(),
        timeout: Duration::from_secs(args.timeout),
    };
    let progress = Progress::new();
    let verdict = test_push(
        &settings,
        &clients,
        &core,
        api.as_deref(),
        &options,
        &progress,
    )
    .await;
    progress.done();
    match global.output {
        OutputFormat::Json => context::print_json(&verdict)?,
        OutputFormat::Text => print_text(&verdict)?,
    }
    Ok(if verdict.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
