//! `git2s3 destroy`: take git2s3 out of the account. Pipeline stacks (each
//! artifact bucket emptied first), core stack, the output bucket with every
//! version and delete marker (unless --keep-bucket), and the secrets git2s3
//! created. Each step skips what is already gone, so a re-run finishes an
//! interrupted destroy.

use std::process::ExitCode;

use git2s3_lambda::Provider;
use serde::Serialize;

use crate::cli::{DestroyArgs, GlobalArgs, OutputFormat};
use crate::deploy::apply::{delete_pipeline_stack, unlisted_pipeline_stacks};
use crate::deploy::{artifact, bucket, identity, secrets, stack};
use crate::progress::Progress;
use crate::register;
use crate::settings::Overrides;

#[derive(Debug, Default, Serialize)]
struct Removed {
    unregistered: Option<register::Report>,
    stacks: Vec<String>,
    buckets: Vec<String>,
    object_versions: u64,
    secrets: Vec<String>,
    /// Days the secrets can still be restored; `null` when deleted at once.
    secrets_recoverable_days: Option<u32>,
    kept: Vec<String>,
}

pub async fn run(global: &GlobalArgs, args: &DestroyArgs) -> anyhow::Result<ExitCode> {
    let consent = crate::context::Consent::new(global);
    let mut overrides = Overrides::new();
    crate::settings::set_flag(&mut overrides, "--stack-name", args.stack_name.as_ref());
    let settings = crate::context::load_settings(global, &overrides)?;
    let clients = crate::context::clients(global, &settings).await;
    let progress = Progress::new();
    let cf = &clients.cloudformation;

    progress.step("Checking AWS credentials and what exists");
    let me = identity::whoami(&clients).await?;
    let core = stack::describe(cf, &settings.stack_name).await?;
    // The configured pipelines' stacks, and any other tagged as this stack's.
    let mut pipelines = Vec::new();
    for p in settings.all_pipelines() {
        pipelines.extend(stack::describe(cf, &settings.stack_name_of(p)).await?);
    }
    let listed: Vec<String> = pipelines.iter().map(|p| p.name.clone()).collect();
    let listed: Vec<&str> = listed.iter().map(String::as_str).collect();
    pipelines.extend(unlisted_pipeline_stacks(&clients, &settings, &listed, &progress).await);
    let output_bucket = core
        .as_ref()
        .and_then(|s| s.core().bucket)
        .or_else(|| settings.bucket.name.clone());

    let mut plan = Vec::new();
    for p in &pipelines {
        plan.push(format!("pipeline stack {} ({})", p.name, p.status));
    }
    match &core {
        Some(c) => plan.push(format!("stack {} ({})", c.name, c.status)),
        None => progress.line(format!("stack {} does not exist", settings.stack_name)),
    }
    if let (Some(b), false) = (&output_bucket, args.keep_bucket) {
        plan.push(format!("bucket {b} with every version of every zip"));
    }
    let owned = settings.owned_secret_ids();
    plan.push(format!("secrets {}", owned.join(", ")));
    for line in &plan {
        progress.line(format!("will delete: {line}"));
    }
    progress.done();
    if !consent.confirm(&format!(
        "Delete git2s3 stack {} and all of the above?",
        settings.stack_name
    ))? {
        eprintln!("nothing was deleted");
        return Ok(ExitCode::FAILURE);
    }

    let mut removed = Removed::default();
    unregister(
        &settings,
        core.as_ref(),
        &clients,
        consent.can_ask(),
        &progress,
        &mut removed,
    )
    .await;
    for p in &pipelines {
        removed.object_versions += delete_pipeline_stack(&clients, p, &progress).await?;
        removed.stacks.push(p.name.clone());
    }
    if let Some(c) = &core {
        progress.step(format!("Deleting stack {}", c.name));
        stack::delete(cf, c, &progress).await?;
        removed.stacks.push(c.name.clone());
    }
    match (&output_bucket, args.keep_bucket) {
        (Some(b), false) => {
            progress.step(format!("Emptying and deleting bucket {b}"));
            match bucket::remove(&clients.s3, b, &progress).await? {
                Some(versions) => {
                    progress.line(format!(
                        "{versions} object versions and delete markers deleted"
                    ));
                    removed.object_versions += versions;
                    removed.buckets.push(b.clone());
                }
                None => progress.line(format!("{b} does not exist")),
            }
        }
        (Some(b), true) => removed.kept.push(format!("bucket {b} (--keep-bucket)")),
        (None, _) => {}
    }
    let deletion = match args.force_delete_secrets {
        true => secrets::Deletion::Now,
        false => secrets::Deletion::After {
            days: args.secret_recovery_days,
        },
    };
    progress.step("Deleting secrets");
    for id in owned {
        if secrets::delete(&clients.secrets, &id, deletion).await? {
            progress.line(match deletion {
                secrets::Deletion::Now => format!("{id}: deleted"),
                secrets::Deletion::After { days } => {
                    format!("{id}: scheduled for deletion in {days} days")
                }
            });
            removed.secrets.push(id);
        }
    }
    if let secrets::Deletion::After { days } = deletion {
        removed.secrets_recoverable_days = Some(days);
    }
    removed.kept.push(format!(
        "bucket {}: Lambda zips shared by every git2s3 stack in this account and region",
        artifact::artifacts_bucket(&me.account, &me.region)
    ));
    progress.done();
    match global.output {
        OutputFormat::Json => crate::context::print_json(&removed)?,
        OutputFormat::Text => {
            crate::out!(
                "git2s3 stack {} is gone: {} stack(s), {} bucket(s), {} secret(s) deleted",
                settings.stack_name,
                removed.stacks.len(),
                removed.buckets.len(),
                removed.secrets.len()
            );
            for kept in &removed.kept {
                crate::out!("  kept {kept}");
            }
            if let (Some(days), false) =
                (removed.secrets_recoverable_days, removed.secrets.is_empty())
            {
                crate::out!(
                    "  the secrets can be restored for {days} days: run `git2s3 init` again with the same \
                     stack name, or `aws secretsmanager restore-secret --secret-id ID`"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes git2s3's webhook and deploy key from the provider, while the
/// stack (and so the hook's URL and secret) still exists. A failure here
/// does not stop the destroy: it is said, with what to remove by hand.
async fn unregister(
    settings: &crate::settings::Settings,
    core: Option<&crate::deploy::stack::StackInfo>,
    clients: &crate::aws::Clients,
    can_ask: bool,
    progress: &Progress,
    removed: &mut Removed,
) {
    let Some(core) = core else { return };
    if settings.provider == Provider::Generic
        || (settings.repos.is_empty() && settings.org.is_none())
    {
        return;
    }
    progress.step(format!(
        "Removing git2s3's webhook and deploy key from {}",
        settings.provider
    ));
    let result = async {
        let token = register::token(settings.provider, None, can_ask)?;
        let git_pull = settings.method == crate::settings::Method::GitPull;
        let reg = register::for_stack(
            settings,
            &core.core(),
            &clients.secrets,
            &token,
            git_pull,
            true,
        )
        .await?;
        anyhow::Ok(register::unregister(&reg, progress).await?)
    }
    .await;
    match result {
        Ok(report) => removed.unregistered = Some(report),
        Err(e) => progress.line(format!(
            "could not remove the webhook and deploy key from {}: {e}. Remove them by hand (they point at {})",
            settings.provider,
            core.core().webhook_url(settings.method).unwrap_or_default()
        )),
    }
}
