//! Reading back the central directory of a zip git2s3 wrote, from the end
//! of the object alone (two ranged GETs in S3): every entry's record, with
//! the git object it was made from ([`super::GIT_ID_FIELD`]). It is what an
//! incremental build keeps entries by, so it is checked hard: anything not
//! laid out exactly as [`super::ZipWriter`] lays it out (entries back to
//! back from offset 0, no gaps, no local extra fields, up to the central
//! directory) is refused, and the build is made cold.

use super::write::{
    CentralRecord, DosTime, GitId, CENTRAL_HEADER, END_OF_CENTRAL_DIRECTORY, GIT_ID_FIELD,
    ZIP64_END_OF_CENTRAL_DIRECTORY,
};

/// How much of the end of an object to read first: the end record with
/// the longest comment, and the zip64 end record and locator before it.
pub const TAIL_BYTES: u64 = 22 + 0xFFFF + 20 + 56;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
/// The comment every git-pull zip carries: the layout version, then the
/// commit and its root tree.
pub const COMMENT_PREFIX: &str = "git2s3 layout ";

/// Why a previous zip cannot be built on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unusable(pub String);

fn unusable(what: impl Into<String>) -> Unusable {
    Unusable(what.into())
}

/// Where the central directory is, from the object's last bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    pub cd_start: u64,
    pub cd_len: u64,
    pub entries: u64,
    pub comment: String,
}

/// What the comment says about the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub layout: u32,
    pub commit: String,
    pub tree: String,
}

impl End {
    /// The layout, commit and root tree the comment names.
    pub fn described(&self) -> Result<Described, Unusable> {
        let rest = self.comment.strip_prefix(COMMENT_PREFIX).ok_or_else(|| {
            unusable("its comment is not git2s3's (built before git2s3 0.2, or not by git2s3)")
        })?;
        let mut words = rest.split(' ');
        let layout = words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| unusable("its comment names no layout version"))?;
        let mut field = |name: &str| -> Result<String, Unusable> {
            words
                .next()
                .and_then(|w| w.strip_prefix(name))
                .filter(|v| v.len() == 40 && v.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(String::from)
                .ok_or_else(|| unusable(format!("its comment names no {name}")))
        };
        Ok(Described {
            layout,
            commit: field("commit=")?,
            tree: field("tree=")?,
        })
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Finds the end record in `tail`, the last bytes of an object of
/// `object_len` bytes.
pub fn end(tail: &[u8], object_len: u64) -> Result<End, Unusable> {
    let tail_start = object_len
        .checked_sub(tail.len() as u64)
        .ok_or_else(|| unusable("the object is shorter than what was read of it"))?;
    // The last end record whose comment runs exactly to the end.
    let at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| {
            u32_at(tail, i) == END_OF_CENTRAL_DIRECTORY
                && i + 22 + usize::from(u16_at(tail, i + 20)) == tail.len()
        })
        .ok_or_else(|| unusable("it has no zip end record (truncated?)"))?;
    let e = &tail[at..];
    let comment = String::from_utf8_lossy(&e[22..]).into_owned();
    let (mut entries, mut cd_len, mut cd_start) = (
        u64::from(u16_at(e, 10)),
        u64::from(u32_at(e, 12)),
        u64::from(u32_at(e, 16)),
    );
    let zip64 =
        entries == 0xFFFF || cd_len == u64::from(u32::MAX) || cd_start == u64::from(u32::MAX);
    if zip64 {
        let locator = at
            .checked_sub(20)
            .filter(|&l| u32_at(tail, l) == ZIP64_LOCATOR)
            .ok_or_else(|| unusable("its zip64 locator is missing"))?;
        let record = u64_at(tail, locator + 8)
            .checked_sub(tail_start)
            .map(|r| r as usize)
            .filter(|&r| r + 56 <= locator && u32_at(tail, r) == ZIP64_END_OF_CENTRAL_DIRECTORY)
            .ok_or_else(|| unusable("its zip64 end record is not where its locator says"))?;
        entries = u64_at(tail, record + 32);
        cd_len = u64_at(tail, record + 40);
        cd_start = u64_at(tail, record + 48);
    }
    let cd_end = tail_start + at as u64;
    // Between the directory and the end record: zip64's record and locator.
    let zip64_records = if zip64 { 56 + 20 } else { 0 };
    if cd_start.checked_add(cd_len) != Some(cd_end - zip64_records) {
        return Err(unusable(
            "its central directory does not end where its end record starts",
        ));
    }
    Ok(End {
        cd_start,
        cd_len,
        entries,
        comment,
    })
}

/// Reads the central directory `cd` (the bytes [`End`] locates) into its
/// records, and checks that they tile the object from 0 to the central
/// directory with no gap or overlap.
pub fn records(cd: &[u8], end: &End) -> Result<Vec<CentralRecord>, Unusable> {
    let mut records = Vec::with_capacity(end.entries.min(1 << 20) as usize);
    let mut at = 0usize;
    while at < cd.len() {
        if cd.len() - at < 46 || u32_at(cd, at) != CENTRAL_HEADER {
            return Err(unusable(format!(
                "central record {} is cut or corrupt",
                records.len()
            )));
        }
        let h = &cd[at..];
        let (name_len, extra_len, comment_len) = (
            usize::from(u16_at(h, 28)),
            usize::from(u16_at(h, 30)),
            usize::from(u16_at(h, 32)),
        );
        let total = 46 + name_len + extra_len + comment_len;
        if h.len() < total {
            return Err(unusable(format!("central record {} is cut", records.len())));
        }
        let name = std::str::from_utf8(&h[46..46 + name_len])
            .map_err(|_| unusable(format!("the name of entry {} is not UTF-8", records.len())))?
            .to_string();
        let mut record = CentralRecord {
            name,
            flags: u16_at(h, 8),
            mode: u32_at(h, 38) >> 16,
            method: u16_at(h, 10),
            crc32: u32_at(h, 16),
            compressed_size: u32_at(h, 20),
            uncompressed_size: u32_at(h, 24),
            modified: DosTime {
                time: u16_at(h, 12),
                date: u16_at(h, 14),
            },
            offset: u64::from(u32_at(h, 42)),
            git_id: None,
        };
        let mut extra = &h[46 + name_len..46 + name_len + extra_len];
        while extra.len() >= 4 {
            let (id, len) = (u16_at(extra, 0), usize::from(u16_at(extra, 2)));
            let data = extra
                .get(4..4 + len)
                .ok_or_else(|| unusable(format!("an extra field of {} is cut", record.name)))?;
            if id == 1 {
                // zip64: the 8-byte values of the fields set to all ones.
                let mut values = data.chunks_exact(8).map(|c| u64_at(c, 0));
                if record.uncompressed_size == u32::MAX || record.compressed_size == u32::MAX {
                    return Err(unusable(format!("{} is larger than 4 GiB", record.name)));
                }
                if record.offset == u64::from(u32::MAX) {
                    record.offset = values.next().ok_or_else(|| {
                        unusable(format!("the zip64 offset of {} is missing", record.name))
                    })?;
                }
            } else if id == GIT_ID_FIELD {
                record.git_id = Some(GitId::parse(data).ok_or_else(|| {
                    unusable(format!(
                        "the git id of {} is of a layout version this git2s3 does not know",
                        record.name
                    ))
                })?);
            }
            extra = &extra[4 + len..];
        }
        records.push(record);
        at += total;
    }
    if records.len() as u64 != end.entries {
        return Err(unusable(format!(
            "its end record counts {} entries, and its central directory holds {}",
            end.entries,
            records.len()
        )));
    }
    let mut next = 0u64;
    for r in &records {
        if r.offset != next {
            return Err(unusable(format!(
                "entry {} starts at {}, not right after the entry before it ({next})",
                r.name, r.offset
            )));
        }
        next += r.extent();
    }
    if next != end.cd_start {
        return Err(unusable(
            "its entries do not end where its central directory starts",
        ));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zip::{Entry, ZipWriter, MODE_EXECUTABLE, MODE_FILE};

    fn sample() -> Vec<u8> {
        let mut zip = ZipWriter::new(Vec::new());
        zip.add_dir("src/", DosTime::FIXED, GitId::tree([7; 20]))
            .unwrap();
        let e = Entry::deflate(
            "src/a.txt".into(),
            MODE_FILE,
            &b"hello ".repeat(100),
            DosTime::FIXED,
        )
        .unwrap()
        .with_git_id(GitId::blob([1; 20]));
        zip.add(&e).unwrap();
        let mut text = std::io::Cursor::new(b"#!/bin/sh\n".repeat(50));
        zip.add_stream(
            "run.sh",
            MODE_EXECUTABLE,
            DosTime::FIXED,
            crate::zip::Source::Content {
                reader: &mut text,
                store: false,
            },
            Some(GitId::blob([2; 20])),
        )
        .unwrap();
        zip.set_comment(&format!(
            "{COMMENT_PREFIX}1 commit={} tree={}",
            "ab".repeat(20),
            "cd".repeat(20)
        ));
        zip.finish().unwrap().0
    }

    fn read_back(zip: &[u8]) -> Result<(End, Vec<CentralRecord>), Unusable> {
        let tail_len = (TAIL_BYTES as usize).min(zip.len());
        let end = end(&zip[zip.len() - tail_len..], zip.len() as u64)?;
        let cd = &zip[end.cd_start as usize..(end.cd_start + end.cd_len) as usize];
        let records = records(cd, &end)?;
        Ok((end, records))
    }

    #[test]
    fn records_read_back_with_their_git_ids_and_tile_the_archive() {
        let zip = sample();
        let (end, records) = read_back(&zip).unwrap();
        let d = end.described().unwrap();
        assert_eq!(
            (d.layout, d.commit, d.tree),
            (1, "ab".repeat(20), "cd".repeat(20))
        );
        let names: Vec<_> = records.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["src/", "src/a.txt", "run.sh"]);
        assert_eq!(records[0].git_id, Some(GitId::tree([7; 20])));
        assert_eq!(records[1].git_id, Some(GitId::blob([1; 20])));
        assert!(records[2].has_descriptor());
        assert_eq!(records[2].mode, MODE_EXECUTABLE);
        // Each record rebuilds its entry's local header exactly.
        for r in &records {
            let at = r.offset as usize;
            assert_eq!(&zip[at..at + 30 + r.name.len()], &r.local_header()[..]);
        }
        // The zip crate, which skips the unknown extra field, reads it.
        let mut archive = ::zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.len(), 3);
        assert!(archive.by_name("src/").unwrap().is_dir());
    }

    #[test]
    fn a_truncated_or_corrupted_zip_is_unusable() {
        let zip = sample();
        // Cut anywhere: no end record, or one whose directory is not there.
        for cut in [1, 10, 22, 100, zip.len() / 2] {
            assert!(read_back(&zip[..zip.len() - cut]).is_err(), "cut {cut}");
        }
        // One byte of an offset or a size changed: the entries no longer tile.
        let (end, _) = read_back(&zip).unwrap();
        for field in [20, 42] {
            let mut bad = zip.clone();
            bad[end.cd_start as usize + field] ^= 0x01;
            assert!(read_back(&bad).is_err(), "field at {field}");
        }
        // A git id of a layout version this build does not know.
        let mut bad = zip.clone();
        let field = bad
            .windows(4)
            .position(|w| w == [0x67, 0x73, 22, 0])
            .unwrap();
        bad[field + 4] = 9;
        let err = read_back(&bad).unwrap_err();
        assert!(err.0.contains("layout version"), "{err}");
        // Not git2s3's comment.
        let mut zip = ZipWriter::new(Vec::new());
        zip.set_comment("made by someone else");
        let other = zip.finish().unwrap().0;
        assert!(read_back(&other).unwrap().0.described().is_err());
    }
}
