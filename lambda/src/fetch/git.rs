//! Git pull: fetch one pushed ref over SSH with libgit2, at depth 1, into
//! a fresh bare repository, authenticating with the deploy key (held in
//! memory, never written to disk) and checking the server's host key.
//!
//! Only git objects touch the disk (`/tmp` on Lambda); the zip is built
//! from the object database by `snapshot` and streamed to S3.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::path::Path;

use git2::{
    AutotagOption, CertificateCheckStatus, Cred, FetchOptions, RemoteCallbacks, Repository,
};

use super::hostkeys::{fingerprint, pattern, KnownHosts};
use crate::layout::GitRef;

/// The deploy key's private half, OpenSSH format. `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct DeployKey(String);

impl DeployKey {
    pub fn new(openssh_pem: impl Into<String>) -> Self {
        DeployKey(openssh_pem.into())
    }

    /// The private key, OpenSSH format, for storing it back in its secret.
    pub fn openssh(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DeployKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeployKey(<redacted>)")
    }
}

/// Where an SSH URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
}

/// Reads `ssh://[user@]host[:port]/path` and scp-like `user@host:path`.
pub fn parse_ssh_url(url: &str) -> Option<SshTarget> {
    let authority = if let Some(rest) = url.strip_prefix("ssh://") {
        rest.split('/').next()?
    } else if url.contains("://") {
        return None;
    } else {
        url.split(':').next()?
    };
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((u, h)) => (u.to_string(), h),
        None => ("git".to_string(), authority),
    };
    let (host, port) = if !url.starts_with("ssh://") {
        (host_port.to_string(), 22)
    } else if let Some(bracketed) = host_port.strip_prefix('[') {
        // [v6-address] or [v6-address]:port
        let (host, rest) = bracketed.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if rest.is_empty() => 22,
            None => return None,
        };
        (host.to_string(), port)
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (host_port.to_string(), 22),
        }
    };
    (!host.is_empty()).then_some(SshTarget { user, host, port })
}

/// The repository's path on the server, as `git-upload-pack` is given it:
/// `/srv/a.git` for `ssh://host/srv/a.git`, `acme/api.git` for
/// `git@host:acme/api.git`.
pub fn ssh_path(url: &str) -> Option<&str> {
    let path = match url.strip_prefix("ssh://") {
        Some(rest) => &rest[rest.find('/')?..],
        None => url.split_once(':')?.1,
    };
    (!path.is_empty()).then_some(path)
}

/// What the host key `blob` of `target` means, when `known_hosts` does
/// not trust it: a key that changed, or a host git2s3 does not know.
pub(crate) fn host_key_problem(
    known_hosts: &KnownHosts,
    target: &SshTarget,
    blob: &[u8],
) -> Option<FetchError> {
    if known_hosts.trusts(&target.host, target.port, blob) {
        return None;
    }
    let host = pattern(&target.host, target.port);
    Some(if known_hosts.knows(&target.host, target.port) {
        FetchError::HostKeyChanged {
            host,
            fingerprint: fingerprint(blob),
        }
    } else {
        FetchError::UnknownHost {
            host,
            hostname: target.host.clone(),
            port_flag: if target.port == 22 {
                String::new()
            } else {
                format!(" -p {}", target.port)
            },
            fingerprint: fingerprint(blob),
        }
    })
}

/// What was fetched.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The commit the ref points at now (peeled, for an annotated tag).
    pub commit: String,
    /// The object the ref points at (the tag object, for an annotated tag).
    pub ref_target: String,
    /// The commit's committer time, seconds since the epoch.
    pub commit_time: i64,
    /// The first line of the commit message, and the author's name.
    pub subject: Option<String>,
    pub author: Option<String>,
    /// How many bytes of pack came over SSH.
    pub received_bytes: u64,
}

/// Why a fetch failed, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{0}` is not an SSH URL (ssh://git@host[:port]/path or git@host:path)")]
    NotSshUrl(String),
    #[error(
        "the SSH host key of {host} ({fingerprint}) is not one git2s3 trusts: if this is your own server, \
         add its key to auth.known_hosts (run `ssh-keyscan{port_flag} {hostname}`) and update the stack"
    )]
    UnknownHost {
        host: String,
        hostname: String,
        port_flag: String,
        fingerprint: String,
    },
    #[error(
        "the SSH host key of {host} changed ({fingerprint} is not the key git2s3 has for it): \
         this may be an attack; if the server's key was rotated, update auth.known_hosts"
    )]
    HostKeyChanged { host: String, fingerprint: String },
    #[error(
        "Permission denied (publickey) for {url}: the deploy key is not registered on this repo. \
         Run: git2s3 register-webhook --repo {repo} --deploy-key"
    )]
    DeployKeyRejected { url: String, repo: String },
    #[error(
        "{git_ref} does not exist in {url}: it was deleted after the push, or the URL is wrong"
    )]
    RefNotFound { url: String, git_ref: String },
    #[error("fetching {git_ref} from {url} failed: {message}")]
    Git {
        url: String,
        git_ref: String,
        message: String,
    },
}

/// libgit2 reads pack files through mapped windows, by default 1 GiB each
/// and up to 8 GiB in all, so reading every blob of a large pack made
/// all of it resident. Windows of [`PACK_WINDOW_BYTES`], at most
/// [`PACK_MAPPED_BYTES`] at once, keep the worker's memory flat whatever
/// the repository's size.
pub const PACK_WINDOW_BYTES: usize = 8 * 1024 * 1024;
pub const PACK_MAPPED_BYTES: usize = 48 * 1024 * 1024;

/// The multi-threaded async runtime both binaries (`bootstrap`, `git2s3`)
/// run on, built after libgit2's pack-window limits are set: libgit2 keeps
/// them in process-wide globals, which must be set before any thread starts.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    limit_pack_memory().map_err(std::io::Error::other)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Sets libgit2's pack-window limits; only [`runtime`] calls it.
#[allow(unsafe_code)]
fn limit_pack_memory() -> Result<(), git2::Error> {
    // SAFETY: called by `runtime` from `main`, before the async runtime or
    // any other thread exists, as git2's documentation of these options requires.
    unsafe {
        git2::opts::set_mwindow_size(PACK_WINDOW_BYTES)?;
        git2::opts::set_mwindow_mapped_limit(PACK_MAPPED_BYTES)?;
    }
    Ok(())
}

/// What every SSH connection to a Git server goes through: the deploy
/// key, offered once, and the server's host key, checked against
/// `known_hosts`. It turns libgit2's errors into ones that name the fix.
struct Checks<'a> {
    url: &'a str,
    repo_name: &'a str,
    target: SshTarget,
    key: &'a DeployKey,
    known_hosts: &'a KnownHosts,
    key_offered: Cell<bool>,
    host_key_problem: RefCell<Option<FetchError>>,
    /// The pack's bytes received so far.
    received_bytes: Cell<usize>,
}

impl<'a> Checks<'a> {
    fn new(
        url: &'a str,
        repo_name: &'a str,
        key: &'a DeployKey,
        known_hosts: &'a KnownHosts,
    ) -> Result<Self, FetchError> {
        let target = parse_ssh_url(url).ok_or_else(|| FetchError::NotSshUrl(url.to_string()))?;
        Ok(Checks {
            url,
            repo_name,
            target,
            key,
            known_hosts,
            key_offered: Cell::new(false),
            host_key_problem: RefCell::new(None),
            received_bytes: Cell::new(0),
        })
    }

    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.transfer_progress(|progress| {
            self.received_bytes.set(progress.received_bytes());
            true
        });
        callbacks.credentials(|_url, username, _allowed| {
            if self.key_offered.replace(true) {
                // libgit2 asks again after the server refused the key.
                return Err(git2::Error::from_str("the server refused the deploy key"));
            }
            Cred::ssh_key_from_memory(
                username.unwrap_or(&self.target.user),
                None,
                &self.key.0,
                None,
            )
        });
        callbacks.certificate_check(|cert, _host| {
            let Some(blob) = cert.as_hostkey().and_then(|h| h.hostkey()) else {
                return Err(git2::Error::from_str("the server sent no SSH host key"));
            };
            let Some(problem) = host_key_problem(self.known_hosts, &self.target, blob) else {
                return Ok(CertificateCheckStatus::CertificateOk);
            };
            *self.host_key_problem.borrow_mut() = Some(problem);
            Err(git2::Error::from_str("untrusted SSH host key"))
        });
        callbacks
    }

    /// What a failed connection or fetch of `what` means.
    fn error(&self, e: git2::Error, what: &str) -> FetchError {
        if let Some(problem) = self.host_key_problem.take() {
            return problem;
        }
        let message = e.message().to_ascii_lowercase();
        if self.key_offered.get()
            && (e.code() == git2::ErrorCode::Auth
                || message.contains("refused the deploy key")
                || message.contains("authentication"))
        {
            return FetchError::DeployKeyRejected {
                url: self.url.to_string(),
                repo: self.repo_name.to_string(),
            };
        }
        if message.contains("couldn't find remote ref") || message.contains("not found") {
            return FetchError::RefNotFound {
                url: self.url.to_string(),
                git_ref: what.to_string(),
            };
        }
        FetchError::Git {
            url: self.url.to_string(),
            git_ref: what.to_string(),
            message: e.message().to_string(),
        }
    }
}

/// Every branch and tag of the repository at `url` and the commit each
/// points at (an annotated tag's peeled commit), as `git ls-remote` lists
/// them: one SSH connection, nothing fetched.
pub fn list_heads(
    url: &str,
    repo_name: &str,
    key: &DeployKey,
    known_hosts: &KnownHosts,
) -> Result<Vec<(String, String)>, FetchError> {
    let checks = Checks::new(url, repo_name, key, known_hosts)?;
    let what = "its branches and tags";
    let mut remote = git2::Remote::create_detached(url).map_err(|e| checks.error(e, what))?;
    let connection = remote
        .connect_auth(git2::Direction::Fetch, Some(checks.callbacks()), None)
        .map_err(|e| checks.error(e, what))?;
    let listed = connection.list().map_err(|e| checks.error(e, what))?;
    let mut heads: Vec<(String, String)> = Vec::new();
    for head in listed {
        let name = head.name();
        let oid = head.oid().to_string();
        if let Some(tag) = name.strip_suffix("^{}") {
            // The commit an annotated tag points at, listed after the tag.
            match heads.iter_mut().find(|(n, _)| n == tag) {
                Some(entry) => entry.1 = oid,
                None => heads.push((tag.to_string(), oid)),
            }
        } else if name.starts_with("refs/heads/") || name.starts_with("refs/tags/") {
            heads.push((name.to_string(), oid));
        }
    }
    Ok(heads)
}

/// Fetches `git_ref` from `url` into a new bare repository at `dir`.
pub fn fetch(
    url: &str,
    repo_name: &str,
    git_ref: &GitRef,
    key: &DeployKey,
    known_hosts: &KnownHosts,
    dir: &Path,
) -> Result<Fetched, FetchError> {
    let checks = Checks::new(url, repo_name, key, known_hosts)?;
    let full_ref = git_ref.full_name();
    let git_error = |e: git2::Error| FetchError::Git {
        url: url.to_string(),
        git_ref: full_ref.clone(),
        message: e.message().to_string(),
    };
    let repo = Repository::init_bare(dir).map_err(git_error)?;
    let mut remote = repo.remote_anonymous(url).map_err(git_error)?;
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(checks.callbacks())
        .depth(1)
        .download_tags(AutotagOption::None);
    let refspec = format!("+{full_ref}:refs/git2s3/fetched");
    let result = remote.fetch(&[refspec.as_str()], Some(&mut options), None);
    drop(options);
    if let Err(e) = result {
        return Err(checks.error(e, &full_ref));
    }
    let received_bytes = checks.received_bytes.get() as u64;
    let reference = repo
        .find_reference("refs/git2s3/fetched")
        .map_err(git_error)?;
    let ref_target = reference.target().ok_or_else(|| {
        git_error(git2::Error::from_str(
            "the fetched ref is not a direct reference",
        ))
    })?;
    let fetched = Fetched::read(&repo, ref_target).map_err(git_error)?;
    Ok(Fetched {
        received_bytes,
        ..fetched
    })
}

impl Fetched {
    /// What was fetched into `repo`, for the ref at `ref_target` (a commit,
    /// or an annotated tag).
    pub(crate) fn read(repo: &Repository, ref_target: git2::Oid) -> Result<Fetched, git2::Error> {
        let commit = repo.find_object(ref_target, None)?.peel_to_commit()?;
        let subject = commit
            .summary_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let author = String::from_utf8_lossy(commit.author().name_bytes()).into_owned();
        Ok(Fetched {
            commit: commit.id().to_string(),
            ref_target: ref_target.to_string(),
            commit_time: commit.time().seconds(),
            subject,
            author: Some(author),
            received_bytes: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_urls_of_both_forms_are_read() {
        let t = |user: &str, host: &str, port| SshTarget {
            user: user.into(),
            host: host.into(),
            port,
        };
        assert_eq!(
            parse_ssh_url("git@github.com:acme/api.git"),
            Some(t("git", "github.com", 22))
        );
        assert_eq!(
            parse_ssh_url("ssh://git@bitbucket.example.com:7999/proj/repo.git"),
            Some(t("git", "bitbucket.example.com", 7999))
        );
        assert_eq!(
            parse_ssh_url("ssh://deploy@127.0.0.1/srv/a.git"),
            Some(t("deploy", "127.0.0.1", 22))
        );
        assert_eq!(
            parse_ssh_url("ssh://git@[::1]:2222/a.git"),
            Some(t("git", "::1", 2222))
        );
        assert_eq!(
            parse_ssh_url("ssh://git@[::1]/a.git"),
            Some(t("git", "::1", 22))
        );
        assert_eq!(parse_ssh_url("https://github.com/acme/api.git"), None);
    }

    #[test]
    fn the_path_upload_pack_is_given_is_the_urls() {
        assert_eq!(
            ssh_path("git@github.com:acme/api.git"),
            Some("acme/api.git")
        );
        assert_eq!(
            ssh_path("ssh://git@bitbucket.example.com:7999/proj/repo.git"),
            Some("/proj/repo.git")
        );
        assert_eq!(ssh_path("ssh://git@[::1]:2222/a.git"), Some("/a.git"));
        assert_eq!(ssh_path("ssh://git@host"), None);
    }

    #[test]
    fn the_deploy_key_never_shows_in_debug_output() {
        let key = DeployKey::new("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n");
        assert!(!format!("{key:?}").contains("secret"));
    }
}
