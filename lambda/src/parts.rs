//! What travels from the zip builder to the uploader, and how it becomes
//! the parts of an S3 multipart upload.
//!
//! The builder's thread writes through [`PartWriter`], a blocking `Write`
//! that cuts the bytes into [`PART_BYTES`] parts and sends them over a
//! small channel. An incremental build also sends ranges of the previous
//! version of the object ([`OldRange`]), which S3 copies itself
//! (UploadPartCopy). [`Assembler`] turns that stream into [`Job`]s that
//! keep S3's rule: every part but the last is at least [`MIN_PART`]. A
//! short new run before a long copied one takes the copy's first bytes
//! (read with a ranged GET) to reach it, and a short copied run goes into
//! the part around it the same way.

use std::io::{self, Write};

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::zip::CopySink;

/// Size of each multipart part the writer cuts.
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// S3's smallest part, but for the last.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// S3's largest part, copied or not.
pub const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;

/// A range of bytes of the previous version of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldRange {
    pub version_id: String,
    pub start: u64,
    pub len: u64,
}

impl OldRange {
    /// HTTP's inclusive range, `bytes=first-last`.
    pub fn http_range(&self) -> String {
        format!("bytes={}-{}", self.start, self.start + self.len - 1)
    }

    fn split_at(&self, n: u64) -> (OldRange, OldRange) {
        let head = OldRange {
            len: n,
            ..self.clone()
        };
        let tail = OldRange {
            start: self.start + n,
            len: self.len - n,
            ..self.clone()
        };
        (head, tail)
    }
}

/// What the builder sends.
#[derive(Debug)]
pub enum Part {
    Data(Bytes),
    /// Bytes of the previous version, copied inside S3.
    Copy(OldRange),
    /// The zip is complete.
    End,
}

/// A blocking `Write` that cuts what it is given into parts for
/// [`crate::store::Store::upload`], and passes copied ranges on.
pub struct PartWriter {
    tx: mpsc::Sender<Part>,
    buf: BytesMut,
    /// The previous version ranges are copied from.
    version_id: Option<String>,
}

impl PartWriter {
    pub fn new(tx: mpsc::Sender<Part>) -> Self {
        PartWriter {
            tx,
            buf: BytesMut::with_capacity(PART_BYTES),
            version_id: None,
        }
    }

    /// A writer that may also copy ranges of `version_id`, the version of
    /// the object the upload replaces.
    pub fn copying_from(tx: mpsc::Sender<Part>, version_id: String) -> Self {
        PartWriter {
            version_id: Some(version_id),
            ..PartWriter::new(tx)
        }
    }

    fn send(&self, part: Part) -> io::Result<()> {
        self.tx
            .blocking_send(part)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the S3 upload stopped"))
    }

    fn send_buffered(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let rest = std::mem::replace(&mut self.buf, BytesMut::with_capacity(PART_BYTES));
            self.send(Part::Data(rest.freeze()))?;
        }
        Ok(())
    }

    /// Sends what is left and marks the zip complete.
    pub fn finish(mut self) -> io::Result<()> {
        self.send_buffered()?;
        self.send(Part::End)
    }
}

impl Write for PartWriter {
    /// Each part is its own allocation of [`PART_BYTES`], filled and sent
    /// whole. (Splitting one growing buffer instead would let a part in
    /// flight keep alive a buffer twice its size, shared with the next.)
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let written = data.len();
        while !data.is_empty() {
            let take = data.len().min(PART_BYTES - self.buf.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == PART_BYTES {
                self.send_buffered()?;
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl CopySink for PartWriter {
    fn copy(&mut self, start: u64, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let Some(version_id) = self.version_id.clone() else {
            return Err(io::Error::other(
                "this upload has no previous version to copy from",
            ));
        };
        self.send_buffered()?;
        self.send(Part::Copy(OldRange {
            version_id,
            start,
            len,
        }))
    }
}

/// A piece of a part that is uploaded: new bytes, or old ones read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Data(Bytes),
    Old(OldRange),
}

/// One part of the multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Uploaded (UploadPart), its old pieces read first (GetObject).
    Upload(Vec<Piece>),
    /// Copied inside S3 (UploadPartCopy).
    Copy(OldRange),
}

impl Job {
    pub fn len(&self) -> u64 {
        match self {
            Job::Upload(pieces) => pieces
                .iter()
                .map(|p| match p {
                    Piece::Data(b) => b.len() as u64,
                    Piece::Old(r) => r.len,
                })
                .sum(),
            Job::Copy(r) => r.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// For an uploaded part, one range of the previous version that covers
    /// all its old pieces, when it holds at most a MiB besides them: one
    /// GET instead of one a piece (what lies between them is the old
    /// version of the entries that changed, usually small).
    pub fn read_back_span(&self) -> Option<OldRange> {
        let Job::Upload(pieces) = self else {
            return None;
        };
        let mut old = pieces.iter().filter_map(|p| match p {
            Piece::Old(r) => Some(r),
            Piece::Data(_) => None,
        });
        let first = old.next()?.clone();
        let (mut end, mut sum) = (first.start + first.len, first.len);
        for r in old {
            if r.version_id != first.version_id || r.start < end {
                return None;
            }
            end = r.start + r.len;
            sum += r.len;
        }
        let span = end - first.start;
        (span <= sum + 1024 * 1024).then_some(OldRange { len: span, ..first })
    }
}

/// Turns what the builder sends into parts S3 takes.
#[derive(Debug, Default)]
pub struct Assembler {
    pending: Vec<Piece>,
    pending_len: u64,
}

impl Assembler {
    fn take(&mut self) -> Option<Job> {
        if self.pending.is_empty() {
            return None;
        }
        self.pending_len = 0;
        Some(Job::Upload(std::mem::take(&mut self.pending)))
    }

    fn add(&mut self, piece: Piece, len: u64, ready: &mut Vec<Job>) {
        self.pending.push(piece);
        self.pending_len += len;
        if self.pending_len >= PART_BYTES as u64 {
            ready.extend(self.take());
        }
    }

    /// The parts `part` completes (none for [`Part::End`]: see [`Self::finish`]).
    pub fn push(&mut self, part: Part) -> Vec<Job> {
        let mut ready = Vec::new();
        match part {
            Part::Data(bytes) => {
                let len = bytes.len() as u64;
                if len > 0 {
                    self.add(Piece::Data(bytes), len, &mut ready);
                }
            }
            Part::Copy(mut range) => {
                if self.pending_len > 0 && self.pending_len < MIN_PART {
                    // Fill the part before it up to S3's minimum.
                    let n = range.len.min(MIN_PART - self.pending_len);
                    let (head, tail) = range.split_at(n);
                    self.add(Piece::Old(head), n, &mut ready);
                    range = tail;
                }
                if range.len >= MIN_PART {
                    ready.extend(self.take());
                    let parts = range.len.div_ceil(MAX_PART);
                    let each = range.len / parts;
                    for i in 0..parts {
                        let n = if i + 1 == parts { range.len } else { each };
                        let (head, tail) = range.split_at(n);
                        ready.push(Job::Copy(head));
                        range = tail;
                    }
                } else if range.len > 0 {
                    let n = range.len;
                    self.add(Piece::Old(range), n, &mut ready);
                }
            }
            Part::End => {}
        }
        ready
    }

    /// The last part.
    pub fn finish(mut self) -> Option<Job> {
        self.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn old(start: u64, len: u64) -> OldRange {
        OldRange {
            version_id: "v1".into(),
            start,
            len,
        }
    }

    fn data(len: u64) -> Part {
        Part::Data(Bytes::from(vec![7u8; len as usize]))
    }

    /// Every part but the last is at least 5 MiB, and the parts hold
    /// the bytes in the order they were sent.
    fn assemble(parts: Vec<Part>) -> Vec<Job> {
        let mut a = Assembler::default();
        let mut jobs = Vec::new();
        let mut sent = 0;
        for p in parts {
            sent += match &p {
                Part::Data(b) => b.len() as u64,
                Part::Copy(r) => r.len,
                Part::End => 0,
            };
            jobs.extend(a.push(p));
        }
        jobs.extend(a.finish());
        let (last, rest) = jobs.split_last().unwrap();
        assert!(rest.iter().all(|j| j.len() >= MIN_PART), "{jobs:?}");
        assert!(jobs.iter().all(|j| j.len() <= MAX_PART));
        assert_eq!(rest.iter().map(Job::len).sum::<u64>() + last.len(), sent);
        jobs
    }

    #[test]
    fn a_one_file_change_copies_both_sides_and_reads_back_only_to_reach_5_mib() {
        let jobs = assemble(vec![
            Part::Copy(old(0, 150 * MIB)),
            data(3000),
            Part::Copy(old(150 * MIB + 2000, 150 * MIB)),
            data(2 * MIB),
        ]);
        let (first, second) = (
            old(150 * MIB + 2000, MIN_PART - 3000),
            old(
                150 * MIB + 2000 + MIN_PART - 3000,
                150 * MIB - MIN_PART + 3000,
            ),
        );
        assert_eq!(jobs[0], Job::Copy(old(0, 150 * MIB)));
        assert!(matches!(&jobs[1], Job::Upload(p) if p[1] == Piece::Old(first.clone())));
        assert_eq!(jobs[2], Job::Copy(second));
        assert!(matches!(&jobs[3], Job::Upload(p) if p.len() == 1));
        assert_eq!(jobs.len(), 4);
    }

    #[test]
    fn short_copied_runs_are_read_back_into_the_parts_around_them() {
        let jobs = assemble(vec![
            data(MIB),
            Part::Copy(old(0, MIB)),
            data(MIB),
            Part::Copy(old(5 * MIB, 2 * MIB)),
            Part::Copy(old(9 * MIB, 3 * MIB)),
            data(100),
        ]);
        assert!(jobs.iter().all(|j| matches!(j, Job::Upload(_))), "{jobs:?}");
    }

    #[test]
    fn the_old_pieces_of_a_part_are_read_in_one_range_when_close() {
        let part = Job::Upload(vec![
            Piece::Old(old(100, 1000)),
            Piece::Data(Bytes::from_static(b"new")),
            Piece::Old(old(1200, 1000)),
        ]);
        assert_eq!(part.read_back_span(), Some(old(100, 2100)));
        let far = Job::Upload(vec![Piece::Old(old(0, 10)), Piece::Old(old(50 * MIB, 10))]);
        assert_eq!(far.read_back_span(), None);
        assert_eq!(Job::Copy(old(0, 6 * MIB)).read_back_span(), None);
    }

    #[test]
    fn copies_past_5_gib_are_split_and_a_lone_copy_is_one_part() {
        let jobs = assemble(vec![Part::Copy(old(0, 12 * 1024 * MIB))]);
        assert_eq!(jobs.len(), 3);
        assert_eq!(assemble(vec![Part::Copy(old(0, 6 * MIB))]).len(), 1);
        // Short and alone: one uploaded part, read back.
        assert_eq!(
            assemble(vec![Part::Copy(old(0, MIB))]),
            vec![Job::Upload(vec![Piece::Old(old(0, MIB))])]
        );
    }
}
