//! Why a deploy step failed, and how to fix it: [`DeployError`].

use std::path::PathBuf;

use crate::aws::AwsError;
use crate::template::RenderError;

/// Why a deploy step failed, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(
        "a rotation of secret {id} is under way (it has an AWSPENDING version): run `git2s3 rotate \
         {what}` to finish it, then run this command again"
    )]
    RotationUnderway { id: String, what: &'static str },
    #[error("no AWS region is set: pass --region, set `region` in git2s3.yaml, or set AWS_REGION")]
    NoRegion,
    #[error(
        "`{region}` is not an AWS region name such as eu-west-1: check --region, `region` in \
         git2s3.yaml, AWS_REGION and your AWS profile"
    )]
    BadRegion { region: String },
    #[error(
        "bucket {bucket} already exists in this account and is not stack {stack}'s: \
         pick another name with --bucket, or leave bucket.name unset and CloudFormation names it"
    )]
    BucketInAccount { bucket: String, stack: String },
    #[error(
        "bucket {bucket} belongs to another AWS account (bucket names are global): \
         pick another name with --bucket"
    )]
    BucketElsewhere { bucket: String },
    #[error(
        "bucket {bucket}, where git2s3 stages the Lambda zip, belongs to another AWS account: \
         its name is predictable, so someone may have claimed it, and git2s3 never trusts a bucket \
         by its name. Upload the Lambda zip to a bucket of your own, set lambda.code_bucket and \
         lambda.code_key (GIT2S3_LAMBDA_CODE_BUCKET, GIT2S3_LAMBDA_CODE_KEY), and run the command again"
    )]
    ArtifactsBucketElsewhere { bucket: String },
    #[error("stack {stack} has no {output} output: run `git2s3 update-stack`")]
    MissingOutput { stack: String, output: &'static str },
    #[error("stack {stack} does not exist in {region}: run `git2s3 init` first, or check --stack-name and --region")]
    NoStack { stack: String, region: String },
    #[error(
        "stack {stack} is {status}: its creation failed{reason}, and CloudFormation rolled it back. \
         A stack in this state cannot be updated, only deleted. Run `git2s3 init` again with \
         --delete-failed-stack to delete it and start over"
    )]
    RolledBack {
        stack: String,
        status: String,
        reason: String,
    },
    #[error(
        "stack {stack} is {status}: another operation is running on it. Wait for it to finish \
         (`git2s3 status` shows the state), then run the command again"
    )]
    Busy { stack: String, status: String },
    #[error("stack {stack} is stuck in {status}{reason}. {fix}")]
    Stuck {
        stack: String,
        status: String,
        reason: String,
        fix: String,
    },
    #[error(
        "the plan for stack {stack} {what}: every pipeline reads that bucket, and the webhook and \
         the worker authenticate with that key and those secrets. Nothing was changed. If you mean \
         it, run again with --allow-replace (and --yes where no one can be asked); if not, set the \
         value back in git2s3.yaml, or leave it out and the deployed value is kept"
    )]
    NeedsAllowReplace { stack: String, what: String },
    #[error("the change set for stack {stack} failed: {reason}. Fix the cause, then run the command again")]
    ChangeSet { stack: String, reason: String },
    #[error(
        "{action} of stack {stack} failed at {first_failure}. The stack is now {outcome}. {fix}"
    )]
    StackFailed {
        action: &'static str,
        stack: String,
        first_failure: String,
        outcome: String,
        fix: String,
    },
    #[error(
        "zip download needs the provider's API token, and secret {id} does not hold one yet: \
         set {var} (or name the variable that holds the token with --token-env) and run the command again"
    )]
    MissingToken { id: String, var: String },
    #[error(
        "pipeline.report_status posts each run's state on its commit, and needs a token with the \
         commit status scope, which secret {id} does not hold yet: set {var} and run the command \
         again, or set pipeline.report_status: false"
    )]
    MissingStatusToken { id: String, var: String },
    #[error(
        "zip download with a Bitbucket OAuth consumer needs its key and secret, and secret {id} \
         does not hold them yet: set BITBUCKET_OAUTH_KEY and BITBUCKET_OAUTH_SECRET and run the command again"
    )]
    MissingOauthConsumer { id: String },
    #[error("cannot generate the SSH deploy key: {0}")]
    KeyGeneration(String),
    #[error(
        "secret {id} does not hold an OpenSSH private key ({message}): delete it \
         (`aws secretsmanager delete-secret --secret-id {id} --force-delete-without-recovery`) \
         and run `git2s3 init` again to generate a new deploy key"
    )]
    BadDeployKey { id: String, message: String },
}

/// What is wrong with the Lambda zip, and how to get a good one.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error(
        "no Lambda zip found; looked in: {searched}. Build it with \
         `cargo lambda build --release --output-format zip -p git2s3-lambda` (add --arm64 for arm64) \
         in a git2s3 checkout, or pass --lambda-zip PATH. \
         This build of git2s3 has no published release asset to download"
    )]
    NotFound { searched: String },
    #[error(
        "cannot read back s3://{bucket}/{key} to check it holds the Lambda zip: {message}. \
         Run the command again; if it fails again, delete that object and it is uploaded anew"
    )]
    Download {
        bucket: String,
        key: String,
        message: String,
    },
    #[error("cannot read the Lambda zip {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a Lambda zip for git2s3: {problem}. \
         Build it with `cargo lambda build --release --output-format zip -p git2s3-lambda`"
    )]
    Invalid { path: PathBuf, problem: String },
    #[error(
        "{path} holds a {found} binary but lambda.architecture is {wanted}: build for {wanted} \
         (`cargo lambda build --release --output-format zip{flag}`), or set lambda.architecture \
         (--architecture) to {found}"
    )]
    WrongArchitecture {
        path: PathBuf,
        found: &'static str,
        wanted: &'static str,
        flag: &'static str,
    },
}
