//! Plan, show, confirm, execute: how `init` and `update-stack` change a
//! stack. The plan is printed as progress (stderr); an empty plan is
//! success; a declined plan leaves nothing behind. The confirmation is the
//! caller's (`confirm`): this module never prompts.

use crate::aws::Clients;
use crate::deploy::error::DeployError;
use crate::deploy::stack::{self, Plan, Request, StackInfo};
use crate::progress::Progress;
use crate::settings::{Given, Settings};
use crate::template::{keep_current, Template};

/// How a stack came out of [`apply`].
pub enum Applied {
    /// Nothing to change.
    Unchanged(Done),
    /// Created or updated.
    Changed(Done),
    /// The user said no; nothing was changed.
    Declined,
}

/// A stack as [`apply`] left it.
pub struct Done {
    pub info: StackInfo,
    /// The parameters that kept the deployed values (see [`Plan::kept`]).
    pub kept: Vec<String>,
}

/// What a stack is planned from: its template and name, the settings and
/// which of their keys were set, and the stack as it is deployed.
pub struct Wanted<'a> {
    pub template: Template,
    pub stack: &'a str,
    pub settings: &'a Settings,
    pub given: &'a Given,
    pub current: Option<&'a StackInfo>,
}

/// The change set for the wanted stack, with its settings' parameters; on
/// the core stack, those whose keys were not given keep the deployed
/// stack's values (the deployed stack is the baseline, not the local file).
pub async fn plan(clients: &Clients, wanted: &Wanted<'_>) -> anyhow::Result<Plan> {
    let Wanted {
        template,
        stack: stack_name,
        settings,
        given,
        current,
    } = *wanted;
    let mut parameters = template.parameters(settings)?;
    let kept = match (template, current) {
        (Template::Core, Some(deployed)) => {
            keep_current(&mut parameters, given, &deployed.parameters)
        }
        _ => Vec::new(),
    };
    let mut plan = stack::plan(
        &clients.cloudformation,
        &Request {
            stack: stack_name,
            template: template.body(),
            parameters: &parameters,
            current,
        },
    )
    .await?;
    plan.kept = kept;
    Ok(plan)
}

/// Asks whether to go ahead with a change, given the question.
pub type Confirm<'a> = &'a dyn Fn(&str) -> anyhow::Result<bool>;

/// Who agreed to what: the confirmation, and `--allow-replace`.
pub struct Approval<'a> {
    pub confirm: Confirm<'a>,
    /// A plan may replace the output bucket, or change the deploy key or a
    /// secret's id (see [`Plan::needs_allow_replace`]).
    pub allow_replace: bool,
}

/// Plans, shows the plan, asks, executes and follows events.
pub async fn apply(
    clients: &Clients,
    wanted: &Wanted<'_>,
    approval: &Approval<'_>,
    progress: &Progress,
) -> anyhow::Result<Applied> {
    let cf = &clients.cloudformation;
    let (stack_name, current) = (wanted.stack, wanted.current);
    let plan = plan(clients, wanted).await?;
    for line in plan.lines() {
        progress.line(line);
    }
    let guarded = plan.needs_allow_replace();
    if !guarded.is_empty() && !approval.allow_replace {
        stack::discard(cf, &plan).await?;
        return Err(DeployError::NeedsAllowReplace {
            stack: stack_name.to_string(),
            what: guarded.join(", "),
        }
        .into());
    }
    if plan.is_empty() {
        let info = match current {
            Some(info) => info.clone(),
            None => stack::describe(cf, stack_name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("stack {stack_name} vanished while planning"))?,
        };
        return Ok(Applied::Unchanged(Done {
            info,
            kept: plan.kept,
        }));
    }
    let verb = if plan.create { "Create" } else { "Update" };
    progress.done();
    if !(approval.confirm)(&format!("{verb} stack {stack_name} as shown?"))? {
        stack::discard(cf, &plan).await?;
        return Ok(Applied::Declined);
    }
    progress.step(format!("{verb} stack {stack_name}"));
    let info = stack::execute(cf, &plan, progress).await?;
    progress.line(format!("{stack_name}: {}", info.status));
    Ok(Applied::Changed(Done {
        info,
        kept: plan.kept,
    }))
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
    given: &Given,
    core: &StackInfo,
    approval: &Approval<'_>,
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
    let with_bucket = pipeline_settings(settings, core);
    let wanted = Wanted {
        template: Template::Pipeline,
        stack: &name,
        settings: &with_bucket,
        given,
        current: current.as_ref(),
    };
    let applied = apply(clients, &wanted, approval, progress).await?;
    Ok(Some(applied))
}
