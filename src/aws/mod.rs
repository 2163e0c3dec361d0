//! The AWS SDK configuration, built in one place from `--profile`,
//! `--region` and `--endpoint-url` (or `AWS_ENDPOINT_URL`, which the SDK
//! reads itself), and the few client settings that depend on it.
//!
//! An endpoint URL points every client at an emulator such as moto or
//! LocalStack; S3 then needs path-style addressing, because
//! `bucket.127.0.0.1` does not resolve.

use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

mod error;
pub mod profiles;
pub use error::{AwsError, AwsResultExt};

/// Where and as whom to talk to AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Loads the SDK configuration: the standard chain (environment, profile,
/// SSO, instance role), with the options laid over it.
pub async fn sdk_config(options: &AwsOptions) -> SdkConfig {
    sdk_config_from(aws_config::defaults(BehaviorVersion::latest()), options).await
}

/// Lays the options over a loader that the caller has already set up (tests
/// give it fixed credentials, for example).
pub async fn sdk_config_from(mut loader: ConfigLoader, options: &AwsOptions) -> SdkConfig {
    if let Some(profile) = &options.profile {
        // --profile wins over credentials in the environment, as the AWS
        // CLI's does: the SDK's default chain would take AWS_ACCESS_KEY_ID
        // first, and so deploy into, or destroy, another account.
        let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_name(profile)
            .build();
        loader = loader
            .profile_name(profile)
            .credentials_provider(credentials);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An S3 client; path-style when an endpoint URL is set, and the
/// worker's retries (`git2s3_lambda::store::s3_retries`).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .retry_config(git2s3_lambda::store::s3_retries())
        .interceptor(CallLog)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// A CloudFormation client.
pub fn cloudformation_client(config: &SdkConfig) -> aws_sdk_cloudformation::Client {
    client!(aws_sdk_cloudformation, config)
}

/// A client of `$sdk` that logs its calls.
macro_rules! client {
    ($sdk:ident, $config:expr) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                .interceptor(CallLog)
                .build(),
        )
    };
}
use client;

/// Logs every AWS operation before it is sent, at debug level (`-v`):
/// `aws call service=CloudFormation operation=CreateChangeSet`. What the
/// CLI calls is then visible, and a test checks it against docs/iam.md.
#[derive(Debug)]
struct CallLog;

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "git2s3-call-log"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(op) = cfg.load::<Metadata>() {
            tracing::debug!(service = op.service(), operation = op.name(), "aws call");
        }
        Ok(())
    }
}

/// Every client the deploy commands use, built from one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// The region every client talks to, when one is configured.
    pub region: Option<String>,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Clients {
            cloudformation: cloudformation_client(config),
            s3: s3_client(config),
            sts: client!(aws_sdk_sts, config),
            secrets: client!(aws_sdk_secretsmanager, config),
            sqs: client!(aws_sdk_sqs, config),
            codepipeline: client!(aws_sdk_codepipeline, config),
            logs: client!(aws_sdk_cloudwatchlogs, config),
            region: config.region().map(|r| r.to_string()),
        }
    }
}
