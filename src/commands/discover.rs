//! `git2s3 completions` and `git2s3 man`: shell completions and man pages,
//! both made from the one command-line definition in [`crate::cli`], so
//! they always list what `--help` lists.

use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, GlobalArgs, ManArgs, OutputFormat};

/// Prints the completion script for the shell (under `--output json`,
/// inside a document).
pub fn completions(global: &GlobalArgs, args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "git2s3", &mut out);
    match global.output {
        OutputFormat::Json => crate::context::print_json(&serde_json::json!({
            "shell": args.shell.to_string(),
            "script": String::from_utf8(out)?,
        }))?,
        OutputFormat::Text => std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `git2s3.1` and one page per subcommand (`git2s3-init.1`, …).
pub fn man(global: &GlobalArgs, args: &ManArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let command = Cli::command();
    clap_mangen::generate_to(command, &args.dir)
        .with_context(|| format!("cannot write the man pages into {}", args.dir.display()))?;
    let mut written: Vec<String> = std::fs::read_dir(&args.dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".1"))
        .collect();
    written.sort();
    eprintln!(
        "wrote {} man pages into {}",
        written.len(),
        args.dir.display()
    );
    if global.output == OutputFormat::Json {
        crate::context::print_json(&serde_json::json!({
            "dir": args.dir.display().to_string(),
            "pages": written,
        }))?;
    }
    Ok(ExitCode::SUCCESS)
}
