//! `git2s3 update-stack`: re-render the stacks from the configuration and
//! flags, show the change sets as a diff, and apply them. With `--diff` it
//! only shows, and the exit code says whether anything would change.

use std::process::ExitCode;

use crate::cli::{GlobalArgs, OutputFormat, UpdateStackArgs};
use crate::deploy::apply::{apply, apply_pipeline, pipeline_settings, plan, Applied};
use crate::deploy::stack::{self, Plan};
use crate::deploy::{artifact, identity};
use crate::progress::Progress;
use crate::template::Template;

/// `--diff` exit codes, as Terraform's `-detailed-exitcode`: 0 no
/// changes, 2 changes; an error is 1, as for every git2s3 command, so a
/// script that applies on 2 never applies after an error.
const NO_CHANGES: u8 = 0;
const CHANGES: u8 = 2;

pub async fn run(global: &GlobalArgs, args: &UpdateStackArgs) -> anyhow::Result<ExitCode> {
    if !args.diff {
        return update(global, args).await;
    }
    let changed = diff(global, args).await?;
    Ok(ExitCode::from(if changed { CHANGES } else { NO_CHANGES }))
}

/// The stacks to update: the core stack, then the pipeline stack when one
/// is configured, each with the settings its template reads.
async fn plans(
    global: &GlobalArgs,
    args: &UpdateStackArgs,
    progress: &Progress,
) -> anyhow::Result<(
    crate::aws::Clients,
    crate::settings::Settings,
    stack::StackInfo,
)> {
    let overrides = crate::context::stack_overrides(global, &args.stack);
    let mut settings =
        crate::context::load_with_stack_flags(global, &args.stack, &overrides, false)?;
    let clients = crate::context::clients(global, &settings).await;
    let me = identity::whoami(&clients).await?;
    let core = stack::require(&clients.cloudformation, &settings.stack_name, &me.region).await?;
    if let Some(blocked) = stack::blocked(&core) {
        return Err(blocked.into());
    }
    if let Some(path) = &args.stack.lambda_zip {
        let zip = artifact::load(path, settings.lambda.architecture)?;
        artifact::deploy_from(&zip, &mut settings, &clients.s3, &me, progress).await?;
    }
    Ok((clients, settings, core))
}

async fn diff(global: &GlobalArgs, args: &UpdateStackArgs) -> anyhow::Result<bool> {
    let progress = Progress::plain();
    let (clients, settings, core) = plans(global, args, &progress).await?;
    let mut all: Vec<Plan> = vec![
        plan(
            &clients,
            Template::Core,
            &settings.stack_name,
            &settings,
            Some(&core),
        )
        .await?,
    ];
    if let Some(name) = settings.pipeline_stack_name() {
        let current = stack::describe(&clients.cloudformation, &name).await?;
        let with_bucket = pipeline_settings(&settings, &core);
        all.push(
            plan(
                &clients,
                Template::Pipeline,
                &name,
                &with_bucket,
                current.as_ref(),
            )
            .await?,
        );
    }
    for p in &all {
        stack::discard(&clients.cloudformation, p).await?;
    }
    match global.output {
        OutputFormat::Json => crate::context::print_json(&all)?,
        OutputFormat::Text => {
            for line in all.iter().flat_map(Plan::lines) {
                println!("{line}");
            }
        }
    }
    Ok(all.iter().any(|p| !p.is_empty()))
}

async fn update(global: &GlobalArgs, args: &UpdateStackArgs) -> anyhow::Result<ExitCode> {
    let consent = crate::context::Consent::new(global);
    if args.stack.lambda_zip.is_some() {
        consent.require("update-stack would upload the Lambda zip")?;
    }
    let confirm = |question: &str| consent.confirm(question);
    let progress = Progress::new();
    progress.step("Checking AWS credentials and the stack");
    let (clients, settings, core) = plans(global, args, &progress).await?;
    progress.step(format!("Planning stack {}", settings.stack_name));
    let core = match apply(
        &clients,
        Template::Core,
        &settings.stack_name,
        &settings,
        Some(&core),
        &confirm,
        &progress,
    )
    .await?
    {
        Applied::Declined => return Ok(ExitCode::FAILURE),
        Applied::Unchanged(info) | Applied::Changed(info) => info,
    };
    let mut results = vec![(core.name.clone(), core.status.clone())];
    match apply_pipeline(&clients, &settings, &core, &confirm, &progress).await? {
        Some(Applied::Declined) => return Ok(ExitCode::FAILURE),
        Some(Applied::Unchanged(info) | Applied::Changed(info)) => {
            results.push((info.name, info.status))
        }
        None => {}
    }
    crate::settings::save(&crate::context::config_path(global), &settings)?;
    progress.done();
    match global.output {
        OutputFormat::Json => crate::context::print_json(
            &results
                .iter()
                .map(|(stack, status)| serde_json::json!({"stack": stack, "status": status}))
                .collect::<Vec<_>>(),
        )?,
        OutputFormat::Text => {
            for (stack, status) in &results {
                println!("{stack}: {status}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
