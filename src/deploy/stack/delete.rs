//! Deleting a stack, following its events until it is gone.

use super::events::Follow;
use super::state::{blocked, StackInfo};
use crate::aws::AwsResultExt;
use crate::deploy::error::DeployError;
use crate::progress::Progress;

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
