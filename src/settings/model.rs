//! The configuration's shape: [`Settings`] and its parts, their defaults,
//! and the names derived from them (secret ids, the pipeline stack). Field
//! docs are the reference in `docs/configuration.md`.

use std::collections::BTreeMap;

use git2s3_lambda::Provider;
use serde::{Deserialize, Serialize};
use serde_yaml::Value;

/// The webhook secret(s), one per line while rotating, for `serve`, the
/// hook and registration without a stack. Never a flag, never in the file.
pub const WEBHOOK_SECRET_VAR: &str = "GIT2S3_WEBHOOK_SECRET";

/// The provider token `serve` downloads archives with.
pub const GIT_TOKEN_VAR: &str = "GIT2S3_GIT_TOKEN";

/// The config file read when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "git2s3.yaml";

/// Values set by command-line flags, as dotted key → value
/// (`bucket.name` → `"my-bucket"`). The top layer of the merge.
pub type Overrides = BTreeMap<&'static str, Value>;

/// How the worker gets the code of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Fetch over SSH with a read-only deploy key (route `/gitpull`).
    GitPull,
    /// Download the provider's zip archive with an API token (route `/zipdl`).
    ZipDownload,
}

impl Method {
    /// The name in `git2s3.yaml` and `--method`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::GitPull => "git-pull",
            Method::ZipDownload => "zip-download",
        }
    }
}

/// CPU architecture of the Lambda functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Architecture {
    #[serde(rename = "x86_64")]
    #[value(name = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    #[value(name = "arm64")]
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// Application log level of the Lambda functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }
}

/// The whole configuration. Field docs are the reference in `docs/configuration.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub stack_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub provider: Provider,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Where a repository is cloned from over SSH, with `{repo}` in it
    /// (`ssh://git@git.example.com:2222/srv/git/{repo}.git`): what the
    /// sweep lists heads from, and for `generic` the one URL a push may name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clone_url: Option<String>,
    pub repos: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    pub method: Method,
    pub filters: Filters,
    pub bucket: BucketSettings,
    pub lambda: LambdaSettings,
    pub api: ApiSettings,
    pub auth: AuthSettings,
    pub logs: LogSettings,
    pub sweep: SweepSettings,
    pub branches: BranchSettings,
    /// One pipeline (its stack is `<stack>-pipeline`); `pipelines` lists
    /// more, each in a stack of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineSettings>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipelines: Vec<PipelineSettings>,
}

/// What happens to a deleted branch's or tag's zip.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BranchSettings {
    /// `keep` (the default) or `delete`: a delete marker on the zip.
    pub on_delete: git2s3_lambda::filter::OnDelete,
}

/// The stack's scheduled sweep (`docs/reliability.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepSettings {
    /// Minutes between sweeps; 0 turns the sweep off.
    pub interval_minutes: u32,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            interval_minutes: 15,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Filters {
    pub include_refs: Vec<String>,
    pub exclude_refs: Vec<String>,
    pub include_paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BucketSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub noncurrent_version_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LambdaSettings {
    pub architecture: Architecture,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_version: Option<String>,
    pub worker_memory_mb: u32,
    pub worker_timeout_seconds: u32,
    pub worker_ephemeral_storage_mb: u32,
    /// The most workers the job queue runs at once (the event source's
    /// `ScalingConfig.MaximumConcurrency`, 2 to 1000).
    pub worker_max_concurrency: u32,
    /// Concurrency reserved for the worker out of the account's; 0 reserves none.
    pub worker_reserved_concurrency: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    pub throttle_rate_limit: u32,
    pub throttle_burst_limit: u32,
    pub configure_account_logging_role: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    pub allowed_ips: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_ssh_key: Option<String>,
    pub known_hosts: Vec<String>,
    pub bitbucket_oauth_consumer: bool,
    pub secrets: SecretIds,
}

/// Names or ARNs of the Secrets Manager secrets. Unset means the default
/// name under `git2s3/<stack>/`; an empty string means "none".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretIds {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_consumer: Option<String>,
    /// The token the pipeline's report function posts commit statuses with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub retention_days: u32,
    pub level: LogLevel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    pub repo: String,
    pub branch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_image: Option<String>,
    /// The buildspec's path in the repository [default: buildspec.yml].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buildspec: Option<String>,
    /// Post each run's state on the commit it built (`pipeline.report_status`)
    /// [default: on for zip download, whose token is configured; else off].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_status: Option<bool>,
}

impl PipelineSettings {
    /// A pipeline for `repo`'s `branch`, every other key at its default.
    pub fn new(repo: impl Into<String>, branch: impl Into<String>) -> Self {
        PipelineSettings {
            repo: repo.into(),
            branch: branch.into(),
            stack_name: None,
            build_image: None,
            buildspec: None,
            report_status: None,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            stack_name: "git2s3".into(),
            region: None,
            provider: Provider::Github,
            api_url: None,
            clone_url: None,
            repos: Vec::new(),
            org: None,
            method: Method::GitPull,
            filters: Filters::default(),
            bucket: BucketSettings::default(),
            lambda: LambdaSettings::default(),
            api: ApiSettings::default(),
            auth: AuthSettings::default(),
            logs: LogSettings::default(),
            sweep: SweepSettings::default(),
            branches: BranchSettings::default(),
            pipeline: None,
            pipelines: Vec::new(),
        }
    }
}

impl Default for BucketSettings {
    fn default() -> Self {
        BucketSettings {
            name: None,
            noncurrent_version_days: 90,
        }
    }
}

impl Default for LambdaSettings {
    fn default() -> Self {
        LambdaSettings {
            architecture: Architecture::X86_64,
            code_bucket: None,
            code_key: None,
            code_version: None,
            worker_memory_mb: 1024,
            worker_timeout_seconds: 600,
            worker_ephemeral_storage_mb: 2048,
            worker_max_concurrency: 100,
            worker_reserved_concurrency: 0,
        }
    }
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            throttle_rate_limit: 20,
            throttle_burst_limit: 40,
            configure_account_logging_role: true,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            retention_days: 30,
            level: LogLevel::Info,
        }
    }
}

impl Settings {
    /// The ref and path filters, as the receiver applies them.
    pub fn ref_filters(
        &self,
    ) -> Result<git2s3_lambda::filter::Filters, git2s3_lambda::filter::FilterError> {
        Ok(git2s3_lambda::filter::Filters::new(
            &self.filters.include_refs,
            &self.filters.exclude_refs,
            &self.filters.include_paths,
        )?
        .with_on_delete(self.branches.on_delete))
    }

    /// What the stack is connected to, as its receiver and worker check it,
    /// with `api_url` and the known hosts' text given.
    pub fn connection(
        &self,
        api_url: Option<&str>,
        known_hosts: &str,
    ) -> git2s3_lambda::connection::Connection {
        git2s3_lambda::connection::Connection::new(
            self.provider,
            self.repos.clone(),
            self.org.clone(),
            api_url,
            known_hosts,
        )
        .with_clone_url(self.clone_url.as_deref())
    }

    /// The Secrets Manager secret that holds the webhook secret(s).
    pub fn webhook_secret_id(&self) -> String {
        self.secret_id(&self.auth.secrets.webhook, "webhook-secret")
    }

    /// The secret that holds the SSH deploy key, used by the git-pull method.
    pub fn ssh_key_secret_id(&self) -> String {
        self.secret_id(&self.auth.secrets.ssh_key, "ssh-deploy-key")
    }

    /// The secret that holds the provider token, used by the zip-download method.
    pub fn git_token_secret_id(&self) -> String {
        self.secret_id(&self.auth.secrets.git_token, "git-token")
    }

    /// The secret that holds the Bitbucket OAuth consumer key and secret.
    pub fn oauth_consumer_secret_id(&self) -> String {
        self.secret_id(
            &self.auth.secrets.oauth_consumer,
            "bitbucket-oauth-consumer",
        )
    }

    /// The secret that holds the token with the commit status scope.
    pub fn status_token_secret_id(&self) -> String {
        self.secret_id(&self.auth.secrets.status_token, "status-token")
    }

    /// Whether the pipeline stack reports build status on the commit:
    /// `pipeline.report_status`, by default on when the stack downloads
    /// zips (a provider token is configured) and off for git pull.
    pub fn report_status(&self) -> bool {
        self.pipeline
            .as_ref()
            .is_some_and(|p| self.reports_status(p))
    }

    /// Whether pipeline `p` reports build status (see [`Settings::report_status`]).
    pub fn reports_status(&self, p: &PipelineSettings) -> bool {
        p.report_status
            .unwrap_or(self.method == Method::ZipDownload)
            && self.provider != Provider::Generic
    }

    /// Points `pipeline` at `repo`'s `branch`, keeping its other keys.
    pub fn set_pipeline(&mut self, repo: String, branch: String) {
        match &mut self.pipeline {
            Some(p) => {
                p.repo = repo;
                p.branch = branch;
            }
            None => self.pipeline = Some(PipelineSettings::new(repo, branch)),
        }
    }

    /// Every pipeline: `pipeline`, then each of `pipelines`.
    pub fn all_pipelines(&self) -> Vec<&PipelineSettings> {
        self.pipeline.iter().chain(&self.pipelines).collect()
    }

    /// Whether any pipeline reports build status (the status token is needed).
    pub fn any_reports_status(&self) -> bool {
        self.all_pipelines().iter().any(|p| self.reports_status(p))
    }

    /// The stack of pipeline `p`: its `stack_name`, else `<stack>-pipeline`
    /// for the one under `pipeline`, and `<stack>-<owner>-<repo>-<branch>`
    /// (each character that a stack name cannot hold as `-`) for the others.
    pub fn stack_name_of(&self, p: &PipelineSettings) -> String {
        if let Some(name) = &p.stack_name {
            return name.clone();
        }
        if self.pipeline.as_ref() == Some(p) {
            return format!("{}-pipeline", self.stack_name);
        }
        let raw = format!("{}-{}-{}", self.stack_name, p.repo, p.branch);
        let mut name: String = raw
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        name.truncate(128);
        name.trim_end_matches('-').to_string()
    }

    /// These settings with pipeline `p` as their only pipeline: what its
    /// stack is rendered and deployed from.
    pub fn with_only_pipeline(&self, p: &PipelineSettings) -> Settings {
        let mut one = self.clone();
        let mut p = p.clone();
        p.stack_name = Some(self.stack_name_of(&p));
        one.pipeline = Some(p);
        one.pipelines.clear();
        one
    }

    /// Every secret the stack uses that git2s3 created (named by default
    /// under `git2s3/<stack>/`), and so may delete.
    pub fn owned_secret_ids(&self) -> Vec<String> {
        let s = &self.auth.secrets;
        [
            (&s.webhook, self.webhook_secret_id()),
            (&s.ssh_key, self.ssh_key_secret_id()),
            (&s.git_token, self.git_token_secret_id()),
            (&s.oauth_consumer, self.oauth_consumer_secret_id()),
            (&s.status_token, self.status_token_secret_id()),
        ]
        .into_iter()
        .filter(|(explicit, _)| explicit.is_none())
        .map(|(_, id)| id)
        .collect()
    }

    fn secret_id(&self, explicit: &Option<String>, leaf: &str) -> String {
        match explicit {
            Some(id) => id.clone(),
            None => format!("git2s3/{}/{leaf}", self.stack_name),
        }
    }
}
