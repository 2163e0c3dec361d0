//! The two CloudFormation templates, embedded in the binary, and the
//! parameter values that [`Settings`] gives them.
//!
//! The templates are printed and deployed byte for byte as they are in
//! `templates/`, so what CI lints (cfn-lint, checkov) is what runs. All
//! variation goes through parameters, computed here and nowhere else.
//! Secret values never become parameters: only secret names do.
//!
//! The stacks' outputs are read here too, once, into [`CoreOutputs`] and
//! [`PipelineOutputs`]: the output names are written nowhere else.

use std::collections::BTreeMap;

use git2s3_lambda::layout::{object_key, GitRef, LayoutError};
use git2s3_lambda::Provider;
use serde::Serialize;

use crate::settings::{Given, Method, Settings};

/// `templates/git2s3.yaml`: bucket, API, receiver, queue, worker.
pub const CORE: &str = include_str!("../templates/git2s3.yaml");
/// `templates/pipeline.yaml`: one CodePipeline for one repo and branch.
pub const PIPELINE: &str = include_str!("../templates/pipeline.yaml");

/// Which template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Core,
    Pipeline,
}

impl Template {
    pub fn body(self) -> &'static str {
        match self {
            Template::Core => CORE,
            Template::Pipeline => PIPELINE,
        }
    }

    /// Its file under `templates/`, without `.yaml`.
    pub fn name(self) -> &'static str {
        match self {
            Template::Core => "git2s3",
            Template::Pipeline => "pipeline",
        }
    }
}

/// One parameter, in the shape `aws cloudformation create-stack
/// --parameters file://…` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    pub parameter_key: String,
    pub parameter_value: String,
}

/// Why parameter values cannot be computed yet, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "lambda.code_bucket and lambda.code_key are not set, so the stack has no code to run: \
         run `git2s3 init`, which uploads the Lambda zip and records both, \
         or upload bootstrap.zip yourself and set them in git2s3.yaml \
         (or GIT2S3_LAMBDA_CODE_BUCKET and GIT2S3_LAMBDA_CODE_KEY)"
    )]
    MissingLambdaCode,
    #[error("no pipeline is configured: add `pipeline: {{repo: OWNER/REPO, branch: BRANCH}}` to git2s3.yaml")]
    NoPipeline,
    #[error(
        "the pipeline's source bucket is not known: set bucket.name in git2s3.yaml \
         to the core stack's OutputBucketName output (`git2s3 status` shows it)"
    )]
    PipelineBucketUnknown,
    #[error("pipeline.branch: {0}")]
    Layout(#[from] LayoutError),
}

impl Template {
    /// The value of every parameter the template declares.
    pub fn parameters(self, settings: &Settings) -> Result<Vec<Parameter>, RenderError> {
        let pairs = match self {
            Template::Core => core_parameters(settings)?,
            Template::Pipeline => pipeline_parameters(settings)?,
        };
        Ok(pairs
            .into_iter()
            .map(|(k, v)| Parameter {
                parameter_key: k.to_string(),
                parameter_value: v,
            })
            .collect())
    }
}

/// How long a job stays hidden on the queue while the worker builds it:
/// six times the worker's timeout, as AWS asks of a Lambda event source,
/// so that a retry never starts while the first try may still be running.
pub fn job_visibility_timeout(worker_timeout_seconds: u32) -> u32 {
    6 * worker_timeout_seconds
}

fn core_parameters(s: &Settings) -> Result<Vec<(&'static str, String)>, RenderError> {
    let (Some(code_bucket), Some(code_key)) = (&s.lambda.code_bucket, &s.lambda.code_key) else {
        return Err(RenderError::MissingLambdaCode);
    };
    let git_pull = s.method == Method::GitPull;
    let zip_download = s.method == Method::ZipDownload;
    let oauth = s.auth.bitbucket_oauth_consumer && s.provider == Provider::Bitbucket;
    // Each secret is passed only where the method uses it, unless the
    // configuration names it explicitly.
    let secret = |explicit: &Option<String>, used: bool, id: String| match explicit {
        Some(_) => id,
        None if used => id,
        None => String::new(),
    };
    let secrets = &s.auth.secrets;
    Ok(vec![
        (
            "OutputBucketName",
            s.bucket.name.clone().unwrap_or_default(),
        ),
        (
            "NoncurrentVersionDays",
            s.bucket.noncurrent_version_days.to_string(),
        ),
        ("LambdaCodeBucket", code_bucket.clone()),
        ("LambdaCodeKey", code_key.clone()),
        (
            "LambdaCodeObjectVersion",
            s.lambda.code_version.clone().unwrap_or_default(),
        ),
        ("Architecture", s.lambda.architecture.as_str().to_string()),
        ("WorkerMemorySize", s.lambda.worker_memory_mb.to_string()),
        (
            "WorkerMaxConcurrency",
            s.lambda.worker_max_concurrency.to_string(),
        ),
        (
            "WorkerReservedConcurrency",
            s.lambda.worker_reserved_concurrency.to_string(),
        ),
        ("WorkerTimeout", s.lambda.worker_timeout_seconds.to_string()),
        (
            "JobVisibilityTimeout",
            job_visibility_timeout(s.lambda.worker_timeout_seconds).to_string(),
        ),
        ("Provider", s.provider.as_str().to_string()),
        ("Repos", s.repos.join(",")),
        ("Org", s.org.clone().unwrap_or_default()),
        (
            "WorkerEphemeralStorage",
            s.lambda.worker_ephemeral_storage_mb.to_string(),
        ),
        ("WebhookSecretId", s.webhook_secret_id()),
        ("AllowedIps", s.auth.allowed_ips.join(",")),
        (
            "SshKeySecretId",
            secret(&secrets.ssh_key, git_pull, s.ssh_key_secret_id()),
        ),
        (
            "GitTokenSecretId",
            secret(
                &secrets.git_token,
                zip_download && !oauth,
                s.git_token_secret_id(),
            ),
        ),
        (
            "OauthConsumerSecretId",
            secret(
                &secrets.oauth_consumer,
                zip_download && oauth,
                s.oauth_consumer_secret_id(),
            ),
        ),
        (
            "PublicSSHKey",
            s.auth.public_ssh_key.clone().unwrap_or_default(),
        ),
        ("KnownHosts", s.auth.known_hosts.join("\n")),
        ("IncludeRefs", s.filters.include_refs.join(",")),
        ("ExcludeRefs", s.filters.exclude_refs.join(",")),
        ("IncludePaths", s.filters.include_paths.join(",")),
        ("ProviderApiUrl", s.api_url.clone().unwrap_or_default()),
        ("CloneUrl", s.clone_url.clone().unwrap_or_default()),
        ("SweepIntervalMinutes", s.sweep.interval_minutes.to_string()),
        (
            "OnDelete",
            match s.branches.on_delete {
                git2s3_lambda::filter::OnDelete::Keep => "keep",
                git2s3_lambda::filter::OnDelete::Delete => "delete",
            }
            .to_string(),
        ),
        (
            "ApiThrottleRateLimit",
            s.api.throttle_rate_limit.to_string(),
        ),
        (
            "ApiThrottleBurstLimit",
            s.api.throttle_burst_limit.to_string(),
        ),
        (
            "ConfigureApiGatewayLogging",
            s.api.configure_account_logging_role.to_string(),
        ),
        ("LogRetentionDays", s.logs.retention_days.to_string()),
        ("LogLevel", s.logs.level.as_str().to_string()),
    ])
}

fn pipeline_parameters(s: &Settings) -> Result<Vec<(&'static str, String)>, RenderError> {
    let pipeline = s.pipeline.as_ref().ok_or(RenderError::NoPipeline)?;
    let bucket = s
        .bucket
        .name
        .clone()
        .ok_or(RenderError::PipelineBucketUnknown)?;
    let key = object_key(&pipeline.repo, &GitRef::branch(&pipeline.branch)?)?;
    let mut params = vec![("SourceBucketName", bucket), ("SourceObjectKey", key)];
    if let Some(image) = &pipeline.build_image {
        params.push(("BuildImage", image.clone()));
    }
    if let Some(spec) = &pipeline.buildspec {
        params.push(("BuildSpec", spec.clone()));
    }
    params.push(("LogRetentionDays", s.logs.retention_days.to_string()));
    let report = s.report_status();
    params.push(("ReportStatus", report.to_string()));
    if report {
        // The report function runs the core stack's own bootstrap zip.
        let (Some(code_bucket), Some(code_key)) = (&s.lambda.code_bucket, &s.lambda.code_key)
        else {
            return Err(RenderError::MissingLambdaCode);
        };
        params.extend([
            ("StatusTokenSecretId", s.status_token_secret_id()),
            ("Provider", s.provider.to_string()),
            ("ProviderApiUrl", s.api_url.clone().unwrap_or_default()),
            ("LambdaCodeBucket", code_bucket.clone()),
            ("LambdaCodeKey", code_key.clone()),
            (
                "LambdaCodeObjectVersion",
                s.lambda.code_version.clone().unwrap_or_default(),
            ),
            ("Architecture", s.lambda.architecture.as_str().to_string()),
            ("LogLevel", s.logs.level.as_str().to_string()),
        ]);
    }
    Ok(params)
}

/// The configuration keys each core-stack parameter is computed from.
/// A parameter none of whose keys was set (by the file, `GIT2S3_*`, a flag,
/// or the command itself) keeps the deployed stack's value: run from an
/// empty directory, `update-stack --stack-name S` changes nothing it was
/// not told to, and never replaces the bucket or the deploy key by default.
pub const CORE_PARAMETER_KEYS: &[(&str, &[&str])] = &[
    ("OutputBucketName", &["bucket.name"]),
    ("NoncurrentVersionDays", &["bucket.noncurrent_version_days"]),
    ("LambdaCodeBucket", &["lambda.code_bucket"]),
    ("LambdaCodeKey", &["lambda.code_key"]),
    (
        "LambdaCodeObjectVersion",
        &["lambda.code_version", "lambda.code_key"],
    ),
    ("Architecture", &["lambda.architecture"]),
    ("WorkerMemorySize", &["lambda.worker_memory_mb"]),
    ("WorkerMaxConcurrency", &["lambda.worker_max_concurrency"]),
    (
        "WorkerReservedConcurrency",
        &["lambda.worker_reserved_concurrency"],
    ),
    ("WorkerTimeout", &["lambda.worker_timeout_seconds"]),
    (
        "WorkerEphemeralStorage",
        &["lambda.worker_ephemeral_storage_mb"],
    ),
    ("JobVisibilityTimeout", &["lambda.worker_timeout_seconds"]),
    ("Provider", &["provider"]),
    ("Repos", &["repos"]),
    ("Org", &["org"]),
    ("WebhookSecretId", &["auth.secrets.webhook"]),
    ("AllowedIps", &["auth.allowed_ips"]),
    ("SshKeySecretId", &["auth.secrets.ssh_key", "method"]),
    (
        "GitTokenSecretId",
        &[
            "auth.secrets.git_token",
            "method",
            "auth.bitbucket_oauth_consumer",
        ],
    ),
    (
        "OauthConsumerSecretId",
        &[
            "auth.secrets.oauth_consumer",
            "method",
            "auth.bitbucket_oauth_consumer",
        ],
    ),
    ("PublicSSHKey", &["auth.public_ssh_key"]),
    ("KnownHosts", &["auth.known_hosts"]),
    ("IncludeRefs", &["filters.include_refs"]),
    ("ExcludeRefs", &["filters.exclude_refs"]),
    ("IncludePaths", &["filters.include_paths"]),
    ("ProviderApiUrl", &["api_url"]),
    ("CloneUrl", &["clone_url"]),
    ("SweepIntervalMinutes", &["sweep.interval_minutes"]),
    ("OnDelete", &["branches.on_delete"]),
    ("ApiThrottleRateLimit", &["api.throttle_rate_limit"]),
    ("ApiThrottleBurstLimit", &["api.throttle_burst_limit"]),
    (
        "ConfigureApiGatewayLogging",
        &["api.configure_account_logging_role"],
    ),
    ("LogRetentionDays", &["logs.retention_days"]),
    ("LogLevel", &["logs.level"]),
];

/// Lays the deployed stack's `current` values over the core parameters
/// whose keys were not `given`, and answers the names of those it kept.
pub fn keep_current(
    parameters: &mut [Parameter],
    given: &Given,
    current: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut kept = Vec::new();
    for p in parameters.iter_mut() {
        let Some((_, keys)) = CORE_PARAMETER_KEYS
            .iter()
            .find(|(name, _)| *name == p.parameter_key)
        else {
            continue;
        };
        let Some(deployed) = current.get(&p.parameter_key) else {
            continue;
        };
        if !keys.iter().any(|k| given.covers(k)) && *deployed != p.parameter_value {
            p.parameter_value = deployed.clone();
            kept.push(p.parameter_key.clone());
        }
    }
    kept
}

/// One output's value; an empty value counts as absent.
fn output(outputs: &BTreeMap<String, String>, name: &str) -> Option<String> {
    outputs.get(name).filter(|v| !v.is_empty()).cloned()
}

/// The core stack's outputs (`templates/git2s3.yaml`), read once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CoreOutputs {
    /// `GitPullWebHookApi`: the webhook URL of the git-pull method.
    pub git_pull_url: Option<String>,
    /// `ZipDownloadWebHookApi`: the webhook URL of the zip-download method.
    pub zip_download_url: Option<String>,
    /// `OutputBucketName`.
    pub bucket: Option<String>,
    /// `PublicSSHKey`: the deploy key's public half.
    pub public_ssh_key: Option<String>,
    /// `JobQueueUrl`.
    pub job_queue_url: Option<String>,
    /// `DeadLetterQueueUrl`.
    pub dead_letter_queue_url: Option<String>,
    /// `WorkerLogGroupName`.
    pub worker_log_group: Option<String>,
    /// `ReceiverLogGroupName`.
    pub receiver_log_group: Option<String>,
    /// `SweeperLogGroupName`, on a stack whose sweep is on.
    pub sweeper_log_group: Option<String>,
}

impl CoreOutputs {
    /// The outputs as DescribeStacks lists them; an empty value counts as absent.
    pub fn read(outputs: &BTreeMap<String, String>) -> Self {
        let get = |name| output(outputs, name);
        CoreOutputs {
            git_pull_url: get("GitPullWebHookApi"),
            zip_download_url: get("ZipDownloadWebHookApi"),
            bucket: get("OutputBucketName"),
            public_ssh_key: get("PublicSSHKey"),
            job_queue_url: get("JobQueueUrl"),
            dead_letter_queue_url: get("DeadLetterQueueUrl"),
            worker_log_group: get("WorkerLogGroupName"),
            receiver_log_group: get("ReceiverLogGroupName"),
            sweeper_log_group: get("SweeperLogGroupName"),
        }
    }

    /// The webhook URL of `method`'s route.
    pub fn webhook_url(&self, method: Method) -> Option<String> {
        match method {
            Method::GitPull => self.git_pull_url.clone(),
            Method::ZipDownload => self.zip_download_url.clone(),
        }
    }
}

/// The pipeline stack's outputs (`templates/pipeline.yaml`), read once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PipelineOutputs {
    /// `PipelineName`.
    pub pipeline: Option<String>,
    /// `ArtifactBucketName`: the pipeline's own artifact store.
    pub artifact_bucket: Option<String>,
    /// `ReporterLogGroupName`, on a stack that reports build status.
    pub reporter_log_group: Option<String>,
}

impl PipelineOutputs {
    pub fn read(outputs: &BTreeMap<String, String>) -> Self {
        let get = |name| output(outputs, name);
        PipelineOutputs {
            pipeline: get("PipelineName"),
            artifact_bucket: get("ArtifactBucketName"),
            reporter_log_group: get("ReporterLogGroupName"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S3 answers a HeadObject of a missing key 404 only to a caller that may
    /// list the bucket, else 403: a worker or sweep without ListBucket
    /// fails every branch's first push. Each role that reads zips may list.
    #[test]
    fn every_role_that_reads_zips_may_list_the_bucket() {
        let template: serde_yaml::Value = serde_yaml::from_str(Template::Core.body()).unwrap();
        for role in ["WorkerRole", "SweeperRole"] {
            let statements = &template["Resources"][role]["Properties"]["Policies"][0]
                ["PolicyDocument"]["Statement"];
            let text = serde_yaml::to_string(statements).unwrap();
            assert!(
                text.contains("s3:ListBucket") && text.contains("TellMissingZips"),
                "{role} cannot tell a missing zip from a refused one:\n{text}"
            );
        }
    }

    /// The template's `Provider` parameter takes exactly the provider
    /// table's names, so a new provider cannot be refused by CloudFormation.
    #[test]
    fn the_provider_parameter_allows_every_provider() {
        let body = Template::Core.body();
        let at = body.find("  Provider:\n").expect("a Provider parameter");
        let line = body[at..]
            .lines()
            .find(|l| l.trim_start().starts_with("AllowedValues:"))
            .unwrap();
        let listed: Vec<&str> = line
            .split_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(list, _)| list.split(',').map(str::trim).collect())
            .unwrap();
        let names: Vec<&str> = git2s3_lambda::Provider::names().collect();
        assert_eq!(listed, names);
    }

    #[test]
    fn every_core_parameter_names_the_keys_it_is_computed_from() {
        let names: Vec<String> = Template::Core
            .parameters(&with_code())
            .unwrap()
            .into_iter()
            .map(|p| p.parameter_key)
            .collect();
        for name in &names {
            assert!(
                CORE_PARAMETER_KEYS.iter().any(|(n, _)| n == name),
                "{name} has no entry in CORE_PARAMETER_KEYS"
            );
        }
        assert_eq!(names.len(), CORE_PARAMETER_KEYS.len());
    }

    #[test]
    fn parameters_left_to_their_defaults_keep_the_deployed_value() {
        let mut params = Template::Core.parameters(&with_code()).unwrap();
        let current = BTreeMap::from([
            (
                "OutputBucketName".to_string(),
                "the-deployed-bucket".to_string(),
            ),
            ("LogRetentionDays".to_string(), "90".to_string()),
        ]);
        let mut given = Given::default();
        given.insert("logs.retention_days");
        let kept = keep_current(&mut params, &given, &current);
        assert_eq!(kept, ["OutputBucketName"]);
        let value = |k: &str| {
            params
                .iter()
                .find(|p| p.parameter_key == k)
                .unwrap()
                .parameter_value
                .clone()
        };
        assert_eq!(value("OutputBucketName"), "the-deployed-bucket");
        assert_eq!(value("LogRetentionDays"), "30", "a given key wins");
    }
    use crate::settings::PipelineSettings;
    use std::collections::BTreeSet;

    /// Parameter names the template declares, and those without a default.
    fn declared(template: Template) -> (BTreeSet<String>, BTreeSet<String>) {
        let doc: serde_yaml::Value = serde_yaml::from_str(template.body()).unwrap();
        let params = doc["Parameters"].as_mapping().unwrap();
        let all = params
            .iter()
            .map(|(k, _)| k.as_str().unwrap().to_string())
            .collect();
        let required = params
            .iter()
            .filter(|(_, v)| v.get("Default").is_none())
            .map(|(k, _)| k.as_str().unwrap().to_string())
            .collect();
        (all, required)
    }

    fn keys(params: &[Parameter]) -> BTreeSet<String> {
        params.iter().map(|p| p.parameter_key.clone()).collect()
    }

    fn value<'a>(params: &'a [Parameter], key: &str) -> &'a str {
        &params
            .iter()
            .find(|p| p.parameter_key == key)
            .unwrap()
            .parameter_value
    }

    fn with_code() -> Settings {
        let mut s = Settings::default();
        s.lambda.code_bucket = Some("artifacts".into());
        s.lambda.code_key = Some("git2s3/bootstrap-abc.zip".into());
        s
    }

    #[test]
    fn core_parameters_are_exactly_the_declared_ones() {
        let params = Template::Core.parameters(&with_code()).unwrap();
        let (all, _) = declared(Template::Core);
        assert_eq!(keys(&params), all);
    }

    #[test]
    fn pipeline_parameters_cover_every_required_one_and_nothing_undeclared() {
        let mut s = with_code();
        s.bucket.name = Some("out".into());
        s.pipeline = Some(PipelineSettings {
            build_image: Some("aws/codebuild/standard:7.0".into()),
            report_status: Some(true),
            ..PipelineSettings::new("acme/api", "main")
        });
        let params = Template::Pipeline.parameters(&s).unwrap();
        let (all, required) = declared(Template::Pipeline);
        assert!(keys(&params).is_subset(&all));
        assert!(required.is_subset(&keys(&params)));
        assert_eq!(
            value(&params, "SourceObjectKey"),
            "acme/api/main/acme_api.zip"
        );
        assert_eq!(value(&params, "ReportStatus"), "true");
        assert_eq!(
            value(&params, "StatusTokenSecretId"),
            "git2s3/git2s3/status-token"
        );
        assert_eq!(value(&params, "LambdaCodeBucket"), "artifacts");
    }

    /// Build status is on by default where a token is configured (zip
    /// download) and off for git pull; never for a plain SSH server.
    #[test]
    fn build_status_is_on_by_default_only_where_a_token_is_configured() {
        let mut s = with_code();
        s.bucket.name = Some("out".into());
        s.pipeline = Some(PipelineSettings::new("acme/api", "main"));
        let report = |s: &Settings| {
            value(&Template::Pipeline.parameters(s).unwrap(), "ReportStatus").to_string()
        };
        assert_eq!(report(&s), "false");
        s.method = Method::ZipDownload;
        assert_eq!(report(&s), "true");
        s.provider = Provider::Generic;
        assert_eq!(report(&s), "false");
    }

    #[test]
    fn git_pull_passes_the_deploy_key_secret_and_no_token() {
        let params = Template::Core.parameters(&with_code()).unwrap();
        assert_eq!(
            value(&params, "SshKeySecretId"),
            "git2s3/git2s3/ssh-deploy-key"
        );
        assert_eq!(value(&params, "GitTokenSecretId"), "");
        assert_eq!(value(&params, "OauthConsumerSecretId"), "");
        assert_eq!(
            value(&params, "WebhookSecretId"),
            "git2s3/git2s3/webhook-secret"
        );
    }

    #[test]
    fn zip_download_passes_the_token_or_the_bitbucket_consumer() {
        let mut s = with_code();
        s.method = Method::ZipDownload;
        let params = Template::Core.parameters(&s).unwrap();
        assert_eq!(value(&params, "SshKeySecretId"), "");
        assert_eq!(
            value(&params, "GitTokenSecretId"),
            "git2s3/git2s3/git-token"
        );

        s.provider = Provider::Bitbucket;
        s.auth.bitbucket_oauth_consumer = true;
        let params = Template::Core.parameters(&s).unwrap();
        assert_eq!(value(&params, "GitTokenSecretId"), "");
        assert_eq!(
            value(&params, "OauthConsumerSecretId"),
            "git2s3/git2s3/bitbucket-oauth-consumer"
        );
    }

    #[test]
    fn missing_lambda_code_says_how_to_provide_it() {
        let err = Template::Core.parameters(&Settings::default()).unwrap_err();
        assert!(err.to_string().contains("git2s3 init"), "{err}");
    }

    #[test]
    fn pipeline_without_configuration_says_what_to_add() {
        let err = Template::Pipeline.parameters(&with_code()).unwrap_err();
        assert!(matches!(err, RenderError::NoPipeline));
    }

    #[test]
    fn templates_declare_their_checkov_skips_with_a_reason() {
        for t in [Template::Core, Template::Pipeline] {
            let doc: serde_yaml::Value = serde_yaml::from_str(t.body()).unwrap();
            for (name, resource) in doc["Resources"].as_mapping().unwrap() {
                let Some(skips) = resource
                    .get("Metadata")
                    .and_then(|m| m.get("checkov"))
                    .and_then(|c| c.get("skip"))
                else {
                    continue;
                };
                for skip in skips.as_sequence().unwrap() {
                    let comment = skip["comment"].as_str().unwrap_or("");
                    assert!(
                        skip["id"].as_str().is_some_and(|id| id.starts_with("CKV"))
                            && comment.len() > 20,
                        "{name:?}: every checkov skip needs an id and a one-line reason"
                    );
                }
            }
        }
    }
}
