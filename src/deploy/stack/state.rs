//! A stack's state: what DescribeStacks reports, and what can be done
//! next from its status (create, update, wait, delete, or fix by hand).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::{AwsError, AwsResultExt};
use crate::deploy::error::DeployError;
use crate::template::{CoreOutputs, PipelineOutputs};

/// A stack as DescribeStacks reports it.
#[derive(Debug, Clone, Serialize)]
pub struct StackInfo {
    pub name: String,
    pub id: String,
    pub status: String,
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
/// The names of the stacks tagged `key` = `value` (a core stack's pipelines).
pub async fn tagged(
    cf: &aws_sdk_cloudformation::Client,
    key: &str,
    value: &str,
) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = cf
            .describe_stacks()
            .set_next_token(next.take())
            .send()
            .await
            .aws("cloudformation:DescribeStacks")?;
        for s in out.stacks() {
            let tagged = s
                .tags()
                .iter()
                .any(|t| t.key() == Some(key) && t.value() == Some(value));
            if tagged {
                names.extend(s.stack_name().map(str::to_string));
            }
        }
        match out.next_token() {
            Some(token) => next = Some(token.to_string()),
            None => return Ok(names),
        }
    }
}

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

impl StackInfo {
    /// The outputs, read as the core stack's.
    pub fn core(&self) -> CoreOutputs {
        CoreOutputs::read(&self.outputs)
    }

    /// The error for an output this stack lacks (a stack from an older
    /// template): naming it, and `update-stack` as the fix.
    pub fn missing_output(&self, output: &'static str) -> DeployError {
        DeployError::MissingOutput {
            stack: self.name.clone(),
            output,
        }
    }

    /// The outputs, read as a pipeline stack's.
    pub fn pipeline(&self) -> PipelineOutputs {
        PipelineOutputs::read(&self.outputs)
    }
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
}
