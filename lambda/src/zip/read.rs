//! A zip reader for archives that arrive as a stream (a provider's
//! download): read front to back, never seeked, each entry's compressed
//! bytes copied raw, never recompressed, into a [`ZipWriter`]. Where an
//! entry's sizes follow its data (a data descriptor), the deflate stream is
//! inflated only to find where it ends. Unix modes (executable bit,
//! symlinks) are only in the central directory, at the end; they are
//! applied to the entries already written before the writer's own central
//! directory goes out.

use std::collections::HashMap;
use std::io::{self, BufRead, Read, Write};

use super::write::{
    copy_deflate, DosTime, Entry, Source, Streamed, ZipWriter, CENTRAL_HEADER, DATA_DESCRIPTOR,
    END_OF_CENTRAL_DIRECTORY, LOCAL_HEADER, METHOD_DEFLATE, METHOD_STORE, MODE_FILE,
    ZIP64_END_OF_CENTRAL_DIRECTORY,
};

const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
const FLAG_ENCRYPTED: u16 = 1;

/// Why an archive could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the archive is not readable: {0}")]
    Format(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn read_vec<R: Read>(r: &mut R, n: usize) -> io::Result<Vec<u8>> {
    // Grown as bytes arrive, so a size the stream cannot back (a zip64
    // size near 2^64) allocates nothing.
    let mut v = Vec::new();
    r.take(n as u64).read_to_end(&mut v)?;
    if v.len() < n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(v)
}

/// Copies a zip read front to back into `zip`, each entry's compressed
/// bytes as they are. `name` gives each entry's name in `zip`, or `None`
/// to leave it out (directories, say). Returns the number of files written.
pub fn copy_entries<R: BufRead, W: Write>(
    mut src: R,
    zip: &mut ZipWriter<W>,
    mut name_for: impl FnMut(&str) -> Result<Option<String>, ReadError>,
) -> Result<u64, ReadError> {
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
                return Err(ReadError::Format(format!(
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
        let crc32 = u32_at(&h, 10);
        let mut compressed = u64::from(u32_at(&h, 14));
        let mut uncompressed = u64::from(u32_at(&h, 18));
        let name = String::from_utf8(read_vec(&mut src, usize::from(u16_at(&h, 22)))?)
            .map_err(|_| ReadError::Format("an entry name is not UTF-8".into()))?;
        let extra = read_vec(&mut src, usize::from(u16_at(&h, 24)))?;
        if flags & FLAG_ENCRYPTED != 0 {
            return Err(ReadError::Format(format!("{name} is encrypted")));
        }
        if compressed == u64::from(u32::MAX) || uncompressed == u64::from(u32::MAX) {
            (uncompressed, compressed) = zip64_sizes(&extra, uncompressed, compressed)?;
        }
        if method != METHOD_DEFLATE && method != METHOD_STORE {
            return Err(ReadError::Format(format!(
                "{name} uses compression method {method}, not deflate or store"
            )));
        }
        let descriptor = flags & FLAG_DATA_DESCRIPTOR != 0;
        if descriptor && method != METHOD_DEFLATE {
            return Err(ReadError::Format(format!(
                "{name} is stored with its size after the data, which cannot be read as a stream"
            )));
        }
        if compressed > u64::from(u32::MAX) {
            return Err(ReadError::Format(format!(
                "{name} is larger than 4 GiB, which git2s3 cannot put in one zip entry"
            )));
        }
        let bad = |what: &str| ReadError::Format(format!("{name}: {what}"));
        // Our name for it, if it goes in; its bytes are read either way.
        let ours = name_for(&name)?.filter(|n| zip.admits(n));
        if descriptor {
            // The sizes follow the data: stream it, then check them.
            let copied = match &ours {
                Some(n) => zip
                    .add_stream(n, MODE_FILE, modified, Source::Deflated(&mut src), None)
                    .map_err(|e| bad(&e.to_string()))?
                    .expect("the name was admitted"),
                None => copy_deflate(&mut src, &mut |_| Ok(())).map_err(|e| bad(&e.to_string()))?,
            };
            check_descriptor(&mut src, &copied).map_err(|e| bad(&e))?;
        } else if compressed > STREAM_BYTES as u64 {
            // Too large to hold: copied through a chunk at a time.
            let mut limited = (&mut src).take(compressed);
            match &ours {
                Some(n) => {
                    let source = match method {
                        METHOD_DEFLATE => Source::Deflated(&mut limited),
                        _ => Source::Content {
                            reader: &mut limited,
                            store: true,
                        },
                    };
                    let copied = zip
                        .add_stream(n, MODE_FILE, modified, source, None)?
                        .expect("the name was admitted");
                    if copied.crc32 != crc32 || copied.size != uncompressed {
                        return Err(bad(
                            "its data does not match the sizes and CRC of its header",
                        ));
                    }
                    io::copy(&mut limited, &mut io::sink())?;
                }
                None => {
                    io::copy(&mut limited, &mut io::sink())?;
                }
            }
        } else {
            let data = read_vec(&mut src, compressed as usize)?;
            if let Some(n) = &ours {
                zip.add(&Entry {
                    name: n.clone(),
                    mode: MODE_FILE,
                    method,
                    crc32,
                    uncompressed_size: uncompressed,
                    modified,
                    data,
                    git_id: None,
                })?;
            }
        }
        if let Some(n) = ours {
            written.insert(name, n);
            files += 1;
        }
    }
}

/// Reads the data descriptor after a streamed entry (an optional
/// signature, the CRC, then 4- or, in zip64, 8-byte sizes) and checks it
/// against what the data came to.
fn check_descriptor<R: Read>(src: &mut R, copied: &Streamed) -> Result<(), String> {
    let io = |e: io::Error| e.to_string();
    let mut d = read_vec(src, 4).map_err(io)?;
    if u32_at(&d, 0) == DATA_DESCRIPTOR {
        d = read_vec(src, 4).map_err(io)?;
    }
    if u32_at(&d, 0) != copied.crc32 {
        return Err("the CRC in the data descriptor does not match the data".into());
    }
    let sizes = read_vec(src, 8).map_err(io)?;
    let (c, u) = (u64::from(u32_at(&sizes, 0)), u64::from(u32_at(&sizes, 4)));
    if c != copied.compressed || u != copied.size {
        // A zip64 descriptor: 8-byte sizes.
        let more = read_vec(src, 8).map_err(io)?;
        let c64 = u64::from_le_bytes(sizes.try_into().expect("8 bytes"));
        let u64_ = u64::from_le_bytes(more.try_into().expect("8 bytes"));
        if c64 != copied.compressed || u64_ != copied.size {
            return Err("the data descriptor does not match the data".into());
        }
    }
    Ok(())
}

/// An entry with more compressed bytes than this is copied through a chunk
/// at a time instead of read whole.
pub const STREAM_BYTES: usize = 16 * 1024 * 1024;

fn zip64_sizes(extra: &[u8], uncompressed: u64, compressed: u64) -> Result<(u64, u64), ReadError> {
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
    Err(ReadError::Format("a zip64 entry has no zip64 sizes".into()))
}

/// Reads the source's central directory (its first signature already
/// read) and applies its Unix modes to the entries written.
fn apply_central_modes<R: Read, W: Write>(
    src: &mut R,
    zip: &mut ZipWriter<W>,
    written: &HashMap<String, String>,
) -> Result<(), ReadError> {
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
    use super::*;

    /// A local header whose zip64 extra field claims sizes near 2^64.
    fn huge_zip64_entry() -> Vec<u8> {
        let name = b"big.bin";
        let mut extra = Vec::new();
        extra.extend_from_slice(&1u16.to_le_bytes());
        extra.extend_from_slice(&16u16.to_le_bytes());
        extra.extend_from_slice(&(u64::MAX - 1).to_le_bytes());
        extra.extend_from_slice(&(u64::MAX - 1).to_le_bytes());
        let mut h = Vec::new();
        h.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
        h.extend_from_slice(&45u16.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(&METHOD_STORE.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        h.extend_from_slice(name);
        h.extend_from_slice(&extra);
        h.extend_from_slice(b"only a few bytes follow");
        h
    }

    /// Attack: a zip64 size near 2^64 in a provider's archive must be
    /// refused, not allocated.
    #[test]
    fn a_zip64_size_near_2_64_is_refused_without_allocating() {
        let mut zip = ZipWriter::new(Vec::new());
        let err = copy_entries(io::Cursor::new(huge_zip64_entry()), &mut zip, |n| {
            Ok(Some(n.to_string()))
        })
        .unwrap_err();
        assert!(err.to_string().contains("larger than 4 GiB"), "{err}");
    }

    #[test]
    fn a_size_the_stream_cannot_back_is_an_early_end_not_an_allocation() {
        let err = read_vec(&mut io::Cursor::new(vec![1, 2, 3]), usize::MAX / 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
