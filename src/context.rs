//! What every command shares, below the commands: the configuration loaded
//! from the global flags, the AWS clients for it, the prompting policy
//! (whether anyone can be asked) and confirmations, and JSON output.
//!
//! It knows the flags ([`crate::cli`]), the configuration
//! ([`crate::settings`]) and the AWS SDK ([`crate::aws`]); no command, and
//! nothing above it, is imported here.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::aws::{AwsOptions, Clients};
use crate::cli::{GlobalArgs, StackArgs, TargetArgs};
use crate::settings::{self, Given, Overrides, Settings, Sources};

/// The AWS options from the global flags, with the configuration's region
/// as the fallback for --region.
pub fn aws_options(global: &GlobalArgs, settings: &Settings) -> AwsOptions {
    AwsOptions {
        profile: global.profile.clone(),
        region: global.region.clone().or_else(|| settings.region.clone()),
        endpoint_url: global.endpoint_url.clone(),
    }
}

/// The AWS clients for these options.
pub async fn clients_for(options: &AwsOptions) -> Clients {
    Clients::new(&crate::aws::sdk_config(options).await)
}

/// The AWS clients for these flags and settings.
pub async fn clients(global: &GlobalArgs, settings: &Settings) -> Clients {
    clients_for(&aws_options(global, settings)).await
}

/// A deployed core stack, with the settings and clients that found it.
pub struct Deployed {
    pub settings: Settings,
    pub clients: Clients,
    pub stack: crate::deploy::stack::StackInfo,
}

/// Loads the configuration and finds its deployed core stack, or says
/// how to deploy it: what each command that reads the stack starts with.
pub async fn deployed(global: &GlobalArgs, overrides: &Overrides) -> anyhow::Result<Deployed> {
    let settings = load_settings(global, overrides)?;
    let clients = clients(global, &settings).await;
    let me = crate::deploy::identity::whoami(&clients).await?;
    let stack =
        crate::deploy::stack::require(&clients.cloudformation, &settings.stack_name, &me.region)
            .await?;
    Ok(Deployed {
        settings,
        clients,
        stack,
    })
}

/// `--stack-name` when given, as overrides.
pub fn stack_name_overrides(stack_name: Option<&String>) -> Overrides {
    let mut overrides = Overrides::new();
    settings::set_flag(&mut overrides, "--stack-name", stack_name);
    overrides
}

/// Loads the configuration: defaults < file < GIT2S3_* < `overrides`.
pub fn load_settings(global: &GlobalArgs, overrides: &Overrides) -> anyhow::Result<Settings> {
    load(global, overrides, false)
}

/// Loads the configuration for `init`, which writes the file: a --config
/// file that does not exist yet is fine.
pub fn load_settings_creating(
    global: &GlobalArgs,
    overrides: &Overrides,
) -> anyhow::Result<Settings> {
    load(global, overrides, true)
}

fn load(global: &GlobalArgs, overrides: &Overrides, creating: bool) -> anyhow::Result<Settings> {
    Ok(load_given(global, overrides, creating)?.0)
}

fn load_given(
    global: &GlobalArgs,
    overrides: &Overrides,
    creating: bool,
) -> anyhow::Result<(Settings, Given)> {
    let env = |name: &str| std::env::var(name).ok();
    Ok(settings::load_given(&Sources {
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

/// The configuration keys the stack flags set, on top of the target flags'.
pub fn stack_overrides(global: &GlobalArgs, args: &StackArgs) -> Overrides {
    let mut overrides = target_overrides(&args.target);
    settings::set_flag(&mut overrides, "--method", args.method.as_ref());
    settings::set_flag(&mut overrides, "--bucket", args.bucket.as_ref());
    settings::set_flag(&mut overrides, "--architecture", args.architecture.as_ref());
    settings::set_list_flag(&mut overrides, "--include-ref", &args.include_refs);
    settings::set_list_flag(&mut overrides, "--exclude-ref", &args.exclude_refs);
    settings::set_list_flag(&mut overrides, "--include-path", &args.include_paths);
    settings::set_flag(
        &mut overrides,
        "--noncurrent-version-days",
        args.noncurrent_version_days.as_ref(),
    );
    settings::set_flag(&mut overrides, "--region", global.region.as_ref());
    overrides
}

/// The configuration with `overrides` laid on top, then `--pipeline-branch`,
/// which needs the merged repository list; and which keys were set at all
/// (the rest come from the deployed stack, where there is one). `creating`
/// (init) accepts a --config file that does not exist yet.
pub fn load_with_stack_flags(
    global: &GlobalArgs,
    args: &StackArgs,
    overrides: &Overrides,
    creating: bool,
) -> anyhow::Result<(Settings, Given)> {
    let (mut settings, mut given) = load_given(global, overrides, creating)?;
    if let Some(branch) = &args.pipeline_branch {
        let repo = settings.repos.first().cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "--pipeline-branch needs the repository the pipeline builds: pass --repo OWNER/REPO"
            )
        })?;
        settings.set_pipeline(repo, branch.clone());
        settings.validate()?;
        given.insert("pipeline");
    }
    if let Some(report) = args.report_status {
        let pipeline = settings.pipeline.as_mut().ok_or_else(|| {
            anyhow::anyhow!(
                "--report-status reports a pipeline's runs, and no pipeline is configured: pass \
                 --pipeline-branch BRANCH, or set `pipeline` in git2s3.yaml"
            )
        })?;
        pipeline.report_status = Some(report);
        given.insert("pipeline");
    }
    Ok((settings, given))
}

/// The configuration keys the target flags set: stack, provider, API URL,
/// repositories, organization.
pub fn target_overrides(args: &TargetArgs) -> Overrides {
    let mut overrides = Overrides::new();
    settings::set_flag(&mut overrides, "--stack-name", args.stack_name.as_ref());
    settings::set_flag(&mut overrides, "--provider", args.provider.as_ref());
    settings::set_flag(&mut overrides, "--api-url", args.api_url.as_ref());
    settings::set_flag(&mut overrides, "--org", args.org.as_ref());
    settings::set_list_flag(&mut overrides, "--repo", &args.repos);
    overrides
}

/// Who may say yes to a change: `--yes`, or a person at a terminal. With
/// no terminal on stdin, or with `CI` set, git2s3 never prompts, and never
/// takes that as a yes: a change then needs `--yes` (Terraform's
/// `-input=false` without `-auto-approve`, and gh's rule).
#[derive(Debug, Clone, Copy)]
pub struct Consent {
    yes: bool,
    terminal: bool,
}

/// A change no one could be asked about.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what}: no one can be asked (stdin is not a terminal, or CI is set), and that is never taken \
     as a yes; pass --yes to apply without asking"
)]
pub struct NeedsYes {
    pub what: String,
}

impl Consent {
    /// From `--yes`, stdin and `CI`.
    pub fn new(global: &GlobalArgs) -> Consent {
        Consent {
            yes: global.yes,
            terminal: std::io::stdin().is_terminal() && std::env::var_os("CI").is_none(),
        }
    }

    /// Whether git2s3 may prompt (for a value, or a yes): a person is at a
    /// terminal and `--yes` did not say "never prompt".
    pub fn can_ask(&self) -> bool {
        self.terminal && !self.yes
    }

    /// Whether to go ahead with the change `question` describes: `--yes`
    /// says so, else a person at a terminal is asked; with no one to ask,
    /// [`NeedsYes`].
    pub fn confirm(&self, question: &str) -> anyhow::Result<bool> {
        if self.yes {
            return Ok(true);
        }
        self.require(question)?;
        Ok(dialoguer::Confirm::new()
            .with_prompt(question)
            .default(false)
            .interact()?)
    }

    /// [`NeedsYes`] for `what`, up front, when there is neither `--yes` nor
    /// anyone to ask: for a command that would otherwise change something
    /// before its first question.
    pub fn require(&self, what: &str) -> Result<(), NeedsYes> {
        if self.yes || self.terminal {
            return Ok(());
        }
        Err(NeedsYes {
            what: what.trim_end_matches('?').to_string(),
        })
    }
}

/// Prints `value` as JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    out_line(format_args!("{}", serde_json::to_string_pretty(value)?))?;
    Ok(())
}

/// Writes one line to stdout and answers the error, where `println!` would
/// panic: a reader that closed the pipe (`git2s3 status | head -1`) then
/// ends the command quietly with exit 0 ([`crate::failure::report`]), as ripgrep does.
pub fn out_line(line: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(line)?;
    stdout.write_all(b"\n")
}

/// `println!`, through [`out_line`]: `?` hands a closed pipe to [`crate::failure::report`].
#[macro_export]
macro_rules! out {
    () => { $crate::context::out_line(format_args!(""))? };
    ($($arg:tt)*) => { $crate::context::out_line(format_args!($($arg)*))? };
}
