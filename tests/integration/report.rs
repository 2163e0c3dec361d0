//! Build status on the commit (`git2s3_lambda::report`): the GitHub
//! request validated by Prism against GitHub's API description; exact
//! requests for GitLab, Bitbucket Cloud and Data Center against wiremock,
//! shaped as their documentation shows; retries of a 5xx and a final 4xx;
//! and the `report` role of the real `bootstrap` under cargo-lambda's
//! emulator, with moto for S3 and Secrets Manager. moto's CodePipeline
//! answers GetPipelineExecution with no artifact revisions (it runs no
//! actions), so that one call goes to a stand-in that answers in the
//! shape of AWS's API reference; every other call goes to moto.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use git2s3_lambda::fetch::archive::{Credentials, Endpoints};
use git2s3_lambda::report::{CommitStatus, HttpStatuses, ReportError, RunState, StatusApi};
use git2s3_lambda::Provider;
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::moto::moto;

const SHA: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
const TOKEN: &str = "test-token-not-real";
const CONSOLE: &str = "https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/myPipeline/executions/e-1/timeline?region=us-east-1";

fn status(provider: Provider, repo: &str, state: RunState) -> CommitStatus {
    CommitStatus {
        provider,
        repo: repo.into(),
        commit: SHA.into(),
        state,
        context: "git2s3/myPipeline".into(),
        target_url: CONSOLE.into(),
        description: "CodePipeline myPipeline: Build running".into(),
    }
}

fn statuses(api_url: &str) -> HttpStatuses {
    HttpStatuses {
        tries: 3,
        backoff: Duration::from_millis(10),
        ..HttpStatuses::new(
            Endpoints {
                api_url: Some(api_url.to_string()),
                ..Endpoints::default()
            },
            Credentials::Token(TOKEN.into()),
        )
    }
}

/// Prism answers 422 to a request that does not conform to
/// `repos/create-commit-status`, which fails the post.
#[tokio::test(flavor = "multi_thread")]
async fn the_github_status_conforms_to_githubs_api_description() {
    let prism = &crate::prism::prism().url;
    for state in [
        RunState::Running,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Stopped,
    ] {
        statuses(prism)
            .post(&status(
                Provider::GithubEnterprise,
                "octocat/hello-world",
                state,
            ))
            .await
            .unwrap_or_else(|e| panic!("{state:?}: {e}"));
    }
}

#[tokio::test]
async fn gitlab_bitbucket_and_data_center_get_their_documented_requests() {
    let server = MockServer::start().await;
    // GitLab: POST /projects/:id/statuses/:sha, the project's path as its id.
    Mock::given(method("POST"))
        .and(path(format!("/projects/acme%2Fapi/statuses/{SHA}")))
        .and(header("private-token", TOKEN))
        .and(body_json(json!({
            "state": "running",
            "name": "git2s3/myPipeline",
            "target_url": CONSOLE,
            "description": "CodePipeline myPipeline: Build running",
        })))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": 93, "status": "running"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    statuses(&server.uri())
        .post(&status(Provider::Gitlab, "acme/api", RunState::Running))
        .await
        .unwrap();

    // Bitbucket Data Center: the repository's builds resource.
    Mock::given(method("POST"))
        .and(path(format!(
            "/rest/api/latest/projects/ACME/repos/api/commits/{SHA}/builds"
        )))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(json!({
            "key": "git2s3/myPipeline",
            "state": "SUCCESSFUL",
            "name": "git2s3/myPipeline",
            "url": CONSOLE,
            "description": "CodePipeline myPipeline: Build running",
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    statuses(&server.uri())
        .post(&status(
            Provider::BitbucketServer,
            "ACME/api",
            RunState::Succeeded,
        ))
        .await
        .unwrap();
    server.verify().await;

    // Bitbucket Cloud: its REST API is fixed, so the endpoint is set here.
    let cloud = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2.0/repositories/acme/api/commit/{SHA}/statuses/build"
        )))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(json!({
            "key": "git2s3/myPipeline",
            "state": "FAILED",
            "name": "git2s3/myPipeline",
            "url": CONSOLE,
            "description": "CodePipeline myPipeline: Build running",
        })))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"type": "commitstatus", "state": "FAILED"})),
        )
        .expect(1)
        .mount(&cloud)
        .await;
    let bitbucket = HttpStatuses {
        tries: 1,
        backoff: Duration::from_millis(10),
        ..HttpStatuses::new(
            Endpoints {
                bitbucket_api: format!("{}/2.0", cloud.uri()),
                ..Endpoints::default()
            },
            Credentials::Token(TOKEN.into()),
        )
    };
    bitbucket
        .post(&status(Provider::Bitbucket, "acme/api", RunState::Failed))
        .await
        .unwrap();
}

/// A 503 is tried again and the third try lands; a 403 is final at once,
/// and its error names the scope the token lacks.
#[tokio::test]
async fn a_5xx_is_tried_again_and_a_4xx_names_the_missing_scope() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/acme/api/statuses/{SHA}")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/acme/api/statuses/{SHA}")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"state": "pending"})))
        .expect(1)
        .mount(&server)
        .await;
    statuses(&server.uri())
        .post(&status(Provider::Gitea, "acme/api", RunState::Running))
        .await
        .unwrap();
    server.verify().await;

    let refusing = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(
                json!({"message": "Resource not accessible by personal access token"}),
            ),
        )
        .expect(1)
        .mount(&refusing)
        .await;
    let err = statuses(&refusing.uri())
        .post(&status(
            Provider::GithubEnterprise,
            "acme/api",
            RunState::Running,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReportError::Refused { status: 403, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("Commit statuses: write") && !text.contains(TOKEN),
        "{text}"
    );
}

/// The stand-in for CodePipeline's GetPipelineExecution: the execution in
/// progress, started from the S3 version `version`.
async fn codepipeline_stand_in(version: String, seen: Arc<Mutex<Vec<Value>>>) -> String {
    use axum::http::HeaderMap;
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
        let (version, seen) = (version.clone(), seen.clone());
        async move {
            let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            assert_eq!(target, "CodePipeline_20150709.GetPipelineExecution");
            seen.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
            (
                [("content-type", "application/x-amz-json-1.1")],
                json!({
                    "pipelineExecution": {
                        "pipelineName": "myPipeline",
                        "pipelineVersion": 1,
                        "pipelineExecutionId": "12345678-1234-5678-abcd-12345678abcd",
                        "status": "InProgress",
                        "artifactRevisions": [{
                            "name": "Source",
                            "revisionId": version,
                            "revisionSummary": format!("{} Fix the login form (Jane Doe)", &SHA[..7]),
                            "created": 1.579903387e9
                        }]
                    }
                })
                .to_string(),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_role_posts_a_stage_change_on_the_zips_commit_in_the_emulator() {
    let aws = moto().sdk_config().await;
    let s3 = git2s3::aws::s3_client(&aws);
    let bucket = "report-zips";
    crate::moto::versioned_bucket(&s3, bucket).await;
    let key = "acme/api/main/acme_api.zip";
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .metadata("commit", SHA)
        .metadata("repo", "acme/api")
        .metadata("provider", "github-enterprise")
        .metadata("ref", "refs/heads/main")
        .body(b"PK".to_vec().into())
        .send()
        .await
        .unwrap();
    let version = put.version_id().unwrap().to_string();
    aws_sdk_secretsmanager::Client::new(&aws)
        .create_secret()
        .name("git2s3/report/status-token")
        .secret_string(TOKEN)
        .send()
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let codepipeline = codepipeline_stand_in(version, seen.clone()).await;
    let github = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/repos/acme/api/statuses/{SHA}")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(json!({
            "state": "pending",
            "target_url": "https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/myPipeline/executions/12345678-1234-5678-abcd-12345678abcd/timeline?region=us-east-1",
            "description": "CodePipeline myPipeline: Build running",
            "context": "git2s3/myPipeline",
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"state": "pending"})))
        .expect(1)
        .mount(&github)
        .await;

    let (_emulator, port) = crate::runtime::emulator();
    let logs = tempfile::tempdir().unwrap();
    let api = github.uri();
    let _report = crate::runtime::function(
        port,
        &[
            ("GIT2S3_ROLE", "report"),
            ("GIT2S3_PROVIDER", "github-enterprise"),
            ("GIT2S3_PROVIDER_API_URL", &api),
            ("GIT2S3_SOURCE_BUCKET", bucket),
            ("GIT2S3_SOURCE_KEY", key),
            (
                "GIT2S3_STATUS_TOKEN_SECRET_ID",
                "git2s3/report/status-token",
            ),
            ("AWS_ENDPOINT_URL_CODEPIPELINE", &codepipeline),
        ],
        &logs.path().join("report.log"),
    );
    // A stage execution state change, as AWS's documentation shows it.
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            crate::util::repo_root()
                .join("lambda/tests/data/events/codepipeline-stage-execution-state-change.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let answer = crate::runtime::invoke(port, &event).await;
    assert_eq!(answer["outcome"], "posted", "{answer}");
    assert_eq!(answer["status"]["commit"], SHA);
    github.verify().await;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            json!({"pipelineName": "myPipeline", "pipelineExecutionId": "12345678-1234-5678-abcd-12345678abcd"})
        ]
    );
    let log = std::fs::read_to_string(logs.path().join("report.log")).unwrap();
    assert!(!log.contains(TOKEN), "the token is in the log");
}
