//! `git2s3 logs`: the receiver's and the worker's log events, from the log
//! groups the stack names, merged by time; with `--follow`, new events
//! as they come. With `--output json`, one event per line, for scripts.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use crate::cli::{Function, GlobalArgs, LogsArgs, OutputFormat};
use crate::context;
use crate::deploy::logs;

/// How often --follow asks for new events.
const POLL: Duration = Duration::from_secs(2);
/// The most events one read prints.
const MAX_EVENTS: usize = 10_000;

pub async fn run(global: &GlobalArgs, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let deployed = context::deployed(
        global,
        &context::stack_name_overrides(args.stack_name.as_ref()),
    )
    .await?;
    let (clients, core) = (&deployed.clients, &deployed.stack);
    let outputs = core.core();
    let groups: Vec<(&str, String)> = [
        (
            Function::Receiver,
            "receiver",
            "ReceiverLogGroupName",
            outputs.receiver_log_group,
        ),
        (
            Function::Worker,
            "worker",
            "WorkerLogGroupName",
            outputs.worker_log_group,
        ),
    ]
    .into_iter()
    .filter(|(f, ..)| args.function.map_or(true, |wanted| wanted == *f))
    .map(|(_, name, output, group)| {
        group
            .map(|g| (name, g))
            .ok_or_else(|| core.missing_output(output))
    })
    .collect::<Result<_, _>>()?;
    let mut start = logs::epoch_ms(
        SystemTime::now()
            .checked_sub(args.since)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    loop {
        let mut batch = Vec::new();
        for (name, group) in &groups {
            let events = logs::events(
                &clients.logs,
                group,
                start,
                args.filter.as_deref(),
                MAX_EVENTS,
            )
            .await?;
            batch.extend(events.into_iter().map(|e| (*name, e)));
        }
        batch.sort_by_key(|(_, e)| e.timestamp_ms);
        for (name, event) in &batch {
            print(global.output, name, event)?;
        }
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        if let Some((_, last)) = batch.last() {
            start = last.timestamp_ms + 1;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}

fn print(output: OutputFormat, function: &str, event: &logs::Event) -> std::io::Result<()> {
    let time = logs::rfc3339(event.timestamp_ms);
    match output {
        OutputFormat::Json => {
            let line = serde_json::json!({
                "function": function,
                "timestamp": event.timestamp_ms,
                "time": time,
                "message": event.message,
            });
            crate::out!("{line}");
        }
        OutputFormat::Text => crate::out!("{time} {function:<8} {}", event.message),
    }
    Ok(())
}
