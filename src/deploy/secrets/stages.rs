//! A secret's staging labels, as Secrets Manager's own rotation uses them:
//! a new value is stored as `AWSPENDING` beside the `AWSCURRENT` one that
//! everything reads, then made current, which moves `AWSPREVIOUS` to the
//! old one. So a rotation that stops part-way is visible in the secret
//! itself, and the next run picks up from there.

use crate::aws::{AwsError, AwsResultExt};

pub const CURRENT: &str = "AWSCURRENT";
pub const PENDING: &str = "AWSPENDING";
pub const PREVIOUS: &str = "AWSPREVIOUS";

/// Which version holds each label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stages {
    pub current: Option<String>,
    pub pending: Option<String>,
    pub previous: Option<String>,
}

/// The secret's labels.
pub async fn read(sm: &aws_sdk_secretsmanager::Client, id: &str) -> Result<Stages, AwsError> {
    let out = sm
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .aws("secretsmanager:DescribeSecret")?;
    let mut stages = Stages::default();
    for (version, labels) in out.version_ids_to_stages().into_iter().flatten() {
        for label in labels {
            let slot = match label.as_str() {
                CURRENT => &mut stages.current,
                PENDING => &mut stages.pending,
                PREVIOUS => &mut stages.previous,
                _ => continue,
            };
            *slot = Some(version.clone());
        }
    }
    Ok(stages)
}

/// The value of one version.
pub async fn value(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    version: &str,
) -> Result<String, AwsError> {
    let out = sm
        .get_secret_value()
        .secret_id(id)
        .version_id(version)
        .send()
        .await
        .aws("secretsmanager:GetSecretValue")?;
    Ok(out.secret_string().unwrap_or_default().to_string())
}

/// Stores `value` as the pending version (the current one is untouched),
/// and gives its version id.
pub async fn put_pending(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    value: &str,
) -> Result<String, AwsError> {
    let out = sm
        .put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .version_stages(PENDING)
        .send()
        .await
        .aws("secretsmanager:PutSecretValue")?;
    Ok(out.version_id().unwrap_or_default().to_string())
}

/// Makes `to` the current version (the old one becomes `AWSPREVIOUS`).
pub async fn make_current(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    to: &str,
    from: &str,
) -> Result<(), AwsError> {
    sm.update_secret_version_stage()
        .secret_id(id)
        .version_stage(CURRENT)
        .move_to_version_id(to)
        .remove_from_version_id(from)
        .send()
        .await
        .aws("secretsmanager:UpdateSecretVersionStage")?;
    Ok(())
}

/// Takes the pending label off `version`: the rotation is over.
pub async fn drop_pending(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    version: &str,
) -> Result<(), AwsError> {
    sm.update_secret_version_stage()
        .secret_id(id)
        .version_stage(PENDING)
        .remove_from_version_id(version)
        .send()
        .await
        .aws("secretsmanager:UpdateSecretVersionStage")?;
    Ok(())
}
