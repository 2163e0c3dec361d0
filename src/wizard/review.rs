//! Screen 9: the review: every answer, what will be created, and the idle cost.

use git2s3_lambda::Provider;

use super::estimate;
use super::ui::{say, targets_line};
use crate::settings::{Method, Settings};

pub fn review(settings: &Settings) {
    let none = |v: &[String], empty: &str| {
        if v.is_empty() {
            empty.to_string()
        } else {
            v.join(", ")
        }
    };
    say(format!(
        "region:      {}",
        settings.region.as_deref().unwrap_or("-")
    ));
    say(format!(
        "provider:    {}{}",
        settings.provider,
        settings
            .api_url
            .as_deref()
            .map(|u| format!(" at {u}"))
            .unwrap_or_default()
    ));
    say(format!("connect:     {}", targets_line(settings)));
    say(format!("method:      {}", settings.method.as_str()));
    say(format!(
        "refs:        {}; except {}",
        none(&settings.filters.include_refs, "all"),
        none(&settings.filters.exclude_refs, "none")
    ));
    say(format!(
        "paths:       {}",
        none(&settings.filters.include_paths, "any")
    ));
    say(format!("stack:       {}", settings.stack_name));
    say(format!(
        "bucket:      {}, old versions kept {} days",
        settings
            .bucket
            .name
            .as_deref()
            .unwrap_or("(named by CloudFormation)"),
        settings.bucket.noncurrent_version_days
    ));
    say(format!(
        "pipeline:    {}",
        settings
            .pipeline
            .as_ref()
            .map(|p| format!("{} {}", p.repo, p.branch))
            .unwrap_or_else(|| "none".into())
    ));
    eprintln!();
    say("will create:");
    for (kind, n) in estimate::resources(settings) {
        say(format!("  {n} × {kind}"));
    }
    say(format!(
        "  {} secret(s) in Secrets Manager, the Lambda zip in s3://git2s3-artifacts-ACCOUNT-REGION",
        estimate::secrets(settings)
    ));
    if settings.provider != Provider::Generic {
        say(format!(
            "  a webhook{} on {}",
            if settings.method == Method::GitPull {
                " and a read-only deploy key"
            } else {
                ""
            },
            settings.provider
        ));
    }
    say(format!("cost:        {}", estimate::idle_cost(settings)));
}
