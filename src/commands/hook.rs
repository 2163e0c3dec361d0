//! `git2s3 hook install | print | send`: the post-receive hook for plain
//! SSH git servers. `install` and `print` resolve the URL (and `install`
//! the secret) from flags, `GIT2S3_WEBHOOK_SECRET` or the stack; `send`
//! runs on the git server inside the hook, with no AWS access, and
//! always exits 0 so that it never fails a push.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::cli::{
    GlobalArgs, HookCommand, HookInstallArgs, HookSendArgs, HookTarget, OutputFormat,
};
use crate::deploy::{identity, stack};
use crate::hook::send::{self, Sender};
use crate::hook::{self, Target};
use crate::settings::Overrides;

pub async fn run(global: &GlobalArgs, command: &HookCommand) -> anyhow::Result<ExitCode> {
    match command {
        HookCommand::Install(args) => install(global, args).await,
        HookCommand::Print(target) => {
            let (target, _) = resolve(global, target, false).await?;
            let script = hook::script(&binary()?, &target, false);
            match global.output {
                OutputFormat::Json => {
                    crate::context::print_json(&serde_json::json!({ "script": script }))?
                }
                OutputFormat::Text => crate::out!("{}", script.trim_end()),
            }
            Ok(ExitCode::SUCCESS)
        }
        HookCommand::Send(args) => Ok(send_all(args).await),
    }
}

/// `clone_url` for this server: the repository's SSH URL with its name
/// (`OWNER/REPO`) as `{repo}`, when the URL ends with it.
fn clone_url_of(ssh_url: &str, name: &str) -> Option<String> {
    let prefix = ssh_url.strip_suffix(&format!("/{name}.git"))?;
    Some(format!("{prefix}/{{repo}}.git"))
}

/// The bare repository: --git-dir, else the current directory.
fn repo_dir(target: &HookTarget) -> anyhow::Result<PathBuf> {
    let dir = match &target.git_dir() {
        Some(p) => p.clone(),
        None => std::env::current_dir()?,
    };
    dir.canonicalize()
        .with_context(|| format!("--git-dir {}: no such directory", dir.display()))
}

/// The path the hook runs git2s3 from: this executable.
fn binary() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find the path of this git2s3 executable")
}

/// The target for `url`: the repository's name and clone URL from the
/// flags, else from `repo`'s path; `no_name` is the error when neither names it.
fn target_for(
    args: &HookTarget,
    repo: &Path,
    url: String,
    no_name: &str,
) -> anyhow::Result<Target> {
    Ok(Target {
        url,
        name: args
            .name
            .clone()
            .or_else(|| hook::default_name(repo))
            .with_context(|| no_name.to_string())?,
        ssh_url: args
            .ssh_url
            .clone()
            .unwrap_or_else(|| hook::default_ssh_url(repo)),
    })
}

/// The target from flags, filling the URL (and with `want_secret` the
/// secret) from the environment or the deployed stack.
async fn resolve(
    global: &GlobalArgs,
    args: &HookTarget,
    want_secret: bool,
) -> anyhow::Result<(Target, Option<String>)> {
    let repo = repo_dir(args)?;
    let mut url = args.webhook_url();
    let mut secret = crate::register::env_secret();
    if url.is_none() || (want_secret && secret.is_none()) {
        let settings = crate::context::load_settings(global, &Overrides::new())?;
        let clients = crate::context::clients(global, &settings).await;
        let me = identity::whoami(&clients).await.context(
            "the hook needs the webhook URL and secret: pass --webhook-url and export GIT2S3_WEBHOOK_SECRET, \
             or give this machine access to the stack",
        )?;
        let core =
            stack::require(&clients.cloudformation, &settings.stack_name, &me.region).await?;
        if url.is_none() {
            url = core.core().git_pull_url;
        }
        if want_secret && secret.is_none() {
            secret = Some(crate::register::stack_secret(&clients.secrets, &settings).await?);
        }
    }
    let target = target_for(
        args,
        &repo,
        url.context("the stack has no GitPullWebHookApi output: pass --webhook-url")?,
        &format!("cannot name {} as OWNER/REPO: pass --name", repo.display()),
    )?;
    hook::validate(&target)?;
    Ok((target, secret))
}

async fn install(global: &GlobalArgs, args: &HookInstallArgs) -> anyhow::Result<ExitCode> {
    let repo = repo_dir(&args.target)?;
    let (target, secret) = resolve(global, &args.target, true).await?;
    let script = hook::script(&binary()?, &target, args.wait);
    let installed = hook::install(
        &repo,
        &script,
        secret.as_deref().unwrap_or_default(),
        args.force,
    )?;
    let clone_url = clone_url_of(&target.ssh_url, &target.name);
    match global.output {
        OutputFormat::Json => crate::context::print_json(&serde_json::json!({
            "hook": installed.hook,
            "secret_file": installed.secret_file,
            "replaced": installed.replaced,
            "url": target.url,
            "name": target.name,
            "ssh_url": target.ssh_url,
            "clone_url": clone_url,
        }))?,
        OutputFormat::Text => {
            crate::out!(
                "{} {} for {}: pushes go to {}",
                if installed.replaced {
                    "Rewrote"
                } else {
                    "Installed"
                },
                installed.hook.display(),
                target.name,
                target.url
            );
            crate::out!("  the worker clones {}", target.ssh_url);
            if let Some(template) = &clone_url {
                crate::out!(
                    "  for the sweep, set clone_url: \"{template}\" in git2s3.yaml (then \
                     `git2s3 update-stack`); a push must then name exactly that URL"
                );
            }
            crate::out!("  secret: {} (mode 0600)", installed.secret_file.display());
            if !args.wait {
                crate::out!("  log:    {}", hook::log_file(&repo).display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads the ref lines and sends them; every problem is a log line.
async fn send_all(args: &HookSendArgs) -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        eprintln!("git2s3: cannot read the updated refs from stdin: {e}");
        return ExitCode::SUCCESS;
    }
    let result = if args.background {
        background(args, &input)
    } else {
        foreground(args, &input).await
    };
    if let Err(e) = result {
        eprintln!("git2s3: {e:#}; the push itself is done");
    }
    ExitCode::SUCCESS
}

/// The repository the hook runs in: --git-dir, else $GIT_DIR, else `.`,
/// as an absolute path where it exists.
fn hook_repo(target: &HookTarget) -> PathBuf {
    let repo = target
        .git_dir()
        .or_else(|| std::env::var_os("GIT_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."));
    repo.canonicalize().unwrap_or(repo)
}

/// Starts a copy of this command in its own process group, with the
/// input on its stdin and its output going to the log, and returns.
fn background(args: &HookSendArgs, input: &str) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let repo = hook_repo(&args.target);
    let log_path = hook::log_file(&repo);
    std::fs::create_dir_all(hook::state_dir(&repo))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open the log {}", log_path.display()))?;
    let mut command = std::process::Command::new(binary()?);
    command.args(["hook", "send"]);
    command.arg("--git-dir").arg(&repo);
    let url = args.target.webhook_url();
    for (flag, value) in [
        ("--webhook-url", &url),
        ("--name", &args.target.name),
        ("--ssh-url", &args.target.ssh_url),
        ("--delivery", &args.delivery),
    ] {
        if let Some(v) = value {
            command.arg(flag).arg(v);
        }
    }
    command
        .args(["--attempt-timeout", &args.attempt_timeout().to_string()])
        .args(["--attempts", &args.attempts.to_string()])
        .stdin(Stdio::piped())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    let mut child = command
        .spawn()
        .context("cannot start the background sender")?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())?;
    let (updates, _) = send::parse_updates(input);
    eprintln!(
        "git2s3: sending {} ref update(s) in the background; log: {}",
        updates.len(),
        log_path.display()
    );
    Ok(())
}

async fn foreground(args: &HookSendArgs, input: &str) -> anyhow::Result<()> {
    let repo = hook_repo(&args.target);
    let url = args
        .target
        .webhook_url()
        .context("no --webhook-url in the hook: run `git2s3 hook install` again")?;
    let target = target_for(
        &args.target,
        &repo,
        url.clone(),
        "no --name in the hook: run `git2s3 hook install` again",
    )?;
    let secret = read_secret(&repo)?;
    let (updates, bad) = send::parse_updates(input);
    for line in bad {
        eprintln!("git2s3: ignored a line that is not `OLD NEW REF`: {line}");
    }
    if args.delivery.is_some() && updates.len() != 1 {
        anyhow::bail!("--delivery resends one event: give exactly one `OLD NEW REF` line");
    }
    let pusher = std::env::var("GL_USER")
        .or_else(|_| std::env::var("USER"))
        .ok();
    let sender = Sender::new(
        &url,
        Duration::from_secs(args.attempt_timeout()),
        args.attempts,
    );
    for update in &updates {
        let delivery = args.delivery.clone().unwrap_or_else(send::new_delivery_id);
        let spec = send::event(update, &target, pusher.as_deref());
        let sent = sender.send(&send::request(&spec, &secret, &delivery)).await;
        eprintln!("{}", send::log_line(update, &delivery, &url, &sent));
    }
    Ok(())
}

/// The webhook secret: GIT2S3_WEBHOOK_SECRET, else the file `install` wrote.
fn read_secret(repo: &Path) -> anyhow::Result<String> {
    if let Some(s) = crate::register::env_secret() {
        return Ok(s);
    }
    let path = hook::secret_file(repo);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read the webhook secret {}: run `git2s3 hook install` as the repository's owner",
            path.display()
        )
    })?;
    crate::register::first_secret(&text).with_context(|| {
        format!(
            "{} is empty: run `git2s3 hook install` again",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clone_url_is_the_ssh_url_with_the_name_as_repo() {
        assert_eq!(
            super::clone_url_of("ssh://git@git.internal:22/srv/git/acme/api.git", "acme/api")
                .as_deref(),
            Some("ssh://git@git.internal:22/srv/git/{repo}.git")
        );
        assert_eq!(
            super::clone_url_of("ssh://git@git.internal/srv/other.git", "acme/api"),
            None
        );
    }
}
