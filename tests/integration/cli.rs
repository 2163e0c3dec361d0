//! The command line itself: the values a flag takes are listed in
//! `--help`, and a bad one is refused naming the flag and its values.

use crate::util::git2s3;

#[test]
fn init_help_lists_the_values_of_provider_method_and_architecture() {
    let help = git2s3().args(["init", "--help"]).stdout();
    // As one line: clap wraps long lists.
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for values in [
        "github, github-enterprise, gitlab, bitbucket, bitbucket-server, gitea, forgejo, generic",
        "git-pull",
        "zip-download",
        "x86_64, arm64",
    ] {
        assert!(help.contains(values), "init --help lacks {values}:\n{help}");
    }
}

#[test]
fn a_bad_value_names_its_flag_and_the_values_it_takes() {
    for (flag, bad, values) in [
        ("--method", "foo", "git-pull, zip-download"),
        (
            "--provider",
            "gogs",
            "bitbucket-server, gitea, forgejo, generic",
        ),
        ("--architecture", "sparc", "x86_64, arm64"),
    ] {
        let err = git2s3().args(["init", flag, bad]).fails();
        assert!(
            err.contains(&format!("'{bad}'")) && err.contains(flag) && err.contains(values),
            "{flag} {bad}: {err}"
        );
    }
}

/// One name for one thing: the hook takes the repository directory as
/// --git-dir and the webhook as --webhook-url, as every other command
/// does; the old --repo and --url (which installed hooks still run with)
/// keep working for one release, with a warning, and are not in --help.
#[test]
fn the_hooks_old_flag_names_still_work_and_say_the_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("api.git");
    let init = std::process::Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&bare)
        .status()
        .unwrap();
    assert!(init.success());
    let url = "http://127.0.0.1:9/gitpull";
    let new = git2s3()
        .args([
            "hook",
            "print",
            "--git-dir",
            bare.to_str().unwrap(),
            "--webhook-url",
            url,
        ])
        .output();
    assert!(
        new.status.success(),
        "{}",
        String::from_utf8_lossy(&new.stderr)
    );
    let script = String::from_utf8(new.stdout).unwrap();
    assert!(
        script.contains(&format!("--webhook-url '{url}'")),
        "{script}"
    );
    assert!(
        new.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&new.stderr)
    );

    let old = git2s3()
        .args([
            "hook",
            "print",
            "--repo",
            bare.to_str().unwrap(),
            "--url",
            url,
        ])
        .output();
    assert!(old.status.success());
    assert_eq!(String::from_utf8(old.stdout).unwrap(), script);
    let warned = String::from_utf8(old.stderr).unwrap();
    assert!(
        warned.contains("--repo is now --git-dir") && warned.contains("--url is now --webhook-url"),
        "{warned}"
    );

    let help = git2s3().args(["hook", "install", "--help"]).stdout();
    assert!(
        help.contains("--git-dir") && help.contains("--webhook-url"),
        "{help}"
    );
    assert!(
        !help.contains("--repo ") && !help.contains("--url "),
        "{help}"
    );
    let help = git2s3().args(["unregister-webhook", "--help"]).stdout();
    assert!(
        help.contains("Also remove the deploy key") && !help.contains("Also add"),
        "{help}"
    );
}

/// Discoverable: completions for every shell clap knows, man pages for
/// every subcommand, and each subcommand's help ending with examples and
/// listing the global flags apart from its own.
#[test]
fn completions_man_pages_and_examples_come_from_the_one_definition() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = git2s3().args(["completions", shell]).stdout();
        assert!(
            script.contains("git2s3") && script.contains("update-stack"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = git2s3()
        .args([std::ffi::OsStr::new("man"), dir.path().as_os_str()])
        .output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let commands = [
        "render",
        "serve",
        "init",
        "update-stack",
        "status",
        "register-webhook",
        "unregister-webhook",
        "destroy",
        "verify",
        "hook",
        "logs",
        "redrive",
        "completions",
        "man",
    ];
    for page in
        std::iter::once("git2s3".to_string()).chain(commands.iter().map(|c| format!("git2s3-{c}")))
    {
        let path = dir.path().join(format!("{page}.1"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("no {}", path.display()));
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
    for command in commands {
        let help = git2s3().args([command, "--help"]).stdout();
        assert!(
            help.contains("\nExamples:\n  "),
            "{command} --help has no examples:\n{help}"
        );
        assert!(
            help.contains("Global options:"),
            "{command} --help mixes global flags in:\n{help}"
        );
    }
}

/// A region that is not a region name, and an endpoint where nothing
/// listens, are each one line that names the fix; the SDK's detail is
/// behind `-v`.
#[test]
fn a_bad_region_or_a_dead_endpoint_is_one_line_with_the_fix() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let run = |args: &[&str]| {
        git2s3()
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .args(args)
            .args(["status"])
            .fails()
    };
    let bad = run(&["--region", "eu west 1"]);
    assert_eq!(
        bad.trim_end(),
        "error: `eu west 1` is not an AWS region name such as eu-west-1: check --region, \
         `region` in git2s3.yaml, AWS_REGION and your AWS profile"
    );
    let refused = run(&["--region", "eu-west-1", "--endpoint-url", &endpoint]);
    assert_eq!(refused.lines().count(), 1, "{refused}");
    assert!(
        refused.contains("nothing is listening at the endpoint (connection refused)")
            && refused.contains("--endpoint-url"),
        "{refused}"
    );
    let detailed = run(&["-v", "--region", "eu-west-1", "--endpoint-url", &endpoint]);
    assert!(detailed.contains("DispatchFailure"), "{detailed}");
}
