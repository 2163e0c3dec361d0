//! Zip download: the provider's zip archive of the pushed commit, fetched
//! over HTTPS with the token and rewritten on the fly without the
//! provider's top-level folder (`owner-repo-sha/`).
//!
//! The archive is read front to back as it arrives: each entry's
//! compressed bytes are copied raw, never recompressed, into git2s3's own
//! [`ZipWriter`]. Where an entry's sizes follow its data (a data
//! descriptor), the deflate stream is inflated only to find where it ends.
//! Unix modes (executable bit, symlinks) are only in the archive's central
//! directory, at the end; they are applied to the entries already written
//! before git2s3 writes its own central directory. Nothing touches the disk.
//!
//! TLS is always verified. A status other than 200, or a body that is not
//! a zip, is an error: the Quick Start unzipped error pages.

use std::collections::HashMap;
use std::io::{self, BufRead, Read, Write};

use crate::job::Job;
use crate::zip::{
    Deflated, DosTime, Entry, ZipWriter, CENTRAL_HEADER, DATA_DESCRIPTOR, END_OF_CENTRAL_DIRECTORY,
    LOCAL_HEADER, METHOD_DEFLATE, METHOD_STORE, MODE_FILE, ZIP64_END_OF_CENTRAL_DIRECTORY,
};
use crate::Provider;

const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
const FLAG_ENCRYPTED: u16 = 1;

/// How the worker authenticates to the provider's archive endpoint.
#[derive(Clone)]
pub enum Credentials {
    /// A personal, project or repository access token.
    Token(String),
    /// A Bitbucket Cloud OAuth consumer, exchanged for an access token.
    OauthConsumer { key: String, secret: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::Token(_) => "Token(<redacted>)",
            Credentials::OauthConsumer { .. } => "OauthConsumer(<redacted>)",
        })
    }
}

/// Where the provider's APIs are. Each field has the public service's
/// address as default; tests point them at a local server.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// GitHub Enterprise Server, GitLab self-managed or Bitbucket Data
    /// Center API base (`https://HOST/api/v3`, `https://HOST/api/v4`,
    /// `https://HOST`). `None` for the cloud services.
    pub api_url: Option<String>,
    pub github: String,
    pub gitlab: String,
    pub bitbucket: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            api_url: None,
            github: "https://api.github.com".into(),
            gitlab: "https://gitlab.com/api/v4".into(),
            bitbucket: "https://bitbucket.org".into(),
        }
    }
}

/// Why a download failed, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the {0} provider has no archive to download: use the git-pull method (/gitpull)")]
    NoArchiveApi(Provider),
    #[error("{provider} needs its API URL for zip download: set api_url in git2s3.yaml (ProviderApiUrl on the stack)")]
    NoApiUrl { provider: Provider },
    #[error(
        "the {provider} payload for {repo} has no project id, which GitLab's archive API needs"
    )]
    NoProjectId { provider: Provider, repo: String },
    #[error("`{0}` is not an https:// URL; git2s3 sends tokens only over verified TLS (plain http only to loopback, for tests)")]
    NotHttps(String),
    #[error("{provider} answered {status} for GET {url}: {hint}")]
    Status {
        provider: Provider,
        status: u16,
        url: String,
        hint: &'static str,
    },
    #[error("GET {url} failed: {message}")]
    Http { url: String, message: String },
    #[error("the answer from {url} is not a zip archive (it starts with {start:?}); nothing was written")]
    NotZip { url: String, start: String },
    #[error("the archive is not readable: {0}")]
    Format(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn check_url(url: &str) -> Result<(), ArchiveError> {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| url.starts_with(p) && url[p.len()..].starts_with([':', '/']));
    if url.starts_with("https://") || loopback {
        Ok(())
    } else {
        Err(ArchiveError::NotHttps(url.to_string()))
    }
}

/// The archive URL of the job's commit.
pub fn archive_url(job: &Job, endpoints: &Endpoints) -> Result<String, ArchiveError> {
    let base = |default: &str| {
        endpoints
            .api_url
            .clone()
            .unwrap_or_else(|| default.to_string())
    };
    // Providers on the user's own host have no default address.
    let own_api = || {
        endpoints.api_url.clone().ok_or(ArchiveError::NoApiUrl {
            provider: job.provider,
        })
    };
    let trim = |s: String| s.trim_end_matches('/').to_string();
    let url = match job.provider {
        Provider::Github | Provider::GithubEnterprise => {
            let api = match job.provider {
                Provider::Github => endpoints.github.clone(),
                _ => own_api()?,
            };
            format!("{}/repos/{}/zipball/{}", trim(api), job.repo, job.commit)
        }
        Provider::Gitlab => {
            let id = job
                .project_id
                .clone()
                .ok_or_else(|| ArchiveError::NoProjectId {
                    provider: job.provider,
                    repo: job.repo.clone(),
                })?;
            format!(
                "{}/projects/{id}/repository/archive.zip?sha={}",
                trim(base(&endpoints.gitlab)),
                job.commit
            )
        }
        Provider::Bitbucket => format!(
            "{}/{}/get/{}.zip",
            trim(endpoints.bitbucket.clone()),
            job.repo,
            job.commit
        ),
        Provider::BitbucketServer => {
            let api = own_api()?;
            let (project, slug) = job.repo.split_once('/').unwrap_or((&job.repo, ""));
            format!(
                "{}/rest/api/latest/projects/{project}/repos/{slug}/archive?at={}&format=zip",
                trim(api),
                job.commit
            )
        }
        Provider::Generic => return Err(ArchiveError::NoArchiveApi(job.provider)),
    };
    check_url(&url)?;
    Ok(url)
}

fn status_hint(provider: Provider, status: u16) -> &'static str {
    match (provider, status) {
        (_, 401) => "the token is invalid or expired: store a new one in the git-token secret",
        (Provider::Github | Provider::GithubEnterprise, 403 | 404) => {
            "the repo or commit does not exist, or the token cannot read it (classic token: repo scope; fine-grained: Contents read)"
        }
        (Provider::Gitlab, 403 | 404) => {
            "the project or commit does not exist, or the token cannot read it (it needs the read_repository or read_api scope)"
        }
        (Provider::Bitbucket | Provider::BitbucketServer, 403 | 404) => {
            "the repo or commit does not exist, or the token cannot read it (it needs repository read access)"
        }
        (_, 429) => "rate limited: the job is retried by the queue",
        _ => "see the provider's status page; the job is retried by the queue",
    }
}

/// Exchanges a Bitbucket OAuth consumer for an access token (client credentials grant).
fn bitbucket_token(
    client: &reqwest::blocking::Client,
    base: &str,
    key: &str,
    secret: &str,
) -> Result<String, ArchiveError> {
    let url = format!("{}/site/oauth2/access_token", base.trim_end_matches('/'));
    check_url(&url)?;
    let response = client
        .post(&url)
        .basic_auth(key, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .map_err(|e| ArchiveError::Http {
            url: url.clone(),
            message: e.to_string(),
        })?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(ArchiveError::Status {
            provider: Provider::Bitbucket,
            status,
            url,
            hint: "the OAuth consumer key or secret is wrong, or the consumer is not private",
        });
    }
    let body: serde_json::Value = response.json().map_err(|e| ArchiveError::Http {
        url: url.clone(),
        message: e.to_string(),
    })?;
    body["access_token"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| ArchiveError::Http {
            url,
            message: "no access_token in the answer".into(),
        })
}

/// Downloads the job's archive and writes it, top folder stripped, into `zip`.
pub fn download<W: Write>(
    job: &Job,
    endpoints: &Endpoints,
    credentials: &Credentials,
    zip: &mut ZipWriter<W>,
) -> Result<u64, ArchiveError> {
    let url = archive_url(job, endpoints)?;
    let client = reqwest::blocking::Client::builder()
        .user_agent(concat!("git2s3/", env!("CARGO_PKG_VERSION")))
        .timeout(None)
        .build()
        .map_err(|e| ArchiveError::Http {
            url: url.clone(),
            message: e.to_string(),
        })?;
    let mut request = client.get(&url);
    request = match (job.provider, credentials) {
        (Provider::Gitlab, Credentials::Token(t)) => request.header("PRIVATE-TOKEN", t),
        (Provider::Github | Provider::GithubEnterprise, Credentials::Token(t)) => request
            .bearer_auth(t)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28"),
        (_, Credentials::Token(t)) => request.bearer_auth(t),
        (_, Credentials::OauthConsumer { key, secret }) => {
            request.bearer_auth(bitbucket_token(&client, &endpoints.bitbucket, key, secret)?)
        }
    };
    let response = request.send().map_err(|e| ArchiveError::Http {
        url: url.clone(),
        message: e.to_string(),
    })?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(ArchiveError::Status {
            provider: job.provider,
            status,
            hint: status_hint(job.provider, status),
            url,
        });
    }
    let mut body = io::BufReader::with_capacity(256 * 1024, response);
    let start = body.fill_buf()?;
    if !start.starts_with(b"PK\x03\x04") {
        return Err(ArchiveError::NotZip {
            start: String::from_utf8_lossy(&start[..start.len().min(40)]).into_owned(),
            url,
        });
    }
    rewrite(body, zip)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn read_vec<R: Read>(r: &mut R, n: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0; n];
    r.read_exact(&mut v)?;
    Ok(v)
}

/// The name without its first component, or `None` for the top folder
/// itself and for directory entries.
fn strip_top(name: &str, top: &mut Option<String>) -> Result<Option<String>, ArchiveError> {
    let (first, rest) = name.split_once('/').unwrap_or((name, ""));
    match top {
        None => *top = Some(first.to_string()),
        Some(t) if t != first => {
            return Err(ArchiveError::Format(format!(
                "entries are not all under one top folder (`{t}/` and `{first}/`)"
            )))
        }
        _ => {}
    }
    Ok((!rest.is_empty() && !rest.ends_with('/')).then(|| rest.to_string()))
}

/// Rewrites a zip read front to back into `zip`, dropping the top folder.
/// Returns the number of files written.
pub fn rewrite<R: BufRead, W: Write>(
    mut src: R,
    zip: &mut ZipWriter<W>,
) -> Result<u64, ArchiveError> {
    let mut top = None;
    let mut files = 0;
    let mut written: HashMap<String, String> = HashMap::new(); // source name -> our name
    loop {
        let mut sig = [0u8; 4];
        src.read_exact(&mut sig)?;
        match u32::from_le_bytes(sig) {
            LOCAL_HEADER => {}
            CENTRAL_HEADER => {
                apply_central_modes(&mut src, zip, &written)?;
                return Ok(files);
            }
            END_OF_CENTRAL_DIRECTORY | ZIP64_END_OF_CENTRAL_DIRECTORY => return Ok(files),
            other => {
                return Err(ArchiveError::Format(format!(
                    "unexpected record {other:#010x}"
                )))
            }
        }
        let h = read_vec(&mut src, 26)?;
        let flags = u16_at(&h, 2);
        let method = u16_at(&h, 4);
        let modified = DosTime {
            time: u16_at(&h, 6),
            date: u16_at(&h, 8),
        };
        let mut crc32 = u32_at(&h, 10);
        let mut compressed = u64::from(u32_at(&h, 14));
        let mut uncompressed = u64::from(u32_at(&h, 18));
        let name = String::from_utf8(read_vec(&mut src, usize::from(u16_at(&h, 22)))?)
            .map_err(|_| ArchiveError::Format("an entry name is not UTF-8".into()))?;
        let extra = read_vec(&mut src, usize::from(u16_at(&h, 24)))?;
        if flags & FLAG_ENCRYPTED != 0 {
            return Err(ArchiveError::Format(format!("{name} is encrypted")));
        }
        if compressed == u64::from(u32::MAX) || uncompressed == u64::from(u32::MAX) {
            (uncompressed, compressed) = zip64_sizes(&extra, uncompressed, compressed)?;
        }
        let data = if flags & FLAG_DATA_DESCRIPTOR != 0 {
            if method != METHOD_DEFLATE {
                return Err(ArchiveError::Format(format!(
                    "{name} is stored with its size after the data, which cannot be read as a stream"
                )));
            }
            let Deflated {
                raw,
                crc32: ours,
                size: out,
            } = Deflated::copy(&mut src)
                .map_err(|e| ArchiveError::Format(format!("{name}: {e}")))?;
            // Data descriptor: optional signature, CRC, sizes (8 bytes each in zip64).
            let mut d = read_vec(&mut src, 4)?;
            if u32_at(&d, 0) == DATA_DESCRIPTOR {
                d = read_vec(&mut src, 4)?;
            }
            crc32 = u32_at(&d, 0);
            if crc32 != ours {
                return Err(ArchiveError::Format(format!(
                    "{name}: the CRC in the data descriptor does not match the data"
                )));
            }
            let sizes = read_vec(&mut src, 8)?;
            let (c, u) = (u64::from(u32_at(&sizes, 0)), u64::from(u32_at(&sizes, 4)));
            if c != raw.len() as u64 || u != out {
                // A zip64 descriptor: 8-byte sizes.
                let more = read_vec(&mut src, 8)?;
                let c64 = u64::from_le_bytes(sizes.clone().try_into().expect("8 bytes"));
                let u64_ = u64::from_le_bytes(more.try_into().expect("8 bytes"));
                if c64 != raw.len() as u64 || u64_ != out {
                    return Err(ArchiveError::Format(format!(
                        "{name}: the data descriptor does not match the data"
                    )));
                }
            }
            uncompressed = out;
            raw
        } else {
            read_vec(
                &mut src,
                usize::try_from(compressed)
                    .map_err(|_| ArchiveError::Format("entry too large".into()))?,
            )?
        };
        if method != METHOD_DEFLATE && method != METHOD_STORE {
            return Err(ArchiveError::Format(format!(
                "{name} uses compression method {method}, not deflate or store"
            )));
        }
        if let Some(ours) = strip_top(&name, &mut top)? {
            zip.add(&Entry {
                name: ours.clone(),
                mode: MODE_FILE,
                method,
                crc32,
                uncompressed_size: uncompressed,
                modified,
                data,
            })?;
            written.insert(name, ours);
            files += 1;
        }
    }
}

fn zip64_sizes(
    extra: &[u8],
    uncompressed: u64,
    compressed: u64,
) -> Result<(u64, u64), ArchiveError> {
    let mut at = 0;
    while at + 4 <= extra.len() {
        let (id, len) = (u16_at(extra, at), usize::from(u16_at(extra, at + 2)));
        if id == 1 && at + 4 + len <= extra.len() {
            let f = &extra[at + 4..at + 4 + len];
            let mut pos = 0;
            let mut next = |current: u64| -> u64 {
                if current == u64::from(u32::MAX) && pos + 8 <= f.len() {
                    let v = u64::from_le_bytes(f[pos..pos + 8].try_into().expect("8 bytes"));
                    pos += 8;
                    v
                } else {
                    current
                }
            };
            let u = next(uncompressed);
            let c = next(compressed);
            return Ok((u, c));
        }
        at += 4 + len;
    }
    Err(ArchiveError::Format(
        "a zip64 entry has no zip64 sizes".into(),
    ))
}

/// Reads the source's central directory (its first signature already
/// read) and applies its Unix modes to the entries written.
fn apply_central_modes<R: Read, W: Write>(
    src: &mut R,
    zip: &mut ZipWriter<W>,
    written: &HashMap<String, String>,
) -> Result<(), ArchiveError> {
    let mut modes = HashMap::new();
    loop {
        let h = read_vec(src, 42)?;
        let made_by_unix = u16_at(&h, 0) >> 8 == 3;
        let (name_len, extra_len, comment_len) = (
            usize::from(u16_at(&h, 24)),
            usize::from(u16_at(&h, 26)),
            usize::from(u16_at(&h, 28)),
        );
        let external = u32_at(&h, 34);
        let name = String::from_utf8_lossy(&read_vec(src, name_len)?).into_owned();
        read_vec(src, extra_len + comment_len)?;
        let mode = external >> 16;
        if made_by_unix && mode != 0 {
            if let Some(ours) = written.get(&name) {
                modes.insert(ours.clone(), mode);
            }
        }
        let mut sig = [0u8; 4];
        src.read_exact(&mut sig)?;
        if u32::from_le_bytes(sig) != CENTRAL_HEADER {
            break;
        }
    }
    zip.set_modes(&modes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::process::Command;

    use super::*;
    use crate::test_git::git_bytes as git;
    use crate::zip::MODE_EXECUTABLE;

    fn job(provider: Provider, repo: &str, project_id: Option<&str>) -> Job {
        Job {
            provider,
            method: crate::job::Method::ZipDownload,
            repo: repo.into(),
            git_ref: "refs/heads/main".into(),
            commit: "c".repeat(40),
            ssh_url: None,
            project_id: project_id.map(String::from),
            delivery_id: "d".into(),
            pusher: None,
        }
    }

    #[test]
    fn archive_urls_per_provider() {
        let e = Endpoints::default();
        let sha = "c".repeat(40);
        assert_eq!(
            archive_url(&job(Provider::Github, "acme/api", None), &e).unwrap(),
            format!("https://api.github.com/repos/acme/api/zipball/{sha}")
        );
        assert_eq!(
            archive_url(&job(Provider::Gitlab, "g/sub/api", Some("42")), &e).unwrap(),
            format!("https://gitlab.com/api/v4/projects/42/repository/archive.zip?sha={sha}")
        );
        assert_eq!(
            archive_url(&job(Provider::Bitbucket, "ws/api", None), &e).unwrap(),
            format!("https://bitbucket.org/ws/api/get/{sha}.zip")
        );
        let own = Endpoints {
            api_url: Some("https://git.example.com/".into()),
            ..Endpoints::default()
        };
        assert_eq!(
            archive_url(&job(Provider::BitbucketServer, "PROJ/api", None), &own).unwrap(),
            format!("https://git.example.com/rest/api/latest/projects/PROJ/repos/api/archive?at={sha}&format=zip")
        );
        assert!(matches!(
            archive_url(&job(Provider::GithubEnterprise, "a/b", None), &e),
            Err(ArchiveError::NoApiUrl { .. })
        ));
        assert!(matches!(
            archive_url(&job(Provider::Generic, "a/b", None), &e),
            Err(ArchiveError::NoArchiveApi(_))
        ));
        let plain = Endpoints {
            api_url: Some("http://git.example.com".into()),
            ..Endpoints::default()
        };
        assert!(matches!(
            archive_url(&job(Provider::GithubEnterprise, "a/b", None), &plain),
            Err(ArchiveError::NotHttps(_))
        ));
        let local = Endpoints {
            api_url: Some("http://127.0.0.1:9000".into()),
            ..Endpoints::default()
        };
        assert!(archive_url(&job(Provider::GithubEnterprise, "a/b", None), &local).is_ok());
    }

    fn sample() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(d.join("src")).unwrap();
        std::fs::write(d.join("README.md"), "text\n".repeat(1000)).unwrap();
        std::fs::write(d.join("src/lib.rs"), "fn f() {}\n").unwrap();
        std::fs::write(d.join(".gitignore"), "target\n").unwrap();
        std::fs::write(d.join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            d.join("run.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("README.md", d.join("link")).unwrap();
        git(d, &["add", "-A"]);
        git(d, &["commit", "-q", "-m", "x"]);
        let head = String::from_utf8(git(d, &["rev-parse", "HEAD"]))
            .unwrap()
            .trim()
            .to_string();
        (dir, head)
    }

    fn entries(bytes: Vec<u8>) -> Vec<(String, u32, Vec<u8>)> {
        let mut a = ::zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut v: Vec<_> = (0..a.len())
            .map(|i| {
                let mut f = a.by_index(i).unwrap();
                let mut c = Vec::new();
                f.read_to_end(&mut c).unwrap();
                (f.name().to_string(), f.unix_mode().unwrap_or(0), c)
            })
            .collect();
        v.sort();
        v
    }

    fn rewritten(archive: Vec<u8>) -> Vec<(String, u32, Vec<u8>)> {
        let mut zip = ZipWriter::new(Vec::new());
        let files = rewrite(Cursor::new(archive), &mut zip).unwrap();
        let (bytes, _) = zip.finish().unwrap();
        let e = entries(bytes);
        assert_eq!(files as usize, e.len());
        e
    }

    /// What git2s3's own git-pull path makes of the same commit.
    fn expected(dir: &tempfile::TempDir, head: &str) -> Vec<(String, u32, Vec<u8>)> {
        let (bytes, _) =
            crate::snapshot::write_zip(&dir.path().join(".git"), head, Vec::new()).unwrap();
        entries(bytes)
    }

    #[test]
    fn git_archive_output_is_rewritten_raw_without_its_top_folder() {
        let (dir, head) = sample();
        let prefix = format!("--prefix=acme-api-{}/", &head[..7]);
        let archive = git(dir.path(), &["archive", "--format=zip", &prefix, &head]);
        let got = rewritten(archive);
        assert_eq!(got, expected(&dir, &head));
        assert!(got
            .iter()
            .any(|(n, m, _)| n == "run.sh" && *m == MODE_EXECUTABLE));
    }

    #[test]
    fn streamed_entries_with_data_descriptors_are_read() {
        let (dir, head) = sample();
        // Files above bigFileThreshold are streamed, sizes after the data.
        let archive = git(
            dir.path(),
            &[
                "-c",
                "core.bigFileThreshold=1",
                "archive",
                "--format=zip",
                "--prefix=top/",
                &head,
            ],
        );
        assert_eq!(rewritten(archive), expected(&dir, &head));
    }

    /// Info-ZIP's `zip` writing to a pipe cannot seek back, so every entry's
    /// sizes follow its data; deflated ones are read, and a stored one,
    /// which no stream reader can delimit, is refused by name.
    #[test]
    fn info_zip_writing_to_a_pipe_is_read_or_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        std::fs::create_dir_all(top.join("src")).unwrap();
        std::fs::write(top.join("README.md"), "text\n".repeat(1000)).unwrap();
        std::fs::write(top.join("src/lib.rs"), "pub fn f() {}\n".repeat(20)).unwrap();
        let zip_pipe = |dir: &std::path::Path| {
            let out = Command::new("sh")
                .args(["-c", "zip -q -r -y - top | cat"])
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(out.status.success());
            out.stdout
        };
        let got: Vec<(String, Vec<u8>)> = rewritten(zip_pipe(dir.path()))
            .into_iter()
            .map(|(n, _, c)| (n, c))
            .collect();
        assert_eq!(
            got,
            vec![
                ("README.md".to_string(), "text\n".repeat(1000).into_bytes()),
                (
                    "src/lib.rs".to_string(),
                    "pub fn f() {}\n".repeat(20).into_bytes()
                ),
            ]
        );
        // `zip -y` stores a symlink as its target, uncompressed.
        std::os::unix::fs::symlink("README.md", top.join("link")).unwrap();
        let mut zip = ZipWriter::new(Vec::new());
        let err = rewrite(Cursor::new(zip_pipe(dir.path())), &mut zip).unwrap_err();
        assert!(
            err.to_string()
                .contains("top/link is stored with its size after the data"),
            "{err}"
        );
    }

    #[test]
    fn error_pages_and_mixed_folders_are_refused() {
        let mut zip = ZipWriter::new(Vec::new());
        assert!(rewrite(Cursor::new(b"<html>rate limited</html>".to_vec()), &mut zip).is_err());
        let mut top = None;
        assert_eq!(strip_top("a/x", &mut top).unwrap(), Some("x".into()));
        assert_eq!(strip_top("a/", &mut top).unwrap(), None);
        assert!(strip_top("b/y", &mut top).is_err());
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let c = Credentials::Token("glpat-secret".into());
        assert!(!format!("{c:?}").contains("glpat"));
    }
}
