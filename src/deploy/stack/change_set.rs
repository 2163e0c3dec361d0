//! Change sets: the plan a user confirms, and its execution. Every change
//! goes through one, so that what is shown is exactly what runs. A change
//! set that finds nothing to do is "no changes", which is success. A
//! declined create leaves nothing behind: the change set is deleted, and so
//! is the empty REVIEW_IN_PROGRESS stack it made.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter as CfParameter,
};
use serde::Serialize;

use super::events::Follow;
use super::state::{blocked, describe, state, StackInfo, State};
use crate::aws::{AwsError, AwsResultExt};
use crate::deploy::error::DeployError;
use crate::progress::Progress;
use crate::template::Parameter;

/// One resource in a change set.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResourceChange {
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// "True", "False" or "Conditional", for modifications.
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
    /// Parameters that kept the deployed stack's value, because nothing
    /// set the keys they are computed from.
    pub kept: Vec<String>,
}

/// The parameters whose change needs `--allow-replace`: the deploy key and
/// the secrets the webhook and the worker authenticate with.
const GUARDED_PARAMETERS: &[&str] = &["PublicSSHKey", "WebhookSecretId", "SshKeySecretId"];

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.change_set.is_none()
    }

    /// The plan, for people: one line per resource, then the parameters.
    /// What this plan would replace or swap that needs `--allow-replace`:
    /// the output bucket (every pipeline's source), the deploy key, the
    /// webhook or deploy-key secret's id.
    pub fn needs_allow_replace(&self) -> Vec<String> {
        if self.create {
            return Vec::new();
        }
        let bucket = self
            .resources
            .iter()
            .filter(|r| r.logical_id == "OutputBucket" && r.replacement.as_deref() == Some("True"));
        let guarded = self
            .parameters
            .iter()
            .filter(|p| GUARDED_PARAMETERS.contains(&p.key.as_str()));
        bucket
            .map(|_| "replaces the output bucket".to_string())
            .chain(guarded.map(|p| format!("changes {}", p.key)))
            .collect()
    }

    pub fn lines(&self) -> Vec<String> {
        let kept = (!self.kept.is_empty()).then(|| {
            format!(
                "  kept from the deployed stack (not set in git2s3.yaml, GIT2S3_* or a flag): {}",
                self.kept.join(", ")
            )
        });
        if self.is_empty() {
            let mut lines = vec![format!("stack {}: no changes", self.stack)];
            lines.extend(kept);
            return lines;
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
            let guard = match r.logical_id == "OutputBucket" && replace == "  (REPLACED)" {
                true => "  (needs --allow-replace)",
                false => "",
            };
            lines.push(format!(
                "  {sign} {:<8} {:<34} {}{replace}{guard}",
                r.action, r.logical_id, r.resource_type
            ));
        }
        if !self.create {
            for p in &self.parameters {
                lines.push(format!(
                    "  parameter {}: {} -> {}{}",
                    p.key,
                    p.old
                        .as_deref()
                        .map(quote)
                        .unwrap_or_else(|| "(unset)".into()),
                    quote(&p.new),
                    match GUARDED_PARAMETERS.contains(&p.key.as_str()) {
                        true => "  (needs --allow-replace)",
                        false => "",
                    }
                ));
            }
        }
        lines.extend(kept);
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
    /// Tags on the stack (a pipeline stack names its core stack).
    pub tags: Vec<(String, String)>,
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
        .set_tags((!request.tags.is_empty()).then(|| {
            request
                .tags
                .iter()
                .map(|(k, v)| {
                    aws_sdk_cloudformation::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                })
                .collect()
        }))
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
                        kept: Vec::new(),
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
                        kept: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
            kept: Vec::new(),
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
