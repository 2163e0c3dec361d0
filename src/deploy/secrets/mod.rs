//! The stack's secrets in Secrets Manager: the webhook secret, the SSH
//! deploy key and, for zip download, the provider token.
//!
//! Values are generated here, sent to Secrets Manager and dropped: they are
//! never written to disk, printed or logged. Only the public half of the
//! deploy key leaves this module. Every function is idempotent: an
//! existing secret is kept (and restored if it was scheduled for deletion),
//! so re-running `init` never rotates a key that providers already trust.

pub mod stack;
pub mod stages;

use rand_core::{OsRng, RngCore};
use ssh_key::{Algorithm, LineEnding, PrivateKey};

use super::error::DeployError;
use crate::aws::{AwsError, AwsResultExt};

/// What happened to a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Kept,
    Updated,
}

/// The webhook secret's description in Secrets Manager.
pub const WEBHOOK_SECRET_DESCRIPTION: &str = "git2s3 webhook secret (HMAC-SHA256 key)";

/// A fresh webhook secret: 32 random bytes, as 64 hex characters.
pub fn new_webhook_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A fresh ed25519 deploy keypair: (private key in OpenSSH format, public
/// key line with `comment`).
pub fn new_deploy_key(comment: &str) -> Result<(String, String), DeployError> {
    let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
        .map_err(|e| DeployError::KeyGeneration(e.to_string()))?;
    key.set_comment(comment);
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| DeployError::KeyGeneration(e.to_string()))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| DeployError::KeyGeneration(e.to_string()))?;
    Ok((private.to_string(), public))
}

/// How a secret is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// At once, with no way back (`--force-delete-secrets`).
    Now,
    /// Scheduled, restorable for this many days (7 to 30): `aws
    /// secretsmanager restore-secret`, or `git2s3 init` again, restores it.
    After { days: u32 },
}

/// Whether the secret exists: `Some(scheduled_for_deletion)`, or `None`.
async fn exists(sm: &aws_sdk_secretsmanager::Client, id: &str) -> Result<Option<bool>, AwsError> {
    match sm
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .aws("secretsmanager:DescribeSecret")
    {
        Ok(out) => Ok(Some(out.deleted_date().is_some())),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates the secret with `make()`'s value unless it exists; a secret
/// scheduled for deletion is restored, with its old value.
pub async fn ensure(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    description: &str,
    make: impl FnOnce() -> Result<String, DeployError>,
) -> Result<Outcome, DeployError> {
    match exists(sm, id).await? {
        Some(false) => Ok(Outcome::Kept),
        Some(true) => {
            sm.restore_secret()
                .secret_id(id)
                .send()
                .await
                .aws("secretsmanager:RestoreSecret")?;
            Ok(Outcome::Kept)
        }
        None => {
            sm.create_secret()
                .name(id)
                .description(description)
                .secret_string(make()?)
                .send()
                .await
                .aws("secretsmanager:CreateSecret")?;
            Ok(Outcome::Created)
        }
    }
}

/// Stores `value` in the secret, creating it if needed; writes nothing
/// when the secret already holds it.
pub async fn put(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    description: &str,
    value: &str,
) -> Result<Outcome, DeployError> {
    let outcome = ensure(sm, id, description, || Ok(value.to_string())).await?;
    if outcome == Outcome::Created || read(sm, id).await?.as_deref() == Some(value) {
        return Ok(outcome);
    }
    sm.put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .aws("secretsmanager:PutSecretValue")?;
    Ok(Outcome::Updated)
}

/// The secret's current string value.
pub async fn read(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<Option<String>, AwsError> {
    let out = sm
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .aws("secretsmanager:GetSecretValue")?;
    Ok(out.secret_string().map(str::to_string))
}

/// Deletes the secret at once (no recovery window, so that `init` can
/// create it again). Gives whether there was one; a missing secret is not
/// an error.
pub async fn delete(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    deletion: Deletion,
) -> Result<bool, AwsError> {
    match (exists(sm, id).await?, deletion) {
        (None, _) => return Ok(false),
        // Already scheduled: its window runs on.
        (Some(true), Deletion::After { .. }) => return Ok(false),
        _ => {}
    }
    let request = sm.delete_secret().secret_id(id);
    let request = match deletion {
        Deletion::Now => request.force_delete_without_recovery(true),
        Deletion::After { days } => request.recovery_window_in_days(i64::from(days)),
    };
    match request.send().await.aws("secretsmanager:DeleteSecret") {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_keys_are_ed25519_and_round_trip() {
        let (private, public) = new_deploy_key("git2s3@demo").unwrap();
        assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(public.starts_with("ssh-ed25519 ") && public.ends_with(" git2s3@demo"));
        let parsed = PrivateKey::from_openssh(&private).unwrap();
        assert_eq!(parsed.public_key().to_openssh().unwrap(), public);
        assert_ne!(
            new_deploy_key("x").unwrap().1,
            new_deploy_key("x").unwrap().1
        );
    }

    #[test]
    fn webhook_secrets_are_32_random_bytes() {
        let a = new_webhook_secret();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_webhook_secret());
    }
}
