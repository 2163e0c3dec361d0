//! moto's server (`moto_server`, from the venv that scripts/setup.sh
//! makes), on a free loopback port, started once for the whole test binary.
//!
//! The server runs under a small shell watchdog that stops it when this
//! test process exits, so no moto outlives the run.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::config::Credentials;
use git2s3::aws::AwsOptions;

use crate::util::repo_root;

pub const REGION: &str = "us-east-1";

pub struct Moto {
    pub endpoint: String,
    // The watchdog shell; it ends, and stops moto, when this process exits.
    _watchdog: Child,
}

/// The shared moto server.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| start(&[]))
}

/// A second moto server that enforces IAM: after the first `free_calls`
/// requests (which set up users), every request must be signed by a known
/// access key and allowed by that user's policies.
pub fn start_with_iam(free_calls: usize) -> Moto {
    start(&[("INITIAL_NO_AUTH_ACTION_COUNT", free_calls.to_string())])
}

fn start(env: &[(&str, String)]) -> Moto {
    let server = repo_root().join(".venv/bin/moto_server");
    assert!(
        server.exists(),
        "{} is missing: run scripts/setup.sh, which installs moto into .venv/",
        server.display()
    );
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().unwrap().port()
    };
    let log = std::env::temp_dir().join(format!("git2s3-moto-{port}.log"));
    let script = format!(
        "\"$0\" -H 127.0.0.1 -p {port} >{log} 2>&1 & moto=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $moto",
        log = log.display(),
        parent = std::process::id(),
    );
    let watchdog = Command::new("sh")
        .args(["-c", &script])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg(&server)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    crate::util::wait_for_port(port, "moto_server", || {
        std::fs::read_to_string(&log).unwrap_or_default()
    });
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        _watchdog: watchdog,
    }
}

impl Moto {
    /// An SDK configuration for moto, built by git2s3's own code, with
    /// moto's test credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_as("testing", "testing").await
    }

    /// The same, signed with another access key.
    pub async fn sdk_config_as(&self, key: &str, secret: &str) -> SdkConfig {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new(key, secret, None, None, "moto"));
        git2s3::aws::sdk_config_from(
            loader,
            &AwsOptions {
                profile: None,
                region: Some(REGION.into()),
                endpoint_url: Some(self.endpoint.clone()),
            },
        )
        .await
    }
}

/// Creates a bucket with versioning on.
pub async fn versioned_bucket(s3: &aws_sdk_s3::Client, name: &str) {
    s3.create_bucket().bucket(name).send().await.unwrap();
    enable_versioning(s3, name).await;
}

/// Turns versioning on, which moto does not do for a template's
/// VersioningConfiguration.
pub async fn enable_versioning(s3: &aws_sdk_s3::Client, name: &str) {
    s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// A new SQS FIFO queue `name` (ending in `.fifo`); its URL.
pub async fn fifo_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string()
}
