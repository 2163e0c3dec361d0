//! `git2s3 update-stack`: re-render the stacks from the configuration and
//! flags, show the change sets as a diff, and apply them. With `--diff` it
//! only shows, and the exit code says whether anything would change.

use std::process::ExitCode;

use crate::cli::{GlobalArgs, OutputFormat, UpdateStackArgs};
use crate::deploy::apply::{
    apply, apply_pipelines, pipeline_settings, plan, unlisted_pipeline_stacks, Applied, Approval,
    Wanted,
};
use crate::deploy::stack::{self, Plan};
use crate::deploy::{artifact, identity};
use crate::progress::Progress;
use crate::settings::{Architecture, Given, Settings};
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

/// What `update-stack` plans from: the clients, the settings and which of
/// their keys were set, and the deployed core stack.
struct Planning {
    clients: crate::aws::Clients,
    settings: Settings,
    given: Given,
    core: stack::StackInfo,
}

/// The settings to plan with, over the deployed core stack. With
/// `--lambda-zip`, the zip is staged (`stage`), or for `--diff` only
/// located: `--diff` uploads nothing. Without it, the stack's own Lambda
/// code is planned with, unless the configuration names some.
async fn planning(
    global: &GlobalArgs,
    args: &UpdateStackArgs,
    stage: bool,
    progress: &Progress,
) -> anyhow::Result<Planning> {
    let overrides = crate::context::stack_overrides(global, &args.stack);
    let (mut settings, mut given) =
        crate::context::load_with_stack_flags(global, &args.stack, &overrides, false)?;
    let clients = crate::context::clients(global, &settings).await;
    let me = identity::whoami(&clients).await?;
    let core = stack::require(&clients.cloudformation, &settings.stack_name, &me.region).await?;
    if let Some(blocked) = stack::blocked(&core) {
        return Err(blocked.into());
    }
    match &args.stack.lambda_zip {
        Some(path) => {
            let zip = artifact::load(path, settings.lambda.architecture)?;
            if stage {
                artifact::deploy_from(&zip, &mut settings, &clients.s3, &me, progress).await?;
            } else {
                artifact::locate_staged(&zip, &mut settings, &clients.s3, &me).await?;
            }
            for key in [
                "lambda.code_bucket",
                "lambda.code_key",
                "lambda.code_version",
            ] {
                given.insert(key);
            }
        }
        // The zip the stack runs is built for the architecture it runs on:
        // another needs a zip built for it.
        None if core
            .parameters
            .get("Architecture")
            .is_some_and(|deployed| deployed != settings.lambda.architecture.as_str()) =>
        {
            let wanted = settings.lambda.architecture;
            anyhow::bail!(
                "lambda.architecture is {arch}, but the Lambda zip stack {} runs is built for {}: pass \
                 --lambda-zip with a zip built for {arch} (cargo lambda build --release --output-format zip{} \
                 -p git2s3-lambda)",
                settings.stack_name,
                core.parameters["Architecture"],
                if wanted == Architecture::Arm64 { " --arm64" } else { "" },
                arch = wanted.as_str(),
            );
        }
        None if settings.lambda.code_bucket.is_none() || settings.lambda.code_key.is_none() => {
            let deployed =
                |name: &str| core.parameters.get(name).filter(|v| !v.is_empty()).cloned();
            settings.lambda.code_bucket = deployed("LambdaCodeBucket");
            settings.lambda.code_key = deployed("LambdaCodeKey");
            settings.lambda.code_version = deployed("LambdaCodeObjectVersion");
        }
        None => {}
    }
    Ok(Planning {
        clients,
        settings,
        given,
        core,
    })
}

async fn diff(global: &GlobalArgs, args: &UpdateStackArgs) -> anyhow::Result<bool> {
    let progress = Progress::plain();
    let Planning {
        clients,
        settings,
        given,
        core,
    } = planning(global, args, false, &progress).await?;
    let core_wanted = Wanted {
        template: Template::Core,
        stack: &settings.stack_name,
        settings: &settings,
        given: &given,
        current: Some(&core),
    };
    let mut all: Vec<Plan> = vec![plan(&clients, &core_wanted).await?];
    let pipelines = pipeline_settings(&settings, &core);
    for (name, one) in &pipelines {
        let current = stack::describe(&clients.cloudformation, name).await?;
        let wanted = Wanted {
            template: Template::Pipeline,
            stack: name,
            settings: one,
            given: &given,
            current: current.as_ref(),
        };
        all.push(plan(&clients, &wanted).await?);
    }
    for p in &all {
        stack::discard(&clients.cloudformation, p).await?;
    }
    // Pipeline stacks of this stack that the configuration no longer lists.
    let listed: Vec<&str> = pipelines.iter().map(|(n, _)| n.as_str()).collect();
    let gone: Vec<String> = unlisted_pipeline_stacks(&clients, &settings, &listed, &progress)
        .await
        .into_iter()
        .map(|s| s.name)
        .collect();
    match global.output {
        OutputFormat::Json => crate::context::print_json(&all)?,
        OutputFormat::Text => {
            for name in &gone {
                crate::out!(
                    "pipeline stack {name}: would be deleted (no longer in pipeline or pipelines)"
                );
            }
            for line in all.iter().flat_map(Plan::lines) {
                crate::out!("{line}");
            }
        }
    }
    Ok(!gone.is_empty() || all.iter().any(|p| !p.is_empty()))
}

async fn update(global: &GlobalArgs, args: &UpdateStackArgs) -> anyhow::Result<ExitCode> {
    let consent = crate::context::Consent::new(global);
    if args.stack.lambda_zip.is_some() {
        consent.require("update-stack would upload the Lambda zip")?;
    }
    let confirm = |question: &str| consent.confirm(question);
    let approval = Approval {
        confirm: &confirm,
        allow_replace: args.stack.allow_replace,
    };
    let progress = Progress::new();
    progress.step("Checking AWS credentials and the stack");
    let Planning {
        clients,
        settings,
        given,
        core,
    } = planning(global, args, true, &progress).await?;
    progress.step(format!("Planning stack {}", settings.stack_name));
    let wanted = Wanted {
        template: Template::Core,
        stack: &settings.stack_name,
        settings: &settings,
        given: &given,
        current: Some(&core),
    };
    let core = match apply(&clients, &wanted, &approval, &progress).await? {
        Applied::Declined => return Ok(ExitCode::FAILURE),
        Applied::Unchanged(done) | Applied::Changed(done) => done,
    };
    // Whether the stack holds values the configuration does not.
    let incomplete = !core.kept.is_empty();
    let core = core.info;
    let mut results = vec![(core.name.clone(), core.status.clone())];
    let Some(pipelines) =
        apply_pipelines(&clients, &settings, &given, &core, &approval, &progress).await?
    else {
        return Ok(ExitCode::FAILURE);
    };
    for done in pipelines.applied {
        results.push((done.info.name, done.info.status));
    }
    for name in pipelines.removed {
        results.push((name, "DELETE_COMPLETE".to_string()));
    }
    // The file says what is deployed: with values kept from the stack that
    // the configuration does not hold, writing it would say otherwise.
    let config = crate::context::config_path(global);
    if incomplete {
        progress.line(format!(
            "{} was not written: the deployed stack holds values it does not (kept above); \
             `git2s3 init --stack-name {}` in this directory writes a complete one",
            config.display(),
            settings.stack_name
        ));
    } else {
        crate::settings::save(&config, &settings)?;
    }
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
                crate::out!("{stack}: {status}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
