//! One module per subcommand, each of which resolves its arguments, calls
//! the domain modules and prints; and the dispatch to them. What commands
//! share lives below them, in [`crate::context`]; no command imports
//! another.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod destroy;
pub mod discover;
pub mod hook;
pub mod init;
pub mod logs;
pub mod redrive;
pub mod register;
pub mod render;
pub mod rotate;
pub mod serve;
pub mod status;
pub mod sync;
pub mod update_stack;
pub mod verify;

/// Runs the command the user asked for.
pub async fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    if let Some(profile) = &cli.global.profile {
        crate::aws::profiles::check(profile).map_err(anyhow::Error::msg)?;
    }
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
        Command::Logs(args) => logs::run(&cli.global, args).await,
        Command::Redrive(args) => redrive::run(&cli.global, args).await,
        Command::Rotate(command) => rotate::run(&cli.global, command).await,
        Command::Sync(args) => sync::run(&cli.global, args).await,
        Command::Completions(args) => discover::completions(&cli.global, args),
        Command::Man(args) => discover::man(&cli.global, args),
    }
}
