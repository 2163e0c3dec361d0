//! A streaming zip writer: entries go out as soon as they are ready, into
//! any `Write` (in the worker, an S3 multipart upload), and nothing is ever
//! seeked back to. Only the central directory (about 100 bytes an entry) is
//! kept until the end.
//!
//! Entries are compressed before they are written ([`Entry::deflate`]), so
//! that many can be compressed at once on every core and then written in
//! order, and so that each local header already knows its sizes and CRC
//! (no data descriptors; every unzip reads the result). Unix modes are kept
//! (executable bit, symlinks), names are UTF-8, and zip64 records are added
//! when the archive passes 4 GiB or 65,535 entries. One entry may hold at
//! most 4 GiB.

use std::io::{self, BufRead, Write};

use flate2::write::DeflateEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};

// Record signatures; the archive reader in `fetch::archive` uses them too.
pub(crate) const LOCAL_HEADER: u32 = 0x0403_4b50;
pub(crate) const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
pub(crate) const CENTRAL_HEADER: u32 = 0x0201_4b50;
pub(crate) const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
pub(crate) const ZIP64_END_OF_CENTRAL_DIRECTORY: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
/// General purpose flag bit 11: names are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
/// "Version made by": Unix (3), spec 6.3, so unzip honours the mode bits.
const MADE_BY_UNIX: u16 = (3 << 8) | 63;
const VERSION_DEFAULT: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// MS-DOS attribute of a directory, in the low byte of the external attributes.
const DOS_DIRECTORY: u32 = 0x10;

/// The header id of git2s3's extra field, in the central directory only:
/// "gs" as its two little-endian bytes. It is not one the zip
/// specification (APPNOTE 4.5/4.6) or Info-ZIP's list assigns, and zip
/// readers skip extra fields they do not know.
pub const GIT_ID_FIELD: u16 = 0x7367;
/// The field's data: a layout version, the object's kind, its id.
pub const GIT_ID_FIELD_BYTES: u16 = 22;
/// The version of the field and of the layout it describes (see
/// `docs/architecture.md`): entries in git's tree order, each directory
/// before what it holds, every entry with [`DosTime::FIXED`].
pub const LAYOUT_VERSION: u8 = 1;

/// Stored or deflated.
pub const METHOD_STORE: u16 = 0;
pub const METHOD_DEFLATE: u16 = 8;

/// Unix file types and modes as git records them.
pub const MODE_DIR: u32 = 0o040_755;
pub const MODE_FILE: u32 = 0o100_644;
pub const MODE_EXECUTABLE: u32 = 0o100_755;
pub const MODE_SYMLINK: u32 = 0o120_777;

/// A timestamp in MS-DOS form, as zip stores it (2-second resolution, local
/// to nothing: git2s3 writes the commit's UTC time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosTime {
    pub time: u16,
    pub date: u16,
}

impl DosTime {
    /// From seconds since the Unix epoch; clamped to 1980-01-01, the
    /// earliest time zip can hold.
    pub fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        if y < 1980 {
            return DosTime {
                time: 0,
                date: (1 << 5) | 1,
            };
        }
        let y = y.min(2107);
        let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
        DosTime {
            time: ((hh << 11) | (mm << 5) | (ss / 2)) as u16,
            date: (((y - 1980) << 9) | ((m as i64) << 5) | d as i64) as u16,
        }
    }
}

impl DosTime {
    /// 1980-01-01 00:00, the earliest time zip holds, on every entry of a
    /// git-pull zip: an entry then depends on its path and content alone,
    /// so an unchanged file's bytes are the same in every commit's zip and
    /// can be copied from the previous one (the commit is in the object's
    /// metadata and in the zip's comment).
    pub const FIXED: DosTime = DosTime {
        time: 0,
        date: (1 << 5) | 1,
    };
}

/// What a git object an entry was made from is: a file's blob or a
/// directory's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GitKind {
    Blob = 1,
    Tree = 2,
}

/// The git object an entry was made from, written in the entry's central
/// record ([`GIT_ID_FIELD`]): what lets the next build keep the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GitId {
    pub kind: GitKind,
    pub id: [u8; 20],
}

impl GitId {
    pub fn blob(id: [u8; 20]) -> GitId {
        GitId {
            kind: GitKind::Blob,
            id,
        }
    }

    pub fn tree(id: [u8; 20]) -> GitId {
        GitId {
            kind: GitKind::Tree,
            id,
        }
    }

    /// The extra field, header included.
    fn field(&self) -> [u8; 4 + GIT_ID_FIELD_BYTES as usize] {
        let mut f = [0u8; 4 + GIT_ID_FIELD_BYTES as usize];
        f[..2].copy_from_slice(&GIT_ID_FIELD.to_le_bytes());
        f[2..4].copy_from_slice(&GIT_ID_FIELD_BYTES.to_le_bytes());
        f[4] = LAYOUT_VERSION;
        f[5] = self.kind as u8;
        f[6..].copy_from_slice(&self.id);
        f
    }

    /// Reads the field's data (without its header); `None` for a kind or
    /// layout version this build does not know.
    pub fn parse(data: &[u8]) -> Option<GitId> {
        if data.len() != usize::from(GIT_ID_FIELD_BYTES) || data[0] != LAYOUT_VERSION {
            return None;
        }
        let kind = match data[1] {
            1 => GitKind::Blob,
            2 => GitKind::Tree,
            _ => return None,
        };
        Some(GitId {
            kind,
            id: data[2..].try_into().ok()?,
        })
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// One entry, compressed and ready to write.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub method: u16,
    pub crc32: u32,
    pub uncompressed_size: u64,
    pub modified: DosTime,
    /// The bytes as they go into the archive (deflated or stored).
    pub data: Vec<u8>,
    /// The blob it was made from, for a git-pull zip.
    pub git_id: Option<GitId>,
}

impl Entry {
    /// Deflates `content`, or stores it if deflating does not make it smaller.
    pub fn deflate(
        name: String,
        mode: u32,
        content: &[u8],
        modified: DosTime,
    ) -> io::Result<Entry> {
        let crc32 = crc32fast::hash(content);
        if content.is_empty() {
            return Ok(Entry {
                name,
                mode,
                method: METHOD_STORE,
                crc32,
                uncompressed_size: 0,
                modified,
                data: Vec::new(),
                git_id: None,
            });
        }
        let deflated = match looks_incompressible(content)? {
            true => None,
            false => Some(deflate(content, Compression::default())?),
        };
        let (method, data) = match deflated {
            Some(d) if d.len() < content.len() => (METHOD_DEFLATE, d),
            _ => (METHOD_STORE, content.to_vec()),
        };
        Ok(Entry {
            name,
            mode,
            method,
            crc32,
            uncompressed_size: content.len() as u64,
            modified,
            data,
            git_id: None,
        })
    }

    /// The same entry, recording the git object it was made from.
    pub fn with_git_id(self, git_id: GitId) -> Entry {
        Entry {
            git_id: Some(git_id),
            ..self
        }
    }
}

/// How much of a streamed entry is held at once.
pub const STREAM_CHUNK: usize = 64 * 1024;

/// Where a streamed entry's bytes come from ([`ZipWriter::add_stream`]).
pub enum Source<'a> {
    /// A raw deflate stream (a git pack's blob, a provider archive's
    /// entry), copied as it is.
    Deflated(&'a mut dyn BufRead),
    /// The file's content, deflated as it is read, or `store`d as it is.
    Content {
        reader: &'a mut dyn io::Read,
        store: bool,
    },
}

/// What a streamed entry came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streamed {
    pub crc32: u32,
    /// Its size, inflated.
    pub size: u64,
    /// Its bytes in the zip.
    pub compressed: u64,
}

/// Copies the raw deflate stream that starts at `src`'s position to `out`,
/// a chunk at a time as it is, inflating it on the side only for its CRC
/// and size; leaves `src` just after it. `out` may drop the bytes, to skip
/// a stream.
pub fn copy_deflate(
    src: &mut dyn BufRead,
    out: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<Streamed> {
    let mut crc = crc32fast::Hasher::new();
    let mut inflater = Decompress::new(false);
    let mut scratch = vec![0u8; STREAM_CHUNK];
    loop {
        let input = src.fill_buf()?;
        let at_end = input.is_empty();
        let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
        let status = inflater
            .decompress(input, &mut scratch, FlushDecompress::None)
            .map_err(|e| corrupt(&e))?;
        let used = (inflater.total_in() - before_in) as usize;
        let produced = (inflater.total_out() - before_out) as usize;
        crc.update(&scratch[..produced]);
        out(&input[..used])?;
        src.consume(used);
        if status == Status::StreamEnd {
            return Ok(Streamed {
                crc32: crc.finalize(),
                size: inflater.total_out(),
                compressed: inflater.total_in(),
            });
        }
        if at_end {
            return Err(early_end());
        }
    }
}

fn corrupt(e: &dyn std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the deflate data is corrupt: {e}"),
    )
}

fn early_end() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the deflate data ends before its last block",
    )
}

/// Files larger than twice this are sampled before they are deflated.
pub const SAMPLE_BYTES: usize = 64 * 1024;

fn deflate(content: &[u8], level: Compression) -> io::Result<Vec<u8>> {
    let mut encoder = DeflateEncoder::new(Vec::with_capacity(content.len() / 2), level);
    encoder.write_all(content)?;
    encoder.finish()
}

/// Whether a large file's first [`SAMPLE_BYTES`] shrink by less than 2% at
/// the fastest level: random or already compressed data (images, archives,
/// binaries), which is stored rather than deflated in vain. The decision
/// depends on the bytes alone, so the same commit still gives the same zip.
fn looks_incompressible(content: &[u8]) -> io::Result<bool> {
    if content.len() <= 2 * SAMPLE_BYTES {
        return Ok(false);
    }
    sample_is_incompressible(&content[..SAMPLE_BYTES])
}

/// Whether a large file's first [`SAMPLE_BYTES`], `sample`, shrink by less
/// than 2% at the fastest level (see `looks_incompressible`).
pub fn sample_is_incompressible(sample: &[u8]) -> io::Result<bool> {
    let deflated = deflate(sample, Compression::fast())?;
    Ok(deflated.len() * 100 >= sample.len() * 98)
}

/// An entry's record in the central directory: what the next build of
/// the same ref reads back ([`crate::zip::directory`]) to keep the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralRecord {
    pub name: String,
    /// The general-purpose flags, as in the local header.
    pub flags: u16,
    pub mode: u32,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u32,
    pub uncompressed_size: u32,
    pub modified: DosTime,
    pub offset: u64,
    pub git_id: Option<GitId>,
}

impl CentralRecord {
    /// Whether its CRC and sizes follow its data, in a data descriptor.
    pub fn has_descriptor(&self) -> bool {
        self.flags & FLAG_DATA_DESCRIPTOR != 0
    }

    /// The entry's local header, as [`ZipWriter`] writes it (the CRC and
    /// sizes are zero there when a data descriptor carries them).
    pub fn local_header(&self) -> Vec<u8> {
        let name = self.name.as_bytes();
        let (crc32, compressed, uncompressed) = match self.has_descriptor() {
            true => (0, 0, 0),
            false => (self.crc32, self.compressed_size, self.uncompressed_size),
        };
        let mut header = Vec::with_capacity(30 + name.len());
        header.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
        header.extend_from_slice(&VERSION_DEFAULT.to_le_bytes());
        header.extend_from_slice(&self.flags.to_le_bytes());
        header.extend_from_slice(&self.method.to_le_bytes());
        header.extend_from_slice(&self.modified.time.to_le_bytes());
        header.extend_from_slice(&self.modified.date.to_le_bytes());
        header.extend_from_slice(&crc32.to_le_bytes());
        header.extend_from_slice(&compressed.to_le_bytes());
        header.extend_from_slice(&uncompressed.to_le_bytes());
        header.extend_from_slice(&(name.len() as u16).to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(name);
        header
    }

    /// The data descriptor that follows the data, if it has one.
    pub fn descriptor(&self) -> Option<[u8; 16]> {
        self.has_descriptor().then(|| {
            let mut d = [0u8; 16];
            d[..4].copy_from_slice(&DATA_DESCRIPTOR.to_le_bytes());
            d[4..8].copy_from_slice(&self.crc32.to_le_bytes());
            d[8..12].copy_from_slice(&self.compressed_size.to_le_bytes());
            d[12..].copy_from_slice(&self.uncompressed_size.to_le_bytes());
            d
        })
    }

    /// How many bytes the whole entry takes in the archive: local header,
    /// data and data descriptor.
    pub fn extent(&self) -> u64 {
        30 + self.name.len() as u64
            + u64::from(self.compressed_size)
            + if self.has_descriptor() { 16 } else { 0 }
    }

    /// Where its data (and data descriptor) sits, and how long it is.
    pub fn data_range(&self) -> (u64, u64) {
        let header = 30 + self.name.len() as u64;
        (self.offset + header, self.extent() - header)
    }

    fn central_header(&self) -> Vec<u8> {
        let zip64 = self.offset > u64::from(u32::MAX - 1);
        let extra_len =
            if zip64 { 12u16 } else { 0 } + self.git_id.map_or(0, |_| 4 + GIT_ID_FIELD_BYTES);
        let mut h = Vec::with_capacity(46 + self.name.len() + usize::from(extra_len));
        h.extend_from_slice(&CENTRAL_HEADER.to_le_bytes());
        h.extend_from_slice(&MADE_BY_UNIX.to_le_bytes());
        let needed = if zip64 {
            VERSION_ZIP64
        } else {
            VERSION_DEFAULT
        };
        h.extend_from_slice(&needed.to_le_bytes());
        h.extend_from_slice(&self.flags.to_le_bytes());
        h.extend_from_slice(&self.method.to_le_bytes());
        h.extend_from_slice(&self.modified.time.to_le_bytes());
        h.extend_from_slice(&self.modified.date.to_le_bytes());
        h.extend_from_slice(&self.crc32.to_le_bytes());
        h.extend_from_slice(&self.compressed_size.to_le_bytes());
        h.extend_from_slice(&self.uncompressed_size.to_le_bytes());
        h.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        h.extend_from_slice(&extra_len.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // comment
        h.extend_from_slice(&0u16.to_le_bytes()); // disk
        h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        let dos = if self.mode == MODE_DIR {
            DOS_DIRECTORY
        } else {
            0
        };
        h.extend_from_slice(&((self.mode << 16) | dos).to_le_bytes());
        let offset32 = if zip64 { u32::MAX } else { self.offset as u32 };
        h.extend_from_slice(&offset32.to_le_bytes());
        h.extend_from_slice(self.name.as_bytes());
        if zip64 {
            h.extend_from_slice(&1u16.to_le_bytes());
            h.extend_from_slice(&8u16.to_le_bytes());
            h.extend_from_slice(&self.offset.to_le_bytes());
        }
        if let Some(id) = &self.git_id {
            h.extend_from_slice(&id.field());
        }
        h
    }
}

/// An output that can also take bytes already in the previous version of
/// the object being written, by range, without their passing through the
/// writer (in S3, a part copied inside S3): what an incremental build
/// writes into ([`ZipWriter::copy_entries`]).
pub trait CopySink: Write {
    /// Appends `len` bytes of the previous object, from `start`.
    fn copy(&mut self, start: u64, len: u64) -> io::Result<()>;
}

/// Writes a zip archive front to back.
pub struct ZipWriter<W: Write> {
    out: W,
    written: u64,
    central: Vec<CentralRecord>,
    /// Every name written, to drop a second entry of the same name.
    names: std::collections::HashSet<String>,
    comment: Vec<u8>,
}

/// Why an entry's name is not one an unzip may be given: it would write
/// outside the folder it unzips into, or over another entry.
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.starts_with('/') || name.as_bytes().get(1) == Some(&b':') {
        return Some("it is an absolute path");
    }
    if name.contains('\\') {
        return Some("it holds a backslash");
    }
    if name.chars().any(char::is_control) {
        return Some("it holds a control character");
    }
    if name
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Some("it has an empty, `.` or `..` component");
    }
    None
}

/// The only modes git2s3 writes: a symlink, an executable file or a file.
/// Setuid, setgid and sticky bits, write bits for others, and device,
/// fifo or socket types never reach the zip.
pub fn safe_mode(mode: u32) -> u32 {
    const TYPE: u32 = 0o170_000;
    if mode & TYPE == MODE_SYMLINK & TYPE {
        MODE_SYMLINK
    } else if mode & 0o111 != 0 {
        MODE_EXECUTABLE
    } else {
        MODE_FILE
    }
}

fn too_large(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{name} is larger than 4 GiB, which git2s3 cannot put in one zip entry"),
    )
}

fn too_long(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("path too long for zip: {name}"),
    )
}

impl<W: Write> ZipWriter<W> {
    pub fn new(out: W) -> Self {
        ZipWriter {
            out,
            written: 0,
            central: Vec::new(),
            names: std::collections::HashSet::new(),
            comment: Vec::new(),
        }
    }

    /// Sets the archive's comment, written in its end record (at most
    /// 65,535 bytes; longer is cut).
    pub fn set_comment(&mut self, comment: &str) {
        let bytes = comment.as_bytes();
        self.comment = bytes[..bytes.len().min(usize::from(u16::MAX))].to_vec();
    }

    /// How many bytes were written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes one prepared entry, with its mode made safe ([`safe_mode`]),
    /// and answers true; or, for a name an unzip should never be given
    /// ([`unsafe_name`], or a name already written), writes nothing, logs
    /// why, and answers false.
    pub fn add(&mut self, entry: &Entry) -> io::Result<bool> {
        if !self.admit(&entry.name) {
            return Ok(false);
        }
        let record = CentralRecord {
            name: entry.name.clone(),
            flags: FLAG_UTF8,
            mode: safe_mode(entry.mode),
            method: entry.method,
            crc32: entry.crc32,
            compressed_size: u32::try_from(entry.data.len()).map_err(|_| too_large(&entry.name))?,
            uncompressed_size: u32::try_from(entry.uncompressed_size)
                .map_err(|_| too_large(&entry.name))?,
            modified: entry.modified,
            offset: self.written,
            git_id: entry.git_id,
        };
        u16::try_from(entry.name.len()).map_err(|_| too_long(&entry.name))?;
        self.put(&record.local_header())?;
        self.put(&entry.data)?;
        self.central.push(record);
        Ok(true)
    }

    /// Writes a directory entry, `name` ending in `/`, with the tree it
    /// was made from; answers false, and writes nothing, for a name
    /// [`Self::add`] would refuse.
    pub fn add_dir(&mut self, name: &str, modified: DosTime, tree: GitId) -> io::Result<bool> {
        let Some(bare) = name.strip_suffix('/') else {
            return Ok(false);
        };
        if !self.admit_as(name, bare) {
            return Ok(false);
        }
        u16::try_from(name.len()).map_err(|_| too_long(name))?;
        let record = CentralRecord {
            name: name.to_string(),
            flags: FLAG_UTF8,
            mode: MODE_DIR,
            method: METHOD_STORE,
            crc32: 0,
            compressed_size: 0,
            uncompressed_size: 0,
            modified,
            offset: self.written,
            git_id: Some(tree),
        };
        self.put(&record.local_header())?;
        self.central.push(record);
        Ok(true)
    }

    /// Whether `name` may go in, remembering it if so; logs why not.
    fn admit(&mut self, name: &str) -> bool {
        self.admit_as(name, name)
    }

    /// Whether `name` may go in, its safety judged on `checked` (a
    /// directory's name without its `/`); remembers it if so.
    fn admit_as(&mut self, name: &str, checked: &str) -> bool {
        let refused = unsafe_name(checked).or_else(|| {
            self.names
                .contains(name)
                .then_some("an entry of that name is already in the zip")
        });
        if let Some(why) = refused {
            tracing::warn!(entry = %name.escape_debug(), reason = why, "entry left out of the zip");
            return false;
        }
        self.names.insert(name.to_string());
        true
    }

    /// Whether an entry named `name` would go in ([`Self::add`] would
    /// answer true); logs why not. For readers that must skip the entry's
    /// bytes themselves when it does not.
    pub fn admits(&self, name: &str) -> bool {
        let refused = unsafe_name(name).or_else(|| {
            self.names
                .contains(name)
                .then_some("an entry of that name is already in the zip")
        });
        if let Some(why) = refused {
            tracing::warn!(entry = %name.escape_debug(), reason = why, "entry left out of the zip");
        }
        refused.is_none()
    }

    /// Writes one entry whose bytes arrive as a stream, a
    /// [`STREAM_CHUNK`] at a time, so that a file of any size (up to the
    /// 4 GiB of one entry) needs no more memory than that. Its CRC and
    /// sizes follow its data, in a data descriptor. Answers the CRC and
    /// size of what was written, or `None` when the name is refused (as
    /// [`Self::add`]; the source is then left unread).
    pub fn add_stream(
        &mut self,
        name: &str,
        mode: u32,
        modified: DosTime,
        source: Source<'_>,
        git_id: Option<GitId>,
    ) -> io::Result<Option<Streamed>> {
        if !self.admit(name) {
            return Ok(None);
        }
        u16::try_from(name.len()).map_err(|_| too_long(name))?;
        let method = match &source {
            Source::Deflated(_) => METHOD_DEFLATE,
            Source::Content { store: true, .. } => METHOD_STORE,
            Source::Content { store: false, .. } => METHOD_DEFLATE,
        };
        let mut record = CentralRecord {
            name: name.to_string(),
            flags: FLAG_UTF8 | FLAG_DATA_DESCRIPTOR,
            mode: safe_mode(mode),
            method,
            crc32: 0,
            compressed_size: 0,
            uncompressed_size: 0,
            modified,
            offset: self.written,
            git_id,
        };
        self.put(&record.local_header())?;
        let before = self.written;
        let (crc32, size) = match source {
            Source::Deflated(src) => {
                let copied = copy_deflate(src, &mut |chunk| self.put(chunk))?;
                (copied.crc32, copied.size)
            }
            Source::Content { reader, store } => self.write_content(reader, store)?,
        };
        let compressed = self.written - before;
        record.crc32 = crc32;
        record.compressed_size = u32::try_from(compressed).map_err(|_| too_large(name))?;
        record.uncompressed_size = u32::try_from(size).map_err(|_| too_large(name))?;
        self.put(
            &record
                .descriptor()
                .expect("a streamed entry has a descriptor"),
        )?;
        self.central.push(record);
        Ok(Some(Streamed {
            crc32,
            size,
            compressed,
        }))
    }

    /// Writes content read from `reader`, deflated or (`store`) as it is.
    fn write_content(&mut self, reader: &mut dyn io::Read, store: bool) -> io::Result<(u32, u64)> {
        let mut crc = crc32fast::Hasher::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; STREAM_CHUNK];
        let mut encoder = (!store).then(|| DeflateEncoder::new(Vec::new(), Compression::default()));
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            crc.update(&buf[..n]);
            size += n as u64;
            match &mut encoder {
                Some(encoder) => {
                    encoder.write_all(&buf[..n])?;
                    let out = std::mem::take(encoder.get_mut());
                    self.put(&out)?;
                }
                None => self.put(&buf[..n])?,
            }
        }
        if let Some(encoder) = encoder {
            let out = encoder.finish()?;
            self.put(&out)?;
        }
        Ok((crc.finalize(), size))
    }

    /// Sets the Unix mode of entries already written, by name: for
    /// archives whose modes arrive only in their central directory.
    pub fn set_modes(&mut self, modes: &std::collections::HashMap<String, u32>) {
        for record in &mut self.central {
            if let Some(mode) = modes.get(&record.name) {
                record.mode = safe_mode(*mode);
            }
        }
    }

    /// Writes the central directory and the end records, and hands back
    /// the writer and the archive's size in bytes.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let cd_start = self.written;
        let records = std::mem::take(&mut self.central);
        for r in &records {
            self.put(&r.central_header())?;
        }
        let cd_size = self.written - cd_start;
        let count = records.len() as u64;
        let needs_zip64 =
            count >= 0xFFFF || cd_start >= u64::from(u32::MAX) || cd_size >= u64::from(u32::MAX);
        if needs_zip64 {
            let record_start = self.written;
            let mut z = Vec::with_capacity(76);
            z.extend_from_slice(&ZIP64_END_OF_CENTRAL_DIRECTORY.to_le_bytes());
            z.extend_from_slice(&44u64.to_le_bytes());
            z.extend_from_slice(&MADE_BY_UNIX.to_le_bytes());
            z.extend_from_slice(&VERSION_ZIP64.to_le_bytes());
            z.extend_from_slice(&0u32.to_le_bytes());
            z.extend_from_slice(&0u32.to_le_bytes());
            z.extend_from_slice(&count.to_le_bytes());
            z.extend_from_slice(&count.to_le_bytes());
            z.extend_from_slice(&cd_size.to_le_bytes());
            z.extend_from_slice(&cd_start.to_le_bytes());
            z.extend_from_slice(&ZIP64_LOCATOR.to_le_bytes());
            z.extend_from_slice(&0u32.to_le_bytes());
            z.extend_from_slice(&record_start.to_le_bytes());
            z.extend_from_slice(&1u32.to_le_bytes());
            self.put(&z)?;
        }
        let clamp16 = |n: u64| if needs_zip64 { 0xFFFF } else { n as u16 };
        let clamp32 = |n: u64| if needs_zip64 { u32::MAX } else { n as u32 };
        let comment = std::mem::take(&mut self.comment);
        let mut e = Vec::with_capacity(22 + comment.len());
        e.extend_from_slice(&END_OF_CENTRAL_DIRECTORY.to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        e.extend_from_slice(&clamp16(count).to_le_bytes());
        e.extend_from_slice(&clamp16(count).to_le_bytes());
        e.extend_from_slice(&clamp32(cd_size).to_le_bytes());
        e.extend_from_slice(&clamp32(cd_start).to_le_bytes());
        e.extend_from_slice(&(comment.len() as u16).to_le_bytes());
        e.extend_from_slice(&comment);
        self.put(&e)?;
        self.out.flush()?;
        Ok((self.out, self.written))
    }
}

impl<W: CopySink> ZipWriter<W> {
    /// Appends entries already written in the previous object, as they
    /// are, from `start` there: `records` are their central records, in
    /// order and back to back, as [`crate::zip::directory`] read them;
    /// only their offsets (and, where given, modes) change. Answers false,
    /// writing nothing, when a name is one [`Self::add`] would refuse now.
    pub fn copy_entries(&mut self, start: u64, records: &[CentralRecord]) -> io::Result<bool> {
        let mut len = 0;
        for r in records {
            let checked = r.name.strip_suffix('/').unwrap_or(&r.name);
            if unsafe_name(checked).is_some() || self.names.contains(&r.name) {
                return Ok(false);
            }
            len += r.extent();
        }
        self.out.copy(start, len)?;
        for r in records {
            self.names.insert(r.name.clone());
            self.central.push(CentralRecord {
                offset: self.written,
                ..r.clone()
            });
            self.written += r.extent();
        }
        Ok(true)
    }

    /// Appends an entry of the previous object under another name (a
    /// renamed file): a new local header, then its data and data
    /// descriptor, `data_len` bytes from `data_start` there.
    pub fn copy_renamed(
        &mut self,
        record: CentralRecord,
        data_start: u64,
        data_len: u64,
    ) -> io::Result<bool> {
        let checked = record.name.strip_suffix('/').unwrap_or(&record.name);
        if !self.admit_as(&record.name, checked) {
            return Ok(false);
        }
        u16::try_from(record.name.len()).map_err(|_| too_long(&record.name))?;
        let record = CentralRecord {
            offset: self.written,
            ..record
        };
        self.put(&record.local_header())?;
        self.out.copy(data_start, data_len)?;
        self.written += data_len;
        self.central.push(record);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use super::*;

    const T: DosTime = DosTime {
        time: 0,
        date: (1 << 5) | 1,
    };

    fn build(entries: &[Entry]) -> Vec<u8> {
        let mut w = ZipWriter::new(Vec::new());
        for e in entries {
            w.add(e).unwrap();
        }
        let (bytes, size) = w.finish().unwrap();
        assert_eq!(bytes.len() as u64, size);
        bytes
    }

    #[test]
    fn entries_read_back_with_their_bytes_and_modes() {
        let text = "hello\n".repeat(100);
        let bytes = build(&[
            Entry::deflate("README.md".into(), MODE_FILE, text.as_bytes(), T).unwrap(),
            Entry::deflate(
                "bin/run.sh".into(),
                MODE_EXECUTABLE,
                b"#!/bin/sh\necho hi\n",
                T,
            )
            .unwrap(),
            Entry::deflate("link".into(), MODE_SYMLINK, b"README.md", T).unwrap(),
            Entry::deflate("données/ünïcode.txt".into(), MODE_FILE, b"", T).unwrap(),
        ]);
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 4);
        let mut readme = String::new();
        let mut f = archive.by_name("README.md").unwrap();
        f.read_to_string(&mut readme).unwrap();
        assert_eq!(readme, text);
        assert_eq!(f.compression(), zip::CompressionMethod::Deflated);
        drop(f);
        assert_eq!(
            archive.by_name("bin/run.sh").unwrap().unix_mode(),
            Some(MODE_EXECUTABLE)
        );
        assert_eq!(
            archive.by_name("link").unwrap().unix_mode(),
            Some(MODE_SYMLINK)
        );
        assert_eq!(archive.by_name("données/ünïcode.txt").unwrap().size(), 0);
    }

    /// xorshift64*: bytes deflate cannot shrink.
    fn noise(len: usize) -> Vec<u8> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    /// Attack: a provider archive or a crafted tree with names that write
    /// outside the unzip folder, or over another entry, and modes that make
    /// setuid files or devices where the pipeline unzips.
    #[test]
    fn names_that_escape_or_repeat_are_left_out_and_modes_are_made_safe() {
        let e = |name: &str, mode| Entry::deflate(name.into(), mode, b"x", T).unwrap();
        let bytes = build(&[
            e("ok.txt", MODE_FILE),
            e("../evil.sh", MODE_FILE),
            e("a/../../evil.sh", MODE_FILE),
            e("/etc/cron.d/evil", MODE_FILE),
            e("C:/evil", MODE_FILE),
            e("dir\\evil", MODE_FILE),
            e("a//b", MODE_FILE),
            e("ok.txt", MODE_EXECUTABLE),
            e("setuid", 0o104_755),
            e("world-writable", 0o100_666),
            e("device", 0o020_644),
            e("link", 0o120_777),
        ]);
        let mut zip = ::zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut seen = Vec::new();
        for i in 0..zip.len() {
            let f = zip.by_index(i).unwrap();
            seen.push((f.name().to_string(), f.unix_mode().unwrap()));
        }
        assert_eq!(
            seen,
            [
                ("ok.txt".to_string(), MODE_FILE),
                ("setuid".to_string(), MODE_EXECUTABLE),
                ("world-writable".to_string(), MODE_FILE),
                ("device".to_string(), MODE_FILE),
                ("link".to_string(), MODE_SYMLINK),
            ]
        );
    }

    #[test]
    fn incompressible_content_is_stored() {
        // Small (deflated, then stored as no smaller) and large (sampled).
        for noise in [noise(4096), noise(5 * SAMPLE_BYTES)] {
            let e = Entry::deflate("noise.bin".into(), MODE_FILE, &noise, T).unwrap();
            assert_eq!(e.method, METHOD_STORE);
            let mut archive = zip::ZipArchive::new(Cursor::new(build(&[e]))).unwrap();
            let mut out = Vec::new();
            archive.by_index(0).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, noise);
        }
    }

    #[test]
    fn only_large_files_that_look_incompressible_skip_deflate() {
        assert!(looks_incompressible(&noise(5 * SAMPLE_BYTES)).unwrap());
        assert!(
            !looks_incompressible(&noise(2 * SAMPLE_BYTES)).unwrap(),
            "too small to sample"
        );
        let text = "a line of source code, repeated\n".repeat(20_000);
        assert!(!looks_incompressible(text.as_bytes()).unwrap());
        let e = Entry::deflate("big.txt".into(), MODE_FILE, text.as_bytes(), T).unwrap();
        assert_eq!(e.method, METHOD_DEFLATE);
    }

    #[test]
    fn more_than_65535_entries_use_zip64() {
        let entries: Vec<Entry> = (0..70_000)
            .map(|i| Entry::deflate(format!("f/{i}"), MODE_FILE, b"", T).unwrap())
            .collect();
        let mut archive = zip::ZipArchive::new(Cursor::new(build(&entries))).unwrap();
        assert_eq!(archive.len(), 70_000);
        assert_eq!(archive.by_index(69_999).unwrap().name(), "f/69999");
    }

    #[test]
    fn dos_times_convert_from_unix_seconds() {
        // 2024-02-29 13:45:58 UTC
        let t = DosTime::from_unix(1_709_214_358);
        assert_eq!(t.date, ((2024 - 1980) << 9) | (2 << 5) | 29);
        assert_eq!(t.time, (13 << 11) | (45 << 5) | (58 / 2));
        assert_eq!(
            DosTime::from_unix(0),
            DosTime {
                time: 0,
                date: (1 << 5) | 1
            }
        );
    }
}
