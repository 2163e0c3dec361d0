//! git2s3's post-receive hook for plain SSH git servers (gitolite, a bare
//! sshd): the script that `git2s3 hook install` writes and `hook print`
//! shows, and where it keeps the webhook secret. Sending is [`send`].
//!
//! Layout inside a bare repository `REPO.git`:
//! - `hooks/post-receive`: the script, which runs `git2s3 hook send`;
//! - `git2s3/secret`: the webhook secret, mode 0600 (directory 0700);
//! - `git2s3/hook.log`: what the background sender did.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub mod send;

/// The first lines of every script git2s3 writes; how `install` knows a
/// hook is its own.
pub const MARKER: &str = "# git2s3 post-receive hook";

/// Where the hook sends, and how it names the repository, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub name: String,
    pub ssh_url: String,
}

/// What went wrong installing the hook, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error(
        "{0} is not a bare git repository (no HEAD, objects/ and refs/): point --git-dir at the \
         server's REPO.git directory"
    )]
    NotBare(PathBuf),
    #[error(
        "{0} exists and was not written by git2s3: pass --force to replace it, or add the \
         output of `git2s3 hook print` to it yourself"
    )]
    Foreign(PathBuf),
    #[error("cannot write {path}: {source}. The hook must be installed as the user that owns the repository")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{0}` is not OWNER/REPO: pass --name OWNER/REPO")]
    BadName(String),
    #[error("--webhook-url `{0}` is not an http:// or https:// URL")]
    BadUrl(String),
    #[error("the webhook secret is empty: export GIT2S3_WEBHOOK_SECRET, or run this where the stack's secret can be read")]
    NoSecret,
}

/// The directory beside the hooks that holds the secret and the log.
pub fn state_dir(repo: &Path) -> PathBuf {
    repo.join("git2s3")
}

/// The secret file the hook reads.
pub fn secret_file(repo: &Path) -> PathBuf {
    state_dir(repo).join("secret")
}

/// The background sender's log.
pub fn log_file(repo: &Path) -> PathBuf {
    state_dir(repo).join("hook.log")
}

/// `OWNER/REPO` from a path such as `/srv/git/acme/api.git`.
pub fn default_name(repo: &Path) -> Option<String> {
    let mut parts = repo
        .components()
        .rev()
        .filter_map(|c| c.as_os_str().to_str())
        .filter(|c| *c != "." && !c.is_empty());
    let repo_name = parts.next()?.trim_end_matches(".git").to_string();
    let owner = parts.next()?.to_string();
    (!repo_name.is_empty() && owner != "/").then(|| format!("{owner}/{repo_name}"))
}

/// `ssh://USER@HOST/ABSOLUTE-PATH`, with this machine's user and host name.
pub fn default_ssh_url(repo: &Path) -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "git".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("ssh://{user}@{host}{}", repo.display())
}

/// Checks the resolved target's values.
pub fn validate(target: &Target) -> Result<(), HookError> {
    let (owner, repo) = target.name.split_once('/').unwrap_or(("", ""));
    if owner.is_empty() || repo.is_empty() || target.name.contains("..") {
        return Err(HookError::BadName(target.name.clone()));
    }
    if !(target.url.starts_with("https://") || target.url.starts_with("http://")) {
        return Err(HookError::BadUrl(target.url.clone()));
    }
    Ok(())
}

/// Quotes a value for `sh`.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The post-receive script: it runs `binary hook send` for this target,
/// in the background unless `wait`, and always exits 0.
pub fn script(binary: &Path, target: &Target, wait: bool) -> String {
    let mode = if wait { "" } else { " --background" };
    format!(
        "#!/bin/sh\n\
         {MARKER}, written by `git2s3 hook install`; run that again to change it.\n\
         # For each updated ref it sends a signed push event (X-Git2s3-Event: push) to\n\
         # git2s3. It never fails or holds up the push. The webhook secret is in\n\
         # git2s3/secret in this repository (mode 0600); the background log in git2s3/hook.log.\n\
         {binary} hook send{mode} \\\n  --webhook-url {url} \\\n  --name {name} \\\n  --ssh-url {ssh_url} || true\n\
         exit 0\n",
        binary = quote(&binary.display().to_string()),
        url = quote(&target.url),
        name = quote(&target.name),
        ssh_url = quote(&target.ssh_url),
    )
}

/// What `install` did.
#[derive(Debug, serde::Serialize)]
pub struct Installed {
    pub hook: PathBuf,
    pub secret_file: PathBuf,
    /// A hook was there and was replaced (git2s3's own, or with --force).
    pub replaced: bool,
}

/// Writes the script and the secret into the bare repository `repo`.
pub fn install(
    repo: &Path,
    script_text: &str,
    secret: &str,
    force: bool,
) -> Result<Installed, HookError> {
    if !(repo.join("HEAD").is_file() && repo.join("objects").is_dir() && repo.join("refs").is_dir())
    {
        return Err(HookError::NotBare(repo.to_path_buf()));
    }
    if secret.trim().is_empty() {
        return Err(HookError::NoSecret);
    }
    let hook = repo.join("hooks").join("post-receive");
    let existing = std::fs::read_to_string(&hook).ok();
    if let Some(text) = &existing {
        if !text.contains(MARKER) && !force {
            return Err(HookError::Foreign(hook));
        }
    }
    let state = state_dir(repo);
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HookError::Write { path, source }
    };
    std::fs::create_dir_all(&state).map_err(write_err(&state))?;
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700))
        .map_err(write_err(&state))?;
    let secret_path = secret_file(repo);
    write_atomically(&secret_path, secret.trim().as_bytes(), 0o600)
        .map_err(write_err(&secret_path))?;
    std::fs::create_dir_all(repo.join("hooks")).map_err(write_err(&hook))?;
    write_atomically(&hook, script_text.as_bytes(), 0o755).map_err(write_err(&hook))?;
    Ok(Installed {
        hook,
        secret_file: secret_path,
        replaced: existing.is_some(),
    })
}

/// Writes `bytes` to a temporary file created with `mode`, then renames it
/// over `path`: never a half-written hook, never a readable secret.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("git2s3-tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            url: "http://127.0.0.1:8080/gitpull".into(),
            name: "acme/api".into(),
            ssh_url: "ssh://git@host/srv/it's/acme/api.git".into(),
        }
    }

    fn bare_repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::create_dir(dir.path().join("objects")).unwrap();
        std::fs::create_dir(dir.path().join("refs")).unwrap();
        dir
    }

    #[test]
    fn names_come_from_the_last_two_path_parts() {
        assert_eq!(
            default_name(Path::new("/srv/git/acme/api.git")).as_deref(),
            Some("acme/api")
        );
        assert_eq!(
            default_name(Path::new("/srv/git/acme/api.git/")).as_deref(),
            Some("acme/api")
        );
        assert_eq!(default_name(Path::new("/api.git")), None);
    }

    #[test]
    fn the_script_quotes_every_value_and_always_exits_0() {
        let text = script(Path::new("/usr/local/bin/git2s3"), &target(), false);
        assert!(text.starts_with("#!/bin/sh\n# git2s3 post-receive hook"));
        assert!(text.contains("'/usr/local/bin/git2s3' hook send --background"));
        assert!(text.contains(r"--ssh-url 'ssh://git@host/srv/it'\''s/acme/api.git' || true"));
        assert!(text.ends_with("exit 0\n"));
        assert!(!script(Path::new("/x"), &target(), true).contains("--background"));
    }

    #[test]
    fn install_writes_the_hook_and_a_private_secret_and_converges() {
        let repo = bare_repo();
        let text = script(Path::new("/x/git2s3"), &target(), false);
        let first = install(repo.path(), &text, "s3cret\n", false).unwrap();
        assert!(!first.replaced);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&first.hook), 0o755);
        assert_eq!(mode(&first.secret_file), 0o600);
        assert_eq!(mode(&state_dir(repo.path())), 0o700);
        assert_eq!(
            std::fs::read_to_string(&first.secret_file).unwrap(),
            "s3cret"
        );
        let again = install(repo.path(), &text, "s3cret", false).unwrap();
        assert!(again.replaced);
        assert_eq!(std::fs::read_to_string(&again.hook).unwrap(), text);
    }

    #[test]
    fn a_foreign_hook_is_kept_unless_forced() {
        let repo = bare_repo();
        std::fs::create_dir(repo.path().join("hooks")).unwrap();
        let hook = repo.path().join("hooks/post-receive");
        std::fs::write(&hook, "#!/bin/sh\nmail-the-team\n").unwrap();
        let text = script(Path::new("/x/git2s3"), &target(), false);
        let err = install(repo.path(), &text, "s", false).unwrap_err();
        assert!(err.to_string().contains("pass --force"), "{err}");
        assert!(std::fs::read_to_string(&hook)
            .unwrap()
            .contains("mail-the-team"));
        install(repo.path(), &text, "s", true).unwrap();
        assert_eq!(std::fs::read_to_string(&hook).unwrap(), text);
    }

    #[test]
    fn install_refuses_what_is_not_a_bare_repository_or_an_empty_secret() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            install(dir.path(), "x", "s", false),
            Err(HookError::NotBare(_))
        ));
        let repo = bare_repo();
        assert!(matches!(
            install(repo.path(), "x", " ", false),
            Err(HookError::NoSecret)
        ));
    }

    #[test]
    fn validation_names_the_flag() {
        let mut t = target();
        t.name = "api".into();
        assert!(validate(&t)
            .unwrap_err()
            .to_string()
            .contains("--name OWNER/REPO"));
        let mut t = target();
        t.url = "ftp://x".into();
        assert!(matches!(validate(&t), Err(HookError::BadUrl(_))));
    }
}
