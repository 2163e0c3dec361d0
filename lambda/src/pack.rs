//! The fetched pack, read directly: where each blob sits (from the pack's
//! `.idx`), and a whole blob's content, inflated from its place in the
//! pack with positioned reads, on many threads at once, so that no more of
//! the pack than the blob is ever in memory (libgit2 maps the pack in
//! windows, which count in the worker's memory). A large blob is read as
//! a stream.
//!
//! Anything else (a delta, an object in no pack, a zlib stream with a preset
//! dictionary) is left to libgit2 by the caller. The pack was checked by
//! libgit2's indexer when it was fetched (object ids and the pack's
//! checksum), so it is trusted here; only its framing is checked.
//!
//! Formats: `gitformat-pack(5)` (pack version 2 and 3; index version 2).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use git2::Oid;

const INDEX_MAGIC: [u8; 4] = [0xff, b't', b'O', b'c'];
const FANOUT: usize = 8;
const FANOUT_BYTES: usize = 256 * 4;
/// Where the sorted object names start, after the header and fan-out table.
const NAMES: usize = FANOUT + FANOUT_BYTES;
const OID_BYTES: usize = 20;
/// An offset with this bit set indexes the table of 8-byte offsets.
const LARGE_OFFSET: u32 = 1 << 31;
const TYPE_BLOB: u8 = 3;
const READ_BUFFER: usize = 64 * 1024;

/// One pack file and its index, held in memory (28 bytes an object: a
/// shallow fetch holds about one object per file, like the file list).
pub struct Pack {
    file: File,
    index: Vec<u8>,
    count: usize,
}

fn bad(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} is not a readable pack index: {what}", path.display()),
    )
}

impl Pack {
    /// Every pack in the repository at `repo_path` (a bare repository or a
    /// `.git` directory); none when its objects are all loose.
    pub fn all_in(repo_path: &Path) -> io::Result<Vec<Pack>> {
        let dir = repo_path.join("objects").join("pack");
        let mut packs = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(packs),
            Err(e) => return Err(e),
        };
        let mut indexes: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "idx"))
            .collect();
        indexes.sort();
        for idx in indexes {
            packs.push(Pack::open(&idx, &idx.with_extension("pack"))?);
        }
        Ok(packs)
    }

    /// Opens the pack at `pack_path` with its index at `idx_path`.
    pub fn open(idx_path: &Path, pack_path: &Path) -> io::Result<Pack> {
        let index = std::fs::read(idx_path)?;
        if index.len() < NAMES || index[..4] != INDEX_MAGIC {
            return Err(bad(idx_path, "no version 2 header"));
        }
        if be32(&index, 4) != 2 {
            return Err(bad(idx_path, "not version 2"));
        }
        let count = be32(&index, FANOUT + 255 * 4) as usize;
        // names, CRCs and 4-byte offsets, then two checksums at least.
        let needed = NAMES + count * (OID_BYTES + 8) + 2 * OID_BYTES;
        if index.len() < needed {
            return Err(bad(idx_path, "shorter than its object count says"));
        }
        let file = File::open(pack_path)?;
        let mut header = [0u8; 12];
        file.read_exact_at(&mut header, 0)?;
        if &header[..4] != b"PACK" || !matches!(be32(&header, 4), 2 | 3) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a version 2 or 3 pack", pack_path.display()),
            ));
        }
        Ok(Pack { file, index, count })
    }

    /// Where `oid` starts in the pack, if this pack holds it.
    pub fn offset(&self, oid: Oid) -> Option<u64> {
        let id = oid.as_bytes();
        let first = usize::from(id[0]);
        let lo = if first == 0 {
            0
        } else {
            be32(&self.index, FANOUT + (first - 1) * 4) as usize
        };
        let hi = be32(&self.index, FANOUT + first * 4) as usize;
        let name = |i: usize| {
            let at = NAMES + i * OID_BYTES;
            &self.index[at..at + OID_BYTES]
        };
        let (mut lo, mut hi) = (lo, hi.min(self.count));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match name(mid).cmp(id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.offset_of(mid),
            }
        }
        None
    }

    fn offset_of(&self, position: usize) -> Option<u64> {
        let offsets = NAMES + self.count * (OID_BYTES + 4);
        let small = be32(&self.index, offsets + position * 4);
        if small & LARGE_OFFSET == 0 {
            return Some(u64::from(small));
        }
        let at = offsets + self.count * 4 + (small & !LARGE_OFFSET) as usize * 8;
        let bytes = self.index.get(at..at + 8)?;
        Some(u64::from_be_bytes(bytes.try_into().ok()?))
    }

    /// Where the deflate stream of blob `oid` starts, and the blob's size,
    /// if this pack holds it whole (not as a delta).
    fn whole_blob(&self, oid: Oid) -> io::Result<Option<(u64, At<'_>)>> {
        let Some(offset) = self.offset(oid) else {
            return Ok(None);
        };
        let mut at = At {
            file: &self.file,
            pos: offset,
        };
        let (kind, size) = object_header(&mut at)?;
        if kind != TYPE_BLOB {
            return Ok(None);
        }
        let mut zlib = [0u8; 2];
        at.read_exact(&mut zlib)?;
        if !plain_zlib_header(zlib) {
            return Ok(None);
        }
        Ok(Some((size, at)))
    }

    /// The blob `oid`'s size and its raw deflate stream as a reader, if
    /// this pack holds it whole: for a blob too large to hold in memory,
    /// inflated a chunk at a time.
    pub fn blob_stream(&self, oid: Oid) -> io::Result<Option<(u64, impl io::BufRead + '_)>> {
        Ok(self
            .whole_blob(oid)?
            .map(|(size, at)| (size, BufReader::with_capacity(READ_BUFFER, at))))
    }

    /// The content of the blob `oid`, if this pack holds it whole (not as
    /// a delta): read and inflated here, so that no more of the pack than
    /// the blob is ever in memory.
    pub fn blob(&self, oid: Oid) -> io::Result<Option<Vec<u8>>> {
        let Some((size, at)) = self.whole_blob(oid)? else {
            return Ok(None);
        };
        // Deflate grows what it cannot shrink by a few bytes a block, so a
        // small blob's stream fits a small buffer: no read far past it.
        let capacity = usize::try_from(size.saturating_add(size / 16 + 64))
            .map_or(READ_BUFFER, |c| c.min(READ_BUFFER));
        let src = BufReader::with_capacity(capacity, at);
        let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 30));
        flate2::bufread::DeflateDecoder::new(src)
            .take(size.saturating_add(1))
            .read_to_end(&mut content)
            .map_err(|e| io::Error::new(e.kind(), format!("blob {oid} in the pack: {e}")))?;
        if content.len() as u64 != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "blob {oid} in the pack inflates to {} bytes, not the {size} its header says",
                    content.len()
                ),
            ));
        }
        Ok(Some(content))
    }
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// A pack entry's type and inflated size: 3 type bits and a little-endian
/// base-128 size, 4 bits in the first byte and 7 in each one after.
fn object_header<R: Read>(src: &mut R) -> io::Result<(u8, u64)> {
    let mut byte = [0u8; 1];
    src.read_exact(&mut byte)?;
    let kind = (byte[0] >> 4) & 0b111;
    let mut size = u64::from(byte[0] & 0x0f);
    let mut shift = 4;
    while byte[0] & 0x80 != 0 {
        src.read_exact(&mut byte)?;
        if shift > 57 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a pack entry's size does not fit in 64 bits",
            ));
        }
        size |= u64::from(byte[0] & 0x7f) << shift;
        shift += 7;
    }
    Ok((kind, size))
}

/// A zlib header for deflate with no preset dictionary (RFC 1950).
fn plain_zlib_header([cmf, flg]: [u8; 2]) -> bool {
    cmf & 0x0f == 8 && flg & 0x20 == 0 && ((u16::from(cmf) << 8) | u16::from(flg)) % 31 == 0
}

/// Reads a file from a position, without moving a shared cursor, so that
/// many threads read one pack at once.
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::test_git::git;

    #[test]
    fn object_headers_read_type_and_size() {
        // blob (3), size 5: one byte.
        assert_eq!(object_header(&mut Cursor::new([0x35])).unwrap(), (3, 5));
        // blob, size 0x1234 = 4 low bits (4) then 0x123 in 7-bit groups.
        assert_eq!(
            object_header(&mut Cursor::new([0x80 | 0x30 | 0x4, 0x80 | 0x23, 0x02])).unwrap(),
            (3, 0x4 | (0x23 << 4) | (0x02 << 11))
        );
        // ofs-delta (6)
        assert_eq!(object_header(&mut Cursor::new([0x61])).unwrap().0, 6);
        assert!(
            object_header(&mut Cursor::new([0xb5])).is_err(),
            "cut short"
        );
    }

    #[test]
    fn zlib_headers_with_a_dictionary_are_refused() {
        assert!(plain_zlib_header([0x78, 0x9c])); // default level
        assert!(plain_zlib_header([0x78, 0x01])); // level 0-1
        assert!(!plain_zlib_header([0x78, 0xbb])); // FDICT set
        assert!(!plain_zlib_header([0x78, 0x9d])); // bad check bits
    }

    #[test]
    fn every_object_of_a_real_pack_is_found_and_blobs_inflate_to_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        let base: String = (0..4000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(root.join("a.txt"), &base).unwrap();
        // Nearly the same file: git stores one of the two as a delta.
        std::fs::write(root.join("b.txt"), format!("{base}one more\n")).unwrap();
        std::fs::write(root.join("empty"), "").unwrap();
        git(root, &["add", "."]);
        git(root, &["commit", "-q", "-m", "c"]);
        git(root, &["repack", "-a", "-d", "-q"]);
        let packs = Pack::all_in(&root.join(".git")).unwrap();
        assert_eq!(packs.len(), 1);
        let pack = &packs[0];

        let listing = git(root, &["rev-list", "--objects", "--all"]);
        let ids: Vec<Oid> = listing
            .lines()
            .map(|l| Oid::from_str(&l[..40]).unwrap())
            .collect();
        assert_eq!(ids.len(), pack.count);
        for id in &ids {
            assert!(pack.offset(*id).is_some(), "{id}");
        }
        assert_eq!(pack.offset(Oid::from_str(&"ab".repeat(20)).unwrap()), None);

        let (mut whole, mut deltas) = (0, 0);
        for path in ["a.txt", "b.txt", "empty"] {
            let id =
                Oid::from_str(git(root, &["rev-parse", &format!("HEAD:{path}")]).trim()).unwrap();
            let content = std::fs::read(root.join(path)).unwrap();
            match pack.blob(id).unwrap() {
                Some(inflated) => {
                    whole += 1;
                    assert_eq!(inflated, content, "{path}");
                }
                None => deltas += 1,
            }
        }
        assert_eq!((whole, deltas), (2, 1), "one of a.txt and b.txt is a delta");
        // A commit is not a blob.
        let head = Oid::from_str(git(root, &["rev-parse", "HEAD"]).trim()).unwrap();
        assert!(pack.blob(head).unwrap().is_none());
    }

    #[test]
    fn files_that_are_not_an_index_and_a_pack_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (idx, pack) = (dir.path().join("x.idx"), dir.path().join("x.pack"));
        std::fs::write(&pack, b"PACK\0\0\0\x02\0\0\0\0").unwrap();
        std::fs::write(&idx, b"<html>not found</html>").unwrap();
        let err = Pack::open(&idx, &pack).err().unwrap();
        assert!(
            err.to_string().contains("not a readable pack index"),
            "{err}"
        );
        // A version 2 index that claims more objects than it holds.
        let mut index = INDEX_MAGIC.to_vec();
        index.extend_from_slice(&2u32.to_be_bytes());
        index.extend(std::iter::repeat(7u32.to_be_bytes()).take(256).flatten());
        std::fs::write(&idx, &index).unwrap();
        let err = Pack::open(&idx, &pack).err().unwrap();
        assert!(
            err.to_string().contains("shorter than its object count"),
            "{err}"
        );
    }

    #[test]
    fn a_repository_with_only_loose_objects_has_no_pack() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "--bare"]);
        assert!(Pack::all_in(dir.path()).unwrap().is_empty());
    }
}
