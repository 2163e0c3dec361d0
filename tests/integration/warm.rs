//! Warm pushes: each zip built on the previous one, through `git2s3 serve`,
//! the real sshd and moto, is byte for byte the zip a cold build of the
//! same commit writes; and every reason to build cold is met once, logged.

use aws_sdk_s3::primitives::ByteStream;
use git2s3_lambda::snapshot;

use crate::gitpull::{tree_entries, wait_for, zip_entries};
use crate::moto::{moto, versioned_bucket};
use crate::server::Server;
use crate::sshd::{Sshd, WorkTree};

type S3 = aws_sdk_s3::Client;

async fn s3() -> S3 {
    git2s3::aws::s3_client(&moto().sdk_config().await)
}

/// The zip a cold build of `commit` writes, from the work tree's objects
/// (the build depends on the tree alone, not on the pack it came in).
pub fn cold(work: &WorkTree, commit: &str) -> Vec<u8> {
    snapshot::write_zip(&work.dir.path().join(".git"), commit, Vec::new())
        .unwrap()
        .0
}

/// xorshift64: the same pushes and contents on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// `len` bytes that deflate cannot shrink.
    fn noise(&mut self, len: usize) -> Vec<u8> {
        (0..len.div_ceil(8))
            .flat_map(|_| self.next().to_le_bytes())
            .take(len)
            .collect()
    }
}

/// moto's S3, a bucket (versioned or not) and a real sshd.
async fn scene(bucket: &str, versioned: bool) -> (S3, Sshd) {
    let s3 = s3().await;
    if versioned {
        versioned_bucket(&s3, bucket).await;
    } else {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    (s3, Sshd::start(true))
}

fn tracked(work: &WorkTree) -> Vec<String> {
    work.git(&["ls-files", "-z"])
        .split('\0')
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// One random edit, of the kinds a push makes; answers its name.
fn edit(work: &WorkTree, rng: &mut Rng, step: usize) -> &'static str {
    let root = work.dir.path();
    let files = tracked(work);
    let pick = |rng: &mut Rng| files.get(rng.below(files.len())).cloned();
    let is_link = |p: &str| root.join(p).is_symlink();
    match rng.below(24) {
        0..=4 => {
            let dir = ["", "src/", "src/deep/", "docs/", "assets/"][rng.below(5)];
            let body = format!("file {step}\n").repeat(rng.below(400) + 1);
            let path = format!("{dir}new{step}.txt");
            if root.join(dir.trim_end_matches('/')).is_file() {
                return "nothing";
            }
            work.write(&path, body.as_bytes());
            "add"
        }
        5..=9 => match pick(rng) {
            Some(p) if !is_link(&p) => {
                work.write(
                    &p,
                    format!("modified at {step}\n")
                        .repeat(rng.below(300) + 1)
                        .as_bytes(),
                );
                "modify"
            }
            _ => "nothing",
        },
        10..=11 => match pick(rng) {
            Some(p) => {
                work.git(&["rm", "-q", &p]);
                "delete"
            }
            None => "nothing",
        },
        12..=13 => match pick(rng) {
            Some(p) => {
                std::fs::create_dir_all(root.join("moved")).unwrap();
                work.git(&["mv", &p, &format!("moved/{step}-{}", p.replace('/', "_"))]);
                "rename"
            }
            None => "nothing",
        },
        14..=15 => match pick(rng) {
            Some(p) if !is_link(&p) => {
                let executable = work.git(&["ls-files", "-s", &p]).starts_with("100755");
                let flag = if executable {
                    "--chmod=-x"
                } else {
                    "--chmod=+x"
                };
                work.git(&["add", "-A"]);
                work.git(&["update-index", flag, &p]);
                "mode change"
            }
            _ => "nothing",
        },
        16 => match pick(rng) {
            Some(target) => {
                std::os::unix::fs::symlink(target, root.join(format!("link{step}"))).unwrap();
                "symlink"
            }
            None => "nothing",
        },
        17..=18 => {
            let dirs: Vec<String> = files
                .iter()
                .filter_map(|f| f.split_once('/').map(|(d, _)| d.to_string()))
                .collect();
            match dirs.get(rng.below(dirs.len())) {
                Some(dir) if !root.join(format!("dir{step}")).exists() => {
                    work.git(&["mv", dir, &format!("dir{step}")]);
                    "directory renamed"
                }
                _ => "nothing",
            }
        }
        19..=20 => {
            // A file replaced by a directory of the same name, and back.
            let spot = root.join("spot");
            if spot.is_dir() {
                std::fs::remove_dir_all(&spot).unwrap();
                work.write("spot", b"a file again\n");
            } else {
                let _ = std::fs::remove_file(&spot);
                work.write(
                    "spot/inside.txt",
                    format!("a directory at {step}\n").as_bytes(),
                );
            }
            "file and directory"
        }
        21 => {
            work.git(&["rm", "-q", "-r", "--ignore-unmatch", "."]);
            "empty tree"
        }
        22 => {
            // Unrelated history, force-pushed over the branch.
            work.git(&["checkout", "-q", "--orphan", &format!("unrelated{step}")]);
            work.write(&format!("unrelated{step}.txt"), b"another history\n");
            "force push to unrelated history"
        }
        _ => "no change",
    }
}

/// About 200 pushes of random edits, each to the real sshd and through
/// `git2s3 serve`; after each, the zip in S3 is the cold zip of the commit.
#[tokio::test(flavor = "multi_thread")]
async fn warm_pushes_equal_cold_builds_byte_for_byte() {
    let bucket = "warm-property";
    let (s3, sshd) = scene(bucket, true).await;
    let url = sshd.bare_repo("acme/api");
    let work = WorkTree::new(&sshd.repo_path("acme/api"));
    for i in 0..30 {
        work.write(
            &format!("src/f{i}.rs"),
            format!("// {i}\n").repeat(i * 20 + 1).as_bytes(),
        );
    }
    work.write(
        "assets/logo.bin",
        &(0..=255u8).cycle().take(200_000).collect::<Vec<_>>(),
    );
    let server = Server::start(bucket, &sshd.deploy_key, &sshd.known_hosts);
    let key = "acme/api/main/acme_api.zip";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    const PUSHES: usize = 200;
    for step in 0..PUSHES {
        let kind = if step == 0 {
            "first"
        } else {
            edit(&work, &mut rng, step)
        };
        *kinds.entry(kind).or_default() += 1;
        work.git(&["add", "-A"]);
        work.git(&["commit", "-q", "--allow-empty", "-m", kind]);
        let commit = work.git(&["rev-parse", "HEAD"]).trim().to_string();
        work.git(&["push", "-q", "-f", "origin", "HEAD:main"]);
        let delivery = format!("push-{step}");
        server
            .push_ok(&delivery, "acme/api", &url, "refs/heads/main", &commit)
            .await;
        let zip = wait_for(&s3, bucket, key, &commit, &server).await;
        assert!(
            zip == cold(&work, &commit),
            "push {step} ({kind}): the zip in S3 differs from the cold build of {commit}"
        );
    }
    let log = server.log_text();
    let warm = log
        .matches("built on the previous zip and uploaded")
        .count();
    let cold_builds = log.matches("building cold").count();
    assert!(
        warm >= PUSHES * 9 / 10,
        "only {warm} of {PUSHES} pushes were built warm ({cold_builds} cold); edits {kinds:?}:\n{log}"
    );
    assert!(kinds.len() >= 12, "{kinds:?}");
    // The final zip reads back as the tree, for the zip crate and Info-ZIP.
    let head = work.git(&["rev-parse", "HEAD"]).trim().to_string();
    let zip = wait_for(&s3, bucket, key, &head, &server).await;
    assert_eq!(zip_entries(&zip), tree_entries(&work, &head));
    unzip_tests(&zip);
}

/// `unzip -t` and Python's zipfile read the zip without a complaint.
fn unzip_tests(zip: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("it.zip");
    std::fs::write(&file, zip).unwrap();
    let unzip = std::process::Command::new("unzip")
        .arg("-tq")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        unzip.status.success(),
        "{}",
        String::from_utf8_lossy(&unzip.stdout)
    );
    let python = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
}

/// Writes `body` at `key`, with `commit` metadata where given (git2s3
/// writes it on every zip; another tool would not).
async fn put_previous(s3: &S3, bucket: &str, key: &str, commit: Option<&str>, body: Vec<u8>) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .set_metadata(commit.map(|c| [("commit".to_string(), c.to_string())].into()))
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

/// What the key holds when the second push comes.
enum Previous {
    /// The first push's zip, as git2s3 wrote it.
    AsBuilt,
    /// The first push's zip, changed by `fn(work tree, first commit, zip)`;
    /// its metadata still names the first commit.
    Spoiled(fn(&WorkTree, &str, Vec<u8>) -> Vec<u8>),
    /// The first push's zip, put there again by another tool: no metadata.
    Foreign,
}

/// A repository whose first push is built cold, then whatever the case
/// does, then a second push: the second zip is the cold zip of its
/// commit, and the log says why it was built cold.
struct Case<'a> {
    s3: &'a S3,
    bucket: &'a str,
    sshd: &'a Sshd,
    server: Server,
}

impl<'a> Case<'a> {
    /// `git2s3 serve` writing to `bucket`, fetching from `sshd`.
    fn start(s3: &'a S3, bucket: &'a str, sshd: &'a Sshd) -> Case<'a> {
        let server = Server::start(bucket, &sshd.deploy_key, &sshd.known_hosts);
        Case {
            s3,
            bucket,
            sshd,
            server,
        }
    }

    async fn run(
        &self,
        repo: &str,
        before_second: impl FnOnce(&WorkTree, &str, &str),
        previous: Previous,
        reason: &str,
    ) {
        let url = self.sshd.bare_repo(repo);
        let bare = self.sshd.repo_path(repo);
        let work = WorkTree::new(&bare);
        // Files whose data, not their headers, make most of the zip.
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for i in 0..12 {
            let body: String = (0..200).map(|_| format!("{:016x}\n", rng.next())).collect();
            work.write(&format!("pkg/mod{i}/lib.rs"), body.as_bytes());
        }
        let first = work.commit("first");
        work.git(&["push", "-q", "origin", "main"]);
        let name = repo.replace('/', "_");
        let key = format!("{repo}/main/{name}.zip");
        self.server
            .push_ok(&format!("{repo}-1"), repo, &url, "refs/heads/main", &first)
            .await;
        let zip = wait_for(self.s3, self.bucket, &key, &first, &self.server).await;
        match previous {
            Previous::AsBuilt => {}
            Previous::Spoiled(spoil) => {
                let zip = spoil(&work, &first, zip);
                put_previous(self.s3, self.bucket, &key, Some(&first), zip).await;
            }
            Previous::Foreign => put_previous(self.s3, self.bucket, &key, None, zip).await,
        }
        before_second(&work, bare.to_str().unwrap(), &first);
        work.write("pkg/mod3/lib.rs", b"fn changed() {}\n");
        let second = work.commit("second");
        work.git(&["push", "-q", "-f", "origin", "HEAD:main"]);
        self.server
            .push_ok(&format!("{repo}-2"), repo, &url, "refs/heads/main", &second)
            .await;
        let zip = wait_for(self.s3, self.bucket, &key, &second, &self.server).await;
        assert!(
            zip == cold(&work, &second),
            "{repo}: not the cold zip of {second}"
        );
        let log = self.server.log_text();
        assert!(
            log.lines()
                .any(|l| l.contains("building cold") && l.contains(repo) && l.contains(reason)),
            "{repo}: no cold build because {reason:?} in serve's log:\n{log}"
        );
    }
}

/// A commit of `commit`'s tree without `path`, made beside the branch
/// (the work tree and its index stay as they are).
fn commit_without(work: &WorkTree, commit: &str, path: &str) -> String {
    let index = work.dir.path().join(".git/index.without");
    let git = |args: &[&str]| {
        let out = work.git_env(&[("GIT_INDEX_FILE", index.as_os_str())], args);
        out.trim().to_string()
    };
    git(&["read-tree", commit]);
    git(&["rm", "-q", "-r", "--cached", path]);
    let tree = git(&["write-tree"]);
    git(&["commit-tree", &tree, "-m", "without"])
}

fn git_in(dir: &str, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each reason to build cold, hit once: a previous zip from before git2s3
/// wrote git ids, of an unknown layout, cut short, or corrupted; a server
/// that no longer has the previous commit, or speaks only protocol v0; a
/// push that moves most of the zip to new paths. The zip is the cold one
/// every time, and never a bad one.
#[tokio::test(flavor = "multi_thread")]
async fn every_fallback_builds_the_cold_zip_and_says_why() {
    let bucket = "warm-fallbacks";
    let (s3, sshd) = scene(bucket, true).await;
    let case = Case::start(&s3, bucket, &sshd);
    let nothing = |_: &WorkTree, _: &str, _: &str| {};
    // Built before this change: a zip with no git2s3 comment or git ids.
    case.run(
        "acme/old-layout",
        nothing,
        Previous::Spoiled(|_, _, _| {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            zip.start_file("pkg/mod0/lib.rs", zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut zip, b"fn f0() {}\n").unwrap();
            zip.finish().unwrap().into_inner()
        }),
        "its comment is not git2s3's",
    )
    .await;
    case.run(
        "acme/future-layout",
        nothing,
        Previous::Spoiled(|_, _, zip| {
            let needle = b"git2s3 layout 1 ";
            let at = zip
                .windows(needle.len())
                .rposition(|w| w == needle)
                .unwrap()
                + needle.len()
                - 2;
            let mut zip = zip;
            zip[at] = b'7';
            zip
        }),
        "layout version 7",
    )
    .await;
    case.run(
        "acme/truncated",
        nothing,
        Previous::Spoiled(|_, _, zip| zip[..zip.len() * 2 / 3].to_vec()),
        "no zip end record",
    )
    .await;
    case.run(
        "acme/corrupted",
        nothing,
        Previous::Spoiled(|_, _, mut zip| {
            // The first central record's offset, one byte off.
            let end = git2s3_lambda::zip::directory::end(&zip, zip.len() as u64).unwrap();
            zip[end.cd_start as usize + 42] ^= 1;
            zip
        }),
        "not right after the entry before it",
    )
    .await;
    // The same zip, put back by another tool: git2s3 did not write it.
    case.run(
        "acme/foreign",
        nothing,
        Previous::Foreign,
        "was not written by git2s3",
    )
    .await;
    // A zip that claims the first commit but holds a tree without
    // pkg/mod0: the fetch since the first commit does not bring that
    // folder, and the zip does not hold it either.
    case.run(
        "acme/claims-another-commit",
        nothing,
        Previous::Spoiled(|work, first, _| {
            let without = commit_without(work, first, "pkg/mod0");
            let zip = cold(work, &without);
            let (claimed, real) = (format!("commit={first}"), format!("commit={without}"));
            let at = zip
                .windows(real.len())
                .rposition(|w| w == real.as_bytes())
                .unwrap();
            let mut zip = zip;
            zip[at..at + claimed.len()].copy_from_slice(claimed.as_bytes());
            zip
        }),
        "is in neither the fetched pack nor the previous zip",
    )
    .await;
    // A force push, then gc: the server no longer has the previous commit.
    case.run(
        "acme/force-pushed",
        |work, bare, _| {
            work.git(&["checkout", "-q", "--orphan", "rewritten"]);
            work.write("pkg/mod0/lib.rs", b"a rewritten history\n");
            work.commit("rewritten");
            work.git(&["push", "-q", "-f", "origin", "HEAD:main"]);
            git_in(bare, &["reflog", "expire", "--expire=now", "--all"]);
            git_in(bare, &["gc", "-q", "--prune=now"]);
        },
        Previous::AsBuilt,
        "the server no longer has",
    )
    .await;
    // Most of the zip moved: reading it back costs more than a fetch.
    case.run(
        "acme/moved",
        |work, _, _| {
            work.git(&["mv", "pkg", "packages"]);
            work.git(&["mv", "packages/mod3", "pkg-mod3"]);
            std::fs::create_dir_all(work.dir.path().join("pkg")).unwrap();
            work.git(&["mv", "pkg-mod3", "pkg/mod3"]);
        },
        Previous::AsBuilt,
        "moved to new paths",
    )
    .await;

    // A server that speaks only protocol v0 (sshd drops GIT_PROTOCOL).
    let v0 = Sshd::start_with(true, false);
    let case = Case::start(&s3, bucket, &v0);
    case.run(
        "acme/v0-only",
        nothing,
        Previous::AsBuilt,
        "does not speak git protocol v2",
    )
    .await;
}

/// A bucket without versioning has no version to copy from.
#[tokio::test(flavor = "multi_thread")]
async fn an_unversioned_bucket_builds_cold_and_says_why() {
    let bucket = "warm-unversioned";
    let (s3, sshd) = scene(bucket, false).await;
    let case = Case::start(&s3, bucket, &sshd);
    case.run(
        "acme/unversioned",
        |_, _, _| {},
        Previous::AsBuilt,
        "not versioned",
    )
    .await;
}

/// A one-file push to a repository of 24 MB: the entries before and after
/// the change are copied inside S3 (UploadPartCopy from the pinned
/// previous version), only a few MiB are read back to make 5 MiB parts,
/// and only the changed blob comes over SSH.
#[tokio::test(flavor = "multi_thread")]
async fn a_one_file_push_copies_the_unchanged_entries_inside_s3() {
    let bucket = "warm-copies";
    let (s3, sshd) = scene(bucket, true).await;
    let url = sshd.bare_repo("acme/big");
    let work = WorkTree::new(&sshd.repo_path("acme/big"));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..8 {
        let dir = if i < 4 { "a" } else { "c" };
        work.write(&format!("{dir}/blob{i}.bin"), &rng.noise(3 << 20));
    }
    work.write("b/middle.txt", b"the one file that changes\n");
    let first = work.commit("first");
    work.git(&["push", "-q", "origin", "main"]);
    let server = Server::start(bucket, &sshd.deploy_key, &sshd.known_hosts);
    let key = "acme/big/main/acme_big.zip";
    server
        .push_ok("big-1", "acme/big", &url, "refs/heads/main", &first)
        .await;
    wait_for(&s3, bucket, key, &first, &server).await;
    work.write("b/middle.txt", b"changed\n");
    let second = work.commit("second");
    work.git(&["push", "-q", "origin", "main"]);
    server
        .push_ok("big-2", "acme/big", &url, "refs/heads/main", &second)
        .await;
    let zip = wait_for(&s3, bucket, key, &second, &server).await;
    assert!(zip == cold(&work, &second));
    let log = server
        .wait_for_log("built on the previous zip and uploaded")
        .await;
    let line = log
        .lines()
        .find(|l| l.contains("built on the previous zip and uploaded"))
        .unwrap();
    let field = |name: &str| -> u64 {
        let at = line
            .find(&format!("{name}="))
            .unwrap_or_else(|| panic!("{name} in {line}"));
        line[at + name.len() + 1..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    const MIB: u64 = 1024 * 1024;
    assert!(field("copied_bytes") >= 15 * MIB, "{line}");
    assert!(field("read_back_bytes") <= 5 * MIB, "{line}");
    assert!(field("received_bytes") < 4096, "{line}");
    unzip_tests(&zip);
}
