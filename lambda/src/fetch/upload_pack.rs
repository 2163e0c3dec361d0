//! git2s3's own fetch client, for the warm path: it asks the server for a
//! ref's commit at depth 1 with the commit the previous zip was built from
//! as a `have`, and for a self-contained pack (no `thin-pack`), so the
//! server sends the new commit, its changed trees and its changed blobs,
//! each whole or as a delta on an object in the same pack. libgit2 cannot
//! ask for that: it always asks for a thin pack.
//!
//! It speaks protocol v2's `ls-refs` and `fetch` (`gitprotocol-v2(5)`) to
//! `git-upload-pack` over SSH, with the same host-key check and deploy key
//! as [`super::git`]. A server that offers only v0, or no shallow fetch,
//! is answered [`Since::Unsupported`] and the worker builds cold. The pack
//! goes through libgit2's pack writer (its indexer), which resolves the
//! pack's deltas and checks its checksum.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use git2::{Oid, Repository};

use super::git::{host_key_problem, parse_ssh_url, ssh_path, DeployKey, FetchError, Fetched};
use super::hostkeys::KnownHosts;
use crate::layout::GitRef;

/// How long a connection or a read may take before the fetch fails.
const TIMEOUT: Duration = Duration::from_secs(120);
const MAX_PKT: usize = 65_520;

/// What a warm fetch came to.
#[derive(Debug)]
pub enum Since {
    /// The new objects are in the repository.
    Fetched(Fetched),
    /// The ref already points at the old commit: nothing to fetch.
    Unchanged,
    /// The server does not have the old commit (a force push, then gc).
    OldCommitGone,
    /// The server cannot do it; the reason is logged and the build is cold.
    Unsupported(String),
}

/// One pkt-line (`gitprotocol-common(5)`).
#[derive(Debug, PartialEq, Eq)]
enum Pkt {
    Flush,
    Delim,
    ResponseEnd,
    Data(Vec<u8>),
}

fn bad_reply(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn read_pkt(r: &mut impl Read) -> io::Result<Pkt> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = std::str::from_utf8(&len)
        .ok()
        .and_then(|l| usize::from_str_radix(l, 16).ok())
        .ok_or_else(|| bad_reply(format!("not a pkt-line length: {len:?}")))?;
    match len {
        0 => Ok(Pkt::Flush),
        1 => Ok(Pkt::Delim),
        2 => Ok(Pkt::ResponseEnd),
        3 => Err(bad_reply("a pkt-line of length 3")),
        n if n > MAX_PKT + 4 => Err(bad_reply(format!("a pkt-line of {n} bytes"))),
        n => {
            let mut data = vec![0u8; n - 4];
            r.read_exact(&mut data)?;
            if data.starts_with(b"ERR ") {
                return Err(io::Error::other(format!(
                    "the server says: {}",
                    String::from_utf8_lossy(&data[4..]).trim_end()
                )));
            }
            Ok(Pkt::Data(data))
        }
    }
}

/// A text pkt-line's content, without its newline.
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data.strip_suffix(b"\n").unwrap_or(data)).into_owned()
}

fn pkt(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(format!("{:04x}", line.len() + 4).as_bytes());
    out.extend_from_slice(line.as_bytes());
}

/// The lines up to the next flush (or delimiter), as text.
fn lines_until_end(r: &mut impl Read) -> io::Result<(Vec<String>, Pkt)> {
    let mut lines = Vec::new();
    loop {
        match read_pkt(r)? {
            Pkt::Data(d) => lines.push(text(&d)),
            end => return Ok((lines, end)),
        }
    }
}

/// What the server offers, from its v2 capability advertisement.
struct Capabilities {
    fetch: Vec<String>,
    ls_refs: bool,
    object_format: Option<String>,
}

/// Reads the advertisement; `None` when the server speaks v0 or v1.
fn capabilities(r: &mut impl Read) -> io::Result<Option<Capabilities>> {
    let first = match read_pkt(r)? {
        Pkt::Data(d) => text(&d),
        other => return Err(bad_reply(format!("the server began with {other:?}"))),
    };
    if first != "version 2" {
        return Ok(None);
    }
    let (lines, _) = lines_until_end(r)?;
    let mut caps = Capabilities {
        fetch: Vec::new(),
        ls_refs: false,
        object_format: None,
    };
    for line in lines {
        let (key, value) = line.split_once('=').unwrap_or((&line, ""));
        match key {
            "fetch" => caps.fetch = value.split(' ').map(String::from).collect(),
            "ls-refs" => caps.ls_refs = true,
            "object-format" => caps.object_format = Some(value.to_string()),
            _ => {}
        }
    }
    Ok(Some(caps))
}

/// The object `full_ref` points at, and the commit it peels to.
fn ls_ref(
    conn: &mut (impl Read + Write),
    full_ref: &str,
) -> io::Result<Option<(Oid, Option<Oid>)>> {
    let mut req = Vec::new();
    pkt(&mut req, "command=ls-refs\n");
    req.extend_from_slice(b"0001");
    pkt(&mut req, "peel\n");
    pkt(&mut req, &format!("ref-prefix {full_ref}\n"));
    req.extend_from_slice(b"0000");
    conn.write_all(&req)?;
    conn.flush()?;
    let (lines, _) = lines_until_end(conn)?;
    for line in lines {
        let mut words = line.split(' ');
        let (Some(oid), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        if name != full_ref {
            continue;
        }
        let oid = Oid::from_str(oid).map_err(|_| bad_reply(format!("ls-refs gave {line:?}")))?;
        let peeled = words
            .find_map(|w| w.strip_prefix("peeled:"))
            .and_then(|p| Oid::from_str(p).ok());
        return Ok(Some((oid, peeled)));
    }
    Ok(None)
}

/// The fetch request: `want`, with `old` as a `have` (and as a shallow
/// commit, since git2s3 holds none of its history), no thin pack.
///
/// The first asks for no depth: when the new commit descends from the old
/// one, the server then sends the commits since it, and only the trees and
/// blobs they add. (At depth 1 it would cut the new commit's parents, and
/// with them the edge at which it leaves out what the old commit holds.)
/// When the server is not ready after it (unrelated history), the second
/// asks for the new commit alone, at depth 1, and says `done`.
fn fetch_request(want: Oid, old: Oid, unrelated: bool) -> Vec<u8> {
    let mut req = Vec::new();
    pkt(&mut req, "command=fetch\n");
    req.extend_from_slice(b"0001");
    for line in [
        "ofs-delta\n".to_string(),
        "no-progress\n".to_string(),
        format!("want {want}\n"),
        format!("have {old}\n"),
        format!("shallow {old}\n"),
    ] {
        pkt(&mut req, &line);
    }
    if unrelated {
        pkt(&mut req, "deepen 1\n");
        pkt(&mut req, "done\n");
    }
    req.extend_from_slice(b"0000");
    req
}

/// Reads the fetch response's sections after the acknowledgments, and
/// writes the pack into `sink`; answers the pack's size.
fn read_pack(r: &mut impl Read, sink: &mut impl Write) -> io::Result<u64> {
    loop {
        let header = match read_pkt(r)? {
            Pkt::Data(d) => text(&d),
            other => return Err(bad_reply(format!("expected a section, got {other:?}"))),
        };
        if header == "packfile" {
            break;
        }
        // shallow-info, wanted-refs: nothing git2s3 keeps.
        match lines_until_end(r)?.1 {
            Pkt::Delim => continue,
            end => {
                return Err(bad_reply(format!(
                    "the {header} section ended with {end:?}"
                )))
            }
        }
    }
    let mut bytes = 0u64;
    loop {
        match read_pkt(r)? {
            Pkt::Data(d) => match d.first() {
                Some(1) => {
                    sink.write_all(&d[1..])?;
                    bytes += d.len() as u64 - 1;
                }
                Some(2) => {}
                Some(3) => {
                    return Err(io::Error::other(format!(
                        "the server stopped sending the pack: {}",
                        text(&d[1..])
                    )))
                }
                _ => return Err(bad_reply("a pack line with no sideband")),
            },
            Pkt::Flush | Pkt::ResponseEnd => return Ok(bytes),
            Pkt::Delim => return Err(bad_reply("a delimiter inside the pack")),
        }
    }
}

/// The protocol over any connection to `git-upload-pack` speaking v2:
/// SSH in the worker, a local process in the tests.
fn negotiate(
    conn: &mut (impl Read + Write),
    full_ref: &str,
    old: Oid,
    repo: &Repository,
) -> Result<Since, NegotiationError> {
    let Some(caps) = capabilities(conn)? else {
        return Ok(Since::Unsupported(
            "the server does not speak git protocol v2 (for OpenSSH, `AcceptEnv GIT_PROTOCOL` in sshd_config)".into(),
        ));
    };
    if !caps.ls_refs || !caps.fetch.iter().any(|f| f == "shallow") {
        return Ok(Since::Unsupported(
            "the server's protocol v2 has no ls-refs or no shallow fetch".into(),
        ));
    }
    if caps.object_format.as_deref().is_some_and(|f| f != "sha1") {
        return Ok(Since::Unsupported(
            "the repository's objects are not SHA-1".into(),
        ));
    }
    let Some((target, peeled)) = ls_ref(conn, full_ref)? else {
        return Err(NegotiationError::RefNotFound);
    };
    if peeled.unwrap_or(target) == old {
        return Ok(Since::Unchanged);
    }
    conn.write_all(&fetch_request(target, old, false))?;
    conn.flush()?;
    let header = match read_pkt(conn)? {
        Pkt::Data(d) => text(&d),
        other => return Err(bad_reply(format!("the fetch began with {other:?}")).into()),
    };
    if header != "acknowledgments" {
        return Err(bad_reply(format!("the fetch began with {header:?}")).into());
    }
    let (acks, end) = lines_until_end(conn)?;
    let common = acks.iter().any(|l| l.starts_with("ACK "));
    let ready = acks.iter().any(|l| l == "ready");
    let odb = repo.odb()?;
    let mut writer = odb.packwriter()?;
    let pack_bytes = match (common, ready, end) {
        (_, true, Pkt::Delim) => read_pack(conn, &mut writer)?,
        (true, false, Pkt::Flush) => {
            // Common, but the server wants more haves: the new commit does
            // not descend from the old one. git2s3 has no more, so done.
            conn.write_all(&fetch_request(target, old, true))?;
            conn.flush()?;
            read_pack(conn, &mut writer)?
        }
        (false, false, Pkt::Flush) => return Ok(Since::OldCommitGone),
        (_, _, end) => {
            return Err(bad_reply(format!("the acknowledgments ended with {end:?}")).into())
        }
    };
    writer.commit()?;
    let fetched = Fetched::read(repo, target)?;
    Ok(Since::Fetched(Fetched {
        received_bytes: pack_bytes,
        ..fetched
    }))
}

#[derive(Debug, thiserror::Error)]
enum NegotiationError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Git(#[from] git2::Error),
    #[error("the ref is not on the server")]
    RefNotFound,
}

/// A running SSH exec channel, read and written as one stream.
struct Channel(ssh2::Channel);

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Quotes `path` for the server's shell, as git and libgit2 do.
fn shell_quoted(path: &str) -> String {
    format!("'{}'", path.replace('\'', r"'\''"))
}

/// Fetches what `git_ref` at `url` holds beyond `old` (the commit the
/// previous zip was built from) into a new bare repository at `dir`.
pub fn fetch_since(
    url: &str,
    repo_name: &str,
    git_ref: &GitRef,
    key: &DeployKey,
    known_hosts: &KnownHosts,
    dir: &Path,
    old: Oid,
) -> Result<Since, FetchError> {
    let full_ref = git_ref.full_name();
    let git_error = |message: String| FetchError::Git {
        url: url.to_string(),
        git_ref: full_ref.clone(),
        message,
    };
    let target = parse_ssh_url(url).ok_or_else(|| FetchError::NotSshUrl(url.to_string()))?;
    let path = ssh_path(url).ok_or_else(|| FetchError::NotSshUrl(url.to_string()))?;
    let address = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| git_error(format!("resolving {}: {e}", target.host)))?
        .next()
        .ok_or_else(|| git_error(format!("{} has no address", target.host)))?;
    let started = std::time::Instant::now();
    let tcp = TcpStream::connect_timeout(&address, TIMEOUT)
        .map_err(|e| git_error(format!("connecting to {address}: {e}")))?;
    let mut session = ssh2::Session::new().map_err(|e| git_error(e.to_string()))?;
    session.set_timeout(TIMEOUT.as_millis() as u32);
    session.set_tcp_stream(tcp);
    session
        .handshake()
        .map_err(|e| git_error(format!("the SSH handshake failed: {e}")))?;
    let (blob, _) = session
        .host_key()
        .ok_or_else(|| git_error("the server sent no SSH host key".into()))?;
    if let Some(problem) = host_key_problem(known_hosts, &target, blob) {
        return Err(problem);
    }
    if session
        .userauth_pubkey_memory(&target.user, None, key.openssh(), None)
        .is_err()
        || !session.authenticated()
    {
        return Err(FetchError::DeployKeyRejected {
            url: url.to_string(),
            repo: repo_name.to_string(),
        });
    }
    let mut channel = session
        .channel_session()
        .map_err(|e| git_error(e.to_string()))?;
    // A server that does not accept the variable answers in v0, which
    // `negotiate` reads as such.
    let _ = channel.setenv("GIT_PROTOCOL", "version=2");
    channel
        .exec(&format!("git-upload-pack {}", shell_quoted(path)))
        .map_err(|e| git_error(format!("starting git-upload-pack: {e}")))?;
    let repo = Repository::init_bare(dir).map_err(|e| git_error(e.message().to_string()))?;
    let connected = started.elapsed();
    let mut conn = Channel(channel);
    let since = negotiate(&mut conn, &full_ref, old, &repo);
    // The end of its input ends git-upload-pack, which otherwise waits
    // for the next command; its stderr then ends too.
    let _ = conn.0.send_eof();
    let mut stderr = String::new();
    if since.is_err() {
        let _ = conn.0.stderr().take(64 * 1024).read_to_string(&mut stderr);
    }
    let _ = conn.0.close();
    tracing::info!(
        connect_seconds = connected.as_secs_f64(),
        negotiate_and_pack_seconds = (started.elapsed() - connected).as_secs_f64(),
        "warm fetch over SSH"
    );
    match since {
        Ok(since) => Ok(since),
        Err(NegotiationError::RefNotFound) => Err(FetchError::RefNotFound {
            url: url.to_string(),
            git_ref: full_ref.clone(),
        }),
        Err(e) => {
            let stderr = stderr.trim();
            Err(git_error(if stderr.is_empty() {
                e.to_string()
            } else {
                format!("{e} ({stderr})")
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

    use super::*;
    use crate::test_git::git;

    /// `git-upload-pack` run locally, as the SSH server runs it.
    struct Local {
        child: Child,
        stdin: ChildStdin,
        stdout: ChildStdout,
    }

    impl Local {
        fn start(repo: &Path, version: &str) -> Local {
            let mut child = Command::new("git-upload-pack")
                .arg(repo)
                .env("GIT_PROTOCOL", version)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            Local {
                stdin: child.stdin.take().unwrap(),
                stdout: child.stdout.take().unwrap(),
                child,
            }
        }
    }

    impl Read for Local {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.stdout.read(buf)
        }
    }

    impl Write for Local {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.stdin.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.stdin.flush()
        }
    }

    impl Drop for Local {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn head(root: &Path) -> Oid {
        Oid::from_str(git(root, &["rev-parse", "HEAD"]).trim()).unwrap()
    }

    /// A repository of 50 files, then one of them changed.
    fn two_commits() -> (tempfile::TempDir, Oid, Oid) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(root.join("src")).unwrap();
        for i in 0..50 {
            let body: String = (0..200).map(|l| format!("file {i} line {l}\n")).collect();
            std::fs::write(root.join(format!("src/f{i}.txt")), body).unwrap();
        }
        git(root, &["add", "."]);
        git(root, &["commit", "-q", "-m", "one"]);
        let old = head(root);
        std::fs::write(root.join("src/f7.txt"), "changed\n").unwrap();
        git(root, &["commit", "-q", "-am", "two"]);
        let new = head(root);
        (dir, old, new)
    }

    #[test]
    fn only_the_new_commit_its_trees_and_changed_blobs_come() {
        let (dir, old, new) = two_commits();
        let scratch = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(scratch.path()).unwrap();
        let mut conn = Local::start(dir.path(), "version=2");
        let since = negotiate(&mut conn, "refs/heads/main", old, &repo).unwrap();
        let Since::Fetched(fetched) = since else {
            panic!("{since:?}")
        };
        let pack_bytes = fetched.received_bytes;
        assert_eq!(fetched.commit, new.to_string());
        assert!(pack_bytes < 2_000, "{pack_bytes} bytes");
        // The commit, the root tree, src/ and the changed blob: no more.
        let mut ids = Vec::new();
        repo.odb()
            .unwrap()
            .foreach(|id| {
                ids.push(*id);
                true
            })
            .unwrap();
        assert_eq!(ids.len(), 4, "{ids:?}");
        let commit = repo.find_commit(new).unwrap();
        let src = commit.tree().unwrap().get_name("src").unwrap().id();
        let changed = repo
            .find_tree(src)
            .unwrap()
            .get_name("f7.txt")
            .unwrap()
            .id();
        assert_eq!(repo.find_blob(changed).unwrap().content(), b"changed\n");
        let unchanged = repo
            .find_tree(src)
            .unwrap()
            .get_name("f8.txt")
            .unwrap()
            .id();
        assert!(repo.find_blob(unchanged).is_err());
    }

    #[test]
    fn unrelated_history_is_negotiated_to_done_and_a_gone_commit_is_said() {
        let (dir, old, _) = two_commits();
        let root = dir.path();
        // An unrelated history sharing most blobs: the old commit is common
        // but no ancestor, so the server waits for `done`.
        git(root, &["checkout", "-q", "--orphan", "other"]);
        git(root, &["commit", "-q", "-m", "unrelated"]);
        let scratch = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(scratch.path()).unwrap();
        let mut conn = Local::start(root, "version=2");
        let since = negotiate(&mut conn, "refs/heads/other", old, &repo).unwrap();
        let other = head(root);
        assert!(matches!(&since, Since::Fetched(fetched) if fetched.commit == other.to_string()));
        // At depth 1: the commit has no parent here.
        assert!(repo.find_commit(other).unwrap().parent(0).is_err());

        let gone = Oid::from_str(&"ab".repeat(20)).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(scratch.path()).unwrap();
        let mut conn = Local::start(root, "version=2");
        let since = negotiate(&mut conn, "refs/heads/main", gone, &repo).unwrap();
        assert!(matches!(since, Since::OldCommitGone), "{since:?}");
    }

    #[test]
    fn a_v0_server_a_missing_ref_and_an_unchanged_ref_are_told_apart() {
        let (dir, old, new) = two_commits();
        let scratch = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(scratch.path()).unwrap();
        let mut conn = Local::start(dir.path(), "");
        let since = negotiate(&mut conn, "refs/heads/main", old, &repo).unwrap();
        assert!(
            matches!(&since, Since::Unsupported(why) if why.contains("v2")),
            "{since:?}"
        );
        let mut conn = Local::start(dir.path(), "version=2");
        let err = negotiate(&mut conn, "refs/heads/gone", old, &repo).unwrap_err();
        assert!(matches!(err, NegotiationError::RefNotFound));
        let mut conn = Local::start(dir.path(), "version=2");
        let since = negotiate(&mut conn, "refs/heads/main", new, &repo).unwrap();
        assert!(matches!(since, Since::Unchanged), "{since:?}");
    }

    #[test]
    fn pkt_lines_read_and_server_errors_are_said() {
        let mut r = io::Cursor::new(b"000ahello\n00000001000eERR no way".to_vec());
        assert_eq!(read_pkt(&mut r).unwrap(), Pkt::Data(b"hello\n".to_vec()));
        assert_eq!(read_pkt(&mut r).unwrap(), Pkt::Flush);
        assert_eq!(read_pkt(&mut r).unwrap(), Pkt::Delim);
        let err = read_pkt(&mut r).unwrap_err();
        assert!(err.to_string().contains("no way"), "{err}");
        assert!(read_pkt(&mut io::Cursor::new(b"zzzz".to_vec())).is_err());
        assert_eq!(shell_quoted("/srv/it's.git"), r"'/srv/it'\''s.git'");
    }
}
