//! The AWS SDK configuration, built in one place from `--profile`,
//! `--region` and `--endpoint-url` (or `AWS_ENDPOINT_URL`, which the SDK
//! reads itself), and the few client settings that depend on it.
//!
//! An endpoint URL points every client at an emulator such as moto or
//! LocalStack; S3 then needs path-style addressing, because
//! `bucket.127.0.0.1` does not resolve.

use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};

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
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An S3 client; path-style when an endpoint URL is set.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// A CloudFormation client.
pub fn cloudformation_client(config: &SdkConfig) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(config)
}
