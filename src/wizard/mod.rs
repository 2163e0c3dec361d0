//! The `init` wizard: what `git2s3 init` asks on a terminal, one screen per
//! decision, before the deploy engine (`commands::init`) does the work.
//!
//! Defaults come from the environment, the AWS config and `git2s3.yaml`
//! (already merged into [`Settings`]); a value given as a flag is not asked
//! again. Ctrl-C at any prompt exits with nothing created. The screens:
//! AWS, provider, token (checked live), what to connect, method, filters,
//! stack, pipeline, review. `init` then deploys with live progress,
//! registers the webhook and key, and checks the test event's delivery.

use anyhow::Context;
use dialoguer::{Confirm, FuzzySelect, Input, Password, Select};
use git2s3_lambda::Provider;

use crate::aws::Clients;
use crate::cli::{GlobalArgs, InitArgs, OutputFormat};
use crate::deploy::bucket::{self, Owner};
use crate::deploy::identity;
use crate::register::{self, ProviderApi, TokenOwner};
use crate::settings::{
    is_https_or_loopback, validate_bucket_name, validate_stack_name, Method, PipelineSettings,
    Settings,
};

mod aws_config;
pub mod estimate;

/// How the wizard ended.
pub enum Outcome {
    /// Deploy, registering with this token (none for a plain SSH server).
    Go { token: Option<String> },
    /// The user said no at the review.
    Declined,
}

/// Whether `init` runs the wizard: someone is at a terminal, and neither
/// `--yes`, CI nor `--output json` says otherwise.
pub fn wanted(global: &GlobalArgs) -> bool {
    use std::io::IsTerminal;
    !crate::commands::assume_yes(global)
        && std::io::stderr().is_terminal()
        && global.output == OutputFormat::Text
}

fn heading(n: u8, title: &str) {
    eprintln!("\n── {n}/9  {title} ──");
}

fn say(line: impl std::fmt::Display) {
    eprintln!("  {line}");
}

/// A comma-separated list, trimmed, without empty items.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs the screens. Ctrl-C before the review ends the process with
/// exit code 130 and nothing created.
pub async fn run(
    global: &mut GlobalArgs,
    args: &InitArgs,
    settings: &mut Settings,
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
    let outcome = screens(global, args, settings).await;
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
    global: &mut GlobalArgs,
    args: &InitArgs,
    settings: &mut Settings,
) -> anyhow::Result<Outcome> {
    eprintln!("git2s3 init: connect a Git server to AWS CodePipeline. Ctrl-C quits; nothing is created before the review.");
    heading(1, "AWS account");
    let clients = aws(global, settings).await?;

    heading(2, "Git provider");
    if args.stack.target.provider.is_some() {
        say(format!("{} (from --provider)", settings.provider));
    } else {
        provider(settings, args.stack.target.api_url.is_some())?;
    }

    let mut api = None;
    let mut token = None;
    heading(3, "API token");
    if settings.provider == Provider::Generic {
        say("a plain SSH server needs no token: its post-receive hook comes from `git2s3 hook install`");
    } else {
        let (t, client, owner) = check_token(settings, args.token_env.as_deref()).await?;
        token = Some(t);
        api = Some((client, owner));
    }

    heading(4, "What to connect");
    let given = !args.stack.target.repos.is_empty() || args.stack.target.org.is_some();
    match (&api, given) {
        (_, true) => say(format!("{} (from the flags)", targets_line(settings))),
        (Some((client, owner)), false) => connect(client.as_ref(), owner, settings).await?,
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
        method(settings)?;
    }

    heading(6, "Branches, tags and paths");
    filters(settings)?;

    heading(7, "Stack and bucket");
    stack(&clients, args, settings).await?;

    heading(8, "Pipeline");
    if args.stack.pipeline_branch.is_some() {
        say("from --pipeline-branch");
    } else {
        pipeline(settings)?;
    }
    settings.validate()?;

    heading(9, "Review");
    review(settings);
    let go = Confirm::new()
        .with_prompt("Deploy now?")
        .default(true)
        .interact()?;
    Ok(if go {
        Outcome::Go { token }
    } else {
        Outcome::Declined
    })
}

/// Chooses the profile and region, and gives the AWS clients for them.
async fn aws(global: &mut GlobalArgs, settings: &mut Settings) -> anyhow::Result<Clients> {
    let profiles = aws_config::profiles();
    if global.profile.is_none() && profiles.len() > 1 {
        let default = profiles.iter().position(|p| p == "default").unwrap_or(0);
        let i = Select::new()
            .with_prompt("AWS profile")
            .items(&profiles)
            .default(default)
            .interact()?;
        global.profile = Some(profiles[i].clone());
    }
    if global.region.is_none() {
        let current = settings
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        let default = aws_config::REGIONS
            .iter()
            .position(|r| *r == current)
            .unwrap_or(0);
        let i = FuzzySelect::new()
            .with_prompt("AWS region (type to search)")
            .items(aws_config::REGIONS)
            .default(default)
            .interact()?;
        global.region = Some(aws_config::REGIONS[i].to_string());
    }
    settings.region = global.region.clone();
    let clients = crate::commands::clients(global, settings).await;
    let me = identity::whoami(&clients).await?;
    say(format!(
        "account {} as {}, region {}{}",
        me.account,
        me.arn,
        me.region,
        global
            .profile
            .as_deref()
            .map(|p| format!(", profile {p}"))
            .unwrap_or_default()
    ));
    Ok(clients)
}

/// The provider menu: (label, provider, needs a URL, URL example).
const PROVIDERS: &[(&str, Provider, bool, &str)] = &[
    ("GitHub (github.com)", Provider::Github, false, ""),
    (
        "GitHub Enterprise Server",
        Provider::GithubEnterprise,
        true,
        "https://github.example.com/api/v3",
    ),
    ("GitLab (gitlab.com)", Provider::Gitlab, false, ""),
    (
        "GitLab self-managed",
        Provider::Gitlab,
        true,
        "https://gitlab.example.com/api/v4",
    ),
    ("Bitbucket Cloud", Provider::Bitbucket, false, ""),
    (
        "Bitbucket Data Center",
        Provider::BitbucketServer,
        true,
        "https://bitbucket.example.com",
    ),
    (
        "Another SSH git server (post-receive hook)",
        Provider::Generic,
        false,
        "",
    ),
];

fn provider(settings: &mut Settings, url_given: bool) -> anyhow::Result<()> {
    // With an API URL, GitHub means GitHub Enterprise Server.
    let family = |p: Provider| match p {
        Provider::GithubEnterprise => Provider::Github,
        p => p,
    };
    let default = PROVIDERS
        .iter()
        .position(|(_, p, url, _)| {
            family(*p) == family(settings.provider) && *url == settings.api_url.is_some()
        })
        .unwrap_or(0);
    let labels: Vec<&str> = PROVIDERS.iter().map(|(l, ..)| *l).collect();
    let i = Select::new()
        .with_prompt("Where do your repositories live?")
        .items(&labels)
        .default(default)
        .interact()?;
    let (_, chosen, needs_url, example) = PROVIDERS[i];
    settings.provider = chosen;
    if needs_url && !url_given {
        let url: String = Input::new()
            .with_prompt(format!("API URL, e.g. {example}"))
            .with_initial_text(settings.api_url.clone().unwrap_or_default())
            .validate_with(|u: &String| {
                if is_https_or_loopback(u) {
                    Ok(())
                } else {
                    Err("it must be an https:// URL (tokens never go over plain HTTP)")
                }
            })
            .interact_text()?;
        settings.api_url = Some(url.trim_end_matches('/').to_string());
    } else if !needs_url && !url_given {
        settings.api_url = None;
    }
    Ok(())
}

/// Reads the token (its variable, else a hidden prompt) and checks it
/// against the provider until it works.
async fn check_token(
    settings: &Settings,
    token_env: Option<&str>,
) -> anyhow::Result<(String, Box<dyn ProviderApi>, TokenOwner)> {
    let var = crate::commands::register::token_var(settings.provider, token_env)
        .unwrap_or_else(|| "GIT2S3_TOKEN".into());
    let mut from_env = std::env::var(&var).ok().filter(|t| !t.trim().is_empty());
    loop {
        let token = match from_env.take() {
            Some(t) => {
                say(format!("using the token in {var}"));
                t
            }
            None => Password::new()
                .with_prompt(format!(
                    "{} API token (hidden; or set {var})",
                    settings.provider
                ))
                .interact()?,
        };
        let token = token.trim().to_string();
        let api = register::client(settings.provider, settings.api_url.as_deref(), &token)?;
        match api.whoami().await {
            Ok(owner) => {
                say(format!(
                    "✓ token of {}; scopes: {}",
                    owner.user,
                    owner
                        .scopes
                        .as_deref()
                        .unwrap_or("not listed (a fine-grained or project token)")
                ));
                return Ok((token, api, owner));
            }
            Err(e) => say(format!("✗ {e}")),
        }
    }
}

fn targets_line(settings: &Settings) -> String {
    match (&settings.org, settings.repos.is_empty()) {
        (Some(org), true) => format!("all of {org}"),
        (Some(org), false) => format!("all of {org}, and {}", settings.repos.join(", ")),
        (None, _) => settings.repos.join(", "),
    }
}

fn check_repos(repos: &[String]) -> Result<(), String> {
    if repos.is_empty() {
        return Err("name at least one repository".into());
    }
    match repos.iter().find(|r| register::split_repo(r).is_err()) {
        Some(bad) => Err(format!("`{bad}` is not OWNER/REPO")),
        None => Ok(()),
    }
}

async fn connect(
    api: &dyn ProviderApi,
    owner: &TokenOwner,
    settings: &mut Settings,
) -> anyhow::Result<()> {
    let choice = Select::new()
        .with_prompt("Connect")
        .items([
            "One or more repositories, picked from a list",
            "A whole organization, group, workspace or project",
        ])
        .default(usize::from(settings.org.is_some()))
        .interact()?;
    let org: String = Input::new()
        .with_prompt(if choice == 0 {
            "List the repositories of (organization, group, workspace or project)"
        } else {
            "Organization, group, workspace or project"
        })
        .default(settings.org.clone().unwrap_or_else(|| owner.user.clone()))
        .interact_text()?;
    if choice == 1 {
        settings.org = Some(org);
        return Ok(());
    }
    let mut left = match api.repos(&org).await {
        Ok(repos) if !repos.is_empty() => repos,
        Ok(_) | Err(_) => {
            say(format!(
                "could not list the repositories of {org}; type them instead"
            ));
            let typed: String = Input::new()
                .with_prompt("Repositories, OWNER/REPO, comma-separated")
                .validate_with(|t: &String| check_repos(&list(t)))
                .interact_text()?;
            settings.repos = list(&typed);
            return Ok(());
        }
    };
    let mut picked: Vec<String> = Vec::new();
    const DONE: &str = "✔ done";
    loop {
        let mut items: Vec<&str> = left.iter().map(String::as_str).collect();
        if !picked.is_empty() {
            items.insert(0, DONE);
        }
        let i = FuzzySelect::new()
            .with_prompt(if picked.is_empty() {
                "Add a repository (type to search)".to_string()
            } else {
                format!(
                    "Add another, or pick “{DONE}” (chosen: {})",
                    picked.join(", ")
                )
            })
            .items(&items)
            .default(0)
            .interact()?;
        if items[i] == DONE {
            break;
        }
        let repo = items[i].to_string();
        left.retain(|r| *r != repo);
        picked.push(repo);
        if left.is_empty() {
            break;
        }
    }
    settings.repos = picked;
    settings.org = None;
    Ok(())
}

fn method(settings: &mut Settings) -> anyhow::Result<()> {
    let i = Select::new()
        .with_prompt("Method")
        .items([
            "Git pull: the Lambda fetches the pushed commit over SSH with a read-only deploy key (any Git server)",
            "Zip download: the Lambda downloads the provider's archive of the commit with your API token (no SSH)",
        ])
        .default(usize::from(settings.method == Method::ZipDownload))
        .interact()?;
    settings.method = if i == 0 {
        Method::GitPull
    } else {
        Method::ZipDownload
    };
    Ok(())
}

fn filters(settings: &mut Settings) -> anyhow::Result<()> {
    let ask = |prompt: &str, current: &[String]| -> anyhow::Result<Vec<String>> {
        let text: String = Input::new()
            .with_prompt(prompt)
            .with_initial_text(current.join(", "))
            .allow_empty(true)
            .validate_with(|t: &String| {
                git2s3_lambda::filter::Filters::new(&list(t), &[], &[])
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .interact_text()?;
        Ok(list(&text))
    };
    settings.filters.include_refs = ask(
        "Build these branches and tags (globs, comma-separated; empty: all)",
        &settings.filters.include_refs,
    )?;
    settings.filters.exclude_refs = ask(
        "Never build these (globs; empty: none)",
        &settings.filters.exclude_refs,
    )?;
    settings.filters.include_paths = ask(
        "Only when these paths change (globs; empty: any change)",
        &settings.filters.include_paths,
    )?;
    Ok(())
}

async fn stack(clients: &Clients, args: &InitArgs, settings: &mut Settings) -> anyhow::Result<()> {
    if args.stack.target.stack_name.is_none() {
        settings.stack_name = Input::new()
            .with_prompt("Stack name")
            .default(settings.stack_name.clone())
            .validate_with(|n: &String| validate_stack_name(n))
            .interact_text()?;
    }
    if args.stack.bucket.is_none() {
        loop {
            let name: String = Input::new()
                .with_prompt("Output bucket name (empty: CloudFormation picks a unique one)")
                .with_initial_text(settings.bucket.name.clone().unwrap_or_default())
                .allow_empty(true)
                .validate_with(|n: &String| {
                    if n.is_empty() {
                        Ok(())
                    } else {
                        validate_bucket_name(n)
                    }
                })
                .interact_text()?;
            if name.is_empty() {
                settings.bucket.name = None;
                break;
            }
            match bucket::owner(&clients.s3, &name)
                .await
                .context("checking the bucket name")?
            {
                Owner::OtherAccount => say(format!(
                    "✗ s3://{name} belongs to another AWS account: bucket names are global, pick another"
                )),
                Owner::ThisAccount => {
                    say(format!("s3://{name} exists in this account: init uses it only if this stack made it"));
                    settings.bucket.name = Some(name);
                    break;
                }
                Owner::Nobody => {
                    say(format!("✓ s3://{name} is available"));
                    settings.bucket.name = Some(name);
                    break;
                }
            }
        }
    }
    settings.bucket.noncurrent_version_days = Input::new()
        .with_prompt("Days to keep replaced zips (older versions)")
        .default(settings.bucket.noncurrent_version_days)
        .validate_with(|d: &u32| {
            if *d >= 1 {
                Ok(())
            } else {
                Err("at least 1 day")
            }
        })
        .interact_text()?;
    Ok(())
}

fn pipeline(settings: &mut Settings) -> anyhow::Result<()> {
    let i = Select::new()
        .with_prompt("Also create a pipeline?")
        .items([
            "No: just the zips in S3 (point your own pipeline at them)",
            "Yes: a CodePipeline with the zip as its S3 source and a CodeBuild stage",
        ])
        .default(usize::from(settings.pipeline.is_some()))
        .interact()?;
    if i == 0 {
        settings.pipeline = None;
        return Ok(());
    }
    let repo = match settings.repos.len() {
        0 => Input::new()
            .with_prompt("Repository the pipeline builds, OWNER/REPO")
            .validate_with(|r: &String| check_repos(std::slice::from_ref(r)))
            .interact_text()?,
        1 => settings.repos[0].clone(),
        _ => {
            let j = Select::new()
                .with_prompt("Repository the pipeline builds")
                .items(&settings.repos)
                .default(0)
                .interact()?;
            settings.repos[j].clone()
        }
    };
    let branch: String = Input::new()
        .with_prompt("Branch")
        .default("main".to_string())
        .interact_text()?;
    settings.pipeline = Some(PipelineSettings {
        repo,
        branch,
        stack_name: None,
        build_image: None,
    });
    Ok(())
}

fn review(settings: &Settings) {
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
