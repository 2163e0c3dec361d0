//! Plan, show, confirm, execute: how `init` and `update-stack` change a
//! stack. The plan is printed as progress (stderr); an empty plan is
//! success; a declined plan leaves nothing behind. The confirmation is the
//! caller's (`confirm`): this module never prompts.

use crate::aws::Clients;
use crate::deploy::stack::{self, Plan, Request, StackInfo};
use crate::progress::Progress;
use crate::settings::Settings;
use crate::template::Template;

/// How a stack came out of [`apply`].
pub enum Applied {
    /// Nothing to change.
    Unchanged(StackInfo),
    /// Created or updated.
    Changed(StackInfo),
    /// The user said no; nothing was changed.
    Declined,
}

/// The change set for `template` on `stack_name`, with `settings`' parameters.
pub async fn plan(
    clients: &Clients,
    template: Template,
    stack_name: &str,
    settings: &Settings,
    current: Option<&StackInfo>,
) -> anyhow::Result<Plan> {
    let parameters = template.parameters(settings)?;
    Ok(stack::plan(
        &clients.cloudformation,
        &Request {
            stack: stack_name,
            template: template.body(),
            parameters: &parameters,
            current,
        },
    )
    .await?)
}

/// Asks whether to go ahead with a change, given the question.
pub type Confirm<'a> = &'a dyn Fn(&str) -> anyhow::Result<bool>;

/// Plans, shows the plan, asks `confirm`, executes and follows events.
pub async fn apply(
    clients: &Clients,
    template: Template,
    stack_name: &str,
    settings: &Settings,
    current: Option<&StackInfo>,
    confirm: Confirm<'_>,
    progress: &Progress,
) -> anyhow::Result<Applied> {
    let cf = &clients.cloudformation;
    let plan = plan(clients, template, stack_name, settings, current).await?;
    for line in plan.lines() {
        progress.line(line);
    }
    if plan.is_empty() {
        let info = match current {
            Some(info) => info.clone(),
            None => stack::describe(cf, stack_name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("stack {stack_name} vanished while planning"))?,
        };
        return Ok(Applied::Unchanged(info));
    }
    let verb = if plan.create { "Create" } else { "Update" };
    progress.done();
    if !confirm(&format!("{verb} stack {stack_name} as shown?"))? {
        stack::discard(cf, &plan).await?;
        return Ok(Applied::Declined);
    }
    progress.step(format!("{verb} stack {stack_name}"));
    let info = stack::execute(cf, &plan, progress).await?;
    progress.line(format!("{stack_name}: {}", info.status));
    Ok(Applied::Changed(info))
}

/// The settings the pipeline template reads: the source bucket is the one
/// the core stack made, whatever its name.
pub fn pipeline_settings(settings: &Settings, core: &StackInfo) -> Settings {
    let mut with_bucket = settings.clone();
    with_bucket.bucket.name = core.core().bucket;
    with_bucket
}

/// Creates or updates the pipeline stack when one is configured.
pub async fn apply_pipeline(
    clients: &Clients,
    settings: &Settings,
    core: &StackInfo,
    confirm: Confirm<'_>,
    progress: &Progress,
) -> anyhow::Result<Option<Applied>> {
    let Some(name) = settings.pipeline_stack_name() else {
        return Ok(None);
    };
    progress.step(format!("Planning pipeline stack {name}"));
    let current = stack::describe(&clients.cloudformation, &name).await?;
    if let Some(blocked) = current.as_ref().and_then(stack::blocked) {
        return Err(blocked.into());
    }
    let applied = apply(
        clients,
        Template::Pipeline,
        &name,
        &pipeline_settings(settings, core),
        current.as_ref(),
        confirm,
        progress,
    )
    .await?;
    Ok(Some(applied))
}
