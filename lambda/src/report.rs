//! The report role: a pipeline run, told on the commit it built.
//!
//! An EventBridge rule sends CodePipeline's execution and stage state
//! changes for the pipeline here. For each one:
//! 1. the execution is read (`GetPipelineExecution`): its source revision,
//!    the S3 version id of the zip it started from, and its status now;
//! 2. that version's metadata gives the commit, repository and provider
//!    git2s3 wrote there; an execution no git2s3 zip started, or a zip of
//!    another provider, is ignored;
//! 3. the status goes to the provider's commit status API, under one
//!    context per pipeline (`git2s3/<pipeline>`), linking to the
//!    execution's page in the CodePipeline console.
//!
//! The state posted is the execution's status when it is read, not the
//! event's: EventBridge may deliver a stage's "started" after the
//! pipeline's "succeeded", and a late event must not turn a green commit
//! back to pending. A provider's 5xx or 429 is tried again; a 4xx is
//! final, with a line that names the token's missing scope.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::fetch::archive::{self, ArchiveError, Credentials, Endpoints};
use crate::provider::Provider;
use crate::secure_url::{encode_path, encode_segment};

/// How a pipeline execution stands, in the words every provider maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Succeeded,
    Failed,
    Stopped,
}

impl RunState {
    /// CodePipeline's execution status (`GetPipelineExecution`).
    pub fn from_execution_status(status: &str) -> Option<RunState> {
        Some(match status {
            "InProgress" | "Stopping" => RunState::Running,
            "Succeeded" => RunState::Succeeded,
            "Failed" => RunState::Failed,
            "Stopped" | "Superseded" | "Cancelled" => RunState::Stopped,
            _ => return None,
        })
    }

    /// The provider's word for it.
    pub fn on(self, provider: Provider) -> Option<&'static str> {
        use RunState::*;
        Some(match (provider, self) {
            (
                Provider::Github | Provider::GithubEnterprise | Provider::Gitea | Provider::Forgejo,
                s,
            ) => match s {
                Running => "pending",
                Succeeded => "success",
                Failed => "failure",
                Stopped => "error",
            },
            (Provider::Gitlab, s) => match s {
                Running => "running",
                Succeeded => "success",
                Failed => "failed",
                Stopped => "canceled",
            },
            (Provider::Bitbucket, s) => match s {
                Running => "INPROGRESS",
                Succeeded => "SUCCESSFUL",
                Failed => "FAILED",
                Stopped => "STOPPED",
            },
            (Provider::BitbucketServer, s) => match s {
                Running => "INPROGRESS",
                Succeeded => "SUCCESSFUL",
                Failed => "FAILED",
                Stopped => "CANCELLED",
            },
            (Provider::Generic, _) => return None,
        })
    }
}

/// A CodePipeline state-change event, as EventBridge delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineEvent {
    pub pipeline: String,
    pub execution_id: String,
    pub region: String,
    /// The stage, for a stage's state change.
    pub stage: Option<String>,
    /// The state the event names (STARTED, SUCCEEDED, …).
    pub state: String,
}

impl PipelineEvent {
    /// Reads a "CodePipeline Pipeline Execution State Change" or "CodePipeline
    /// Stage Execution State Change" event; `None` for any other.
    pub fn parse(event: &Value) -> Option<PipelineEvent> {
        let kind = event["detail-type"].as_str()?;
        let stage = match kind {
            "CodePipeline Pipeline Execution State Change" => None,
            "CodePipeline Stage Execution State Change" => {
                Some(event["detail"]["stage"].as_str()?.to_string())
            }
            _ => return None,
        };
        let detail = &event["detail"];
        Some(PipelineEvent {
            pipeline: detail["pipeline"].as_str()?.to_string(),
            execution_id: detail["execution-id"].as_str()?.to_string(),
            region: event["region"].as_str().unwrap_or("us-east-1").to_string(),
            stage,
            state: detail["state"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// The execution's page in the CodePipeline console.
    pub fn console_url(&self) -> String {
        format!(
            "https://{r}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{p}/executions/{e}/timeline?region={r}",
            r = self.region,
            p = encode_segment(&self.pipeline),
            e = encode_segment(&self.execution_id),
        )
    }
}

/// An execution, as `GetPipelineExecution` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub status: String,
    /// The source artifact's revision: the S3 object version it started from.
    pub source_version: Option<String>,
}

/// What the report needs from CodePipeline.
pub trait Executions: Send + Sync {
    fn execution(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> impl Future<Output = Result<Execution, ReportError>> + Send;
}

/// What the report needs from the bucket: one version's user metadata.
pub trait ZipVersions: Send + Sync {
    fn metadata(
        &self,
        version_id: &str,
    ) -> impl Future<Output = Result<Option<HashMap<String, String>>, ReportError>> + Send;
}

/// A commit status to post.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommitStatus {
    pub provider: Provider,
    pub repo: String,
    pub commit: String,
    pub state: RunState,
    /// `git2s3/<pipeline>`: one status per pipeline on the commit.
    pub context: String,
    pub target_url: String,
    pub description: String,
}

/// Where a provider's status goes.
pub trait StatusApi: Send + Sync {
    fn post(&self, status: &CommitStatus) -> impl Future<Output = Result<(), ReportError>> + Send;
}

/// Why a report failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("reading the pipeline execution {execution} of {pipeline} failed: {message}; the report role needs codepipeline:GetPipelineExecution on it")]
    Execution {
        pipeline: String,
        execution: String,
        message: String,
    },
    #[error("reading version {version} of s3://{bucket}/{key} failed: {message}; the report role needs s3:GetObjectVersion on it")]
    Zip {
        bucket: String,
        key: String,
        version: String,
        message: String,
    },
    #[error("{0}")]
    Api(#[from] ArchiveError),
    #[error("{provider} refused the commit status for {repo}@{commit} ({status}): {hint}. It answered: {body}")]
    Refused {
        provider: Provider,
        repo: String,
        commit: String,
        status: u16,
        hint: &'static str,
        body: String,
    },
    #[error("{provider} answered {status} to the commit status for {repo}@{commit} {tries} times; the next event tries again")]
    Unavailable {
        provider: Provider,
        repo: String,
        commit: String,
        status: u16,
        tries: u32,
    },
}

/// What a report did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Reported {
    Posted { status: CommitStatus },
    Ignored { reason: String },
}

/// The report role, over its three parts.
pub struct Reporter<E, Z, S> {
    /// The provider this stack serves: a zip of any other is not reported.
    pub provider: Provider,
    pub executions: E,
    pub zips: Z,
    pub statuses: S,
}

impl<E: Executions, Z: ZipVersions, S: StatusApi> Reporter<E, Z, S> {
    /// Reports one EventBridge event.
    pub async fn handle(&self, event: &Value) -> Result<Reported, ReportError> {
        let ignored = |reason: String| Ok(Reported::Ignored { reason });
        let Some(event) = PipelineEvent::parse(event) else {
            return ignored("not a CodePipeline execution or stage state change".into());
        };
        let execution = self
            .executions
            .execution(&event.pipeline, &event.execution_id)
            .await?;
        let Some(state) = RunState::from_execution_status(&execution.status) else {
            return ignored(format!("execution status {}", execution.status));
        };
        let Some(version) = execution.source_version else {
            return ignored("the execution has no source revision".into());
        };
        let Some(meta) = self.zips.metadata(&version).await? else {
            return ignored(format!("version {version} is not in the bucket"));
        };
        let (Some(commit), Some(repo)) = (meta.get("commit"), meta.get("repo")) else {
            return ignored(format!(
                "version {version} is not a git2s3 zip (no commit or repo metadata)"
            ));
        };
        let provider = meta
            .get("provider")
            .and_then(|p| p.parse::<Provider>().ok());
        if provider != Some(self.provider) {
            return ignored(format!(
                "version {version} was built from {}, not {}",
                meta.get("provider")
                    .map(String::as_str)
                    .unwrap_or("an unknown provider"),
                self.provider
            ));
        }
        if self.provider == Provider::Generic {
            return ignored("a plain SSH server has no commit status API".into());
        }
        let status = CommitStatus {
            provider: self.provider,
            repo: repo.clone(),
            commit: commit.clone(),
            state,
            context: format!("git2s3/{}", event.pipeline),
            target_url: event.console_url(),
            description: describe(&event, state),
        };
        self.statuses.post(&status).await?;
        Ok(Reported::Posted { status })
    }
}

/// What the commit's status says, in a line.
fn describe(event: &PipelineEvent, state: RunState) -> String {
    let pipeline = &event.pipeline;
    match (state, &event.stage) {
        (RunState::Running, Some(stage)) => format!("CodePipeline {pipeline}: {stage} running"),
        (RunState::Running, None) => format!("CodePipeline {pipeline}: running"),
        (RunState::Succeeded, _) => format!("CodePipeline {pipeline}: succeeded"),
        (RunState::Failed, Some(stage)) if event.state == "FAILED" => {
            format!("CodePipeline {pipeline}: {stage} failed")
        }
        (RunState::Failed, _) => format!("CodePipeline {pipeline}: failed"),
        (RunState::Stopped, _) => format!("CodePipeline {pipeline}: stopped"),
    }
}

/// Bitbucket's status key is at most 40 characters: a long context is
/// replaced by one of its hash, the same every time.
fn bitbucket_key(context: &str) -> String {
    if context.len() <= 40 {
        return context.to_string();
    }
    let digest = Sha256::digest(context.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("git2s3/{hex}")
}

/// The URL and body of `status` on its provider's API.
pub fn request(
    status: &CommitStatus,
    endpoints: &Endpoints,
) -> Result<(String, Value), ArchiveError> {
    let provider = status.provider;
    let base = archive::rest_base(provider, endpoints)?;
    let state = status
        .state
        .on(provider)
        .ok_or(ArchiveError::NoArchiveApi(provider))?;
    let repo = encode_path(&status.repo);
    let sha = encode_segment(&status.commit);
    let (url, body) = match provider {
        Provider::Github | Provider::GithubEnterprise | Provider::Gitea | Provider::Forgejo => (
            format!("{base}/repos/{repo}/statuses/{sha}"),
            json!({
                "state": state,
                "target_url": status.target_url,
                "description": status.description,
                "context": status.context,
            }),
        ),
        Provider::Gitlab => (
            format!(
                "{base}/projects/{}/statuses/{sha}",
                encode_segment(&status.repo)
            ),
            json!({
                "state": state,
                "name": status.context,
                "target_url": status.target_url,
                "description": status.description,
            }),
        ),
        Provider::Bitbucket => (
            format!("{base}/repositories/{repo}/commit/{sha}/statuses/build"),
            json!({
                "key": bitbucket_key(&status.context),
                "state": state,
                "name": status.context,
                "url": status.target_url,
                "description": status.description,
            }),
        ),
        Provider::BitbucketServer => {
            let (project, slug) = status.repo.split_once('/').unwrap_or((&status.repo, ""));
            (
                format!(
                    "{base}/rest/api/latest/projects/{}/repos/{}/commits/{sha}/builds",
                    encode_segment(project),
                    encode_segment(slug)
                ),
                json!({
                    "key": status.context,
                    "state": state,
                    "name": status.context,
                    "url": status.target_url,
                    "description": status.description,
                }),
            )
        }
        Provider::Generic => return Err(ArchiveError::NoArchiveApi(provider)),
    };
    Ok((url, body))
}

/// The scope a token needs to set commit statuses, in the provider's words.
pub fn status_scope(provider: Provider) -> &'static str {
    match provider {
        Provider::Github | Provider::GithubEnterprise => {
            "the token needs the repo:status scope (classic) or Commit statuses: write (fine-grained)"
        }
        Provider::Gitlab => "the token needs the api scope and the Developer role on the project",
        Provider::Bitbucket => "the token needs the repository:write scope",
        Provider::BitbucketServer => "the token needs repository read permission (Repository read, to post build statuses)",
        Provider::Gitea | Provider::Forgejo => "the token needs the write:repository scope",
        Provider::Generic => "a plain SSH server has no commit status API",
    }
}

/// The token scopes any one of which lets a token set commit statuses,
/// where the provider lists a token's scopes (GitHub's classic tokens,
/// GitLab's access tokens, Bitbucket's); empty where it cannot be told.
pub fn status_scopes(provider: Provider) -> &'static [&'static str] {
    match provider {
        Provider::Github | Provider::GithubEnterprise => &["repo", "repo:status"],
        Provider::Gitlab => &["api"],
        Provider::Bitbucket => &["repository:write", "repository:admin"],
        Provider::Gitea | Provider::Forgejo => &["write:repository", "all"],
        Provider::BitbucketServer | Provider::Generic => &[],
    }
}

/// Posts statuses through the provider's API with the stored token,
/// trying a 5xx or a 429 again after `backoff`, then twice as long.
#[derive(Debug, Clone)]
pub struct HttpStatuses {
    pub endpoints: Endpoints,
    pub credentials: Credentials,
    /// Tries in all.
    pub tries: u32,
    pub backoff: Duration,
}

impl HttpStatuses {
    pub fn new(endpoints: Endpoints, credentials: Credentials) -> Self {
        HttpStatuses {
            endpoints,
            credentials,
            tries: 3,
            backoff: Duration::from_secs(1),
        }
    }
}

impl StatusApi for HttpStatuses {
    async fn post(&self, status: &CommitStatus) -> Result<(), ReportError> {
        let (url, body) = request(status, &self.endpoints)?;
        let (provider, endpoints, credentials) = (
            status.provider,
            self.endpoints.clone(),
            self.credentials.clone(),
        );
        let (tries, backoff) = (self.tries.max(1), self.backoff);
        // One session for every try, on one blocking thread.
        let (code, text) = tokio::task::spawn_blocking(move || {
            let session = archive::Session::new(provider, &endpoints, &credentials)?;
            let mut wait = backoff;
            let mut attempt = 1;
            loop {
                let (code, text) = session.post_json(&url, &body)?;
                if !matches!(code, 429 | 500..=599) || attempt == tries {
                    return Ok::<_, ArchiveError>((code, text));
                }
                tracing::warn!(%provider, status = code, attempt, "the commit status was not taken; trying again");
                std::thread::sleep(wait);
                wait *= 2;
                attempt += 1;
            }
        })
        .await
        .expect("posting a status does not panic")?;
        match code {
            200..=299 => Ok(()),
            429 | 500..=599 => Err(ReportError::Unavailable {
                provider,
                repo: status.repo.clone(),
                commit: status.commit.clone(),
                status: code,
                tries,
            }),
            _ => Err(ReportError::Refused {
                provider,
                repo: status.repo.clone(),
                commit: status.commit.clone(),
                status: code,
                hint: status_scope(provider),
                body: text.chars().take(300).collect(),
            }),
        }
    }
}

/// CodePipeline's `GetPipelineExecution`.
pub struct CodePipelineExecutions(pub aws_sdk_codepipeline::Client);

impl Executions for CodePipelineExecutions {
    async fn execution(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Execution, ReportError> {
        let out = self
            .0
            .get_pipeline_execution()
            .pipeline_name(pipeline)
            .pipeline_execution_id(execution_id)
            .send()
            .await
            .map_err(|e| ReportError::Execution {
                pipeline: pipeline.to_string(),
                execution: execution_id.to_string(),
                message: aws_sdk_codepipeline::error::DisplayErrorContext(e).to_string(),
            })?;
        let execution = out.pipeline_execution();
        Ok(Execution {
            status: execution
                .and_then(|e| e.status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            source_version: execution
                .map(|e| e.artifact_revisions())
                .and_then(|r| r.first())
                .and_then(|r| r.revision_id())
                .map(str::to_string),
        })
    }
}

/// The pipeline's source zip in the output bucket, read by version.
pub struct S3ZipVersions {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    pub key: String,
}

impl ZipVersions for S3ZipVersions {
    async fn metadata(
        &self,
        version_id: &str,
    ) -> Result<Option<HashMap<String, String>>, ReportError> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .version_id(version_id)
            .send()
            .await;
        match head {
            Ok(head) => Ok(Some(head.metadata().cloned().unwrap_or_default())),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(ReportError::Zip {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
                version: version_id.to_string(),
                message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A pipeline execution state change, as AWS's documentation shows
    /// it, in `state`.
    fn pipeline_event(state: &str) -> Value {
        let mut event: Value = serde_json::from_str(include_str!(
            "../tests/data/events/codepipeline-pipeline-execution-state-change.json"
        ))
        .unwrap();
        event["detail"]["state"] = state.into();
        event
    }

    /// A stage execution state change, as AWS's documentation shows it.
    fn stage_event(stage: &str, state: &str) -> Value {
        let mut event: Value = serde_json::from_str(include_str!(
            "../tests/data/events/codepipeline-stage-execution-state-change.json"
        ))
        .unwrap();
        event["detail"]["stage"] = stage.into();
        event["detail"]["state"] = state.into();
        event
    }

    struct Fixed(&'static str, Option<&'static str>);
    impl Executions for Fixed {
        async fn execution(&self, pipeline: &str, id: &str) -> Result<Execution, ReportError> {
            assert_eq!(
                (pipeline, id),
                ("myPipeline", "12345678-1234-5678-abcd-12345678abcd")
            );
            Ok(Execution {
                status: self.0.into(),
                source_version: self.1.map(String::from),
            })
        }
    }

    struct Versions(HashMap<&'static str, Vec<(&'static str, &'static str)>>);
    impl ZipVersions for Versions {
        async fn metadata(
            &self,
            version: &str,
        ) -> Result<Option<HashMap<String, String>>, ReportError> {
            Ok(self.0.get(version).map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }))
        }
    }

    #[derive(Default)]
    struct Posted(Mutex<Vec<CommitStatus>>);
    impl StatusApi for &Posted {
        async fn post(&self, status: &CommitStatus) -> Result<(), ReportError> {
            self.0.lock().unwrap().push(status.clone());
            Ok(())
        }
    }

    const SHA: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";

    fn zips() -> Versions {
        Versions(HashMap::from([
            (
                "v-git2s3",
                vec![
                    ("commit", SHA),
                    ("repo", "acme/api"),
                    ("provider", "github"),
                    ("ref", "refs/heads/main"),
                ],
            ),
            ("v-by-hand", vec![("uploaded-by", "someone")]),
            (
                "v-gitlab",
                vec![
                    ("commit", SHA),
                    ("repo", "acme/api"),
                    ("provider", "gitlab"),
                ],
            ),
        ]))
    }

    fn reporter(execution: Fixed, posted: &Posted) -> Reporter<Fixed, Versions, &Posted> {
        Reporter {
            provider: Provider::Github,
            executions: execution,
            zips: zips(),
            statuses: posted,
        }
    }

    #[tokio::test]
    async fn a_run_of_a_git2s3_zip_is_posted_on_its_commit_with_the_executions_state() {
        let posted = Posted::default();
        let done = reporter(Fixed("InProgress", Some("v-git2s3")), &posted)
            .handle(&stage_event("Build", "STARTED"))
            .await
            .unwrap();
        let Reported::Posted { status } = done else {
            panic!("{done:?}")
        };
        assert_eq!(status.commit, SHA);
        assert_eq!(status.repo, "acme/api");
        assert_eq!(status.state, RunState::Running);
        assert_eq!(status.context, "git2s3/myPipeline");
        assert_eq!(status.description, "CodePipeline myPipeline: Build running");
        assert_eq!(
            status.target_url,
            "https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/myPipeline/executions/12345678-1234-5678-abcd-12345678abcd/timeline?region=us-east-1"
        );
        reporter(Fixed("Failed", Some("v-git2s3")), &posted)
            .handle(&pipeline_event("FAILED"))
            .await
            .unwrap();
        assert_eq!(posted.0.lock().unwrap()[1].state, RunState::Failed);
    }

    /// A stage's "started" that arrives after the run succeeded does not
    /// turn the commit back to pending: the execution's status is posted.
    #[tokio::test]
    async fn a_late_event_posts_the_executions_state_not_its_own() {
        let posted = Posted::default();
        reporter(Fixed("Succeeded", Some("v-git2s3")), &posted)
            .handle(&stage_event("Build", "STARTED"))
            .await
            .unwrap();
        assert_eq!(posted.0.lock().unwrap()[0].state, RunState::Succeeded);
    }

    #[tokio::test]
    async fn runs_no_git2s3_zip_started_are_ignored() {
        let posted = Posted::default();
        for (execution, why) in [
            (Fixed("InProgress", Some("v-by-hand")), "not a git2s3 zip"),
            (Fixed("InProgress", Some("v-gitlab")), "built from gitlab"),
            (Fixed("InProgress", None), "no source revision"),
            (Fixed("InProgress", Some("v-gone")), "not in the bucket"),
        ] {
            let done = reporter(execution, &posted)
                .handle(&pipeline_event("STARTED"))
                .await
                .unwrap();
            match done {
                Reported::Ignored { reason } => assert!(reason.contains(why), "{reason}"),
                other => panic!("{other:?}"),
            }
        }
        let other = json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {}});
        let done = reporter(Fixed("InProgress", Some("v-git2s3")), &posted)
            .handle(&other)
            .await
            .unwrap();
        assert!(matches!(done, Reported::Ignored { .. }));
        assert!(posted.0.lock().unwrap().is_empty());
    }

    #[test]
    fn each_provider_gets_its_own_url_states_and_body() {
        let status = |provider| CommitStatus {
            provider,
            repo: "acme/api".into(),
            commit: SHA.into(),
            state: RunState::Stopped,
            context: "git2s3/myPipeline".into(),
            target_url: "https://console/x".into(),
            description: "stopped".into(),
        };
        let endpoints = Endpoints {
            api_url: Some("https://git.example.com/api".into()),
            ..Endpoints::default()
        };
        let (url, body) = request(&status(Provider::Github), &Endpoints::default()).unwrap();
        assert_eq!(
            url,
            format!("https://api.github.com/repos/acme/api/statuses/{SHA}")
        );
        assert_eq!(body["state"], "error");
        assert_eq!(body["context"], "git2s3/myPipeline");
        let (url, body) = request(&status(Provider::Gitlab), &Endpoints::default()).unwrap();
        assert_eq!(
            url,
            format!("https://gitlab.com/api/v4/projects/acme%2Fapi/statuses/{SHA}")
        );
        assert_eq!(
            (body["state"].as_str(), body["name"].as_str()),
            (Some("canceled"), Some("git2s3/myPipeline"))
        );
        let (url, body) = request(&status(Provider::Bitbucket), &Endpoints::default()).unwrap();
        assert_eq!(
            url,
            format!(
                "https://api.bitbucket.org/2.0/repositories/acme/api/commit/{SHA}/statuses/build"
            )
        );
        assert_eq!(
            (body["state"].as_str(), body["key"].as_str()),
            (Some("STOPPED"), Some("git2s3/myPipeline"))
        );
        let (url, body) = request(&status(Provider::BitbucketServer), &endpoints).unwrap();
        assert_eq!(url, format!("https://git.example.com/api/rest/api/latest/projects/acme/repos/api/commits/{SHA}/builds"));
        assert_eq!(body["state"], "CANCELLED");
        let (url, body) = request(&status(Provider::Gitea), &endpoints).unwrap();
        assert_eq!(
            url,
            format!("https://git.example.com/api/repos/acme/api/statuses/{SHA}")
        );
        assert_eq!(body["state"], "error");
        assert!(request(&status(Provider::Generic), &endpoints).is_err());
        // Bitbucket's 40-character key.
        let key = bitbucket_key(&format!("git2s3/{}", "p".repeat(60)));
        assert!(key.len() <= 40 && key.starts_with("git2s3/"), "{key}");
    }
}
