//! The warm path: the zip of a new commit built on the zip of the commit
//! before it, copying what did not change.
//!
//! The previous zip describes itself: each entry's central record carries
//! the id of the blob or tree it was made from ([`crate::zip::GIT_ID_FIELD`]),
//! and its comment names the commit and root tree. The fetch brought only
//! the new commit's new trees and blobs ([`crate::fetch::upload_pack`]).
//! [`plan`] walks the new tree in the order a cold build writes it
//! ([`crate::snapshot`]) and, for each entry, decides:
//! - a directory whose tree id is the one at the same path before: every
//!   entry under it is kept, back to back, as one range of the old object;
//! - a file whose blob and mode are the ones at the same path before: kept;
//! - a blob or a tree the old zip holds at another path (a rename): its
//!   entries are written again under the new names, their data read back
//!   from the old object;
//! - anything else comes from the fetched pack, and is deflated as a cold
//!   build deflates it.
//!
//! An entry depends only on its path, mode and content, so the result is
//! byte for byte the zip a cold build of the commit writes. Whatever [`plan`]
//! cannot place (an object in neither the pack nor the old zip) is a
//! [`Fallback`]: the worker then builds cold, and logs why.

use std::collections::HashMap;
use std::path::Path;

use git2::{ObjectType, Oid, Repository};

use crate::snapshot::{self, Blobs, File, Item, SnapshotError, Stats};
use crate::zip::directory::{self, End, Unusable, TAIL_BYTES};
use crate::zip::{CentralRecord, CopySink, GitId, ZipWriter, LAYOUT_VERSION, MODE_DIR};

/// How much of the end of the previous zip the first GET reads.
const FIRST_READ: u64 = 4 * 1024 * 1024;

/// The previous zip, as read back from the end of its object.
#[derive(Debug, Clone)]
pub struct Previous {
    pub version_id: String,
    pub commit: Oid,
    pub tree: Oid,
    pub size: u64,
    pub records: Vec<CentralRecord>,
}

/// Why a build is cold after all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Fallback(pub String);

impl From<Unusable> for Fallback {
    fn from(u: Unusable) -> Self {
        Fallback(format!("the previous zip cannot be built on: {u}"))
    }
}

/// Reads what [`Previous`] needs from an object of `size` bytes, through
/// `read(start, len)` (`start` `None`: the last `len` bytes): its end
/// record, then its central directory.
pub async fn read_previous<F, Fut, E>(
    version_id: &str,
    size: u64,
    read: F,
) -> Result<Result<Previous, Fallback>, E>
where
    F: Fn(Option<u64>, u64) -> Fut,
    Fut: std::future::Future<Output = Result<bytes::Bytes, E>>,
{
    // One GET of the end usually holds the central directory too (4 MiB:
    // about 35,000 entries); a second reads it when it does not.
    let tail = read(None, TAIL_BYTES.max(FIRST_READ).min(size)).await?;
    let end = match directory::end(&tail, size) {
        Ok(end) => end,
        Err(e) => return Ok(Err(e.into())),
    };
    let described = match end.described() {
        Ok(d) => d,
        Err(e) => return Ok(Err(e.into())),
    };
    if described.layout != u32::from(LAYOUT_VERSION) {
        return Ok(Err(Fallback(format!(
            "the previous zip has layout version {}, and this git2s3 writes {LAYOUT_VERSION}",
            described.layout
        ))));
    }
    let tail_start = size - tail.len() as u64;
    let cd = match end.cd_start.checked_sub(tail_start) {
        Some(at) => tail.slice(at as usize..(at + end.cd_len) as usize),
        None => read(Some(end.cd_start), end.cd_len).await?,
    };
    Ok(parse_previous(version_id, size, &end, &cd, &described))
}

fn parse_previous(
    version_id: &str,
    size: u64,
    end: &End,
    cd: &[u8],
    described: &directory::Described,
) -> Result<Previous, Fallback> {
    if cd.len() as u64 != end.cd_len {
        return Err(Fallback(
            "the previous zip's central directory is cut".into(),
        ));
    }
    let records = directory::records(cd, end)?;
    if let Some(r) = records.iter().find(|r| r.git_id.is_none()) {
        return Err(Fallback(format!(
            "the previous zip has no git id on {} (built before git2s3 wrote them)",
            r.name
        )));
    }
    let oid = |hex: &str| Oid::from_str(hex).map_err(|e| Fallback(e.to_string()));
    Ok(Previous {
        version_id: version_id.to_string(),
        commit: oid(&described.commit)?,
        tree: oid(&described.tree)?,
        size,
        records,
    })
}

/// One step of the new zip, in order.
#[derive(Debug, Clone)]
enum Step {
    /// Old entries kept as they are: a range of records, back to back.
    Keep {
        first: usize,
        end: usize,
        mode: Option<u32>,
    },
    /// An old entry under a new name (and maybe mode).
    Renamed { old: usize, name: String, mode: u32 },
    /// From the pack.
    New(Item),
}

/// What the new zip is made of.
#[derive(Debug)]
pub struct Plan {
    commit: Oid,
    tree: Oid,
    steps: Vec<Step>,
    pub submodules_skipped: u64,
    /// Bytes of new file content, and of old entries read back (renamed).
    pub new_bytes: u64,
    pub renamed_bytes: u64,
}

/// Where each old entry is: by path, and by git id (the first with it).
struct Index<'a> {
    records: &'a [CentralRecord],
    by_path: HashMap<&'a str, usize>,
    by_id: HashMap<GitId, usize>,
    /// For each record, one past the last record under it (itself + 1 for a file).
    subtree_end: Vec<usize>,
}

impl<'a> Index<'a> {
    fn new(records: &'a [CentralRecord]) -> Index<'a> {
        let mut by_path = HashMap::with_capacity(records.len());
        let mut by_id = HashMap::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            by_path.insert(r.name.as_str(), i);
            if let Some(id) = r.git_id {
                by_id.entry(id).or_insert(i);
            }
        }
        // Entries under a directory follow it, up to the first name
        // outside its prefix.
        let mut subtree_end = vec![0; records.len()];
        let mut open: Vec<usize> = Vec::new();
        for (i, r) in records.iter().enumerate() {
            while let Some(&d) = open.last() {
                if r.name.starts_with(records[d].name.as_str()) {
                    break;
                }
                subtree_end[d] = i;
                open.pop();
            }
            if r.name.ends_with('/') {
                open.push(i);
            } else {
                subtree_end[i] = i + 1;
            }
        }
        for d in open {
            subtree_end[d] = records.len();
        }
        Index {
            records,
            by_path,
            by_id,
            subtree_end,
        }
    }

    fn at(&self, path: &str, id: GitId) -> Option<usize> {
        self.by_path
            .get(path)
            .copied()
            .filter(|&i| self.records[i].git_id == Some(id))
    }
}

/// Plans the zip of `commit` (in `repo`, fetched warm) on `previous`.
pub fn plan(repo: &Repository, commit: Oid, previous: &Previous) -> Result<Plan, Fallback> {
    let git = |e: git2::Error| Fallback(format!("reading the fetched objects: {}", e.message()));
    let commit_obj = repo.find_commit(commit).map_err(git)?;
    let tree = commit_obj.tree_id();
    let index = Index::new(&previous.records);
    let mut plan = Plan {
        commit,
        tree,
        steps: Vec::new(),
        submodules_skipped: 0,
        new_bytes: 0,
        renamed_bytes: 0,
    };
    if tree == previous.tree {
        if !previous.records.is_empty() {
            plan.steps.push(Step::Keep {
                first: 0,
                end: previous.records.len(),
                mode: None,
            });
        }
    } else {
        walk(repo, &index, tree, "", &mut plan)?;
    }
    // Reading much of the old object back costs more than a fresh fetch.
    if plan.renamed_bytes > previous.size / 2 {
        return Err(Fallback(format!(
            "{} MB of the previous zip moved to new paths, more than half of it",
            plan.renamed_bytes / 1_000_000
        )));
    }
    Ok(plan)
}

fn walk(
    repo: &Repository,
    index: &Index<'_>,
    tree: Oid,
    prefix: &str,
    plan: &mut Plan,
) -> Result<(), Fallback> {
    let tree = repo.find_tree(tree).map_err(|_| {
        Fallback(format!(
            "the tree of {} is in neither the fetched pack nor the previous zip",
            if prefix.is_empty() { "/" } else { prefix }
        ))
    })?;
    let odb = repo
        .odb()
        .map_err(|e| Fallback(format!("opening the fetched objects: {}", e.message())))?;
    for entry in tree.iter() {
        let Ok(name) = entry.name() else {
            return Err(Fallback("a path in the tree is not UTF-8".into()));
        };
        match entry.kind() {
            Some(ObjectType::Tree) => {
                let path = format!("{prefix}{name}/");
                let id = GitId::tree(snapshot::git_id(entry.id()));
                if let Some(i) = index.at(&path, id) {
                    plan.steps.push(Step::Keep {
                        first: i,
                        end: index.subtree_end[i],
                        mode: None,
                    });
                } else if let Some(&i) = index.by_id.get(&id) {
                    let old_dir = index.records[i].name.clone();
                    for j in i..index.subtree_end[i] {
                        let r = &index.records[j];
                        let name = format!("{path}{}", &r.name[old_dir.len()..]);
                        plan.renamed_bytes += r.extent();
                        plan.steps.push(Step::Renamed {
                            old: j,
                            name,
                            mode: r.mode,
                        });
                    }
                } else {
                    plan.steps.push(Step::New(Item::Dir {
                        path: path.clone(),
                        tree: entry.id(),
                    }));
                    walk(repo, index, entry.id(), &path, plan)?;
                }
            }
            Some(ObjectType::Blob) => {
                let Some(mode) = snapshot::zip_mode(entry.filemode()) else {
                    continue;
                };
                let path = format!("{prefix}{name}");
                let id = GitId::blob(snapshot::git_id(entry.id()));
                if let Some(i) = index.at(&path, id) {
                    let changed = (index.records[i].mode != mode).then_some(mode);
                    plan.steps.push(Step::Keep {
                        first: i,
                        end: i + 1,
                        mode: changed,
                    });
                } else if let Some(&i) = index.by_id.get(&id) {
                    plan.renamed_bytes += index.records[i].extent();
                    plan.steps.push(Step::Renamed {
                        old: i,
                        name: path,
                        mode,
                    });
                } else {
                    let (size, _) = odb.read_header(entry.id()).map_err(|_| {
                        Fallback(format!(
                            "the blob of {path} is in neither the fetched pack nor the previous zip"
                        ))
                    })?;
                    plan.new_bytes += size as u64;
                    plan.steps.push(Step::New(Item::File(File {
                        path,
                        mode,
                        oid: entry.id(),
                        size: size as u64,
                    })));
                }
            }
            Some(ObjectType::Commit) => plan.submodules_skipped += 1,
            _ => {}
        }
    }
    Ok(())
}

/// Counts of a warm build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WarmStats {
    pub stats: Stats,
    pub kept: u64,
    pub renamed: u64,
    pub new: u64,
}

/// Writes the zip `plan` describes into `out`, copying kept entries from
/// the previous object.
pub fn write<W: CopySink>(
    repo_path: &Path,
    previous: &Previous,
    plan: &Plan,
    out: W,
) -> Result<(W, WarmStats), SnapshotError> {
    let blobs = Blobs::open(repo_path)?;
    let records = &previous.records;
    let mut zip = ZipWriter::new(out);
    zip.set_comment(&snapshot::comment(plan.commit, plan.tree));
    let mut counts = WarmStats {
        stats: Stats {
            submodules_skipped: plan.submodules_skipped,
            ..Stats::default()
        },
        ..WarmStats::default()
    };
    let clash = |name: &str| {
        SnapshotError::Io(std::io::Error::other(format!(
            "{name} is in the previous zip and in the new tree twice"
        )))
    };
    let mut steps = plan.steps.iter().peekable();
    let mut new_run: Vec<Item> = Vec::new();
    while let Some(step) = steps.next() {
        match step {
            Step::New(item) => {
                new_run.push(item.clone());
                if !matches!(steps.peek(), Some(Step::New(_))) {
                    let before = counts.stats.files;
                    blobs.write(&mut zip, &new_run, &mut counts.stats)?;
                    counts.new += counts.stats.files - before;
                    new_run.clear();
                }
            }
            Step::Keep { first, end, mode } => {
                // Ranges that follow each other in the old zip go as one.
                let (first, mut end) = (*first, *end);
                let mut kept: Vec<CentralRecord> = records[first..end].to_vec();
                if let Some(mode) = mode {
                    kept[0].mode = *mode;
                }
                while let Some(Step::Keep {
                    first: next,
                    end: next_end,
                    mode,
                }) = steps.peek()
                {
                    if *next != end {
                        break;
                    }
                    let at = kept.len();
                    kept.extend_from_slice(&records[*next..*next_end]);
                    if let Some(mode) = mode {
                        kept[at].mode = *mode;
                    }
                    end = *next_end;
                    steps.next();
                }
                if !zip.copy_entries(records[first].offset, &kept)? {
                    return Err(clash(&kept[0].name));
                }
                let files = kept.iter().filter(|r| r.mode != MODE_DIR).count() as u64;
                counts.kept += files;
                counts.stats.files += files;
                counts.stats.bytes_in += kept
                    .iter()
                    .map(|r| u64::from(r.uncompressed_size))
                    .sum::<u64>();
            }
            Step::Renamed { old, name, mode } => {
                let r = &records[*old];
                let (data_start, data_len) = r.data_range();
                let record = CentralRecord {
                    name: name.clone(),
                    mode: *mode,
                    ..r.clone()
                };
                if !zip.copy_renamed(record, data_start, data_len)? {
                    return Err(clash(name));
                }
                if r.mode != MODE_DIR {
                    counts.renamed += 1;
                    counts.stats.files += 1;
                    counts.stats.bytes_in += u64::from(r.uncompressed_size);
                }
            }
        }
    }
    let (out, zip_bytes) = zip.finish()?;
    counts.stats.zip_bytes = zip_bytes;
    Ok((out, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_git::git;

    /// The whole warm build into memory, the previous
    /// zip given whole.
    fn build_in_memory(
        repo_path: &Path,
        commit: Oid,
        previous_zip: &[u8],
    ) -> Result<Result<Vec<u8>, Fallback>, SnapshotError> {
        let size = previous_zip.len() as u64;
        let read = |start: Option<u64>, len: u64| {
            let (from, to) = match start {
                Some(s) => (s, s + len),
                None => (size - len, size),
            };
            let bytes = previous_zip
                .get(from as usize..to as usize)
                .map(bytes::Bytes::copy_from_slice)
                .ok_or_else(|| std::io::Error::other("out of range"));
            std::future::ready(bytes)
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        let previous = match runtime.block_on(read_previous("v", size, read))? {
            Ok(p) => p,
            Err(f) => return Ok(Err(f)),
        };
        let repo = Repository::open(repo_path)?;
        let plan = match plan(&repo, commit, &previous) {
            Ok(p) => p,
            Err(f) => return Ok(Err(f)),
        };
        let out = Memory {
            bytes: Vec::new(),
            old: previous_zip,
        };
        let (out, _) = write(repo_path, &previous, &plan, out)?;
        Ok(Ok(out.bytes))
    }

    /// A [`CopySink`] in memory, copying from the previous zip's bytes.
    struct Memory<'a> {
        bytes: Vec<u8>,
        old: &'a [u8],
    }

    impl std::io::Write for Memory<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl CopySink for Memory<'_> {
        fn copy(&mut self, start: u64, len: u64) -> std::io::Result<()> {
            let range = self
                .old
                .get(start as usize..(start + len) as usize)
                .ok_or_else(|| std::io::Error::other("a copy past the previous zip's end"))?;
            self.bytes.extend_from_slice(range);
            Ok(())
        }
    }

    fn commit(root: &Path, message: &str) -> Oid {
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "--allow-empty", "-m", message]);
        Oid::from_str(git(root, &["rev-parse", "HEAD"]).trim()).unwrap()
    }

    fn write_file(root: &Path, path: &str, body: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }

    fn cold(root: &Path, commit: Oid) -> Vec<u8> {
        snapshot::write_zip(&root.join(".git"), &commit.to_string(), Vec::new())
            .unwrap()
            .0
    }

    /// After each kind of edit, the zip built on the previous zip is the
    /// zip a cold build of the same commit writes, byte for byte (here from
    /// a repository holding every object, so no step falls back; the
    /// integration tests push random edits through sshd).
    #[test]
    fn warm_builds_equal_cold_builds_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        for i in 0..20 {
            write_file(
                root,
                &format!("src/f{i}.rs"),
                &format!("// {i}\n").repeat(i * 10 + 1),
            );
        }
        write_file(root, "src/deep/x.txt", "deep\n");
        write_file(root, "spot", "a file\n");
        let mut previous = cold(root, commit(root, "first"));
        type Edit = fn(&Path);
        let edits: [(&str, Edit); 10] = [
            ("add", |r| write_file(r, "src/deep/new.txt", "new\n")),
            ("modify", |r| write_file(r, "src/f3.rs", "changed\n")),
            ("delete", |r| {
                std::fs::remove_file(r.join("src/f4.rs")).unwrap()
            }),
            ("rename", |r| {
                std::fs::rename(r.join("src/f5.rs"), r.join("f5-moved.rs")).unwrap()
            }),
            ("mode", |r| {
                git(r, &["add", "-A"]);
                git(r, &["update-index", "--chmod=+x", "src/f6.rs"]);
            }),
            ("symlink", |r| {
                std::os::unix::fs::symlink("src/f7.rs", r.join("link")).unwrap()
            }),
            ("directory renamed", |r| {
                std::fs::rename(r.join("src/deep"), r.join("deeper")).unwrap()
            }),
            ("file to directory", |r| {
                std::fs::remove_file(r.join("spot")).unwrap();
                write_file(r, "spot/inside.txt", "now a directory\n");
            }),
            ("directory to file", |r| {
                std::fs::remove_dir_all(r.join("spot")).unwrap();
                write_file(r, "spot", "a file again\n");
            }),
            ("empty tree", |r| {
                git(r, &["rm", "-q", "-r", "."]);
            }),
        ];
        for (kind, edit) in edits {
            edit(root);
            let new = commit(root, kind);
            let warm = build_in_memory(&root.join(".git"), new, &previous)
                .unwrap()
                .unwrap_or_else(|f| panic!("{kind} fell back: {f}"));
            assert!(
                warm == cold(root, new),
                "{kind}: the warm zip differs from the cold one"
            );
            previous = warm;
        }
    }

    #[test]
    fn a_previous_zip_without_git_ids_or_cut_short_is_a_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        std::fs::write(root.join("a.txt"), "a\n").unwrap();
        let first = commit(root, "one");
        std::fs::write(root.join("b.txt"), "b\n").unwrap();
        let second = commit(root, "two");
        let good = cold(root, first);
        let repo = root.join(".git");
        // Cut: no end record.
        let f = build_in_memory(&repo, second, &good[..good.len() - 30])
            .unwrap()
            .unwrap_err();
        assert!(f.0.contains("end record"), "{f}");
        // Someone else's zip (no comment of git2s3's).
        let mut other = crate::zip::ZipWriter::new(Vec::new());
        other
            .add(
                &crate::zip::Entry::deflate(
                    "a.txt".into(),
                    crate::zip::MODE_FILE,
                    b"a\n",
                    crate::zip::DosTime::FIXED,
                )
                .unwrap(),
            )
            .unwrap();
        let other = other.finish().unwrap().0;
        let f = build_in_memory(&repo, second, &other).unwrap().unwrap_err();
        assert!(f.0.contains("comment"), "{f}");
    }
}
