//! The templates as `git2s3 render` prints them, deployed to moto's
//! CloudFormation with the parameters `git2s3 render --parameters` prints:
//! created, read, updated and deleted through the AWS Rust SDK.
//!
//! moto's known gaps, and what these tests do about them:
//! - moto skips resource types it does not implement, and the stack still
//!   completes: here AWS::S3::BucketPolicy, AWS::ApiGateway::Stage,
//!   AWS::ApiGateway::Account, AWS::CloudFormation::WaitConditionHandle,
//!   AWS::CodePipeline::Pipeline and AWS::CodeBuild::Project. Their
//!   properties are checked by cfn-lint and checkov instead.
//! - It ignores the bucket's VersioningConfiguration, LifecycleConfiguration,
//!   PublicAccessBlockConfiguration, OwnershipControls and EventBridge
//!   notifications, and a Lambda function's EphemeralStorage and
//!   LoggingConfig. We check only what moto applies: bucket encryption,
//!   queue attributes, function runtime, memory, timeout and environment.
//! - A `!GetAtt` on a skipped resource fails CreateStack, so the templates
//!   build such ARNs with `!Sub` from the resource's name, which is as
//!   correct on real AWS.
//! - Outputs that reference a skipped resource are left out (the pipeline
//!   stack's PipelineName), so those are not asserted.
//! - A statement that an `!If` removes with AWS::NoValue stays in moto's
//!   copy of an inline IAM policy as `null`; real IAM never sees it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use aws_sdk_cloudformation::Client as CloudFormation;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::moto::moto;
use crate::util::{config_file, git2s3};

/// An empty zip archive (just the end-of-central-directory record). moto
/// stores the function code without running it.
const EMPTY_ZIP: &[u8] = b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

fn parameters(json: &str) -> Vec<Parameter> {
    let list: Vec<Value> = serde_json::from_str(json).expect("render --parameters prints JSON");
    list.iter()
        .map(|p| {
            Parameter::builder()
                .parameter_key(p["ParameterKey"].as_str().unwrap())
                .parameter_value(p["ParameterValue"].as_str().unwrap())
                .build()
        })
        .collect()
}

/// Polls until the stack leaves its IN_PROGRESS state; `None` once it is gone.
async fn settle(
    cf: &CloudFormation,
    stack: &str,
) -> Option<(StackStatus, HashMap<String, String>)> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let described = cf.describe_stacks().stack_name(stack).send().await;
        let Ok(described) = described else {
            return None; // "Stack with id … does not exist"
        };
        let s = &described.stacks()[0];
        let status = s.stack_status().unwrap().clone();
        if !status.as_str().ends_with("IN_PROGRESS") {
            let outputs = s
                .outputs()
                .iter()
                .map(|o| {
                    (
                        o.output_key().unwrap().to_string(),
                        o.output_value().unwrap().to_string(),
                    )
                })
                .collect();
            return Some((status, outputs));
        }
        assert!(
            Instant::now() < deadline,
            "{stack} still {status:?} after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn core_stack_is_created_read_updated_and_deleted() {
    let config = moto().sdk_config().await;
    let s3 = git2s3::aws::s3_client(&config);
    let cf = git2s3::aws::cloudformation_client(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);

    let code_bucket = "lifecycle-code";
    stage_code(&s3, code_bucket).await;

    let stack = "lifecycle";
    let (_dir, path) = config_file(&format!(
        "stack_name: {stack}\n\
         bucket:\n  name: lifecycle-zips\n\
         lambda:\n  code_bucket: {code_bucket}\n  code_key: git2s3/bootstrap.zip\n\
         auth:\n  public_ssh_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests git2s3\n"
    ));
    let template = git2s3().args(["render"]).config(&path).stdout();
    let params = git2s3()
        .args(["render", "--parameters"])
        .config(&path)
        .stdout();

    // 1. Create.
    cf.create_stack()
        .stack_name(stack)
        .template_body(&template)
        .set_parameters(Some(parameters(&params)))
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .unwrap();
    let (status, outputs) = settle(&cf, stack).await.expect("stack exists");
    assert_eq!(status, StackStatus::CreateComplete);

    // 2. Read the outputs, as `status` and the blog's users will.
    let api = &outputs["WebhookApiId"];
    assert_eq!(
        outputs["GitPullWebHookApi"],
        format!("https://{api}.execute-api.us-east-1.amazonaws.com/prod/gitpull")
    );
    assert_eq!(
        outputs["ZipDownloadWebHookApi"],
        format!("https://{api}.execute-api.us-east-1.amazonaws.com/prod/zipdl")
    );
    assert_eq!(outputs["OutputBucketName"], "lifecycle-zips");
    assert_eq!(outputs["OutputBucketArn"], "arn:aws:s3:::lifecycle-zips");
    assert!(outputs["PublicSSHKey"].starts_with("ssh-ed25519 "));
    assert!(outputs["JobQueueUrl"].ends_with("/lifecycle-jobs.fifo"));
    assert!(outputs["DeadLetterQueueUrl"].ends_with("/lifecycle-jobs-dlq.fifo"));
    assert_eq!(
        outputs["ReceiverLogGroupName"],
        "/git2s3/lifecycle/receiver"
    );
    assert_eq!(outputs["WorkerLogGroupName"], "/git2s3/lifecycle/worker");

    // What moto applies of the bucket: encryption.
    let encryption = s3
        .get_bucket_encryption()
        .bucket("lifecycle-zips")
        .send()
        .await
        .unwrap();
    let rule = &encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm()
            .as_str(),
        "AES256"
    );

    // The queue: FIFO, deduplicated by id, encrypted, three tries then the DLQ.
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&outputs["JobQueueUrl"])
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    let attr = |name: &str| attrs[&QueueAttributeName::from(name)].clone();
    assert_eq!(attr("FifoQueue"), "true");
    assert_eq!(attr("ContentBasedDeduplication"), "false");
    assert_eq!(attr("SqsManagedSseEnabled"), "true");
    // Six times the worker's timeout (600 s), as AWS asks of an event source.
    assert_eq!(attr("VisibilityTimeout"), "3600");
    let redrive: Value = serde_json::from_str(&attr("RedrivePolicy")).unwrap();
    assert_eq!(redrive["maxReceiveCount"], 3);
    assert!(redrive["deadLetterTargetArn"]
        .as_str()
        .unwrap()
        .ends_with(":lifecycle-jobs-dlq.fifo"));

    // The functions: one binary, two roles.
    let receiver = lambda
        .get_function_configuration()
        .function_name(&outputs["ReceiverFunctionName"])
        .send()
        .await
        .unwrap();
    let worker = lambda
        .get_function_configuration()
        .function_name(&outputs["WorkerFunctionName"])
        .send()
        .await
        .unwrap();
    for f in [&receiver, &worker] {
        assert_eq!(f.runtime().unwrap().as_str(), "provided.al2023");
        assert_eq!(f.handler(), Some("bootstrap"));
        assert_eq!(f.architectures()[0].as_str(), "x86_64");
    }
    let env = |f: &aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput| {
        f.environment().unwrap().variables().unwrap().clone()
    };
    assert_eq!(receiver.memory_size(), Some(128));
    assert_eq!(receiver.timeout(), Some(10));
    assert_eq!(env(&receiver)["GIT2S3_ROLE"], "receiver");
    assert_eq!(env(&receiver)["GIT2S3_QUEUE_URL"], outputs["JobQueueUrl"]);
    assert_eq!(
        env(&receiver)["GIT2S3_WEBHOOK_SECRET_ID"],
        "git2s3/lifecycle/webhook-secret"
    );
    assert_eq!(worker.memory_size(), Some(1024));
    assert_eq!(worker.timeout(), Some(600));
    assert_eq!(env(&worker)["GIT2S3_ROLE"], "worker");
    assert_eq!(env(&worker)["GIT2S3_OUTPUT_BUCKET"], "lifecycle-zips");
    assert_eq!(
        env(&worker)["GIT2S3_SSH_KEY_SECRET_ID"],
        "git2s3/lifecycle/ssh-deploy-key"
    );
    assert_eq!(env(&worker)["GIT2S3_GIT_TOKEN_SECRET_ID"], "");

    // 3. Update with a changed parameter, re-rendered from the environment.
    let params = git2s3()
        .args(["render", "--parameters"])
        .config(&path)
        .env("GIT2S3_WORKER_MEMORY_MB", "2048")
        .stdout();
    cf.update_stack()
        .stack_name(stack)
        .template_body(&template)
        .set_parameters(Some(parameters(&params)))
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .unwrap();
    let (status, updated) = settle(&cf, stack).await.expect("stack exists");
    assert_eq!(status, StackStatus::UpdateComplete);
    assert_eq!(
        updated["WorkerFunctionName"], outputs["WorkerFunctionName"],
        "a memory change must not replace the function"
    );
    let worker = lambda
        .get_function_configuration()
        .function_name(&outputs["WorkerFunctionName"])
        .send()
        .await
        .unwrap();
    assert_eq!(worker.memory_size(), Some(2048));

    // 4. Delete. The queues and functions go; the output bucket stays
    // (DeletionPolicy: Retain), because it holds the pipelines' input.
    cf.delete_stack().stack_name(stack).send().await.unwrap();
    if let Some((status, _)) = settle(&cf, stack).await {
        assert_eq!(status, StackStatus::DeleteComplete);
    }
    let queues = sqs
        .list_queues()
        .queue_name_prefix("lifecycle-")
        .send()
        .await
        .unwrap();
    assert!(queues.queue_urls().is_empty(), "{:?}", queues.queue_urls());
    let gone = lambda
        .get_function_configuration()
        .function_name(&outputs["WorkerFunctionName"])
        .send()
        .await;
    assert!(gone.is_err(), "the worker function outlived its stack");
    s3.head_bucket()
        .bucket("lifecycle-zips")
        .send()
        .await
        .expect("the output bucket is retained");
    s3.delete_bucket()
        .bucket("lifecycle-zips")
        .send()
        .await
        .unwrap();
}

/// An (empty) bootstrap zip at `git2s3/bootstrap.zip` in a new `bucket`,
/// for the functions the templates create.
async fn stage_code(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    s3.put_object()
        .bucket(bucket)
        .key("git2s3/bootstrap.zip")
        .body(EMPTY_ZIP.to_vec().into())
        .send()
        .await
        .unwrap();
}

/// Creates `stack` from `git2s3 render --pipeline` and its `--parameters`
/// for the configuration at `path`.
async fn create_pipeline_stack(cf: &CloudFormation, stack: &str, path: &std::path::Path) {
    let template = git2s3()
        .args(["render", "--pipeline"])
        .config(path)
        .stdout();
    let params = git2s3()
        .args(["render", "--pipeline", "--parameters"])
        .config(path)
        .stdout();
    cf.create_stack()
        .stack_name(stack)
        .template_body(&template)
        .set_parameters(Some(parameters(&params)))
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn pipeline_stack_deploys_for_a_branch_zip() {
    let config = moto().sdk_config().await;
    let cf = git2s3::aws::cloudformation_client(&config);
    let (_dir, path) = config_file(
        "stack_name: pipe\nbucket:\n  name: pipe-zips\npipeline:\n  repo: acme/api\n  branch: main\n",
    );
    create_pipeline_stack(&cf, "pipe-acme-api-main", &path).await;
    let (status, outputs) = settle(&cf, "pipe-acme-api-main")
        .await
        .expect("stack exists");
    assert_eq!(status, StackStatus::CreateComplete);
    assert_eq!(
        outputs["BuildLogGroupName"],
        "/git2s3/pipe-acme-api-main/build"
    );
    assert!(outputs.contains_key("ArtifactBucketName"));

    // The EventBridge rule that starts the pipeline was created.
    let resources = cf
        .describe_stack_resources()
        .stack_name("pipe-acme-api-main")
        .send()
        .await
        .unwrap();
    let rule = resources
        .stack_resources()
        .iter()
        .find(|r| r.logical_resource_id() == Some("StartOnNewZip"))
        .expect("StartOnNewZip rule");
    assert_eq!(rule.resource_type(), Some("AWS::Events::Rule"));

    cf.delete_stack()
        .stack_name("pipe-acme-api-main")
        .send()
        .await
        .unwrap();
    if let Some((status, _)) = settle(&cf, "pipe-acme-api-main").await {
        assert_eq!(status, StackStatus::DeleteComplete);
    }
}

/// With `pipeline.report_status` (on by default for zip download), the
/// pipeline stack adds the report function (the core stack's own
/// bootstrap zip, in the `report` role), its role and the rule on this
/// pipeline's execution and stage changes.
#[tokio::test(flavor = "multi_thread")]
async fn pipeline_stack_with_build_status_adds_the_report_function_and_rule() {
    let config = moto().sdk_config().await;
    let s3 = git2s3::aws::s3_client(&config);
    let cf = git2s3::aws::cloudformation_client(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let code_bucket = "report-code";
    stage_code(&s3, code_bucket).await;
    let (_dir, path) = config_file(&format!(
        "stack_name: rep\nmethod: zip-download\nprovider: gitlab\nbucket:\n  name: rep-zips\n\
         lambda:\n  code_bucket: {code_bucket}\n  code_key: git2s3/bootstrap.zip\n\
         pipeline:\n  repo: acme/api\n  branch: main\n"
    ));
    let stack = "rep-acme-api-main";
    create_pipeline_stack(&cf, stack, &path).await;
    let (status, outputs) = settle(&cf, stack).await.expect("stack exists");
    assert_eq!(status, StackStatus::CreateComplete);
    assert_eq!(
        outputs["ReporterLogGroupName"],
        format!("/git2s3/{stack}/report")
    );
    let resources = cf
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    let resource = |id: &str| {
        resources
            .stack_resources()
            .iter()
            .find(|r| r.logical_resource_id() == Some(id))
            .unwrap_or_else(|| panic!("no {id}"))
            .clone()
    };
    let physical = |id: &str| resource(id).physical_resource_id().unwrap().to_string();
    let function = lambda
        .get_function_configuration()
        .function_name(physical("ReporterFunction"))
        .send()
        .await
        .unwrap();
    let env = function.environment().unwrap().variables().unwrap();
    assert_eq!(env["GIT2S3_ROLE"], "report");
    assert_eq!(env["GIT2S3_PROVIDER"], "gitlab");
    assert_eq!(env["GIT2S3_SOURCE_BUCKET"], "rep-zips");
    assert_eq!(env["GIT2S3_SOURCE_KEY"], "acme/api/main/acme_api.zip");
    assert_eq!(
        env["GIT2S3_STATUS_TOKEN_SECRET_ID"],
        "git2s3/rep/status-token"
    );
    assert_eq!(
        resource("ReportOnRunChanges").resource_type(),
        Some("AWS::Events::Rule")
    );
    assert_eq!(
        resource("ReportPermission").resource_type(),
        Some("AWS::Lambda::Permission")
    );

    cf.delete_stack().stack_name(stack).send().await.unwrap();
    if let Some((status, _)) = settle(&cf, stack).await {
        assert_eq!(status, StackStatus::DeleteComplete);
    }
}
