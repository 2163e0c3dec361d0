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
            tags: match template {
                Template::Pipeline => vec![(PIPELINE_OF.to_string(), settings.stack_name.clone())],
                Template::Core => Vec::new(),
            },
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

/// The tag on each pipeline stack that names its core stack: how
/// `update-stack` finds a pipeline the configuration no longer lists, and
/// `destroy` every pipeline of a stack.
pub const PIPELINE_OF: &str = "git2s3:pipeline-of";

/// The settings each pipeline's template reads, with its stack's name:
/// the source bucket is the one the core stack made, whatever its name,
/// and the pipeline is the settings' only one.
pub fn pipeline_settings(settings: &Settings, core: &StackInfo) -> Vec<(String, Settings)> {
    settings
        .all_pipelines()
        .into_iter()
        .map(|p| {
            let mut one = settings.with_only_pipeline(p);
            one.bucket.name = core.core().bucket;
            (settings.stack_name_of(p), one)
        })
        .collect()
}

/// What [`apply_pipelines`] did.
pub struct Pipelines {
    /// Each configured pipeline's stack.
    pub applied: Vec<Done>,
    /// The stacks of pipelines the configuration no longer lists, deleted.
    pub removed: Vec<String>,
}

/// Creates or updates each configured pipeline's stack, then deletes,
/// after a yes, the pipeline stacks of this core stack that the
/// configuration no longer lists. `None` when a plan was declined.
pub async fn apply_pipelines(
    clients: &Clients,
    settings: &Settings,
    given: &Given,
    core: &StackInfo,
    approval: &Approval<'_>,
    progress: &Progress,
) -> anyhow::Result<Option<Pipelines>> {
    let mut done = Pipelines {
        applied: Vec::new(),
        removed: Vec::new(),
    };
    let wanted_stacks = pipeline_settings(settings, core);
    for (name, one) in &wanted_stacks {
        progress.step(format!("Planning pipeline stack {name}"));
        let current = stack::describe(&clients.cloudformation, name).await?;
        if let Some(blocked) = current.as_ref().and_then(stack::blocked) {
            return Err(blocked.into());
        }
        let wanted = Wanted {
            template: Template::Pipeline,
            stack: name,
            settings: one,
            given,
            current: current.as_ref(),
        };
        match apply(clients, &wanted, approval, progress).await? {
            Applied::Declined => return Ok(None),
            Applied::Unchanged(d) | Applied::Changed(d) => done.applied.push(d),
        }
    }
    let wanted_names: Vec<&str> = wanted_stacks.iter().map(|(n, _)| n.as_str()).collect();
    for gone in unlisted_pipeline_stacks(clients, settings, &wanted_names, progress).await {
        progress.line(format!(
            "pipeline stack {} is no longer in the configuration (pipeline, pipelines)",
            gone.name
        ));
        progress.done();
        if !(approval.confirm)(&format!(
            "Delete pipeline stack {} and its artifact bucket?",
            gone.name
        ))? {
            return Ok(None);
        }
        delete_pipeline_stack(clients, &gone, progress).await?;
        done.removed.push(gone.name.clone());
    }
    Ok(Some(done))
}

/// The pipeline stacks tagged as `settings`' core stack's whose names are
/// not in `listed`. A caller who may not list the account's stacks
/// (`DescribeStacks` on `*`) is told so, and gets none.
pub async fn unlisted_pipeline_stacks(
    clients: &Clients,
    settings: &Settings,
    listed: &[&str],
    progress: &Progress,
) -> Vec<StackInfo> {
    let cf = &clients.cloudformation;
    let found = async {
        let mut found = Vec::new();
        for name in stack::tagged(cf, PIPELINE_OF, &settings.stack_name).await? {
            if !listed.contains(&name.as_str()) {
                // A stack deleted meanwhile is simply not found.
                found.extend(stack::describe(cf, &name).await?);
            }
        }
        Ok::<_, crate::aws::AwsError>(found)
    };
    match found.await {
        Ok(found) => found,
        Err(e) => {
            progress.line(format!(
                "cannot list the account's stacks to find pipeline stacks of {} that the \
                 configuration no longer lists ({e}); only the listed ones are dealt with. \
                 Grant cloudformation:DescribeStacks on * (docs/iam.md, FindPipelineStacks)",
                settings.stack_name
            ));
            Vec::new()
        }
    }
}

/// Deletes a pipeline stack, its artifact bucket emptied first (the
/// stack's own deletion cannot delete a bucket that holds objects).
/// Returns the object versions deleted.
pub async fn delete_pipeline_stack(
    clients: &Clients,
    info: &StackInfo,
    progress: &Progress,
) -> anyhow::Result<u64> {
    progress.step(format!("Deleting pipeline stack {}", info.name));
    let mut versions = 0;
    if let Some(artifacts) = info.pipeline().artifact_bucket {
        versions += crate::deploy::bucket::empty(&clients.s3, &artifacts, progress).await?;
    }
    stack::delete(&clients.cloudformation, info, progress).await?;
    Ok(versions)
}
