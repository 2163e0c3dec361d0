//! `git2s3 status`: the stack and its outputs, the newest zip of each
//! branch, the queue and dead-letter queue, and the pipeline's last run.

use std::process::ExitCode;

use serde_yaml::Value;

use crate::cli::{GlobalArgs, OutputFormat, StatusArgs};
use crate::deploy::report::{self, Part, Status};
use crate::deploy::{identity, stack};
use crate::settings::Overrides;

pub async fn run(global: &GlobalArgs, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = Overrides::new();
    if let Some(name) = &args.stack_name {
        overrides.insert("stack_name", Value::String(name.clone()));
    }
    let settings = super::load_settings(global, &overrides)?;
    let clients = super::clients(global, &settings).await;
    let me = identity::whoami(&clients).await?;
    let core = stack::require(&clients.cloudformation, &settings.stack_name, &me.region).await?;
    let pipeline = settings.pipeline_stack_name();
    let status = report::gather(&clients, core, &settings.repos, pipeline.as_deref()).await;
    match global.output {
        OutputFormat::Json => super::print_json(&status)?,
        OutputFormat::Text => print_text(&status),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(status: &Status) {
    let stack = &status.stack;
    println!("stack {}: {}", stack.name, stack.status);
    if let Some(reason) = &stack.reason {
        println!("  reason: {reason}");
    }
    for (key, value) in &stack.outputs {
        println!("  {key:<24} {value}");
    }
    println!();
    match &status.zips {
        Part::Ok(zips) if zips.is_empty() => {
            println!("zips: none yet; push a commit to a watched branch")
        }
        Part::Ok(zips) => {
            println!("zips:");
            for zip in zips {
                println!(
                    "  {}  commit {}  {}  {} bytes",
                    zip.key,
                    zip.commit.as_deref().unwrap_or("?"),
                    zip.last_modified,
                    zip.size
                );
            }
        }
        Part::Unavailable { error } => println!("zips: unavailable: {error}"),
    }
    match &status.queue {
        Part::Ok(q) => println!(
            "queue: {} waiting, {} in progress; dead-letter queue: {}{}",
            q.waiting,
            q.in_flight,
            q.dead_letters,
            if q.dead_letters > 0 {
                " (failed jobs: see docs/troubleshooting.md)"
            } else {
                ""
            }
        ),
        Part::Unavailable { error } => println!("queue: unavailable: {error}"),
    }
    match &status.pipeline {
        None => {}
        Some(Part::Ok(p)) => match &p.last_execution {
            Some(e) => println!(
                "pipeline {}: last run {} {} (started {})",
                p.stack.name,
                e.id,
                e.status,
                e.started.as_deref().unwrap_or("?")
            ),
            None => println!("pipeline {}: {}, no run yet", p.stack.name, p.stack.status),
        },
        Some(Part::Unavailable { error }) => println!("pipeline: unavailable: {error}"),
    }
}
