//! One module per subcommand, and what they share: loading the
//! configuration from the global flags, the AWS clients, asking for
//! confirmation, and reporting an error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_yaml::Value;

use crate::aws::Clients;
use crate::cli::{Cli, Command, GlobalArgs, StackArgs, TargetArgs};
use crate::settings::{self, Overrides, PipelineSettings, Settings, Sources};

mod apply;
pub mod destroy;
pub mod hook;
pub mod init;
pub mod register;
pub mod render;
pub mod serve;
pub mod status;
pub mod update_stack;
pub mod verify;

/// Runs the command the user asked for.
pub async fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Render(args) => render::run(&cli.global, args),
        Command::Serve(args) => serve::run(&cli.global, args).await,
        Command::Init(args) => init::run(&cli.global, args).await,
        Command::UpdateStack(args) => update_stack::run(&cli.global, args).await,
        Command::Status(args) => status::run(&cli.global, args).await,
        Command::Destroy(args) => destroy::run(&cli.global, args).await,
        Command::RegisterWebhook(args) => register::run(&cli.global, args, false).await,
        Command::UnregisterWebhook(args) => register::run(&cli.global, args, true).await,
        Command::Verify(args) => verify::run(&cli.global, args).await,
        Command::Hook(command) => hook::run(&cli.global, command).await,
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

/// The AWS clients for these flags and settings.
pub async fn clients(global: &GlobalArgs, settings: &Settings) -> Clients {
    Clients::new(&crate::aws::sdk_config(&aws_options(global, settings)).await)
}

/// Loads the configuration: defaults < file < GIT2S3_* < `overrides`.
pub fn load_settings(global: &GlobalArgs, overrides: &Overrides) -> anyhow::Result<Settings> {
    load(global, overrides, false)
}

fn load(global: &GlobalArgs, overrides: &Overrides, creating: bool) -> anyhow::Result<Settings> {
    let env = |name: &str| std::env::var(name).ok();
    Ok(settings::load(&Sources {
        config_file: global.config.as_deref(),
        creating,
        env: &env,
        overrides,
    })?)
}

/// The file `init` and `update-stack` write.
pub fn config_path(global: &GlobalArgs) -> PathBuf {
    global
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(settings::DEFAULT_CONFIG_FILE))
}

/// The configuration with the stack flags laid on top. `--pipeline-branch`
/// is applied last, as it needs the merged repository list. `creating`
/// (init) accepts a --config file that does not exist yet.
pub fn load_with_stack_flags(
    global: &GlobalArgs,
    args: &StackArgs,
    creating: bool,
) -> anyhow::Result<Settings> {
    let mut overrides = target_overrides(&args.target);
    let mut text = |key: &'static str, value: &Option<String>| {
        if let Some(v) = value {
            overrides.insert(key, Value::String(v.clone()));
        }
    };
    text("method", &args.method);
    text("bucket.name", &args.bucket);
    text("lambda.architecture", &args.architecture);
    text("region", &global.region);
    let mut settings = load(global, &overrides, creating)?;
    if let Some(branch) = &args.pipeline_branch {
        let repo = settings.repos.first().cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "--pipeline-branch needs the repository the pipeline builds: pass --repo OWNER/REPO"
            )
        })?;
        let old = settings.pipeline.take();
        settings.pipeline = Some(PipelineSettings {
            repo,
            branch: branch.clone(),
            stack_name: old.as_ref().and_then(|p| p.stack_name.clone()),
            build_image: old.and_then(|p| p.build_image),
        });
        settings.validate()?;
    }
    Ok(settings)
}

/// The configuration keys the target flags set: stack, provider, API URL,
/// repositories, organization.
pub fn target_overrides(args: &TargetArgs) -> Overrides {
    let mut overrides = Overrides::new();
    let pairs = [
        ("stack_name", &args.stack_name),
        ("provider", &args.provider),
        ("api_url", &args.api_url),
        ("org", &args.org),
    ];
    for (key, value) in pairs {
        if let Some(v) = value {
            overrides.insert(key, Value::String(v.clone()));
        }
    }
    if !args.repos.is_empty() {
        let list = args.repos.iter().cloned().map(Value::String).collect();
        overrides.insert("repos", Value::Sequence(list));
    }
    overrides
}

/// Whether to go on without asking: --yes, or no one to ask (CI is set, or
/// stdin is not a terminal).
pub fn assume_yes(global: &GlobalArgs) -> bool {
    global.yes || std::env::var_os("CI").is_some() || !std::io::stdin().is_terminal()
}

/// Asks a yes/no question on the terminal; `yes` answers it without asking.
pub fn confirm(yes: bool, question: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    Ok(dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()?)
}

/// Prints `value` as JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
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
