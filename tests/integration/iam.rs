//! docs/iam.md checked against what git2s3 does.
//!
//! - Every AWS call the CLI makes is logged at `-v` (an SDK interceptor,
//!   `aws call service=… operation=…`). The test runs init, a re-run,
//!   update-stack, --diff, status and destroy against moto, maps each
//!   logged operation to its IAM action, and checks that docs/iam.md's CLI
//!   statement grants it, and that the statement grants nothing the code
//!   never calls.
//! - A second moto server enforces IAM. There, an unknown access key and a
//!   user without one of the documented actions get AWS's real answers,
//!   and the test checks the messages. (moto cannot run the whole flow under
//!   IAM: it checks the signature of a form-encoded body against its own
//!   re-encoding of it, `+` for a space, while the Rust SDK signs `%20`, so
//!   every CreateChangeSet is refused as SignatureDoesNotMatch.)

use serde_json::{json, Value};

use crate::deploy::Install;
use crate::moto::{moto, start_with_iam};
use crate::util::repo_root;

/// (IAM's name, moto's name) for the S3 calls where moto's IAM differs.
const MOTO_S3_NAMES: &[(&str, &str)] = &[
    ("s3:ListBucket", "s3:HeadBucket"),
    ("s3:PutBucketPublicAccessBlock", "s3:PutPublicAccessBlock"),
    ("s3:PutEncryptionConfiguration", "s3:PutBucketEncryption"),
];

/// The IAM action an SDK operation needs, where the names differ
/// (S3's API and IAM name a few things apart).
const IAM_NAMES: &[(&str, &str)] = &[
    ("s3:HeadBucket", "s3:ListBucket"),
    ("s3:HeadObject", "s3:GetObject"),
    ("s3:ListObjectsV2", "s3:ListBucket"),
    ("s3:ListObjectVersions", "s3:ListBucketVersions"),
    ("s3:DeleteObjects", "s3:DeleteObjectVersion"),
    ("s3:PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
    ("s3:PutBucketEncryption", "s3:PutEncryptionConfiguration"),
];

/// Documented actions the flow below does not reach, and when they are used.
const CONDITIONAL: &[(&str, &str)] = &[
    (
        "secretsmanager:PutSecretValue",
        "init stores a changed provider token (zip download)",
    ),
    (
        "secretsmanager:RestoreSecret",
        "init finds its secret scheduled for deletion",
    ),
    (
        "s3:DeleteObject",
        "destroy deletes from a bucket without versioning",
    ),
    (
        "s3:CreateBucket",
        "init's first run in an account and region (the artifacts bucket)",
    ),
    (
        "s3:PutObject",
        "init or update-stack uploads a Lambda zip not uploaded before",
    ),
    (
        "codepipeline:ListPipelineExecutions",
        "status, when the pipeline stack has a PipelineName output (moto skips pipelines)",
    ),
    (
        "secretsmanager:GetSecretValue",
        "init re-reads the public half of an existing deploy key",
    ),
    (
        "logs:FilterLogEvents",
        "verify, when the test zip does not come (tests/integration/verify.rs)",
    ),
    (
        "sqs:ReceiveMessage",
        "redrive (tests/integration/deploy.rs)",
    ),
    (
        "sqs:ChangeMessageVisibility",
        "redrive, when it is not confirmed (tests/integration/deploy.rs)",
    ),
    ("sqs:SendMessage", "redrive (tests/integration/deploy.rs)"),
    ("sqs:DeleteMessage", "redrive (tests/integration/deploy.rs)"),
    (
        "secretsmanager:UpdateSecretVersionStage",
        "rotate deploy-key (tests/integration/rotate.rs)",
    ),
    (
        "cloudformation:GetTemplate",
        "rotate deploy-key updates the stack's PublicSSHKey (tests/integration/rotate.rs)",
    ),
];

/// The IAM action for a logged `aws call` line.
fn iam_action(line: &str) -> Option<String> {
    let field = |name: &str| {
        let start = line.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + line[start..].find('"')?;
        Some(line[start..end].to_string())
    };
    let service = match field("service")?.as_str() {
        "Secrets Manager" => "secretsmanager".to_string(),
        other => other.to_lowercase(),
    };
    let action = format!("{service}:{}", field("operation")?);
    Some(
        IAM_NAMES
            .iter()
            .find(|(op, _)| *op == action)
            .map(|(_, iam)| iam.to_string())
            .unwrap_or(action),
    )
}

/// The policy document in docs/iam.md.
fn documented_policy() -> Value {
    let text = std::fs::read_to_string(repo_root().join("docs/iam.md")).unwrap();
    let start = text
        .find("```json\n")
        .expect("docs/iam.md has a ```json block")
        + 8;
    let end = start + text[start..].find("```").unwrap();
    serde_json::from_str(&text[start..end]).expect("docs/iam.md's policy is valid JSON")
}

fn statement(policy: &Value, sid: &str) -> Value {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("docs/iam.md has no statement {sid}"))
        .clone()
}

fn actions(statement: &Value) -> Vec<String> {
    statement["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// The CLI statement as moto can evaluate it, without `leave_out`.
fn for_moto(cli: &Value, leave_out: &str) -> String {
    let mut list: Vec<String> = actions(cli)
        .into_iter()
        .filter(|a| a != leave_out)
        .collect();
    for (iam, moto) in MOTO_S3_NAMES {
        if list.iter().any(|a| a == iam) {
            list.push(moto.to_string());
        }
    }
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list, "Resource": "*"}]})
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_policy_grants_exactly_the_calls_the_cli_makes() {
    let install = Install::new(moto());
    let mut logged = Vec::new();
    let mut run = |cmd: crate::util::Git2s3| {
        let out = cmd.output();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        // 0, 1 (an error the run expects), or 2 (`--diff` found changes).
        assert!(out.status.code().is_some_and(|c| c <= 2), "{stderr}");
        logged.extend(
            stderr
                .lines()
                .filter(|l| l.contains("aws call"))
                .filter_map(iam_action),
        );
    };
    let init = |extra: &[&str]| {
        install.init_cmd(
            "iamdemo",
            "generic",
            &[&["-v", "--repo", "acme/api"], extra].concat(),
        )
    };
    run(init(&[
        "--bucket",
        "iamdemo-zips",
        "--pipeline-branch",
        "main",
        "--architecture",
        crate::deploy::architecture(),
    ]));
    run(init(&[]));
    run(install
        .run(["-v", "update-stack", "--diff"])
        .env("GIT2S3_LOG_RETENTION_DAYS", "60"));
    run(install
        .run(["-v", "update-stack", "--yes"])
        .env("GIT2S3_LOG_RETENTION_DAYS", "60"));
    // A zip in the bucket, so that status reads one and destroy deletes one.
    git2s3::aws::s3_client(&moto().sdk_config().await)
        .put_object()
        .bucket("iamdemo-zips")
        .key("acme/api/main/acme_api.zip")
        .body(b"zip".to_vec().into())
        .send()
        .await
        .unwrap();
    run(install.run(["-v", "status"]));
    run(install.run(["-v", "destroy", "--yes"]));
    assert!(logged.len() > 20, "too few calls logged: {logged:?}");

    let documented = actions(&statement(&documented_policy(), "Git2s3Cli"));
    for action in &logged {
        assert!(
            documented.contains(action),
            "git2s3 calls {action}, which docs/iam.md does not grant"
        );
    }
    for action in &documented {
        assert!(
            logged.contains(action) || CONDITIONAL.iter().any(|(a, _)| a == action),
            "docs/iam.md grants {action}, which git2s3 never called here; remove it, or list when it is used in CONDITIONAL"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_credentials_and_a_missing_permission_say_what_to_do() {
    // Three unauthenticated calls: the user, its policy, its key.
    let moto = start_with_iam(3);
    let iam = aws_sdk_iam::Client::new(&moto.sdk_config().await);
    let cli = statement(&documented_policy(), "Git2s3Cli");
    iam.create_user()
        .user_name("no-create-secret")
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name("no-create-secret")
        .policy_name("git2s3")
        .policy_document(for_moto(&cli, "secretsmanager:CreateSecret"))
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("no-create-secret")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();

    let limited = Install::as_user(&moto, key.access_key_id(), key.secret_access_key());
    let err = limited.init_cmd("iamlimited", "generic", &[]).fails();
    assert!(
        err.contains("access denied on secretsmanager:CreateSecret"),
        "{err}"
    );
    assert!(
        err.contains("Grant secretsmanager:CreateSecret to this identity; docs/iam.md lists every permission git2s3 needs"),
        "{err}"
    );

    let stranger = Install::as_user(&moto, "AKIAIOSFODNN7EXAMPLE", "not-a-secret");
    let err = stranger.init_cmd("iamstranger", "generic", &[]).fails();
    assert!(
        err.contains("AWS rejected the credentials on sts:GetCallerIdentity (InvalidClientTokenId): they are invalid or expired"),
        "{err}"
    );
}

#[test]
fn the_documented_policy_covers_every_service_the_templates_use() {
    let build = actions(&statement(
        &documented_policy(),
        "CloudFormationBuildsTheStack",
    ));
    let prefix = |t: &str| match t {
        "AWS::S3" => Some("s3"),
        "AWS::SQS" => Some("sqs"),
        "AWS::Logs" => Some("logs"),
        "AWS::IAM" => Some("iam"),
        "AWS::Lambda" => Some("lambda"),
        "AWS::ApiGateway" => Some("apigateway"),
        "AWS::CodePipeline" => Some("codepipeline"),
        "AWS::CodeBuild" => Some("codebuild"),
        "AWS::Events" => Some("events"),
        // A wait-condition handle is CloudFormation's own, with no API call.
        "AWS::CloudFormation" => None,
        other => panic!("a template uses {other}: add its permissions to docs/iam.md and here"),
    };
    for template in [git2s3::template::CORE, git2s3::template::PIPELINE] {
        let doc: serde_yaml::Value = serde_yaml::from_str(template).unwrap();
        for (name, resource) in doc["Resources"].as_mapping().unwrap() {
            let kind = resource["Type"].as_str().unwrap();
            let service = kind.rsplit_once("::").unwrap().0;
            if let Some(p) = prefix(service) {
                assert!(
                    build.iter().any(|a| a.starts_with(&format!("{p}:"))),
                    "{name:?} is {kind}, but docs/iam.md grants no {p}: action"
                );
            }
        }
    }
}

/// Safety: `--profile` wins over credentials in the environment, as the
/// AWS CLI's does. Before, environment credentials won, so git2s3 could
/// deploy into, or destroy, the wrong account. Here the environment holds
/// a stranger's keys, and the profile a user's: with --profile, the user's
/// are used. An unknown profile is refused with the profiles found.
#[tokio::test(flavor = "multi_thread")]
async fn an_explicit_profile_wins_over_environment_credentials() {
    let moto = start_with_iam(3);
    let iam = aws_sdk_iam::Client::new(&moto.sdk_config().await);
    iam.create_user()
        .user_name("profiled")
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name("profiled")
        .policy_name("git2s3")
        .policy_document(for_moto(&statement(&documented_policy(), "Git2s3Cli"), ""))
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name("profiled")
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        format!(
            "[work]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key.access_key_id(),
            key.secret_access_key()
        ),
    )
    .unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "[profile work]\nregion = us-east-1\n").unwrap();
    // A stranger's keys in the environment, the user's in the profile.
    let run = |args: &[&str]| {
        crate::util::git2s3()
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
            .env("AWS_CONFIG_FILE", config.to_str().unwrap())
            .env("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap())
            .args(args)
            .fails()
    };
    // The environment's keys alone: refused.
    let err = run(&["status", "--stack-name", "profiled"]);
    assert!(err.contains("InvalidClientTokenId"), "{err}");
    // With --profile: the profile's user, who may look, finds no stack.
    let err = run(&["--profile", "work", "status", "--stack-name", "profiled"]);
    assert!(err.contains("stack profiled does not exist"), "{err}");
    let err = run(&["--profile", "wrok", "status"]);
    assert!(
        err.contains("--profile wrok: no such profile") && err.contains("it lists work"),
        "{err}"
    );
}
