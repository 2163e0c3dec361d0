//! `git2s3 status`: the stack and its outputs, the newest zip of each
//! branch, the queue and dead-letter queue, and the pipeline's last run.

use std::process::ExitCode;

use crate::cli::{GlobalArgs, OutputFormat, StatusArgs};
use git2s3_lambda::Provider;
use serde::Serialize;

use crate::deploy::logs;
use crate::deploy::report::{self, Part, Status};
use crate::register::{self, Delivery};
use crate::settings::Settings;
use crate::template::CoreOutputs;

pub async fn run(global: &GlobalArgs, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let crate::context::Deployed {
        settings,
        clients,
        stack: core,
    } = crate::context::deployed(
        global,
        &crate::context::stack_name_overrides(args.stack_name.as_ref()),
    )
    .await?;
    let pipelines: Vec<String> = settings
        .all_pipelines()
        .into_iter()
        .map(|p| settings.stack_name_of(p))
        .collect();
    let webhooks = webhooks(&settings, &core.core()).await;
    // The sweep function's log, on a stack whose sweep is on.
    let sweeps = match &core.core().sweeper_log_group {
        Some(group) => Some(Part::from(logs::sweeps(&clients.logs, group).await)),
        None => None,
    };
    let status = report::gather(&clients, core, &settings.repos, &pipelines).await;
    match global.output {
        OutputFormat::Json => crate::context::print_json(&Output {
            status: &status,
            webhooks: &webhooks,
            sweeps: &sweeps,
        })?,
        OutputFormat::Text => {
            print_text(&status)?;
            print_webhooks(&webhooks)?;
            print_sweeps(sweeps.as_ref())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `status --output json`: the stack's report and the webhooks' health.
#[derive(Serialize)]
struct Output<'a> {
    #[serde(flatten)]
    status: &'a Status,
    webhooks: &'a Part<Vec<WebhookHealth>>,
    /// The last sweeps; `null` on a stack whose sweep is off.
    sweeps: &'a Option<Part<logs::Sweeps>>,
}

fn print_sweeps(sweeps: Option<&Part<logs::Sweeps>>) -> std::io::Result<()> {
    match sweeps {
        None => {
            crate::out!("sweep: off (sweep.interval_minutes is 0, or the stack has neither a deploy key nor a provider token)")
        }
        Some(Part::Unavailable { error }) => crate::out!("sweep: {error}"),
        Some(Part::Ok(s)) => {
            match &s.last {
                Some(l) => crate::out!(
                    "sweep: last at {} over {} repositories, {} job(s) queued, {} failed",
                    l.time,
                    l.repos,
                    l.queued,
                    l.failed
                ),
                None => crate::out!("sweep: none in the last day"),
            }
            for r in &s.repos {
                crate::out!(
                    "  {}: {} stale, {} current ({})",
                    r.repo,
                    r.stale,
                    r.current,
                    r.time
                );
            }
        }
    }
    Ok(())
}

/// One hook's health, from the provider's delivery log.
#[derive(Debug, Serialize)]
struct WebhookHealth {
    target: String,
    registered: bool,
    last_delivery: Option<Delivery>,
}

/// Each hook's latest delivery, where the provider lists deliveries
/// (GitHub) and its token is in the environment; why not, otherwise.
async fn webhooks(settings: &Settings, outputs: &CoreOutputs) -> Part<Vec<WebhookHealth>> {
    let unavailable = |error: String| Part::Unavailable { error };
    if settings.provider == Provider::Generic {
        return unavailable(
            "a plain SSH server's hook logs each delivery in REPO.git/git2s3/hook.log".into(),
        );
    }
    if !matches!(
        settings.provider,
        Provider::Github | Provider::GithubEnterprise
    ) {
        return unavailable(format!(
            "{}'s API does not list webhook deliveries",
            settings.provider
        ));
    }
    let Some(url) = outputs.webhook_url(settings.method) else {
        return unavailable("the stack has no webhook URL output yet".into());
    };
    let Some(token) = settings
        .provider
        .token_var(None)
        .and_then(|v| std::env::var(v).ok())
    else {
        return unavailable("set GITHUB_TOKEN to see the webhook deliveries".into());
    };
    let result = async {
        let api = crate::register::client(settings.provider, settings.api_url.as_deref(), &token)?;
        let mut out = Vec::new();
        for target in register::targets(settings) {
            let hook = api.hooks(&target).await?.into_iter().find(|h| h.url == url);
            let last_delivery = match &hook {
                Some(h) => api.last_delivery(&target, &h.id).await?,
                None => None,
            };
            out.push(WebhookHealth {
                target: target.to_string(),
                registered: hook.is_some(),
                last_delivery,
            });
        }
        Ok::<_, crate::register::RegisterError>(out)
    }
    .await;
    match result {
        Ok(list) => Part::Ok(list),
        Err(e) => unavailable(e.to_string()),
    }
}

fn print_webhooks(webhooks: &Part<Vec<WebhookHealth>>) -> std::io::Result<()> {
    match webhooks {
        Part::Ok(list) => {
            for w in list {
                match (&w.last_delivery, w.registered) {
                    (_, false) => crate::out!(
                        "webhook on {}: not registered (`git2s3 register-webhook`)",
                        w.target
                    ),
                    (None, true) => {
                        crate::out!("webhook on {}: registered, no delivery yet", w.target)
                    }
                    (Some(d), true) => crate::out!(
                        "webhook on {}: last {} delivery {} answered {} ({})",
                        w.target,
                        d.event,
                        d.delivered_at,
                        d.status_code,
                        d.status
                    ),
                }
            }
        }
        Part::Unavailable { error } => crate::out!("webhooks: {error}"),
    }
    Ok(())
}

fn print_text(status: &Status) -> std::io::Result<()> {
    let stack = &status.stack;
    crate::out!("stack {}: {}", stack.name, stack.status);
    if let Some(reason) = &stack.reason {
        crate::out!("  reason: {reason}");
    }
    for (key, value) in &stack.outputs {
        crate::out!("  {key:<24} {value}");
    }
    crate::out!();
    match &status.zips {
        Part::Ok(zips) if zips.is_empty() => {
            crate::out!("zips: none yet; push a commit to a watched branch")
        }
        Part::Ok(zips) => {
            crate::out!("zips:");
            for zip in zips {
                crate::out!(
                    "  {}  commit {}  {}  {} bytes",
                    zip.key,
                    zip.commit.as_deref().unwrap_or("?"),
                    zip.last_modified,
                    zip.size
                );
            }
        }
        Part::Unavailable { error } => crate::out!("zips: unavailable: {error}"),
    }
    match &status.queue {
        Part::Ok(q) => crate::out!(
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
        Part::Unavailable { error } => crate::out!("queue: unavailable: {error}"),
    }
    for pipeline in &status.pipelines {
        print_pipeline(pipeline)?;
    }
    Ok(())
}

fn print_pipeline(pipeline: &Part<report::Pipeline>) -> std::io::Result<()> {
    match pipeline {
        Part::Ok(p) => {
            match &p.last_execution {
                Some(e) => crate::out!(
                    "pipeline {}: last run {} {} (started {}){}",
                    p.stack.name,
                    e.id,
                    e.status,
                    e.started.as_deref().unwrap_or("?"),
                    e.source
                        .as_deref()
                        .map(|s| format!(", built {s}"))
                        .unwrap_or_default()
                ),
                None => crate::out!("pipeline {}: {}, no run yet", p.stack.name, p.stack.status),
            }
            print_build_status(p.build_status.as_ref())?;
        }
        Part::Unavailable { error } => crate::out!("pipeline: unavailable: {error}"),
    }
    Ok(())
}

fn print_build_status(reports: Option<&Part<logs::Reports>>) -> std::io::Result<()> {
    match reports {
        None => crate::out!("build status: off (pipeline.report_status)"),
        Some(Part::Unavailable { error }) => crate::out!("build status: {error}"),
        Some(Part::Ok(r)) => {
            match &r.last_posted {
                Some(p) => crate::out!(
                    "build status: last posted {} on {}@{} at {}",
                    p.state,
                    p.repo,
                    p.commit.chars().take(7).collect::<String>(),
                    p.time
                ),
                None => crate::out!("build status: none posted in the last day"),
            }
            if let Some(refused) = &r.last_refused {
                crate::out!(
                    "build status: REFUSED at {}: {}",
                    refused.time,
                    refused.error
                );
            }
        }
    }
    Ok(())
}
