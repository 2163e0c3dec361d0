//! Tests of the configuration merge, its error messages and its rules.

use super::*;
use serde_yaml::Value;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

fn load_with(
    file: Option<&str>,
    env: &[(&str, &str)],
    overrides: &Overrides,
) -> Result<Settings, ConfigError> {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    if let Some(text) = file {
        tmp.as_file().write_all(text.as_bytes()).unwrap();
    }
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| env.get(k).cloned();
    load(&Sources {
        creating: false,
        config_file: file.map(|_| tmp.path()),
        env: &lookup,
        overrides,
    })
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let s = load_with(None, &[], &Overrides::new()).unwrap();
    assert_eq!(s, Settings::default());
    assert_eq!(s.webhook_secret_id(), "git2s3/git2s3/webhook-secret");
}

#[test]
fn each_layer_overrides_the_one_below() {
    let file = "stack_name: from-file\nbucket:\n  name: file-bucket\n  noncurrent_version_days: 7\nrepos: [acme/api]\n";
    let only_file = load_with(Some(file), &[], &Overrides::new()).unwrap();
    assert_eq!(only_file.stack_name, "from-file");
    assert_eq!(only_file.bucket.name.as_deref(), Some("file-bucket"));

    let env = [
        ("GIT2S3_STACK_NAME", "from-env"),
        ("GIT2S3_REPOS", "a/b, c/d"),
    ];
    let with_env = load_with(Some(file), &env, &Overrides::new()).unwrap();
    assert_eq!(with_env.stack_name, "from-env");
    assert_eq!(with_env.repos, vec!["a/b", "c/d"]);
    // Merging is per key: the file's other bucket value survives.
    assert_eq!(with_env.bucket.name.as_deref(), Some("file-bucket"));
    assert_eq!(with_env.bucket.noncurrent_version_days, 7);

    let flags = Overrides::from([
        ("stack_name", Value::from("from-flag")),
        ("bucket.name", Value::from("flag-bucket")),
    ]);
    let with_flags = load_with(Some(file), &env, &flags).unwrap();
    assert_eq!(with_flags.stack_name, "from-flag");
    assert_eq!(with_flags.bucket.name.as_deref(), Some("flag-bucket"));
    assert_eq!(with_flags.bucket.noncurrent_version_days, 7);
    assert_eq!(with_flags.repos, vec!["a/b", "c/d"]);
}

#[test]
fn unknown_top_level_key_names_the_nearest_valid_one_and_its_line() {
    let err = load_with(
        Some("stack_name: a\nstack_nmae: b\n"),
        &[],
        &Overrides::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown key `stack_nmae`"), "{err}");
    assert!(err.contains("did you mean `stack_name`?"), "{err}");
    assert!(err.contains(":2:"), "{err}");
}

#[test]
fn unknown_nested_key_names_its_full_path() {
    let err = load_with(Some("bucket:\n  nmae: x\n"), &[], &Overrides::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown key `bucket.nmae`"), "{err}");
    assert!(err.contains("did you mean `bucket.name`?"), "{err}");
}

#[test]
fn unknown_key_far_from_any_valid_one_lists_the_valid_ones() {
    let err = load_with(Some("zzzzzzzzzz: 1\n"), &[], &Overrides::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("valid keys here are"), "{err}");
    assert!(err.contains("`stack_name`"), "{err}");
}

#[test]
fn a_named_config_file_that_is_missing_is_an_error() {
    let lookup = |_: &str| None;
    let err = load(&Sources {
        creating: false,
        config_file: Some(Path::new("/nonexistent/git2s3.yaml")),
        env: &lookup,
        overrides: &Overrides::new(),
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("git2s3 init"));
}

#[test]
fn bad_env_values_name_the_variable() {
    let err = load_with(
        None,
        &[("GIT2S3_NONCURRENT_VERSION_DAYS", "ten")],
        &Overrides::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("GIT2S3_NONCURRENT_VERSION_DAYS") && err.contains("`ten`"),
        "{err}"
    );
}

#[test]
fn secret_variables_are_not_configuration() {
    let env = [
        ("GIT2S3_WEBHOOK_SECRET", "s3cr3t"),
        ("GIT2S3_GIT_TOKEN", "t0k3n"),
    ];
    let s = load_with(None, &env, &Overrides::new()).unwrap();
    let yaml = serde_yaml::to_string(&s).unwrap();
    assert!(!yaml.contains("s3cr3t") && !yaml.contains("t0k3n"));
    assert!(ENV_VARS
        .iter()
        .all(|(v, _, _)| !v.contains("SECRET") && !v.contains("TOKEN")));
}

#[test]
fn invalid_values_name_their_key() {
    let cases = [
        ("stack_name: 1abc\n", "stack_name"),
        ("bucket:\n  name: Bad_Bucket\n", "bucket.name"),
        ("repos: [noslash]\n", "repos"),
        ("provider: github-enterprise\n", "api_url"),
        ("api_url: http://ghe.example.com/api/v3\n", "api_url"),
        ("provider: generic\nmethod: zip-download\n", "method"),
        ("auth:\n  allowed_ips: [10.0.0.0/33]\n", "auth.allowed_ips"),
        (
            "auth:\n  secrets:\n    webhook: \"\"\n",
            "auth.secrets.webhook",
        ),
        (
            "lambda:\n  worker_timeout_seconds: 901\n",
            "lambda.worker_timeout_seconds",
        ),
        ("logs:\n  retention_days: 2\n", "logs.retention_days"),
        (
            "pipeline:\n  repo: acme/api\n  branch: a..b\n",
            "pipeline.branch",
        ),
        (
            "auth:\n  bitbucket_oauth_consumer: true\n",
            "auth.bitbucket_oauth_consumer",
        ),
    ];
    for (file, key) in cases {
        let err = load_with(Some(file), &[], &Overrides::new()).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { key: k, .. } if *k == key),
            "{file:?} gave {err}"
        );
    }
}

/// Attack: an IP allow list in place of a secret lets in anyone who can
/// send a webhook from the provider's shared addresses.
#[test]
fn an_empty_webhook_secret_is_refused_even_with_an_ip_allow_list() {
    let file = "auth:\n  allowed_ips: [192.0.2.0/24]\n  secrets:\n    webhook: \"\"\n";
    let err = load_with(Some(file), &[], &Overrides::new()).unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::Invalid {
                key: "auth.secrets.webhook",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("an address alone never authenticates"),
        "{err}"
    );
}

#[test]
fn bucket_names_follow_s3_rules() {
    for good in ["abc", "my-bucket.v2", "a1b2c3", &"a".repeat(63)] {
        assert!(validate_bucket_name(good).is_ok(), "{good}");
    }
    for bad in [
        "ab",
        "Abc",
        "a_b",
        "-abc",
        "abc-",
        "a..b",
        "a.-b",
        "192.168.1.1",
        "xn--abc",
        "abc-s3alias",
        &"a".repeat(64),
    ] {
        assert!(validate_bucket_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn settings_round_trip_through_yaml() {
    let s = Settings {
        repos: vec!["acme/api".into()],
        pipeline: Some(PipelineSettings::new("acme/api", "main")),
        ..Settings::default()
    };
    let yaml = serde_yaml::to_string(&s).unwrap();
    assert_eq!(serde_yaml::from_str::<Settings>(&yaml).unwrap(), s);
}

#[test]
fn a_saved_file_loads_back_the_same_settings() {
    let s = Settings {
        stack_name: "demo".into(),
        repos: vec!["acme/api".into()],
        method: Method::ZipDownload,
        lambda: LambdaSettings {
            code_bucket: Some("git2s3-artifacts-123456789012-eu-west-1".into()),
            code_key: Some("lambda/abc/bootstrap.zip".into()),
            code_version: Some("v1".into()),
            ..LambdaSettings::default()
        },
        ..Settings::default()
    };
    let text = render_file(&s);
    assert!(text.starts_with("# git2s3 configuration"), "{text}");
    assert_eq!(load_with(Some(&text), &[], &Overrides::new()).unwrap(), s);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("git2s3.yaml");
    save(&path, &s).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn only_default_named_secrets_are_owned() {
    let mut s = Settings {
        stack_name: "demo".into(),
        ..Settings::default()
    };
    assert_eq!(
        s.owned_secret_ids(),
        [
            "git2s3/demo/webhook-secret",
            "git2s3/demo/ssh-deploy-key",
            "git2s3/demo/git-token",
            "git2s3/demo/bitbucket-oauth-consumer",
            "git2s3/demo/status-token"
        ]
    );
    s.auth.secrets.webhook = Some("team/shared-webhook-secret".into());
    assert!(!s
        .owned_secret_ids()
        .contains(&"team/shared-webhook-secret".to_string()));
    assert_eq!(s.owned_secret_ids().len(), 4);
}

#[test]
fn an_invalid_value_names_the_flag_variable_or_file_that_set_it() {
    let mut flags = Overrides::new();
    set_flag(&mut flags, "--stack-name", Some(&"bad name!".to_string()));
    let file = "stack_name: also-bad!\n";
    let by_flag = load_with(Some(file), &[("GIT2S3_STACK_NAME", "x y")], &flags).unwrap_err();
    assert!(
        by_flag
            .to_string()
            .starts_with("stack_name (set by --stack-name): `bad name!`"),
        "{by_flag}"
    );
    let by_env = load_with(
        Some(file),
        &[("GIT2S3_STACK_NAME", "x y")],
        &Overrides::new(),
    )
    .unwrap_err();
    assert!(
        by_env
            .to_string()
            .starts_with("stack_name (set by GIT2S3_STACK_NAME): `x y`"),
        "{by_env}"
    );
    let by_file = load_with(Some(file), &[], &Overrides::new()).unwrap_err();
    assert!(
        by_file.to_string().contains("stack_name (set by /")
            && by_file.to_string().contains("also-bad!"),
        "{by_file}"
    );
    // A value of the wrong shape names its key too, not "configuration".
    let by_type = load_with(None, &[("GIT2S3_METHOD", "ftp")], &Overrides::new()).unwrap_err();
    assert!(
        by_type
            .to_string()
            .starts_with("method (set by GIT2S3_METHOD): unknown variant `ftp`"),
        "{by_type}"
    );
}
