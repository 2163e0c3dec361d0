//! Buckets: who owns a name, the private artifacts bucket the CLI keeps per
//! account and region, and emptying a versioned bucket for `destroy`.

use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};

use super::error::DeployError;
use crate::aws::{AwsError, AwsResultExt};
use crate::progress::Progress;

/// Who holds a bucket name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Nobody: the name is free.
    Nobody,
    /// The caller's account.
    ThisAccount,
    /// Another account (HeadBucket answers 403).
    OtherAccount,
}

/// Who holds `bucket`, by HeadBucket: 200 ours, 403 someone else's, 404 free.
pub async fn owner(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Owner, AwsError> {
    owned_by(s3, bucket, None).await
}

/// As [`owner`], and with `expected`, only `expected`'s (S3 answers 403 for
/// a bucket of any other account, whatever that account's policy allows).
pub async fn owned_by(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    expected: Option<&str>,
) -> Result<Owner, AwsError> {
    match s3
        .head_bucket()
        .bucket(bucket)
        .set_expected_bucket_owner(expected.map(str::to_string))
        .send()
        .await
        .aws("s3:ListBucket")
    {
        Ok(_) => Ok(Owner::ThisAccount),
        Err(e) if e.is_not_found() => Ok(Owner::Nobody),
        Err(AwsError::AccessDenied { .. }) => Ok(Owner::OtherAccount),
        Err(e) if e.status() == Some(403) => Ok(Owner::OtherAccount),
        Err(e) => Err(e),
    }
}

/// Creates the artifacts `bucket` in `account` if it does not exist, and (re)applies
/// versioning, SSE-S3 encryption and a full public access block; every
/// call names `account` as the bucket's expected owner, so a bucket of the
/// same name in another account is never written to. Idempotent.
pub async fn ensure_private(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    account: &str,
    region: &str,
) -> Result<bool, DeployError> {
    let created = match owned_by(s3, bucket, Some(account)).await? {
        Owner::ThisAccount => false,
        Owner::OtherAccount => {
            return Err(DeployError::ArtifactsBucketElsewhere {
                bucket: bucket.to_string(),
            })
        }
        Owner::Nobody => {
            let mut create = s3.create_bucket().bucket(bucket);
            // us-east-1 is the one region that takes no location constraint.
            if region != "us-east-1" {
                create = create.create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(region))
                        .build(),
                );
            }
            create.send().await.aws("s3:CreateBucket")?;
            true
        }
    };
    s3.put_public_access_block()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .aws("s3:PutBucketPublicAccessBlock")?;
    s3.put_bucket_encryption()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()
                                .expect("algorithm is set"),
                        )
                        .build(),
                )
                .build()
                .expect("rules are set"),
        )
        .send()
        .await
        .aws("s3:PutEncryptionConfiguration")?;
    s3.put_bucket_versioning()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .aws("s3:PutBucketVersioning")?;
    Ok(created)
}

/// S3 deletes at most this many keys per DeleteObjects call.
const DELETE_BATCH: usize = 1000;

/// Deletes every object version and delete marker in `bucket`, a page
/// (up to 1,000) at a time, and gives how many were deleted. Each round
/// lists from the start again, since what it deleted is gone: that holds
/// however the service paginates. A missing bucket counts as empty.
pub async fn empty(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    progress: &Progress,
) -> Result<u64, AwsError> {
    let mut deleted = 0u64;
    loop {
        let page = match s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(DELETE_BATCH as i32)
            .send()
            .await
            .aws("s3:ListBucketVersions")
        {
            Ok(page) => page,
            Err(e) if e.is_not_found() => return Ok(deleted),
            Err(e) => return Err(e),
        };
        let ids: Vec<ObjectIdentifier> = page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id())),
            )
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder()
                    .key(key?)
                    .set_version_id(version.map(str::to_string))
                    .build()
                    .ok()
            })
            .collect();
        if ids.is_empty() {
            return Ok(deleted);
        }
        for batch in ids.chunks(DELETE_BATCH) {
            let out = s3
                .delete_objects()
                .bucket(bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(batch.to_vec()))
                        .quiet(true)
                        .build()
                        .expect("objects are set"),
                )
                .send()
                .await
                .aws("s3:DeleteObjectVersion")?;
            // A DeleteObjects that deletes nothing would make this loop
            // forever: stop at the first error S3 reports.
            if let Some(err) = out.errors().first() {
                return Err(AwsError::Service {
                    call: "s3:DeleteObjectVersion",
                    code: err.code().unwrap_or("Unknown").to_string(),
                    message: format!(
                        "{} (key {}, and {} more)",
                        err.message().unwrap_or_default(),
                        err.key().unwrap_or_default(),
                        out.errors().len() - 1
                    ),
                    status: 200,
                });
            }
            deleted += batch.len() as u64;
            progress.waiting(format!("emptying {bucket}: {deleted} versions deleted"));
        }
    }
}

/// Empties and deletes `bucket`, giving how many versions it held, or
/// `None` when there was no such bucket.
pub async fn remove(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    progress: &Progress,
) -> Result<Option<u64>, AwsError> {
    if owner(s3, bucket).await? != Owner::ThisAccount {
        return Ok(None);
    }
    let deleted = empty(s3, bucket, progress).await?;
    match s3
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .aws("s3:DeleteBucket")
    {
        Ok(_) | Err(AwsError::Service { status: 404, .. }) => Ok(Some(deleted)),
        Err(e) => Err(e),
    }
}
