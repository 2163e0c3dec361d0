//! `git2s3 render`, run as a user runs it.

use serde_json::Value;

use crate::util::{config_file, git2s3, repo_root};

fn template_file(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("templates").join(name)).unwrap()
}

#[test]
fn prints_the_core_template_exactly_as_linted() {
    assert_eq!(
        git2s3().args(["render"]).stdout(),
        template_file("git2s3.yaml")
    );
}

#[test]
fn prints_the_pipeline_template_exactly_as_linted() {
    assert_eq!(
        git2s3().args(["render", "--pipeline"]).stdout(),
        template_file("pipeline.yaml")
    );
}

#[test]
fn parameters_come_from_the_config_file_in_create_stack_form() {
    let (_dir, path) = config_file(
        "stack_name: acme-ci\n\
         provider: gitlab\n\
         method: zip-download\n\
         repos: [acme/api]\n\
         bucket:\n  name: acme-ci-zips\n  noncurrent_version_days: 0\n\
         lambda:\n  architecture: arm64\n  code_bucket: acme-artifacts\n  code_key: git2s3/bootstrap-1.zip\n\
         filters:\n  include_refs: [main, 'release/*']\n  exclude_refs: ['wip/*']\n\
         auth:\n  allowed_ips: [192.0.2.0/24, 198.51.100.7/32]\n",
    );
    let out = git2s3()
        .args(["render", "--parameters"])
        .config(&path)
        .stdout();
    let params: Vec<Value> = serde_json::from_str(&out).unwrap();
    let get = |key: &str| -> String {
        let p = params
            .iter()
            .find(|p| p["ParameterKey"] == key)
            .unwrap_or_else(|| panic!("{key} missing from {out}"));
        p["ParameterValue"].as_str().unwrap().to_string()
    };
    assert_eq!(get("OutputBucketName"), "acme-ci-zips");
    assert_eq!(get("NoncurrentVersionDays"), "0");
    assert_eq!(get("Architecture"), "arm64");
    assert_eq!(get("LambdaCodeBucket"), "acme-artifacts");
    assert_eq!(get("LambdaCodeKey"), "git2s3/bootstrap-1.zip");
    assert_eq!(get("WebhookSecretId"), "git2s3/acme-ci/webhook-secret");
    assert_eq!(get("GitTokenSecretId"), "git2s3/acme-ci/git-token");
    assert_eq!(get("SshKeySecretId"), "");
    assert_eq!(get("IncludeRefs"), "main,release/*");
    assert_eq!(get("ExcludeRefs"), "wip/*");
    assert_eq!(get("AllowedIps"), "192.0.2.0/24,198.51.100.7/32");
    // Every element has exactly the two keys the AWS CLI reads.
    for p in &params {
        assert_eq!(p.as_object().unwrap().len(), 2, "{p}");
    }
}

#[test]
fn environment_overrides_the_config_file() {
    let (_dir, path) =
        config_file("stack_name: from-file\nlambda:\n  code_bucket: b\n  code_key: k.zip\n");
    let out = git2s3()
        .args(["render", "--parameters"])
        .config(&path)
        .env("GIT2S3_STACK_NAME", "from-env")
        .env("GIT2S3_WORKER_MEMORY_MB", "3008")
        .stdout();
    assert!(out.contains("git2s3/from-env/webhook-secret"), "{out}");
    assert!(out.contains("\"3008\""), "{out}");
}

#[test]
fn missing_lambda_code_fails_with_the_fix() {
    let err = git2s3().args(["render", "--parameters"]).fails();
    assert!(
        err.contains("lambda.code_bucket and lambda.code_key are not set"),
        "{err}"
    );
    assert!(err.contains("git2s3 init"), "{err}");
}

#[test]
fn an_unknown_key_names_the_file_line_and_nearest_key() {
    let (_dir, path) = config_file("stack_name: x\nbuckt:\n  name: y\n");
    let err = git2s3().args(["render"]).config(&path).fails();
    assert!(
        err.contains("git2s3.yaml:2:1: unknown key `buckt`; did you mean `bucket`?"),
        "{err}"
    );
}

#[test]
fn pipeline_parameters_use_the_shared_key_layout() {
    let (_dir, path) = config_file(
        "bucket:\n  name: zips\npipeline:\n  repo: group/sub/api\n  branch: release/2.0\n",
    );
    let out = git2s3()
        .args(["render", "--pipeline", "--parameters"])
        .config(&path)
        .stdout();
    assert!(
        out.contains("group/sub/api/release/2.0/group_sub_api.zip"),
        "{out}"
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_git2s3"))
        .arg("render")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success() && err.is_empty(), "{status}: {err}");
}
