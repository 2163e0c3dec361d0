//! How an error ends a command: its message and causes on stderr, and
//! under `--output json` also one document on stdout,
//! `{"error": {"message", "hint", "kind"}}`, with exit 1 (docs/json.md).

use std::process::ExitCode;

use serde::Serialize;

use crate::aws::AwsError;
use crate::cli::OutputFormat;
use crate::context::NeedsYes;
use crate::deploy::DeployError;
use crate::hook::HookError;
use crate::register::RegisterError;
use crate::settings::ConfigError;
use crate::template::RenderError;

/// The JSON error document's body.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// The whole error in one line: the message, then each cause.
    pub message: String,
    /// The fix the message names, where it names one.
    pub hint: Option<String>,
    /// What kind of error, from a fixed set (docs/json.md).
    pub kind: &'static str,
}

/// The verbs a git2s3 error's fix begins with, after `: `, `. ` or `; `.
const FIX_VERBS: &[&str] = &[
    "add", "check", "create", "delete", "deploy", "fix", "give", "grant", "install", "leave",
    "pass", "pick", "refresh", "remove", "restore", "run", "set", "store", "upload", "use", "wait",
];

impl Failure {
    pub fn of(err: &anyhow::Error) -> Failure {
        let top = err.to_string();
        let message = err
            .chain()
            .skip(1)
            .fold(top.clone(), |line, cause| format!("{line}: {cause}"));
        Failure {
            hint: hint(&top),
            kind: kind(err),
            message,
        }
    }
}

/// The fix clause of a message: from the first `: `, `. ` or `; ` that a
/// fix verb follows, to the end.
fn hint(message: &str) -> Option<String> {
    let starts = message
        .match_indices([':', '.', ';'])
        .filter(|(i, _)| message[i + 1..].starts_with(' '))
        .map(|(i, _)| i + 2);
    starts
        .map(|start| &message[start..])
        .find(|rest| {
            let word = rest
                .split(|c: char| !c.is_ascii_alphabetic())
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            FIX_VERBS.contains(&word.as_str())
        })
        .map(str::to_string)
}

fn kind(err: &anyhow::Error) -> &'static str {
    fn aws(e: &AwsError) -> &'static str {
        match e {
            AwsError::NoCredentials { .. } | AwsError::BadCredentials { .. } => "aws-credentials",
            AwsError::AccessDenied { .. } => "aws-access-denied",
            AwsError::Unreachable { .. } => "aws-unreachable",
            AwsError::Service { .. } => "aws-service",
        }
    }
    if err.downcast_ref::<NeedsYes>().is_some() {
        return "needs-yes";
    }
    if let Some(e) = err.downcast_ref::<AwsError>() {
        return aws(e);
    }
    match err.downcast_ref::<DeployError>() {
        Some(DeployError::Aws(e)) => return aws(e),
        Some(_) => return "deploy",
        None => {}
    }
    if err.downcast_ref::<ConfigError>().is_some() {
        "config"
    } else if err.downcast_ref::<RegisterError>().is_some() {
        "provider"
    } else if err.downcast_ref::<RenderError>().is_some() {
        "template"
    } else if err.downcast_ref::<HookError>().is_some() {
        "hook"
    } else {
        "error"
    }
}

/// Prints an error and gives the exit code. A closed pipe (`git2s3 render
/// | head`) is not a failure.
pub fn report(err: &anyhow::Error, output: OutputFormat) -> ExitCode {
    let broken_pipe = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    if output == OutputFormat::Json {
        let doc = serde_json::json!({ "error": Failure::of(err) });
        // Nothing more can be said if stdout is gone; the exit code says it.
        let _ = crate::context::print_json(&doc);
    }
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_is_the_fix_the_message_names() {
        let needs = anyhow::Error::from(NeedsYes {
            what: "Delete stack s".into(),
        });
        assert_eq!(
            Failure::of(&needs),
            Failure {
                message: needs.to_string(),
                hint: Some("pass --yes to apply without asking".into()),
                kind: "needs-yes",
            }
        );
        let denied = anyhow::Error::from(DeployError::Aws(AwsError::AccessDenied {
            call: "cloudformation:DescribeStacks",
            action: "cloudformation:DescribeStacks".into(),
            message: "User: u is not authorized".into(),
        }));
        let failure = Failure::of(&denied);
        assert_eq!(failure.kind, "aws-access-denied");
        assert_eq!(
            failure.hint.as_deref(),
            Some("Grant cloudformation:DescribeStacks to this identity; docs/iam.md lists every permission git2s3 needs")
        );
        let none = anyhow::anyhow!("something broke").context("reading x");
        assert_eq!(
            Failure::of(&none),
            Failure {
                message: "reading x: something broke".into(),
                hint: None,
                kind: "error",
            }
        );
    }
}
