//! The `init` wizard through a real pseudo-terminal (rexpect): the real
//! binary, answering its prompts as a person would, against moto and a
//! local mock of GitHub's API.

use std::time::Duration;

use rexpect::session::PtySession;
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::deploy::{architecture, lambda_zip, Install};
use crate::moto::moto;

/// `git2s3 init EXTRA…` on a pseudo-terminal, as a person at a terminal
/// runs it: no CI variable, no token in the environment, a fresh HOME.
fn spawn(
    install: &Install,
    home: &std::path::Path,
    extra: &[&str],
) -> (PtySession, tempfile::TempDir) {
    let (mut cmd, scratch) = install
        .run(["init", "--lambda-zip"])
        .args([lambda_zip().as_os_str()])
        .args(["--architecture", architecture()])
        .args(extra)
        .into_command();
    cmd.env_remove("CI")
        .env_remove("GITHUB_TOKEN")
        .env("HOME", home)
        .env("TERM", "xterm")
        .env("CLICOLOR", "0")
        .env("NO_COLOR", "1");
    let session =
        rexpect::session::spawn_command(cmd, Some(60_000)).expect("spawn git2s3 on a pty");
    (session, scratch)
}

thread_local! {
    /// Everything the wizard showed, for `target/tmp/wizard-session.txt`
    /// (docs/wizard.md's captures come from it).
    static TRANSCRIPT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Waits for `text` (ASCII: rexpect reads bytes as Latin-1), then a moment more, so the prompt is reading keys
/// (dialoguer switches the terminal to raw mode after drawing it).
fn expect(p: &mut PtySession, text: &str) -> String {
    let seen = p
        .exp_string(text)
        .unwrap_or_else(|e| panic!("waiting for `{text}`: {e}"));
    std::thread::sleep(Duration::from_millis(300));
    TRANSCRIPT.with_borrow_mut(|t| {
        t.push_str(&seen);
        t.push_str(text);
    });
    seen
}

/// The text as UTF-8 (rexpect hands over bytes as Latin-1), without
/// terminal escape sequences (colours, cursor moves).
fn plain(text: &str) -> String {
    let bytes: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
    let text = String::from_utf8_lossy(&bytes);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            '\u{1b}' => {
                chars.next();
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Types `text`, then Enter (rexpect buffers what it sends until a flush).
fn answer(p: &mut PtySession, text: &str) {
    p.send(text).unwrap();
    p.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    p.send("\r").unwrap();
    p.flush().unwrap();
}

async fn github() -> MockServer {
    let server = MockServer::start().await;
    let ok = |m: &str, p: &str, status: u16, body: Value| {
        Mock::given(method(m))
            .and(path(p.to_string()))
            .and(header("authorization", "Bearer good-token"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
    };
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(header("authorization", "Bearer bad-token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .and(header("authorization", "Bearer good-token"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-oauth-scopes", "admin:repo_hook, repo")
                .set_body_json(json!({"login": "octocat", "id": 1, "type": "User"})),
        )
        .mount(&server)
        .await;
    ok(
        "GET",
        "/orgs/acme/repos",
        200,
        json!([{"full_name": "acme/api"}, {"full_name": "acme/web"}]),
    )
    .mount(&server)
    .await;
    ok("GET", "/repos/acme/api/hooks", 200, json!([]))
        .mount(&server)
        .await;
    ok(
        "POST",
        "/repos/acme/api/hooks",
        201,
        json!({"id": 7, "config": {}}),
    )
    .expect(1)
    .mount(&server)
    .await;
    ok("POST", "/repos/acme/api/hooks/7/pings", 204, Value::Null)
        .mount(&server)
        .await;
    ok(
        "GET",
        "/repos/acme/api",
        200,
        json!({"full_name": "acme/api", "default_branch": "main", "ssh_url": "git@github.com:acme/api.git"}),
    )
    .mount(&server)
    .await;
    ok(
        "GET",
        "/repos/acme/api/branches/main",
        200,
        json!({"name": "main", "commit": {"sha": "7638417db6d59f3c431d3e1f261cc637155684cd"}}),
    )
    .mount(&server)
    .await;
    ok("GET", "/repos/acme/api/keys", 200, json!([]))
        .mount(&server)
        .await;
    ok("POST", "/repos/acme/api/keys", 201, json!({"id": 3}))
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wizard_asks_each_screen_and_deploys() {
    let moto = moto();
    let install = Install::new(moto);
    let github = github().await;
    let home = tempfile::tempdir().unwrap();
    let api = github.uri();
    let capture = tokio::task::block_in_place(|| {
        let (mut p, _scratch) = spawn(&install, home.path(), &["--api-url", &api]);
        expect(&mut p, "AWS region (type to search)");
        answer(&mut p, "us-east-1");
        expect(&mut p, "account 123456789012");
        expect(&mut p, "Where do your repositories live?");
        answer(&mut p, ""); // GitHub Enterprise Server, at --api-url
        expect(&mut p, "API token (hidden");
        answer(&mut p, "bad-token");
        expect(
            &mut p,
            "GitHub answered 401 for GET /user: the token is invalid or expired",
        );
        expect(&mut p, "API token (hidden");
        answer(&mut p, "good-token");
        expect(&mut p, "token of octocat; scopes: admin:repo_hook, repo");
        expect(&mut p, "Connect");
        answer(&mut p, ""); // repositories from a list
        expect(&mut p, "List the repositories of");
        answer(&mut p, "acme");
        expect(&mut p, "Add a repository (type to search)");
        answer(&mut p, "api");
        expect(&mut p, "Add another, or pick");
        answer(&mut p, ""); // done
        expect(&mut p, "Method");
        answer(&mut p, ""); // git pull
        expect(&mut p, "Build these branches and tags");
        answer(&mut p, "main, release/*");
        expect(&mut p, "Never build these");
        answer(&mut p, "");
        expect(&mut p, "Only when these paths change");
        answer(&mut p, "");
        expect(&mut p, "Stack name");
        answer(&mut p, "wizstack");
        expect(&mut p, "Output bucket name");
        answer(&mut p, "Bad_Bucket");
        expect(
            &mut p,
            "use only lower-case letters, digits, dots and hyphens",
        );
        expect(&mut p, "Output bucket name");
        // Clear what was typed, then a good name.
        answer(&mut p, &format!("{}wizard-zips-e2e", "\x7f".repeat(12)));
        expect(&mut p, "s3://wizard-zips-e2e is available");
        expect(&mut p, "Days to keep replaced zips");
        answer(&mut p, "");
        expect(&mut p, "Also create a pipeline?");
        answer(&mut p, "\x1b[B"); // yes
        expect(&mut p, "Branch");
        answer(&mut p, ""); // main
                            // Git pull: build status defaults to no; yes takes the token typed above.
        expect(
            &mut p,
            "Show each run's state on the commit in github-enterprise?",
        );
        answer(&mut p, "\x1b[A"); // yes
        expect(&mut p, "will create:");
        expect(&mut p, "cost:");
        expect(&mut p, "Deploy now?");
        p.send("y").unwrap();
        p.flush().unwrap();
        let out = expect(&mut p, "git2s3 is deployed");
        let rest = p.exp_eof().unwrap();
        TRANSCRIPT.with_borrow_mut(|t| {
            t.push_str(&rest);
            let session =
                std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wizard-session.txt");
            std::fs::write(&session, plain(t)).unwrap();
        });
        format!("{out}{rest}")
    });
    assert!(
        capture.contains("deploy key on acme/api: created"),
        "{capture}"
    );
    // Step 10: the test push. moto's API Gateway URL answers nothing, and
    // the wizard says which check failed and what to do.
    for line in [
        "ok     head              acme/api main is at 7638417db6d5 (GitHub's API)",
        "FAILED receiver          no answer from https://",
        "the `receiver` check failed",
        "Next: fix what the failed check names, then run `git2s3 verify`",
        // Build status is on: the stored token may set commit statuses.
        "ok     status token      token of octocat; scopes: admin:repo_hook, repo",
    ] {
        assert!(capture.contains(line), "no `{line}` in:\n{capture}");
    }

    let config = std::fs::read_to_string(install.config()).unwrap();
    for line in [
        "stack_name: wizstack",
        "- acme/api",
        "name: wizard-zips-e2e",
        "- release/*",
        "provider: github-enterprise",
        "report_status: true",
    ] {
        assert!(
            config.contains(line),
            "git2s3.yaml lacks `{line}`:\n{config}"
        );
    }
    assert!(
        !config.contains("good-token"),
        "the token was written to git2s3.yaml"
    );
    let cf = aws_sdk_cloudformation::Client::new(&moto.sdk_config().await);
    let stack = cf
        .describe_stacks()
        .stack_name("wizstack")
        .send()
        .await
        .unwrap();
    assert_eq!(
        stack.stacks()[0].stack_status().unwrap().as_str(),
        "CREATE_COMPLETE"
    );
    let hooks: Vec<_> = github
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/repos/acme/api/hooks")
        .collect();
    assert_eq!(hooks.len(), 1, "the hook was registered once");
    // The token typed in the wizard is the pipeline's commit status token.
    assert_eq!(
        crate::deploy::secret(moto, "git2s3/wizstack/status-token")
            .await
            .as_deref(),
        Some("good-token")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_at_a_prompt_creates_nothing() {
    let moto = moto();
    let install = Install::new(moto);
    let home = tempfile::tempdir().unwrap();
    tokio::task::block_in_place(|| {
        let (mut p, _scratch) = spawn(
            &install,
            home.path(),
            &["--stack-name", "ctrlc-stack", "--region", "us-east-1"],
        );
        expect(&mut p, "Where do your repositories live?");
        p.send_control('c').unwrap();
        expect(&mut p, "interrupted: nothing was created");
        p.exp_eof().unwrap();
    });
    assert!(!install.config().exists(), "git2s3.yaml was written");
    let cf = aws_sdk_cloudformation::Client::new(&moto.sdk_config().await);
    assert!(
        cf.describe_stacks()
            .stack_name("ctrlc-stack")
            .send()
            .await
            .is_err(),
        "a stack was created"
    );
    let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    assert!(
        sm.describe_secret()
            .secret_id("git2s3/ctrlc-stack/webhook-secret")
            .send()
            .await
            .is_err(),
        "a secret was created"
    );
}
