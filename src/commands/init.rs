//! `git2s3 init` without the wizard: preflight, secrets, Lambda zip, core
//! stack, optional pipeline, then `git2s3.yaml`. Every step converges, so
//! running it again on an installed stack updates it and never duplicates.

use std::process::ExitCode;

use git2s3_lambda::Provider;
use serde::Serialize;

use crate::aws::Clients;
use crate::cli::{GlobalArgs, InitArgs, OutputFormat};
use crate::context;
use crate::deploy::apply::{apply, apply_pipelines, Applied, Approval, Wanted};
use crate::deploy::bucket::{self, Owner};
use crate::deploy::identity::{self, Identity};
use crate::deploy::secrets::stack::{self as stack_secrets, SecretOutcome};
use crate::deploy::secrets::Outcome;
use crate::deploy::stack::{self, StackInfo, State};
use crate::deploy::{artifact, report, DeployError};
use crate::progress::Progress;
use crate::register::{self, RegisterError};
use crate::settings::{Method, Settings};
use crate::template::Template;
use crate::verify::{self, Verdict};
use crate::wizard;

/// What `init` reports when it is done (`--output json` prints this).
#[derive(Debug, Serialize)]
struct Report {
    /// The core stack, as `status` shows it.
    stack: StackInfo,
    account: String,
    region: String,
    git_pull_url: Option<String>,
    zip_download_url: Option<String>,
    bucket: Option<String>,
    public_key: Option<String>,
    webhook_secret_id: String,
    secrets: Vec<SecretOutcome>,
    artifact: artifact::Staged,
    /// The pipeline stack, as `status` shows it (`last_execution` is null).
    pipeline: Option<report::Pipeline>,
    registered: Option<register::Report>,
    /// The test push (`--verify`, and always in the wizard).
    verified: Option<Verdict>,
    /// Why there was no test push, when one was asked for.
    verify_skipped: Option<String>,
    config_file: String,
}

/// Added to an error once init has started creating things.
const RESUME: &str = "init stopped part-way; what it made so far is kept. \
     Fix the cause and run `git2s3 init` again: it resumes and converges. \
     `git2s3 destroy` removes everything instead";

pub async fn run(global: &GlobalArgs, args: &InitArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = context::stack_overrides(global, &args.stack);
    let (mut settings, mut given) =
        context::load_with_stack_flags(global, &args.stack, &overrides, true)?;
    let mut aws = context::aws_options(global, &settings);
    // On a terminal the wizard asks what the flags left out; its review is
    // the confirmation, so the deploy does not ask again. Its answers are
    // loaded like flags, through the same validation.
    let consent = context::Consent::new(global);
    let wizard = wizard::wanted(global);
    let (registration, reviewed) = if wizard {
        let answers = match wizard::run(global, args, &settings).await? {
            wizard::Outcome::Go(answers) => answers,
            wizard::Outcome::Declined => {
                eprintln!("nothing was created");
                return Ok(ExitCode::FAILURE);
            }
        };
        overrides.extend(answers.overrides);
        (settings, given) = context::load_with_stack_flags(global, &args.stack, &overrides, true)?;
        aws = context::aws_options(global, &settings);
        aws.profile = answers.profile;
        let token = answers.token.filter(|_| !args.skip_register);
        (token, true)
    } else {
        // init creates or changes something on every run (at least the
        // webhook's secret on the provider), so with no one to ask it needs
        // --yes before it makes anything.
        consent.require(&format!(
            "init would create or update stack {}, its secrets and Lambda zip, and the webhook",
            settings.stack_name
        ))?;
        (
            registration_token(&settings, args, consent.can_ask())?,
            false,
        )
    };
    // The wizard's review was the confirmation.
    let confirm = |question: &str| match reviewed {
        true => Ok(true),
        false => consent.confirm(question),
    };
    let approval = Approval {
        confirm: &confirm,
        allow_replace: args.stack.allow_replace,
    };
    let progress = Progress::new();
    let clients = context::clients_for(&aws).await;

    // Preflight: everything that can be checked before anything is made.
    progress.step("Checking AWS credentials, region, stack, bucket and Lambda zip");
    let me = identity::whoami(&clients).await?;
    progress.line(format!(
        "account {} as {}, region {}",
        me.account, me.arn, me.region
    ));
    // The region the stack lives in is saved, whichever source gave it
    // (--region, AWS_REGION, the AWS config), so that every later command
    // finds the stack without being told again.
    settings.region = Some(me.region.clone());
    let ask_to_delete = !reviewed && consent.can_ask();
    let current = preflight_stack(&clients, &settings, args, ask_to_delete, &progress).await?;
    preflight_bucket(&clients, &settings, current.as_ref()).await?;
    let path = artifact::locate(args.stack.lambda_zip.as_deref())?;
    let zip = artifact::load(&path, settings.lambda.architecture)?;
    progress.line(format!("Lambda zip {}", path.display()));

    let work = async {
        progress.step("Storing the webhook secret and deploy key in Secrets Manager");
        let secrets = stack_secrets::ensure(
            &clients.secrets,
            &mut settings,
            args.token_env.as_deref(),
            registration.as_deref(),
        )
        .await?;
        for s in &secrets {
            progress.line(format!("{}: {}", s.id, outcome_word(s.outcome)));
        }
        // What init itself set is given, as a flag would be.
        given.insert("auth.public_ssh_key");

        progress.step("Staging the Lambda zip");
        let artifact =
            artifact::deploy_from(&zip, &mut settings, &clients.s3, &me, &progress).await?;
        for key in [
            "lambda.code_bucket",
            "lambda.code_key",
            "lambda.code_version",
        ] {
            given.insert(key);
        }

        progress.step(format!("Planning stack {}", settings.stack_name));
        let stack_name = settings.stack_name.clone();
        let wanted = Wanted {
            template: Template::Core,
            stack: &stack_name,
            settings: &settings,
            given: &given,
            current: current.as_ref(),
        };
        let core = match apply(&clients, &wanted, &approval, &progress).await? {
            Applied::Declined => return Ok(None),
            Applied::Unchanged(done) | Applied::Changed(done) => done.info,
        };
        let Some(pipelines) =
            apply_pipelines(&clients, &settings, &given, &core, &approval, &progress).await?
        else {
            return Ok(None);
        };
        // The first pipeline, as `init --output json` names it.
        let pipeline_stack = pipelines
            .applied
            .into_iter()
            .next()
            .map(|done| report::Pipeline {
                stack: done.info,
                last_execution: None,
                build_status: None,
            });
        let reg = match &registration {
            Some(token) => {
                progress.step(format!(
                    "Registering the webhook{} with {}",
                    if settings.method == Method::GitPull {
                        " and deploy key"
                    } else {
                        ""
                    },
                    settings.provider
                ));
                let reg = register::for_stack(
                    &settings,
                    &core.core(),
                    &clients.secrets,
                    token,
                    settings.method == Method::GitPull,
                    false,
                )
                .await?;
                let may_replace =
                    |q: &str| confirm(q).map_err(|e| RegisterError::NotConfirmed(e.to_string()));
                let report = register::register(&reg, &progress, &may_replace).await?;
                Some((reg, report))
            }
            None => None,
        };
        let config = context::config_path(global);
        crate::settings::save(&config, &settings)?;
        let (verified, verify_skipped) = match (args.verify || wizard, &reg) {
            (false, _) => (None, None),
            (true, None) => (None, Some(verify_skipped(&settings))),
            (true, Some((reg, _))) => {
                let options = verify::Options {
                    timeout: std::time::Duration::from_secs(args.verify_timeout),
                    ..Default::default()
                };
                let verdict = verify::test_push(
                    &settings,
                    &clients,
                    &core,
                    Some(reg.api.as_ref()),
                    &options,
                    &progress,
                )
                .await;
                (Some(verdict), None)
            }
        };
        let outputs = core.core();
        anyhow::Ok(Some(Report {
            stack: core.clone(),
            account: me.account.clone(),
            region: me.region.clone(),
            git_pull_url: outputs.git_pull_url,
            zip_download_url: outputs.zip_download_url,
            bucket: outputs.bucket,
            public_key: settings.auth.public_ssh_key.clone(),
            webhook_secret_id: settings.webhook_secret_id(),
            secrets,
            artifact,
            pipeline: pipeline_stack,
            registered: reg.map(|(_, report)| report),
            verified,
            verify_skipped,
            config_file: config.display().to_string(),
        }))
    };
    let report = tokio::select! {
        report = work => report.map_err(|e| e.context(RESUME))?,
        _ = tokio::signal::ctrl_c() => {
            progress.done();
            eprintln!(
                "interrupted. A stack change already sent keeps running in CloudFormation \
                 (`git2s3 status` shows it); what init made so far is kept. \
                 Run `git2s3 init` again to resume, or `git2s3 destroy` to remove it all"
            );
            return Ok(ExitCode::from(130));
        }
    };
    progress.done();
    let Some(report) = report else {
        eprintln!("the stack was not changed; the secrets and Lambda zip init stored are kept for the next run");
        return Ok(ExitCode::FAILURE);
    };
    match global.output {
        OutputFormat::Json => context::print_json(&report)?,
        OutputFormat::Text => print_text(&report, &settings, &me)?,
    }
    match &report.verified {
        Some(verdict) if !verdict.ok => Ok(ExitCode::FAILURE),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Why init sends no test push, and how to send one later.
fn verify_skipped(settings: &Settings) -> String {
    let repo = settings.repos.first().map_or("OWNER/REPO", String::as_str);
    match settings.provider {
        Provider::Generic => format!(
            "a plain SSH server has no API to read a branch's newest commit: once the hook is \
             installed, run `git2s3 verify --repo {repo} --branch BRANCH --commit SHA --ssh-url URL`, \
             or push a commit"
        ),
        _ => format!(
            "the webhook was not registered, so there is no token to read the branch's newest \
             commit with: register it, then run `git2s3 verify --repo {repo}`"
        ),
    }
}

/// Whether init registers with the provider, and its token. Checked in
/// preflight, so that a missing token or target fails before anything
/// is made.
fn registration_token(
    settings: &Settings,
    args: &InitArgs,
    can_ask: bool,
) -> anyhow::Result<Option<String>> {
    if args.skip_register || settings.provider == Provider::Generic {
        return Ok(None);
    }
    if settings.repos.is_empty() && settings.org.is_none() {
        anyhow::bail!(
            "init registers the webhook with {}, so it needs the repositories: pass --repo OWNER/REPO \
             (repeatable) or --org ORG, or --skip-register to add the webhook by hand",
            settings.provider
        );
    }
    Ok(Some(register::token(
        settings.provider,
        args.token_env.as_deref(),
        can_ask,
    )?))
}

/// The stack's state, after dealing with a failed first creation.
async fn preflight_stack(
    clients: &Clients,
    settings: &Settings,
    args: &InitArgs,
    ask_to_delete: bool,
    progress: &Progress,
) -> anyhow::Result<Option<StackInfo>> {
    let cf = &clients.cloudformation;
    let Some(info) = stack::describe(cf, &settings.stack_name).await? else {
        progress.line(format!(
            "stack {} does not exist yet: it will be created",
            settings.stack_name
        ));
        return Ok(None);
    };
    match stack::state(Some(&info.status)) {
        State::Create => {
            progress.line(format!(
                "stack {} is {}: it will be created",
                info.name, info.status
            ));
            Ok(Some(info))
        }
        State::Update => {
            progress.line(format!(
                "stack {} is {}: it will be updated",
                info.name, info.status
            ));
            Ok(Some(info))
        }
        State::RolledBack => {
            let blocked = stack::blocked(&info).expect("a rolled-back stack is blocked");
            progress.line(blocked.to_string());
            let delete = args.delete_failed_stack
                || (ask_to_delete
                    && dialoguer::Confirm::new()
                        .with_prompt(format!(
                            "Delete stack {} now and create it again?",
                            info.name
                        ))
                        .default(false)
                        .interact()?);
            if !delete {
                return Err(blocked.into());
            }
            progress.step(format!("Deleting the rolled-back stack {}", info.name));
            stack::delete(cf, &info, progress).await?;
            Ok(None)
        }
        State::Busy | State::Stuck => Err(stack::blocked(&info).expect("blocked").into()),
    }
}

/// The bucket name, if one is set, must be free or already the stack's.
async fn preflight_bucket(
    clients: &Clients,
    settings: &Settings,
    current: Option<&StackInfo>,
) -> Result<(), DeployError> {
    let Some(name) = &settings.bucket.name else {
        return Ok(());
    };
    if current.and_then(|s| s.core().bucket).as_ref() == Some(name) {
        return Ok(());
    }
    match bucket::owner(&clients.s3, name).await? {
        Owner::Nobody => Ok(()),
        Owner::ThisAccount => Err(DeployError::BucketInAccount {
            bucket: name.clone(),
            stack: settings.stack_name.clone(),
        }),
        Owner::OtherAccount => Err(DeployError::BucketElsewhere {
            bucket: name.clone(),
        }),
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Created => "created",
        Outcome::Kept => "exists, kept",
        Outcome::Updated => "updated",
    }
}

fn print_text(report: &Report, settings: &Settings, me: &Identity) -> std::io::Result<()> {
    crate::out!(
        "git2s3 is deployed: stack {} ({}) in account {}, region {}",
        report.stack.name,
        report.stack.status,
        me.account,
        me.region
    );
    let shown = [
        ("webhook (git pull):", &report.git_pull_url),
        ("webhook (zip download):", &report.zip_download_url),
        ("bucket:", &report.bucket),
        ("deploy key (public):", &report.public_key),
        (
            "pipeline stack:",
            &report.pipeline.as_ref().map(|p| p.stack.name.clone()),
        ),
    ];
    for (label, value) in shown {
        if let Some(v) = value {
            crate::out!("  {label:<24}{v}");
        }
    }
    crate::out!("  {:<24}{}", "webhook secret:", report.webhook_secret_id);
    crate::out!("  {:<24}{}", "config written to:", report.config_file);
    crate::out!();
    if let Some(done) = &report.registered {
        for h in &done.hooks {
            crate::out!(
                "  webhook on {}: {}{}",
                h.target,
                register::word(h.outcome),
                if h.ping == Some("sent") {
                    ", test event sent"
                } else {
                    ""
                }
            );
        }
        for k in &done.keys {
            crate::out!("  deploy key on {}: {}", k.repo, register::word(k.outcome));
        }
        crate::out!();
        if let Some(verdict) = &report.verified {
            verify::print_text(verdict)?;
            crate::out!();
        }
        if let Some(why) = &report.verify_skipped {
            crate::out!("No test push: {why}.");
            crate::out!();
        }
        match &report.verified {
            Some(v) if !v.ok => crate::out!(
                "Next: fix what the failed check names, then run `git2s3 verify` to test again."
            ),
            _ => crate::out!("Next: push a commit, then run `git2s3 status` to see its zip."),
        }
        return Ok(());
    }
    if let Some(why) = &report.verify_skipped {
        crate::out!("No test push: {why}.");
        crate::out!();
    }
    crate::out!("Next steps:");
    let url = match settings.method {
        Method::GitPull => &report.git_pull_url,
        Method::ZipDownload => &report.zip_download_url,
    };
    if settings.provider == Provider::Generic {
        crate::out!(
            "  1. On the git server, as the repositories' owner: git2s3 hook install --git-dir PATH.git --webhook-url {}",
            url.as_deref().unwrap_or("URL")
        );
        crate::out!("     (with GIT2S3_WEBHOOK_SECRET set, or AWS access to read the secret; docs/providers.md)");
        crate::out!("  2. Add the public key above to the git user's authorized_keys, and the server's host key to auth.known_hosts.");
        crate::out!("  3. Push a commit, then run `git2s3 status` to see its zip.");
        return Ok(());
    }
    crate::out!(
        "  1. Add a push webhook to {} pointing at {}, content type application/json,",
        if settings.repos.is_empty() {
            "your repositories".to_string()
        } else {
            settings.repos.join(", ")
        },
        url.as_deref().unwrap_or("the URL above")
    );
    crate::out!(
        "     with the secret from: aws secretsmanager get-secret-value --secret-id {} --query SecretString --output text",
        report.webhook_secret_id
    );
    if settings.method == Method::GitPull {
        crate::out!("  2. Add the public key above as a read-only deploy key (docs/providers.md).");
    }
    crate::out!("  3. Push a commit, then run `git2s3 status` to see its zip.");
    Ok(())
}
