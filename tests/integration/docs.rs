//! Keeps docs/configuration.md true: every configuration key and every
//! `GIT2S3_*` variable the code reads is documented there.

use git2s3::settings::{PipelineSettings, SecretIds, Settings, ENV_VARS};
use serde_yaml::Value;

use crate::util::repo_root;

fn doc() -> String {
    std::fs::read_to_string(repo_root().join("docs/configuration.md")).unwrap()
}

/// Every dotted key of a fully populated configuration.
fn all_keys() -> Vec<String> {
    let mut s = Settings {
        region: Some("r".into()),
        api_url: Some("https://x".into()),
        org: Some("o".into()),
        pipeline: Some(PipelineSettings {
            repo: "a/b".into(),
            branch: "main".into(),
            stack_name: Some("s".into()),
            build_image: Some("i".into()),
            buildspec: Some("ci/buildspec.yml".into()),
            report_status: Some(true),
        }),
        pipelines: vec![PipelineSettings::new("a/c", "main")],
        ..Settings::default()
    };
    s.bucket.name = Some("b".into());
    s.lambda.code_bucket = Some("b".into());
    s.lambda.code_key = Some("k".into());
    s.lambda.code_version = Some("v".into());
    s.auth.public_ssh_key = Some("k".into());
    s.auth.secrets = SecretIds {
        webhook: Some("w".into()),
        ssh_key: Some("s".into()),
        git_token: Some("g".into()),
        oauth_consumer: Some("o".into()),
        status_token: Some("t".into()),
    };
    let mut keys = Vec::new();
    walk(&serde_yaml::to_value(&s).unwrap(), "", &mut keys);
    keys
}

fn walk(value: &Value, prefix: &str, keys: &mut Vec<String>) {
    let Value::Mapping(map) = value else { return };
    for (k, v) in map {
        let key = format!("{prefix}{}", k.as_str().unwrap());
        if v.is_mapping() {
            walk(v, &format!("{key}."), keys);
        } else {
            keys.push(key);
        }
    }
}

#[test]
fn every_configuration_key_is_documented() {
    let doc = doc();
    let missing: Vec<_> = all_keys()
        .into_iter()
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks {missing:?}"
    );
}

#[test]
fn every_environment_variable_is_documented_with_its_key() {
    let doc = doc();
    for (var, key, _) in ENV_VARS {
        let row = format!("| `{var}` | `{key}`");
        assert!(
            doc.contains(&row),
            "docs/configuration.md lacks the row {row}"
        );
    }
}

#[test]
fn every_flag_that_sets_a_key_is_documented_with_its_key() {
    let doc = doc();
    for (flag, key) in git2s3::settings::FLAGS {
        let row = doc.lines().find(|l| {
            l.starts_with(&format!("| `{flag} ")) || l.starts_with(&format!("| `{flag}`"))
        });
        match row {
            Some(row) => assert!(
                row.contains(&format!("`{key}`")),
                "docs/configuration.md documents {flag} without its key {key}: {row}"
            ),
            None if *flag == "--region" => assert!(doc.contains("`--region REGION`")),
            None => panic!("docs/configuration.md has no row for {flag}"),
        }
    }
}
