//! The rules every configuration value must follow, checked once after the
//! merge. They mirror what CloudFormation and the AWS services would reject,
//! so a mistake fails here, naming its key, and not half-way through a
//! deploy. The name rules are public: the wizard and preflight reuse them.

use git2s3_lambda::layout::{check_repo_path, GitRef};
use git2s3_lambda::secure_url::is_https_or_loopback;
use git2s3_lambda::webhook::auth::parse_cidr;
use git2s3_lambda::Provider;

use super::error::ConfigError;
use super::model::{Method, Settings};

/// Log retention values CloudWatch Logs accepts.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

impl Settings {
    /// Checks every value against the rules the stack will apply, so that a
    /// mistake fails here, naming its key, and not half-way through a deploy.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| {
            Err(ConfigError::Invalid {
                key,
                message,
                origin: None,
            })
        };

        validate_stack_name(&self.stack_name).or_else(|m| invalid("stack_name", m))?;
        if let Some(name) = &self.bucket.name {
            validate_bucket_name(name).or_else(|m| invalid("bucket.name", m))?;
        }
        for repo in &self.repos {
            check_repo_path(repo).or_else(|e| invalid("repos", e.to_string()))?;
        }
        if self.provider.needs_api_url() && self.api_url.is_none() {
            return invalid(
                "api_url",
                format!(
                    "the {} provider runs on your own server: set api_url (or --api-url) to its API base URL, e.g. {}",
                    self.provider,
                    self.provider
                        .facts()
                        .self_hosted
                        .map_or("https://git.example.com/api/v3", |s| s.api_url_example)
                ),
            );
        }
        if let Some(url) = &self.api_url {
            if !is_https_or_loopback(url) {
                return invalid(
                    "api_url",
                    format!("`{url}` must be an https:// URL; git2s3 never sends tokens over plain HTTP (except to this machine)"),
                );
            }
        }
        if self.method == Method::ZipDownload && !self.provider.has_archive_api() {
            return invalid(
                "method",
                "the generic provider has no archive API to download zips from: use method git-pull".into(),
            );
        }
        if self.auth.bitbucket_oauth_consumer && self.provider != Provider::Bitbucket {
            return invalid(
                "auth.bitbucket_oauth_consumer",
                format!(
                    "OAuth consumers are a Bitbucket Cloud feature, but the provider is {}",
                    self.provider
                ),
            );
        }
        for cidr in &self.auth.allowed_ips {
            parse_cidr(cidr)
                .map(|_| ())
                .or_else(|e| invalid("auth.allowed_ips", e.to_string()))?;
        }
        if self.webhook_secret_id().is_empty() {
            let why = if self.auth.allowed_ips.is_empty() {
                "it is empty, so no webhook could ever authenticate"
            } else {
                "it is empty, and auth.allowed_ips cannot stand in for it: an address alone never \
                 authenticates, since a provider's webhook addresses are shared by all its customers"
            };
            return invalid(
                "auth.secrets.webhook",
                format!("{why}. Remove the empty value to use the default secret, or name yours"),
            );
        }
        check_range(
            "bucket.noncurrent_version_days",
            self.bucket.noncurrent_version_days,
            0,
            36_500,
        )?;
        check_range(
            "lambda.worker_memory_mb",
            self.lambda.worker_memory_mb,
            128,
            10_240,
        )?;
        check_range(
            "lambda.worker_max_concurrency",
            self.lambda.worker_max_concurrency,
            2,
            1000,
        )?;
        check_range(
            "lambda.worker_reserved_concurrency",
            self.lambda.worker_reserved_concurrency,
            0,
            10_000,
        )?;
        check_range(
            "lambda.worker_timeout_seconds",
            self.lambda.worker_timeout_seconds,
            30,
            900,
        )?;
        check_range(
            "lambda.worker_ephemeral_storage_mb",
            self.lambda.worker_ephemeral_storage_mb,
            512,
            10_240,
        )?;
        check_range(
            "api.throttle_rate_limit",
            self.api.throttle_rate_limit,
            1,
            10_000,
        )?;
        check_range(
            "api.throttle_burst_limit",
            self.api.throttle_burst_limit,
            1,
            5_000,
        )?;
        check_range(
            "sweep.interval_minutes",
            self.sweep.interval_minutes,
            0,
            1440,
        )?;
        if !LOG_RETENTION_DAYS.contains(&self.logs.retention_days) {
            return invalid(
                "logs.retention_days",
                format!(
                    "{} is not a retention CloudWatch Logs offers; pick one of {LOG_RETENTION_DAYS:?}",
                    self.logs.retention_days
                ),
            );
        }
        let mut names = std::collections::HashSet::new();
        for p in self.all_pipelines() {
            let one = self.pipeline.as_ref() == Some(p);
            let key = |k: &'static str| match (one, k) {
                (true, "repo") => "pipeline.repo",
                (true, "branch") => "pipeline.branch",
                (true, "stack_name") => "pipeline.stack_name",
                (true, _) => "pipeline.buildspec",
                (false, "repo") => "pipelines.repo",
                (false, "branch") => "pipelines.branch",
                (false, "stack_name") => "pipelines.stack_name",
                (false, _) => "pipelines.buildspec",
            };
            check_repo_path(&p.repo).or_else(|e| invalid(key("repo"), e.to_string()))?;
            GitRef::branch(&p.branch)
                .map(|_| ())
                .or_else(|e| invalid(key("branch"), e.to_string()))?;
            if let Some(name) = &p.stack_name {
                validate_stack_name(name).or_else(|m| invalid(key("stack_name"), m))?;
            }
            if let Some(spec) = &p.buildspec {
                if spec.trim().is_empty()
                    || spec.starts_with('/')
                    || spec.split('/').any(|c| c == "..")
                {
                    invalid(
                        key("buildspec"),
                        format!("`{spec}` is not a path inside the repository, such as ci/buildspec.yml"),
                    )?;
                }
            }
            // A pipeline builds a zip git2s3 makes: its repository must be connected.
            if !self.repos.is_empty() || self.org.is_some() {
                self.connection(None, "").check_repo(&p.repo).or_else(|e| {
                    invalid(
                        key("repo"),
                        format!("no zip is ever made for {}: {e}", p.repo),
                    )
                })?;
            }
            let stack = self.stack_name_of(p);
            if !names.insert(stack.clone()) {
                invalid(
                    key("stack_name"),
                    format!("two pipelines would share the stack {stack}: give one a stack_name of its own"),
                )?;
            }
        }
        Ok(())
    }
}

fn check_range(key: &'static str, value: u32, min: u32, max: u32) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key,
            message: format!("{value} is out of range: use a value from {min} to {max}"),
            origin: None,
        })
    }
}

/// CloudFormation stack names: a letter, then letters, digits and hyphens.
/// git2s3 also names the SQS queues after the stack (`<stack>-jobs-dlq.fifo`,
/// at most 80 characters), hence the limit of 64.
pub fn validate_stack_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid stack name: start with a letter, then use up to 64 letters, digits and hyphens"
        ))
    }
}

/// S3 bucket naming rules for general purpose buckets.
pub fn validate_bucket_name(name: &str) -> Result<(), String> {
    let reason = if !(3..=63).contains(&name.len()) {
        Some("it must be 3 to 63 characters long")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        Some("use only lower-case letters, digits, dots and hyphens")
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some("it must start and end with a letter or a digit")
    } else if name.contains("..") || name.contains(".-") || name.contains("-.") {
        Some("dots may not be next to each other or to a hyphen")
    } else if name.parse::<std::net::Ipv4Addr>().is_ok() {
        Some("it may not look like an IP address")
    } else if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.starts_with("amzn-s3-demo-")
    {
        Some("the prefixes xn--, sthree- and amzn-s3-demo- are reserved")
    } else if name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
        || name.ends_with(".mrap")
        || name.ends_with("--x-s3")
    {
        Some("the suffixes -s3alias, --ol-s3, .mrap and --x-s3 are reserved")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(r) => Err(format!("`{name}` is not a valid S3 bucket name: {r}")),
    }
}
