//! CloudFormation stacks: their state, change sets (the plan a user
//! confirms), execution and deletion.
//!
//! Every change goes through a change set, so that what is shown is exactly
//! what runs. A change set that finds nothing to do is "no changes", which
//! is success. A declined create leaves nothing behind: the change set is
//! deleted, and so is the empty REVIEW_IN_PROGRESS stack it made.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter as CfParameter,
};
use serde::Serialize;

use super::events::Follow;
use super::DeployError;
use crate::aws::{AwsError, AwsResultExt};
use crate::progress::Progress;
use crate::template::Parameter;

/// A stack as DescribeStacks reports it.
#[derive(Debug, Clone, Serialize)]
pub struct StackInfo {
    pub name: String,
    pub id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
}

/// What can be done with a stack, by its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// No stack, or an empty one left by a change set never executed
    /// (REVIEW_IN_PROGRESS): create it.
    Create,
    /// A stack that took its last change, or rolled an update back: update it.
    Update,
    /// A failed first creation (ROLLBACK_COMPLETE): delete and create again.
    RolledBack,
    /// Another operation is running.
    Busy,
    /// A state that needs a hand: UPDATE_ROLLBACK_FAILED, DELETE_FAILED, …
    Stuck,
}

/// Sorts a stack status into what can be done next.
pub fn state(status: Option<&str>) -> State {
    match status {
        None | Some("REVIEW_IN_PROGRESS") | Some("DELETE_COMPLETE") => State::Create,
        Some(
            "CREATE_COMPLETE"
            | "UPDATE_COMPLETE"
            | "UPDATE_ROLLBACK_COMPLETE"
            | "IMPORT_COMPLETE"
            | "IMPORT_ROLLBACK_COMPLETE",
        ) => State::Update,
        Some("ROLLBACK_COMPLETE") => State::RolledBack,
        Some(s) if s.ends_with("_IN_PROGRESS") => State::Busy,
        Some(_) => State::Stuck,
    }
}

/// What to do about a stack in a state that blocks a deploy.
pub fn blocked(info: &StackInfo) -> Option<DeployError> {
    let reason = info
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let stack = info.name.clone();
    let status = info.status.clone();
    match state(Some(&info.status)) {
        State::Create | State::Update => None,
        State::RolledBack => Some(DeployError::RolledBack {
            stack,
            status,
            reason,
        }),
        State::Busy => Some(DeployError::Busy { stack, status }),
        State::Stuck => {
            let fix = match info.status.as_str() {
                "UPDATE_ROLLBACK_FAILED" => format!(
                    "Finish the rollback with `aws cloudformation continue-update-rollback --stack-name {}` \
                     (add --resources-to-skip for a resource that cannot roll back; the stack events name it), \
                     then run the command again",
                    info.name
                ),
                "DELETE_FAILED" => format!(
                    "Run `git2s3 destroy` again. If a resource still cannot be deleted, delete it by hand, \
                     or keep it with `aws cloudformation delete-stack --stack-name {} --retain-resources ID`",
                    info.name
                ),
                _ => format!(
                    "Delete the stack with `git2s3 destroy` (or `aws cloudformation delete-stack --stack-name {}`) \
                     and run `git2s3 init` again",
                    info.name
                ),
            };
            Some(DeployError::Stuck {
                stack,
                status,
                reason,
                fix,
            })
        }
    }
}

/// The stack, or `None` when there is none by that name (or id).
pub async fn describe(
    cf: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Result<Option<StackInfo>, AwsError> {
    let out = match cf
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .aws("cloudformation:DescribeStacks")
    {
        Ok(out) => out,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(s) = out.stacks().first() else {
        return Ok(None);
    };
    let status = s.stack_status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
    if status == "DELETE_COMPLETE" {
        return Ok(None);
    }
    Ok(Some(StackInfo {
        name: s.stack_name().unwrap_or(name).to_string(),
        id: s.stack_id().unwrap_or(name).to_string(),
        status: status.to_string(),
        reason: s.stack_status_reason().map(str::to_string),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
        parameters: s
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_string(),
                    p.parameter_value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
    }))
}

/// The stack, which must exist: `update-stack` and `status` need one.
pub async fn require(
    cf: &aws_sdk_cloudformation::Client,
    name: &str,
    region: &str,
) -> Result<StackInfo, DeployError> {
    describe(cf, name)
        .await?
        .ok_or_else(|| DeployError::NoStack {
            stack: name.to_string(),
            region: region.to_string(),
        })
}

/// One resource in a change set.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResourceChange {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// "True", "False" or "Conditional", for modifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// One parameter whose value changes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ParameterChange {
    pub key: String,
    pub old: Option<String>,
    pub new: String,
}

/// A change set, created and described, not yet executed.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stack: String,
    pub create: bool,
    /// `None` when there is nothing to do (the change set was deleted).
    #[serde(skip)]
    pub change_set: Option<String>,
    pub resources: Vec<ResourceChange>,
    pub parameters: Vec<ParameterChange>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.change_set.is_none()
    }

    /// The plan, for people: one line per resource, then the parameters.
    pub fn lines(&self) -> Vec<String> {
        if self.is_empty() {
            return vec![format!("stack {}: no changes", self.stack)];
        }
        let verb = if self.create { "create" } else { "update" };
        let mut lines = vec![format!("stack {} ({verb}):", self.stack)];
        for r in &self.resources {
            let replace = match r.replacement.as_deref() {
                Some("True") => "  (REPLACED)",
                Some("Conditional") => "  (may be replaced)",
                _ => "",
            };
            let sign = match r.action.as_str() {
                "Add" => "+",
                "Remove" => "-",
                "Modify" => "~",
                _ => "*",
            };
            lines.push(format!(
                "  {sign} {:<8} {:<34} {}{replace}",
                r.action, r.logical_id, r.resource_type
            ));
        }
        if !self.create {
            for p in &self.parameters {
                lines.push(format!(
                    "  parameter {}: {} -> {}",
                    p.key,
                    p.old
                        .as_deref()
                        .map(quote)
                        .unwrap_or_else(|| "(unset)".into()),
                    quote(&p.new)
                ));
            }
        }
        lines
    }
}

fn quote(value: &str) -> String {
    let short: String = value.chars().take(60).collect();
    let ellipsis = if short.len() < value.len() { "…" } else { "" };
    format!("{short:?}{ellipsis}")
}

/// Parameters whose value differs from what the stack has now.
pub fn parameter_changes(
    current: &BTreeMap<String, String>,
    wanted: &[Parameter],
) -> Vec<ParameterChange> {
    wanted
        .iter()
        .filter(|p| current.get(&p.parameter_key) != Some(&p.parameter_value))
        .map(|p| ParameterChange {
            key: p.parameter_key.clone(),
            old: current.get(&p.parameter_key).cloned(),
            new: p.parameter_value.clone(),
        })
        .collect()
}

/// What a change set is for.
pub struct Request<'a> {
    pub stack: &'a str,
    pub template: &'a str,
    pub parameters: &'a [Parameter],
    /// The stack now, if it exists (in any state that can take a change set).
    pub current: Option<&'a StackInfo>,
}

/// Creates a change set and waits until CloudFormation has worked it out.
pub async fn plan(
    cf: &aws_sdk_cloudformation::Client,
    request: &Request<'_>,
) -> Result<Plan, DeployError> {
    let create = state(request.current.map(|s| s.status.as_str())) == State::Create;
    let name = format!(
        "git2s3-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );
    let created = cf
        .create_change_set()
        .stack_name(request.stack)
        .change_set_name(&name)
        .change_set_type(if create {
            ChangeSetType::Create
        } else {
            ChangeSetType::Update
        })
        .template_body(request.template)
        .set_parameters(Some(
            request
                .parameters
                .iter()
                .map(|p| {
                    CfParameter::builder()
                        .parameter_key(&p.parameter_key)
                        .parameter_value(&p.parameter_value)
                        .build()
                })
                .collect(),
        ))
        .capabilities(Capability::CapabilityIam)
        .description("git2s3")
        .send()
        .await
        .aws("cloudformation:CreateChangeSet")?;
    let id = created.id().unwrap_or(&name).to_string();
    let parameters = match request.current {
        Some(current) if !create => parameter_changes(&current.parameters, request.parameters),
        _ => Vec::new(),
    };
    let mut resources = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = cf
            .describe_change_set()
            .change_set_name(&id)
            .stack_name(request.stack)
            .set_next_token(token.clone())
            .send()
            .await
            .aws("cloudformation:DescribeChangeSet")?;
        match out.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                resources.extend(out.changes().iter().filter_map(|c| {
                    let r = c.resource_change()?;
                    Some(ResourceChange {
                        action: r.action()?.as_str().to_string(),
                        logical_id: r.logical_resource_id()?.to_string(),
                        resource_type: r.resource_type().unwrap_or_default().to_string(),
                        replacement: r.replacement().map(|x| x.as_str().to_string()),
                    })
                }));
                token = out.next_token().map(str::to_string);
                if token.is_none() {
                    return Ok(Plan {
                        stack: request.stack.to_string(),
                        create,
                        change_set: Some(id),
                        resources,
                        parameters,
                    });
                }
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = out.status_reason().unwrap_or("no reason given").to_string();
                discard_change_set(cf, request.stack, &id).await?;
                if reason.contains("didn't contain changes")
                    || reason.contains("No updates are to be performed")
                {
                    return Ok(Plan {
                        stack: request.stack.to_string(),
                        create,
                        change_set: None,
                        resources: Vec::new(),
                        parameters: Vec::new(),
                    });
                }
                return Err(DeployError::ChangeSet {
                    stack: request.stack.to_string(),
                    reason,
                });
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

async fn discard_change_set(
    cf: &aws_sdk_cloudformation::Client,
    stack: &str,
    id: &str,
) -> Result<(), AwsError> {
    cf.delete_change_set()
        .change_set_name(id)
        .stack_name(stack)
        .send()
        .await
        .aws("cloudformation:DeleteChangeSet")?;
    Ok(())
}

/// Drops a plan that will not be executed. For a create, the empty stack the
/// change set made is deleted too, so nothing is left behind.
pub async fn discard(cf: &aws_sdk_cloudformation::Client, plan: &Plan) -> Result<(), AwsError> {
    if let Some(id) = &plan.change_set {
        discard_change_set(cf, &plan.stack, id).await?;
    }
    if plan.create {
        if let Some(info) = describe(cf, &plan.stack).await? {
            if info.status == "REVIEW_IN_PROGRESS" {
                cf.delete_stack()
                    .stack_name(&info.id)
                    .send()
                    .await
                    .aws("cloudformation:DeleteStack")?;
            }
        }
    }
    Ok(())
}

/// Executes a plan and follows the stack's events until it settles.
pub async fn execute(
    cf: &aws_sdk_cloudformation::Client,
    plan: &Plan,
    progress: &Progress,
) -> Result<StackInfo, DeployError> {
    // Callers execute only plans with changes; an empty plan has nothing to run.
    let Some(id) = &plan.change_set else {
        return Err(DeployError::ChangeSet {
            stack: plan.stack.clone(),
            reason: "there is no change set to execute (the plan had no changes)".into(),
        });
    };
    let follow = Follow::start(cf, &plan.stack).await?;
    let executed = cf
        .execute_change_set()
        .change_set_name(id)
        .stack_name(&plan.stack)
        .send()
        .await
        .aws("cloudformation:ExecuteChangeSet");
    if let Err(e) = executed {
        // The stack may hold part of what was asked; say what it is now.
        let now = describe(cf, &plan.stack).await.ok().flatten();
        return Err(DeployError::StackFailed {
            action: if plan.create { "creation" } else { "update" },
            stack: plan.stack.clone(),
            first_failure: format!("ExecuteChangeSet: {e}"),
            outcome: now.map(|s| s.status).unwrap_or_else(|| "gone".into()),
            fix: "Fix the cause, then run the command again: it picks up from the stack's state"
                .into(),
        });
    }
    let action = if plan.create { "creation" } else { "update" };
    let settled = follow.until_settled(cf, progress).await?;
    let ok = matches!(
        settled.info.status.as_str(),
        "CREATE_COMPLETE" | "UPDATE_COMPLETE"
    );
    if ok {
        return Ok(settled.info);
    }
    let fix = match state(Some(&settled.info.status)) {
        State::RolledBack => {
            "Fix the cause, then run `git2s3 init --delete-failed-stack` to start over".to_string()
        }
        State::Update => {
            "The stack is back as it was. Fix the cause, then run the command again".to_string()
        }
        _ => blocked(&settled.info)
            .map(|e| e.to_string())
            .unwrap_or_default(),
    };
    Err(DeployError::StackFailed {
        action,
        stack: plan.stack.clone(),
        first_failure: settled.first_failure.unwrap_or_else(|| {
            settled
                .info
                .reason
                .clone()
                .unwrap_or_else(|| "an unknown resource".into())
        }),
        outcome: settled.info.status,
        fix,
    })
}

/// Deletes the stack and follows its events until it is gone.
pub async fn delete(
    cf: &aws_sdk_cloudformation::Client,
    info: &StackInfo,
    progress: &Progress,
) -> Result<(), DeployError> {
    let follow = Follow::start(cf, &info.id).await?;
    cf.delete_stack()
        .stack_name(&info.id)
        .send()
        .await
        .aws("cloudformation:DeleteStack")?;
    let settled = follow.until_settled(cf, progress).await?;
    if settled.gone || settled.info.status == "DELETE_COMPLETE" {
        return Ok(());
    }
    Err(DeployError::StackFailed {
        action: "deletion",
        stack: info.name.clone(),
        first_failure: settled
            .first_failure
            .unwrap_or_else(|| settled.info.reason.clone().unwrap_or_default()),
        outcome: settled.info.status.clone(),
        fix: blocked(&settled.info)
            .map(|e| e.to_string())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(status: &str, reason: Option<&str>) -> StackInfo {
        StackInfo {
            name: "demo".into(),
            id: "arn:stack/demo".into(),
            status: status.into(),
            reason: reason.map(str::to_string),
            outputs: BTreeMap::new(),
            parameters: BTreeMap::new(),
        }
    }

    #[test]
    fn sorts_every_status_into_what_to_do() {
        assert_eq!(state(None), State::Create);
        assert_eq!(state(Some("REVIEW_IN_PROGRESS")), State::Create);
        for s in [
            "CREATE_COMPLETE",
            "UPDATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
        ] {
            assert_eq!(state(Some(s)), State::Update, "{s}");
        }
        assert_eq!(state(Some("ROLLBACK_COMPLETE")), State::RolledBack);
        for s in [
            "CREATE_IN_PROGRESS",
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            "DELETE_IN_PROGRESS",
            "ROLLBACK_IN_PROGRESS",
        ] {
            assert_eq!(state(Some(s)), State::Busy, "{s}");
        }
        for s in [
            "UPDATE_ROLLBACK_FAILED",
            "DELETE_FAILED",
            "CREATE_FAILED",
            "ROLLBACK_FAILED",
        ] {
            assert_eq!(state(Some(s)), State::Stuck, "{s}");
        }
    }

    #[test]
    fn a_blocked_stack_says_what_to_run() {
        let rolled = blocked(&info(
            "ROLLBACK_COMPLETE",
            Some("The following resource(s) failed to create: [Worker]"),
        ))
        .unwrap()
        .to_string();
        assert!(rolled.contains("failed to create: [Worker]"), "{rolled}");
        assert!(rolled.contains("--delete-failed-stack"), "{rolled}");
        let stuck = blocked(&info("UPDATE_ROLLBACK_FAILED", None))
            .unwrap()
            .to_string();
        assert!(
            stuck.contains("continue-update-rollback --stack-name demo"),
            "{stuck}"
        );
        let delete = blocked(&info("DELETE_FAILED", None)).unwrap().to_string();
        assert!(delete.contains("--retain-resources"), "{delete}");
        let busy = blocked(&info("UPDATE_IN_PROGRESS", None))
            .unwrap()
            .to_string();
        assert!(busy.contains("Wait for it to finish"), "{busy}");
        assert!(blocked(&info("UPDATE_ROLLBACK_COMPLETE", None)).is_none());
    }

    #[test]
    fn plans_read_as_a_diff() {
        let current = BTreeMap::from([
            ("LogRetentionDays".to_string(), "30".to_string()),
            ("LogLevel".to_string(), "INFO".to_string()),
        ]);
        let wanted = [
            Parameter {
                parameter_key: "LogRetentionDays".into(),
                parameter_value: "60".into(),
            },
            Parameter {
                parameter_key: "LogLevel".into(),
                parameter_value: "INFO".into(),
            },
            Parameter {
                parameter_key: "KnownHosts".into(),
                parameter_value: "".into(),
            },
        ];
        let plan = Plan {
            stack: "demo".into(),
            create: false,
            change_set: Some("cs".into()),
            resources: vec![ResourceChange {
                action: "Modify".into(),
                logical_id: "Worker".into(),
                resource_type: "AWS::Lambda::Function".into(),
                replacement: Some("True".into()),
            }],
            parameters: parameter_changes(&current, &wanted),
        };
        assert_eq!(
            plan.lines(),
            [
                "stack demo (update):",
                "  ~ Modify   Worker                             AWS::Lambda::Function  (REPLACED)",
                "  parameter LogRetentionDays: \"30\" -> \"60\"",
                "  parameter KnownHosts: (unset) -> \"\"",
            ]
        );
    }
}
