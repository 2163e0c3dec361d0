//! The `init` wizard: what `git2s3 init` asks on a terminal, one screen per
//! decision, before the deploy engine does the work. This file keeps the
//! order of the screens; each screen is a file of its own.
//!
//! Defaults come from the environment, the AWS config and `git2s3.yaml`
//! (already merged into [`Settings`]); a value given as a flag is not asked
//! again. The wizard works on a draft of the settings and returns its
//! answers as settings overrides ([`Answers`]), which `init` lays over the
//! flags' and loads through the same validation; it never writes into the
//! parsed flags. Ctrl-C at any prompt exits with nothing created. The
//! screens: AWS, provider, token (checked live), what to connect, method,
//! filters, stack, pipeline, review. `init` then deploys with live
//! progress, registers the webhook and key, and sends a test push.

use dialoguer::{Confirm, Input};
use git2s3_lambda::Provider;
use serde_yaml::Value;

use crate::cli::{GlobalArgs, InitArgs, OutputFormat};
use crate::settings::{Overrides, Settings};

mod aws;
mod aws_config;
mod connect;
pub mod estimate;
mod filters;
mod method;
mod pipeline;
mod provider;
mod review;
mod stack;
mod token;
mod ui;

use ui::{check_repos, heading, list, say, targets_line};

/// What the wizard's answers are.
pub struct Answers {
    /// The answers, as configuration keys, laid over the flags' values.
    pub overrides: Overrides,
    /// The AWS profile chosen, if the flags named none.
    pub profile: Option<String>,
    /// The token to register with (none for a plain SSH server).
    pub token: Option<String>,
}

/// How the wizard ended.
pub enum Outcome {
    /// Deploy with these answers.
    Go(Answers),
    /// The user said no at the review.
    Declined,
}

/// The configuration keys the screens ask for.
const ASKED: &[&str] = &[
    "region",
    "provider",
    "api_url",
    "repos",
    "org",
    "method",
    "filters",
    "stack_name",
    "bucket.name",
    "bucket.noncurrent_version_days",
    "pipeline",
];

/// The asked keys' values in `draft`, as overrides; a key the draft leaves
/// unset is `null`, so that it also clears a value from the file.
fn overrides(draft: &Settings) -> Overrides {
    let all = serde_yaml::to_value(draft).expect("settings serialize to YAML");
    ASKED
        .iter()
        .map(|key| {
            let value = key
                .split('.')
                .try_fold(&all, |node, part| node.get(part))
                .cloned()
                .unwrap_or(Value::Null);
            (*key, value)
        })
        .collect()
}

/// Whether `init` runs the wizard: someone is at a terminal, and neither
/// `--yes`, CI nor `--output json` says otherwise.
pub fn wanted(global: &GlobalArgs) -> bool {
    use std::io::IsTerminal;
    crate::context::Consent::new(global).can_ask()
        && std::io::stderr().is_terminal()
        && global.output == OutputFormat::Text
}

/// Runs the screens. Ctrl-C before the review ends the process with
/// exit code 130 and nothing created.
pub async fn run(
    global: &GlobalArgs,
    args: &InitArgs,
    settings: &Settings,
) -> anyhow::Result<Outcome> {
    // Registered here, before the first prompt: `ctrl_c()` would only
    // register once its task is first polled, and a Ctrl-C before that
    // would kill the process without a word.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let interrupt = tokio::spawn(async move {
        if sigint.recv().await.is_some() {
            interrupted();
        }
    });
    let outcome = screens(global, args, settings.clone()).await;
    interrupt.abort();
    // A prompt reading keys sees Ctrl-C too, and may return first.
    if let Err(e) = &outcome {
        if let Some(dialoguer::Error::IO(io)) = e.downcast_ref::<dialoguer::Error>() {
            if io.kind() == std::io::ErrorKind::Interrupted {
                interrupted();
            }
        }
    }
    outcome
}

/// Ctrl-C at a prompt: nothing was made yet, so say so and stop.
fn interrupted() -> ! {
    let _ = dialoguer::console::Term::stderr().show_cursor();
    eprintln!("\ninterrupted: nothing was created. Run `git2s3 init` again to start over");
    std::process::exit(130);
}

async fn screens(
    global: &GlobalArgs,
    args: &InitArgs,
    mut draft: Settings,
) -> anyhow::Result<Outcome> {
    let settings = &mut draft;
    eprintln!("git2s3 init: connect a Git server to AWS CodePipeline. Ctrl-C quits; nothing is created before the review.");
    heading(1, "AWS account");
    let (clients, profile) = aws::aws(global, settings).await?;

    heading(2, "Git provider");
    if args.stack.target.provider.is_some() {
        say(format!("{} (from --provider)", settings.provider));
    } else {
        provider::provider(settings, args.stack.target.api_url.is_some())?;
    }

    let mut api = None;
    let mut token = None;
    heading(3, "API token");
    if settings.provider == Provider::Generic {
        say("a plain SSH server needs no token: its post-receive hook comes from `git2s3 hook install`");
    } else {
        let (t, client, owner) = token::check_token(settings, args.token_env.as_deref()).await?;
        token = Some(t);
        api = Some((client, owner));
    }

    heading(4, "What to connect");
    let given = !args.stack.target.repos.is_empty() || args.stack.target.org.is_some();
    match (&api, given) {
        (_, true) => say(format!("{} (from the flags)", targets_line(settings))),
        (Some((client, owner)), false) => {
            connect::connect(client.as_ref(), owner, settings).await?
        }
        (None, false) => {
            let repos: String = Input::new()
                .with_prompt("Repository names, OWNER/REPO, comma-separated")
                .with_initial_text(settings.repos.join(", "))
                .validate_with(|t: &String| check_repos(&list(t)))
                .interact_text()?;
            settings.repos = list(&repos);
        }
    }

    heading(5, "How the code is fetched");
    if settings.provider == Provider::Generic || args.stack.method.is_some() {
        say(format!(
            "{} ({})",
            settings.method.as_str(),
            if args.stack.method.is_some() {
                "from --method"
            } else {
                "the only method for a plain SSH server"
            }
        ));
    } else {
        method::method(settings)?;
    }

    heading(6, "Branches, tags and paths");
    let s = &args.stack;
    if s.include_refs.is_empty() && s.exclude_refs.is_empty() && s.include_paths.is_empty() {
        filters::filters(settings)?;
    } else {
        say("from --include-ref, --exclude-ref and --include-path");
    }

    heading(7, "Stack and bucket");
    stack::stack(&clients, args, settings).await?;

    heading(8, "Pipeline");
    if args.stack.pipeline_branch.is_some() {
        say("from --pipeline-branch");
    } else {
        pipeline::pipeline(settings, args.stack.report_status.is_none())?;
    }
    settings.validate()?;

    heading(9, "Review");
    review::review(settings);
    let go = Confirm::new()
        .with_prompt("Deploy now?")
        .default(true)
        .interact()?;
    Ok(if go {
        Outcome::Go(Answers {
            overrides: overrides(settings),
            profile,
            token,
        })
    } else {
        Outcome::Declined
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::PipelineSettings;

    #[test]
    fn answers_are_the_asked_keys_and_unset_ones_clear_the_file() {
        let draft = Settings {
            repos: vec!["acme/api".into()],
            pipeline: Some(PipelineSettings::new("acme/api", "main")),
            ..Settings::default()
        };
        let o = overrides(&draft);
        assert_eq!(o.len(), ASKED.len());
        assert_eq!(o["api_url"], Value::Null);
        assert_eq!(o["provider"], Value::String("github".into()));
        assert_eq!(o["bucket.noncurrent_version_days"], Value::from(90));
        assert_eq!(o["pipeline"]["branch"], Value::String("main".into()));
    }
}
