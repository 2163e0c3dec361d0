//! The GitHub client against GitHub's own API description: Prism serves
//! `@octokit/openapi`'s `api.github.com.json` and validates every request
//! (method, path, query, headers, body) against it, answering 422 with an
//! `sl-violations` header when one does not conform, which fails the
//! command and so the test. Prism answers with the description's
//! examples, so the runs below use its example hook URL and key where a
//! call (PATCH, DELETE) needs an existing one.
//!
//! Prism takes about 20 s and 300 MB to start, so it starts once per run.

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::register::{key_file, HOOK_URL, SECRET};
use crate::util::{git2s3, repo_root, wait_for_port};

/// The hook URL and deploy key in the description's examples.
const EXAMPLE_HOOK_URL: &str = "https://example.com/webhook";
const EXAMPLE_KEY: &str = "ssh-rsa AAA...";
const EXAMPLE_ORG_HOOK_URL: &str = "http://example.com";

pub struct Prism {
    pub url: String,
    _watchdog: Child,
}

pub fn prism() -> &'static Prism {
    static PRISM: OnceLock<Prism> = OnceLock::new();
    PRISM.get_or_init(|| {
        let tools = repo_root().join("tools/node_modules");
        let bin = tools.join(".bin/prism");
        let spec = tools.join("@octokit/openapi/generated/api.github.com.json");
        assert!(
            bin.exists() && spec.exists(),
            "Prism or the OpenAPI description is missing: run scripts/setup.sh"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!("git2s3-prism-{port}.log"));
        let script = format!(
            "\"$0\" mock -h 127.0.0.1 -p {port} \"$1\" >{log} 2>&1 & p=$!; \
             while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $p",
            log = log.display(),
            parent = std::process::id(),
        );
        let watchdog = Command::new("sh")
            .args(["-c", &script])
            .arg(&bin)
            .arg(&spec)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prism");
        wait_for_port(port, "prism", || {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
        Prism {
            url: format!("http://127.0.0.1:{port}"),
            _watchdog: watchdog,
        }
    })
}

/// `git2s3 <args>` against Prism, with a key file holding `key`.
fn run(args: &[&str], hook_url: &str, key: &str) -> String {
    let file = key_file();
    std::fs::write(file.path(), key).unwrap();
    git2s3()
        .env("GIT2S3_WEBHOOK_SECRET", SECRET)
        .env("GITHUB_TOKEN", "ghp_notARealToken")
        .args(args)
        .args([
            "--yes",
            "--provider",
            "github",
            "--api-url",
            &prism().url,
            "--webhook-url",
            hook_url,
        ])
        .args([
            std::ffi::OsStr::new("--public-key"),
            file.path().as_os_str(),
        ])
        .stdout()
}

#[test]
fn every_github_request_conforms_to_githubs_api_description() {
    let key = crate::register::KEY;
    // A new hook and key: list, create, ping; list keys, add one.
    let out = run(
        &[
            "register-webhook",
            "--repo",
            "octocat/hello-world",
            "--deploy-key",
        ],
        HOOK_URL,
        key,
    );
    assert!(out.contains("hook octocat/hello-world: created"), "{out}");
    assert!(
        out.contains("deploy key octocat/hello-world: created"),
        "{out}"
    );

    // The existing hook (the example's URL): update and ping; the example key is there.
    let out = run(
        &[
            "register-webhook",
            "--repo",
            "octocat/hello-world",
            "--deploy-key",
        ],
        EXAMPLE_HOOK_URL,
        EXAMPLE_KEY,
    );
    assert!(out.contains("hook octocat/hello-world: updated"), "{out}");
    assert!(
        out.contains("deploy key octocat/hello-world: already there"),
        "{out}"
    );

    // An organization hook.
    let out = run(&["register-webhook", "--org", "octo-org"], HOOK_URL, key);
    assert!(
        out.contains("hook octo-org (whole organization): created"),
        "{out}"
    );

    // The delivery log that `status` reads.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let api = git2s3::register::client(
        git2s3_lambda::Provider::Github,
        Some(&prism().url),
        "ghp_notARealToken",
    )
    .unwrap();
    let target = git2s3::register::Target::Repo("octocat/hello-world".into());
    let last = rt
        .block_on(api.last_delivery(&target, "12345678"))
        .expect("GET …/deliveries conforms");
    assert!(last.is_some_and(|d| d.status_code > 0));

    // The branch head a test push announces: the repository, then its branch.
    let head = rt
        .block_on(api.head("octocat/hello-world", None))
        .expect("GET /repos/… and …/branches/… conform");
    assert!(
        head.commit.len() >= 40 && !head.branch.is_empty(),
        "{head:?}"
    );

    // Removal: the example hook and key are deleted; nothing else is.
    let out = run(
        &[
            "unregister-webhook",
            "--repo",
            "octocat/hello-world",
            "--deploy-key",
        ],
        EXAMPLE_HOOK_URL,
        EXAMPLE_KEY,
    );
    assert!(out.contains("hook octocat/hello-world: removed"), "{out}");
    assert!(
        out.contains("deploy key octocat/hello-world: removed"),
        "{out}"
    );
    let out = run(
        &["unregister-webhook", "--org", "octo-org"],
        EXAMPLE_ORG_HOOK_URL,
        key,
    );
    assert!(
        out.contains("hook octo-org (whole organization): removed"),
        "{out}"
    );
}
