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
    MOTO.get_or_init(start)
}

fn start() -> Moto {
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
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"));
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
