//! A commit's tree, as a zip: every file with its bytes, its executable bit
//! and its symlinks, and every directory, in git's tree order (a directory
//! just before what it holds), so the same commit always gives the same
//! bytes, whichever server or pack they came from.
//!
//! What goes in, and what does not:
//! - everything in the tree, dotfiles included (`.gitignore`, `.github/`);
//!   there is no `.git` in a tree, so none in the zip;
//! - symlinks as symlinks (mode 120777, the target as content);
//! - Git LFS files as the pointer files git stores, not their content;
//! - submodules (gitlinks) are left out. They are counted in
//!   [`Stats::submodules_skipped`].
//!
//! An entry depends on its path, mode and content only: every entry has
//! [`DosTime::FIXED`] for its time, and every file is deflated here (at one
//! level, or stored when it does not shrink) rather than copied as the
//! server compressed it. Each entry's central record carries the git id of
//! its blob or tree ([`crate::zip::GIT_ID_FIELD`]), and the zip's comment
//! names the commit and its tree: what [`crate::incremental`] builds the
//! next commit's zip on, keeping unchanged entries byte for byte.
//!
//! Files are deflated in parallel, a batch at a time, on every core, then
//! written in order; a batch holds at most [`BATCH_BYTES`] of file content,
//! which bounds memory whatever the repo's size. A file larger than that is
//! streamed on its own, a chunk at a time ([`ZipWriter::add_stream`]),
//! inflated from the pack as it is read ([`crate::pack`]) or from a loose
//! object. Only a large file that git stored as a delta is held whole,
//! since libgit2 resolves a delta in memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use rayon::prelude::*;

use crate::pack::Pack;
use crate::zip::directory::COMMENT_PREFIX;
use crate::zip::{
    sample_is_incompressible, DosTime, Entry, GitId, Source, Streamed, ZipWriter, LAYOUT_VERSION,
    MODE_EXECUTABLE, MODE_FILE, MODE_SYMLINK, SAMPLE_BYTES,
};

/// Upper bound on the file content read into memory at once.
pub const BATCH_BYTES: u64 = 8 * 1024 * 1024;
const BATCH_ENTRIES: usize = 256;

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub files: u64,
    pub bytes_in: u64,
    pub zip_bytes: u64,
    pub submodules_skipped: u64,
}

/// Why a snapshot failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("reading the git objects failed: {0}")]
    Git(#[from] git2::Error),
    #[error("writing the zip failed: {0}")]
    Io(#[from] std::io::Error),
}

/// One entry to write, in order.
#[derive(Debug, Clone)]
pub enum Item {
    /// A directory, its path ending in `/`.
    Dir {
        path: String,
        tree: Oid,
    },
    File(File),
}

/// A file of the tree: a blob, its path and zip mode.
#[derive(Debug, Clone)]
pub struct File {
    pub path: String,
    pub mode: u32,
    pub oid: Oid,
    pub size: u64,
}

/// The zip mode of a tree entry's git mode; `None` for a submodule or a
/// directory.
pub fn zip_mode(git_mode: i32) -> Option<u32> {
    match git_mode {
        0o100644 | 0o100664 => Some(MODE_FILE),
        0o100755 => Some(MODE_EXECUTABLE),
        0o120000 => Some(MODE_SYMLINK),
        _ => None,
    }
}

pub fn git_id(oid: Oid) -> [u8; 20] {
    oid.as_bytes().try_into().expect("a SHA-1 object id")
}

/// The comment of the zip of `commit`, whose root tree is `tree`.
pub fn comment(commit: Oid, tree: Oid) -> String {
    format!("{COMMENT_PREFIX}{LAYOUT_VERSION} commit={commit} tree={tree}")
}

/// The entries of `commit`'s tree, in tree order, its root tree, and the
/// number of submodules left out.
fn list(repo: &Repository, commit: Oid) -> Result<(Vec<Item>, Oid, u64), SnapshotError> {
    let commit = repo.find_commit(commit)?;
    let tree = commit.tree()?;
    let odb = repo.odb()?;
    let mut items = Vec::new();
    let mut submodules = 0;
    let mut walk_error = None;
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        let Ok(name) = entry.name() else {
            walk_error = Some(git2::Error::from_str("a path in the tree is not UTF-8"));
            return TreeWalkResult::Abort;
        };
        match entry.kind() {
            Some(ObjectType::Tree) => items.push(Item::Dir {
                path: format!("{dir}{name}/"),
                tree: entry.id(),
            }),
            Some(ObjectType::Blob) => {
                let Some(mode) = zip_mode(entry.filemode()) else {
                    return TreeWalkResult::Ok;
                };
                let size = match odb.read_header(entry.id()) {
                    Ok((size, _)) => size as u64,
                    Err(e) => {
                        walk_error = Some(e);
                        return TreeWalkResult::Abort;
                    }
                };
                items.push(Item::File(File {
                    path: format!("{dir}{name}"),
                    mode,
                    oid: entry.id(),
                    size,
                }));
            }
            Some(ObjectType::Commit) => submodules += 1,
            _ => {}
        }
        TreeWalkResult::Ok
    })?;
    match walk_error {
        Some(e) => Err(e.into()),
        None => Ok((items, tree.id(), submodules)),
    }
}

/// The git objects of a fetched repository, read into zip entries.
pub struct Blobs {
    repo_path: std::path::PathBuf,
    repo: Repository,
    packs: Vec<Pack>,
}

impl Blobs {
    pub fn open(repo_path: &Path) -> Result<Blobs, SnapshotError> {
        Ok(Blobs {
            repo_path: repo_path.to_path_buf(),
            repo: Repository::open(repo_path)?,
            packs: Pack::all_in(repo_path)?,
        })
    }

    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// Writes `items` in order: files in batches deflated on every core,
    /// large files streamed, directories as they come.
    pub fn write<W: Write>(
        &self,
        zip: &mut ZipWriter<W>,
        items: &[Item],
        stats: &mut Stats,
    ) -> Result<(), SnapshotError> {
        let mut start = 0;
        while start < items.len() {
            match &items[start] {
                Item::Dir { path, tree } => {
                    zip.add_dir(path, DosTime::FIXED, GitId::tree(git_id(*tree)))?;
                    start += 1;
                    continue;
                }
                Item::File(file) if file.size > BATCH_BYTES => {
                    self.stream(zip, file, stats)?;
                    start += 1;
                    continue;
                }
                Item::File(_) => {}
            }
            let mut end = start;
            let mut batch_bytes = 0;
            while let Some(Item::File(file)) = items.get(end) {
                if end - start >= BATCH_ENTRIES
                    || file.size > BATCH_BYTES
                    || (end > start && batch_bytes + file.size > BATCH_BYTES)
                {
                    break;
                }
                batch_bytes += file.size;
                end += 1;
            }
            let (repo_path, packs) = (self.repo_path.as_path(), &self.packs);
            let entries: Vec<Result<Entry, SnapshotError>> = items[start..end]
                .par_iter()
                .map_init(
                    || Repository::open(repo_path),
                    |repo, item| {
                        let Item::File(file) = item else {
                            unreachable!("a batch holds files only")
                        };
                        let deflate = |content: &[u8]| -> Result<Entry, SnapshotError> {
                            let entry = Entry::deflate(
                                file.path.clone(),
                                file.mode,
                                content,
                                DosTime::FIXED,
                            )?;
                            Ok(entry.with_git_id(GitId::blob(git_id(file.oid))))
                        };
                        // A whole blob is read from the pack directly; a
                        // delta (or a loose object) through libgit2.
                        for pack in packs {
                            if let Some(content) = pack.blob(file.oid)? {
                                return deflate(&content);
                            }
                        }
                        let repo = repo
                            .as_ref()
                            .map_err(|e| git2::Error::from_str(e.message()))?;
                        deflate(repo.find_blob(file.oid)?.content())
                    },
                )
                .collect();
            for entry in entries {
                let entry = entry?;
                if zip.add(&entry)? {
                    stats.files += 1;
                    stats.bytes_in += entry.uncompressed_size;
                }
            }
            start = end;
        }
        Ok(())
    }

    /// Writes one file too large to hold in memory, a chunk at a time.
    fn stream<W: Write>(
        &self,
        zip: &mut ZipWriter<W>,
        file: &File,
        stats: &mut Stats,
    ) -> Result<(), SnapshotError> {
        let written = match self
            .packs
            .iter()
            .find_map(|p| p.blob_stream(file.oid).transpose())
        {
            Some(stream) => {
                let (size, src) = stream?;
                let streamed =
                    stream_content(zip, file, flate2::bufread::DeflateDecoder::new(src))?;
                if let Some(s) = &streamed {
                    if s.size != size {
                        return Err(SnapshotError::Io(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!(
                                "blob {} in the pack inflates to {} bytes, not the {size} its header says",
                                file.oid, s.size
                            ),
                        )));
                    }
                }
                streamed
            }
            // A loose object streams; a delta is resolved whole by libgit2.
            None => match self.repo.odb()?.reader(file.oid) {
                Ok((reader, _, _)) => stream_content(zip, file, reader)?,
                Err(_) => {
                    let blob = self.repo.find_blob(file.oid)?;
                    stream_content(zip, file, blob.content())?
                }
            },
        };
        if let Some(streamed) = written {
            stats.files += 1;
            stats.bytes_in += streamed.size;
        }
        Ok(())
    }
}

/// Streams `content` into `zip`, deflated unless its first bytes show it
/// does not compress (the same rule as [`Entry::deflate`]'s).
fn stream_content<W: Write>(
    zip: &mut ZipWriter<W>,
    file: &File,
    content: impl Read,
) -> Result<Option<Streamed>, SnapshotError> {
    let mut content = BufReader::with_capacity(SAMPLE_BYTES, content);
    let mut sample = Vec::with_capacity(SAMPLE_BYTES);
    while sample.len() < SAMPLE_BYTES {
        let chunk = content.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let take = chunk.len().min(SAMPLE_BYTES - sample.len());
        sample.extend_from_slice(&chunk[..take]);
        content.consume(take);
    }
    let store = sample_is_incompressible(&sample)?;
    let mut reader = std::io::Cursor::new(sample).chain(content);
    let source = Source::Content {
        reader: &mut reader,
        store,
    };
    let id = GitId::blob(git_id(file.oid));
    Ok(zip.add_stream(&file.path, file.mode, DosTime::FIXED, source, Some(id))?)
}

/// Writes the tree of `commit` in the repository at `repo_path` as a zip
/// into `out`, and returns `out` with the counts.
pub fn write_zip<W: Write>(
    repo_path: &Path,
    commit: &str,
    out: W,
) -> Result<(W, Stats), SnapshotError> {
    let blobs = Blobs::open(repo_path)?;
    let commit = Oid::from_str(commit)?;
    let (items, tree, submodules_skipped) = list(blobs.repo(), commit)?;
    let mut stats = Stats {
        submodules_skipped,
        ..Stats::default()
    };
    let mut zip = ZipWriter::new(out);
    zip.set_comment(&comment(commit, tree));
    blobs.write(&mut zip, &items, &mut stats)?;
    let (out, zip_bytes) = zip.finish()?;
    stats.zip_bytes = zip_bytes;
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use super::*;
    use crate::test_git::git;

    /// A repo with every kind of tree entry git2s3 must handle.
    fn sample_repo() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::create_dir_all(root.join(".github/workflows")).unwrap();
        std::fs::write(root.join("README.md"), "hello\n".repeat(50)).unwrap();
        std::fs::write(root.join("src/deep/lib.rs"), "pub fn f() {}\n").unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
        std::fs::write(root.join(".github/workflows/ci.yml"), "on: push\n").unwrap();
        std::fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::write(
            root.join("blob.bin"),
            (0..=255u8).cycle().take(10_000).collect::<Vec<_>>(),
        )
        .unwrap();
        std::fs::write(root.join("ünïcode.txt"), "ü\n").unwrap();
        std::os::unix::fs::symlink("README.md", root.join("link-to-readme")).unwrap();
        git(root, &["add", "."]);
        git(root, &["update-index", "--chmod=+x", "run.sh"]);
        // A submodule entry (gitlink), without fetching anything.
        git(
            root,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                "160000,0123456789abcdef0123456789abcdef01234567,vendor/lib",
            ],
        );
        git(root, &["commit", "-q", "-m", "sample"]);
        let head = git(root, &["rev-parse", "HEAD"]).trim().to_string();
        (dir, head)
    }

    #[test]
    fn the_zip_holds_the_tree_exactly() {
        let (dir, head) = sample_repo();
        assert_zip_holds_tree(dir.path(), &head);
    }

    /// The zip depends on the tree alone: the same commit gives the same
    /// bytes from loose objects, from a pack with deltas, and from another
    /// pack (the server's, a warm fetch's).
    #[test]
    fn loose_and_packed_objects_give_the_same_bytes() {
        let (dir, _) = sample_repo();
        // A near copy of a file, so that the pack holds a delta too.
        let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
        let big: String = (0..3000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("big.txt"), &big).unwrap();
        std::fs::write(dir.path().join("big2.txt"), format!("{big}{readme}")).unwrap();
        git(dir.path(), &["add", "big.txt", "big2.txt"]);
        git(dir.path(), &["commit", "-q", "-m", "more"]);
        git(dir.path(), &["repack", "-a", "-d", "-q"]);
        let head = git(dir.path(), &["rev-parse", "HEAD"]).trim().to_string();
        let loose = write_zip(&dir.path().join(".git"), &head, Vec::new())
            .unwrap()
            .0;
        git(dir.path(), &["repack", "-a", "-d", "-q"]);
        assert_zip_holds_tree(dir.path(), &head);
        let packed = write_zip(&dir.path().join(".git"), &head, Vec::new())
            .unwrap()
            .0;
        git(
            dir.path(),
            &["repack", "-a", "-d", "-f", "-q", "--window=0"],
        );
        let undeltified = write_zip(&dir.path().join(".git"), &head, Vec::new())
            .unwrap()
            .0;
        assert!(loose == packed && packed == undeltified);
    }

    /// Every directory is an entry carrying its tree's id, every file its
    /// blob's, every entry has the fixed time, and the comment names the
    /// commit and its tree.
    #[test]
    fn entries_carry_their_git_ids_and_the_fixed_time() {
        let (dir, head) = sample_repo();
        let (bytes, _) = write_zip(&dir.path().join(".git"), &head, Vec::new()).unwrap();
        let end = crate::zip::directory::end(&bytes, bytes.len() as u64).unwrap();
        let cd = &bytes[end.cd_start as usize..(end.cd_start + end.cd_len) as usize];
        let records = crate::zip::directory::records(cd, &end).unwrap();
        let described = end.described().unwrap();
        assert_eq!(described.commit, head);
        let tree = |spec: &str| git(dir.path(), &["rev-parse", spec]).trim().to_string();
        assert_eq!(described.tree, tree("HEAD^{tree}"));
        let id = |r: &crate::zip::CentralRecord| Oid::from_bytes(&r.git_id.unwrap().id).unwrap();
        for r in &records {
            assert_eq!(r.modified, DosTime::FIXED, "{}", r.name);
            let spec = format!("HEAD:{}", r.name.trim_end_matches('/'));
            assert_eq!(id(r).to_string(), tree(&spec), "{}", r.name);
        }
        let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
        let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(at("src/") < at("src/deep/") && at("src/deep/") < at("src/deep/lib.rs"));
        assert!(
            names.contains(&"vendor/"),
            "a folder holding only a submodule: {names:?}"
        );
    }

    /// Checks the zip of `head` against git's own listing and the files on
    /// disk, byte for byte.
    fn assert_zip_holds_tree(dir: &Path, head: &str) -> Stats {
        let (bytes, stats) = write_zip(&dir.join(".git"), head, Vec::new()).unwrap();
        assert_eq!(stats.submodules_skipped, 1);
        assert_eq!(stats.zip_bytes, bytes.len() as u64);
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();

        // Same paths as git's own listing of the tree, minus the submodule.
        let listing = git(
            dir,
            &[
                "ls-tree",
                "-r",
                "-z",
                "--format=%(objectmode) %(path)",
                "HEAD",
            ],
        );
        let mut expected: Vec<(String, u32)> = listing
            .split('\0')
            .filter(|l| !l.is_empty())
            .filter_map(|l| {
                let (mode, path) = l.split_once(' ').unwrap();
                let mode = u32::from_str_radix(mode, 8).unwrap();
                (mode != 0o160000).then(|| {
                    (
                        path.to_string(),
                        if mode == 0o120000 { MODE_SYMLINK } else { mode },
                    )
                })
            })
            .collect();
        expected.sort();
        let mut got: Vec<(String, u32)> = (0..archive.len())
            .map(|i| {
                let f = archive.by_index(i).unwrap();
                (f.name().to_string(), f.unix_mode().unwrap())
            })
            .filter(|(name, _)| !name.ends_with('/'))
            .collect();
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(stats.files, expected.len() as u64);

        // Byte for byte, symlinks as their target.
        for (path, _) in &expected {
            let mut content = Vec::new();
            archive
                .by_name(path)
                .unwrap()
                .read_to_end(&mut content)
                .unwrap();
            let on_disk = if path == "link-to-readme" {
                b"README.md".to_vec()
            } else {
                std::fs::read(dir.join(path)).unwrap()
            };
            assert_eq!(content, on_disk, "{path}");
        }
        assert!(
            archive.by_name(".gitignore").is_ok()
                && archive.by_name(".github/workflows/ci.yml").is_ok()
        );
        assert!((0..archive.len()).all(|i| !archive
            .by_index(i)
            .unwrap()
            .name()
            .starts_with(".git/")));
        stats
    }

    #[test]
    fn the_same_commit_gives_the_same_bytes() {
        let (dir, head) = sample_repo();
        let a = write_zip(&dir.path().join(".git"), &head, Vec::new())
            .unwrap()
            .0;
        let b = write_zip(&dir.path().join(".git"), &head, Vec::new())
            .unwrap()
            .0;
        assert_eq!(a, b);
    }

    /// Bytes that do not compress, and bytes that do, each one batch and a
    /// bit: too large to hold in memory, so they are streamed.
    fn large_files(root: &Path) -> (Vec<u8>, Vec<u8>) {
        let mut noise = Vec::with_capacity(BATCH_BYTES as usize + 1000);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        while noise.len() < BATCH_BYTES as usize + 1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.extend_from_slice(&x.to_le_bytes());
        }
        let text = "a line of text that compresses well\n"
            .repeat(BATCH_BYTES as usize / 30)
            .into_bytes();
        std::fs::write(root.join("noise.bin"), &noise).unwrap();
        std::fs::write(root.join("text.log"), &text).unwrap();
        (noise, text)
    }

    /// The flags of the local header of entry `name`.
    fn local_flags(zip: &[u8], name: &str) -> u16 {
        let needle = name.as_bytes();
        let at = zip
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == b"PK\x03\x04")
            .map(|(i, _)| i)
            .find(|&i| zip[i + 30..].starts_with(needle))
            .expect("the entry's local header");
        u16::from_le_bytes([zip[at + 6], zip[at + 7]])
    }

    /// A file larger than a batch goes through the zip a chunk at a time,
    /// whether the fetched pack holds it (inflated from the pack as it is
    /// read) or it is a loose object (deflated, or stored when it does not
    /// shrink);
    /// the zip reads back to the files, for the zip crate and Info-ZIP.
    #[test]
    fn files_larger_than_a_batch_are_streamed_and_read_back_whole() {
        for packed in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            git(root, &["init", "-q", "-b", "main"]);
            let (noise, text) = large_files(root);
            std::fs::write(root.join("small.txt"), "small\n").unwrap();
            git(root, &["add", "."]);
            git(root, &["commit", "-q", "-m", "large"]);
            if packed {
                git(root, &["repack", "-a", "-d", "-q"]);
            }
            let head = git(root, &["rev-parse", "HEAD"]).trim().to_string();
            let (bytes, stats) = write_zip(&root.join(".git"), &head, Vec::new()).unwrap();
            assert_eq!(stats.files, 3);
            for big in ["noise.bin", "text.log"] {
                assert_ne!(local_flags(&bytes, big) & 8, 0, "{big} was not streamed");
            }
            assert_eq!(local_flags(&bytes, "small.txt") & 8, 0);
            let mut zip = ::zip::ZipArchive::new(Cursor::new(bytes.clone())).unwrap();
            for (name, content) in [("noise.bin", &noise), ("text.log", &text)] {
                let mut read = Vec::new();
                zip.by_name(name).unwrap().read_to_end(&mut read).unwrap();
                assert!(read == *content, "{name} differs (packed: {packed})");
            }
            let file = root.join("out.zip");
            std::fs::write(&file, &bytes).unwrap();
            let test = std::process::Command::new("unzip")
                .args(["-tq"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                test.status.success(),
                "{}",
                String::from_utf8_lossy(&test.stdout)
            );
            // The same commit gives the same bytes.
            let (again, _) = write_zip(&root.join(".git"), &head, Vec::new()).unwrap();
            assert!(again == bytes);
        }
    }
}
