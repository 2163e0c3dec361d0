//! `--output json` as a contract (docs/json.md): every subcommand, run
//! against a stack in moto, prints exactly one JSON document on stdout (or,
//! for `logs`, one per line), whether it succeeds or fails; an absent part
//! is `null`, never a missing key; and `init` and `status` describe the
//! stack in the same shape.

use std::collections::BTreeSet;

use clap::CommandFactory;
use serde_json::Value;

use crate::deploy::{architecture, Install};
use crate::moto::moto;

/// Subcommands that print no document, and why.
const NO_DOCUMENT: &[(&str, &str)] = &[
    ("serve", "a server: it runs until stopped, and logs"),
    (
        "hook send",
        "run by the post-receive hook; it writes its log, never to the push",
    ),
];

/// Runs `git2s3 --output json ARGS` and parses stdout as one document.
fn document(install: &Install, args: &[&str]) -> (Option<i32>, Value) {
    let out = install.run(["--output", "json"]).args(args).output();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "git2s3 {args:?} printed no single JSON document ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), value)
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn every_subcommand_prints_one_json_document() {
    let moto = moto();
    let install = Install::new(moto);
    let stack = "jsonall";
    let repo = tempfile::tempdir().unwrap();
    let git_dir = repo.path().join("acme/api.git");
    std::fs::create_dir_all(&git_dir).unwrap();
    let status = std::process::Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&git_dir)
        .status()
        .unwrap();
    assert!(status.success());
    let git_dir = git_dir.to_str().unwrap().to_string();
    let man = tempfile::tempdir().unwrap();
    let man_dir = man.path().to_str().unwrap().to_string();
    let zip = crate::deploy::lambda_zip().to_str().unwrap().to_string();

    let mut ran: BTreeSet<String> = BTreeSet::new();
    let mut run = |name: &str, args: &[&str], expect: i32| -> Value {
        let (code, value) = document(&install, args);
        assert_eq!(code, Some(expect), "git2s3 {args:?}: {value}");
        if expect == 1 && value.get("error").is_some() {
            assert_eq!(
                keys(&value["error"]),
                ["hint", "kind", "message"].map(String::from).into(),
                "{value}"
            );
        }
        ran.insert(name.to_string());
        value
    };

    // logs is the one exception: one document per line, so --follow can stream.
    let logs_lines = |install: &Install| {
        let out = install
            .run(["--output", "json", "logs", "--since", "1h"])
            .stdout();
        for line in out.lines() {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        }
    };

    let failed = run("status", &["status"], 1);
    assert_eq!(failed["error"]["kind"], "config", "{failed}");
    let init = run(
        "init",
        &[
            "init",
            "--yes",
            "--stack-name",
            stack,
            "--provider",
            "generic",
            "--repo",
            "acme/api",
            "--architecture",
            architecture(),
            "--lambda-zip",
            &zip,
            "--skip-register",
        ],
        0,
    );
    // Null, not missing: parts that did not happen are there as null.
    for key in ["verified", "verify_skipped", "registered", "pipeline"] {
        assert!(init.get(key).is_some_and(Value::is_null), "{key}: {init}");
    }
    let failed = run("status", &["status", "--stack-name", "jsonabsent"], 1);
    assert_eq!(failed["error"]["kind"], "deploy", "{failed}");
    let status = run("status", &["status"], 0);
    assert_eq!(keys(&init["stack"]), keys(&status["stack"]));
    assert_eq!(init["stack"]["name"], status["stack"]["name"]);
    assert_eq!(init["stack"]["outputs"], status["stack"]["outputs"]);
    assert!(
        status.get("pipeline").is_some_and(Value::is_null),
        "{status}"
    );

    run("render", &["render"], 0);
    assert_eq!(
        run("render", &["render", "--pipeline"], 0)["template"],
        "pipeline"
    );
    assert!(run("render", &["render", "--parameters"], 0).is_array());
    let diff = run("update-stack", &["update-stack", "--diff"], 0);
    assert!(diff.is_array(), "{diff}");
    run("update-stack", &["update-stack", "--yes"], 0);
    run("register-webhook", &["register-webhook"], 0);
    run("unregister-webhook", &["unregister-webhook", "--yes"], 0);
    let hook = run(
        "hook install",
        &[
            "hook",
            "install",
            "--git-dir",
            &git_dir,
            "--name",
            "acme/api",
        ],
        0,
    );
    assert_eq!(hook["name"], "acme/api", "{hook}");
    // What to set as clone_url for the sweep: the URL with {repo} for the name.
    let ssh_url = hook["ssh_url"].as_str().unwrap();
    assert_eq!(
        hook["clone_url"]
            .as_str()
            .unwrap()
            .replace("{repo}", "acme/api"),
        ssh_url,
        "{hook}"
    );
    let print = run(
        "hook print",
        &["hook", "print", "--git-dir", &git_dir, "--name", "acme/api"],
        0,
    );
    assert!(
        print["script"].as_str().unwrap().starts_with("#!"),
        "{print}"
    );
    // moto runs no Lambda code, so the test push is never built: the
    // verdict names the check that failed, with exit 1.
    let verify = run("verify", &["verify", "--timeout", "1"], 1);
    assert_eq!(verify["ok"], false, "{verify}");
    assert!(
        verify["checks"].as_array().is_some_and(|c| !c.is_empty()),
        "{verify}"
    );
    // A plain SSH server with no clone_url cannot be swept: the report says
    // why for that repository, with exit 1.
    let sync = run("sync", &["sync", "--dry-run"], 1);
    assert!(
        sync["repos"][0]["error"]
            .as_str()
            .unwrap()
            .contains("clone_url"),
        "{sync}"
    );
    assert_eq!(sync["repos"][0]["stale"], Value::Array(Vec::new()));
    let redrive = run("redrive", &["redrive", "--yes"], 0);
    assert_eq!(redrive["moved"], Value::Array(Vec::new()));
    let rotate = run(
        "rotate webhook-secret",
        &["rotate", "webhook-secret", "--yes"],
        0,
    );
    assert!(rotate.get("next").is_some());
    run(
        "rotate deploy-key",
        &["rotate", "deploy-key", "--yes", "--continue"],
        0,
    );
    logs_lines(&install);
    let completions = run("completions", &["completions", "bash"], 0);
    assert!(completions["script"].as_str().unwrap().contains("git2s3"));
    let pages = run("man", &["man", &man_dir], 0);
    assert!(pages["pages"].as_array().unwrap().len() > 10, "{pages}");

    let destroyed = run(
        "destroy",
        &["destroy", "--yes", "--force-delete-secrets"],
        0,
    );
    assert!(destroyed.get("unregistered").is_some(), "{destroyed}");
    ran.insert("logs".into());

    // Every subcommand was run, or is named above with its reason.
    let cli = git2s3::cli::Cli::command();
    for sub in cli.get_subcommands() {
        let mut names = vec![sub.get_name().to_string()];
        if sub.has_subcommands() {
            names = sub
                .get_subcommands()
                .map(|s| format!("{} {}", sub.get_name(), s.get_name()))
                .collect();
        }
        for name in names {
            assert!(
                ran.contains(&name) || NO_DOCUMENT.iter().any(|(n, _)| *n == name),
                "`{name}` is not run with --output json here"
            );
        }
    }
}
