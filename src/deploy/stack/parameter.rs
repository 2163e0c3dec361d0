//! One parameter of a deployed stack changed, and nothing else: the
//! template the stack runs now (GetTemplate, not git2s3's own, which may be
//! newer) with its other values as they are, through a change set shown
//! and followed like any other.

use aws_sdk_cloudformation::types::TemplateStage;

use super::change_set::{execute, plan, Request};
use super::state::StackInfo;
use crate::aws::AwsResultExt;
use crate::deploy::error::DeployError;
use crate::progress::Progress;
use crate::template::Parameter;

/// Sets `key` to `value` on the stack; gives the stack after the update,
/// or `None` if it already had that value.
pub async fn set_parameter(
    cf: &aws_sdk_cloudformation::Client,
    stack: &StackInfo,
    key: &str,
    value: &str,
    progress: &Progress,
) -> Result<Option<StackInfo>, DeployError> {
    if stack.parameters.get(key).map(String::as_str) == Some(value) {
        return Ok(None);
    }
    let template = cf
        .get_template()
        .stack_name(&stack.name)
        .template_stage(TemplateStage::Original)
        .send()
        .await
        .aws("cloudformation:GetTemplate")?
        .template_body()
        .unwrap_or_default()
        .to_string();
    let parameters: Vec<Parameter> = stack
        .parameters
        .iter()
        .map(|(k, v)| Parameter {
            parameter_key: k.clone(),
            parameter_value: if k == key {
                value.to_string()
            } else {
                v.clone()
            },
        })
        .collect();
    let request = Request {
        stack: &stack.name,
        template: &template,
        parameters: &parameters,
        current: Some(stack),
        // No tags: CloudFormation keeps the stack's own.
        tags: Vec::new(),
    };
    let plan = plan(cf, &request).await?;
    for line in plan.lines() {
        progress.line(line);
    }
    if plan.is_empty() {
        return Ok(None);
    }
    Ok(Some(execute(cf, &plan, progress).await?))
}
