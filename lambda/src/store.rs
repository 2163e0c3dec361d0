//! The only place that writes to S3.
//!
//! The zip is uploaded while it is being built: [`PartWriter`] (a blocking
//! `Write`, for the zip builder's thread) cuts the bytes into 8 MiB parts
//! and hands them over a small channel to [`Store::upload`], which uploads
//! up to four parts at once as an S3 multipart upload. Memory stays at a
//! few parts whatever the zip's size. A zip smaller than one part is sent
//! with a single PutObject.
//!
//! The upload completes only when the writer says the zip is finished
//! ([`PartWriter::finish`]); if the builder fails or is dropped half-way,
//! the multipart upload is aborted, so a truncated zip never lands. And it
//! completes only if the object at the key is still the one the job began
//! with ([`Replaces`]: S3's conditional writes on PutObject and
//! CompleteMultipartUpload), so two workers racing on one key can never
//! leave the older build there.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};

use crate::parts::{Assembler, Job, OldRange, Part, Piece};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Tries of each S3 request, the first included: the SDK's standard retry
/// mode (exponential backoff with jitter, a retry quota per client) with
/// five attempts, not its default three, so that a bucket answering 503
/// SlowDown to a third of its requests still takes every part
/// (0.3^5 = 0.24% of requests fail all five).
pub const S3_ATTEMPTS: u32 = 5;

/// The retry mode of every S3 client that writes zips (the worker's and
/// `git2s3 serve`'s).
pub fn s3_retries() -> aws_sdk_s3::config::retry::RetryConfig {
    aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(S3_ATTEMPTS)
}

/// The worker's and the sweep's S3 client, with [`s3_retries`].
pub fn s3_client(aws: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(aws)
        .retry_config(s3_retries())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

const PARTS_IN_FLIGHT: usize = 4;

/// Metadata stored on each zip, read back by `status` and by the worker's
/// "already built" check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub commit: String,
    pub git_ref: String,
    pub repo: String,
    pub provider: String,
    pub delivery_id: String,
    pub pusher: Option<String>,
    /// What CodePipeline shows as the source revision's summary
    /// ([`REVISION_SUMMARY`]): the short commit id, subject and author.
    pub summary: Option<String>,
}

/// The user metadata key CodePipeline shows as an S3 source's revision
/// summary in the console and in `GetPipelineExecution`.
pub const REVISION_SUMMARY: &str = "codepipeline-artifact-revision-summary";

/// `abc1234 Fix the login form (Jane Doe)`: the short commit id, the
/// subject line of the commit message, and the author, where known.
pub fn revision_summary(commit: &str, subject: Option<&str>, author: Option<&str>) -> String {
    let short: String = commit.chars().take(7).collect();
    let subject = subject
        .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let author = author
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| format!(" ({a})"))
        .unwrap_or_default();
    format!("{short}{subject}{author}")
}

impl ObjectMeta {
    /// As S3 user metadata (`x-amz-meta-*`); values are percent-encoded
    /// where they are not printable ASCII, since they travel as HTTP headers.
    /// S3 refuses more than 2 KB of user metadata (keys and values), and
    /// would then refuse every try of the job: the longest values are cut
    /// until it fits ([`METADATA_BYTES`]). The commit id is never cut.
    pub fn to_headers(&self) -> HashMap<String, String> {
        let mut pairs = vec![
            ("commit", header_safe(&self.commit)),
            ("provider", header_safe(&self.provider)),
            ("ref", header_safe(&self.git_ref)),
            ("repo", header_safe(&self.repo)),
            ("delivery-id", header_safe(&self.delivery_id)),
        ];
        if let Some(p) = &self.pusher {
            pairs.push(("pusher", header_safe(p)));
        }
        if let Some(s) = &self.summary {
            pairs.push((REVISION_SUMMARY, header_safe(s)));
        }
        // With every value but the commit's cut to `cap` bytes.
        let size = |cap: usize| -> usize {
            let cut = |(i, (k, v)): (usize, &(&str, String))| {
                k.len() + if i == 0 { v.len() } else { v.len().min(cap) }
            };
            pairs.iter().enumerate().map(cut).sum()
        };
        // The longest values are cut to one length, the largest that fits.
        let longest = pairs.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
        if size(longest) > METADATA_BYTES {
            let (mut lo, mut hi) = (0, longest);
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                if size(mid) <= METADATA_BYTES {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            for (_, value) in pairs.iter_mut().skip(1) {
                cut_encoded(value, lo);
            }
        }
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// The most user metadata S3 takes on one object, in bytes of keys and
/// values; a little under its 2 KB, for the `x-amz-meta-` prefixes some
/// S3-compatible stores count.
pub const METADATA_BYTES: usize = 1900;

/// Cuts a percent-encoded value to at most `keep` bytes, never inside a `%XX`.
fn cut_encoded(value: &mut String, keep: usize) {
    let mut end = keep.min(value.len());
    let bytes = value.as_bytes();
    if end >= 1 && bytes[end - 1] == b'%' {
        end -= 1;
    } else if end >= 2 && bytes[end - 2] == b'%' {
        end -= 2;
    }
    value.truncate(end);
}

fn header_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What landed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uploaded {
    pub version_id: Option<String>,
    /// The object's size.
    pub bytes: u64,
    pub parts: usize,
    /// Of `bytes`, how many S3 copied from the previous version
    /// (UploadPartCopy), and how many were read back from it (ranged GET)
    /// and uploaded again; the rest was new.
    pub copied: u64,
    pub read_back: u64,
    /// How long the parts took after the zip's last byte was built, and
    /// the CompleteMultipartUpload (ms).
    pub last_parts_millis: u64,
    pub complete_millis: u64,
}

/// Why S3 refused, with the fix where there is one.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("S3 {action} on s3://{bucket}/{key} failed: {message}{hint}")]
    S3 {
        action: &'static str,
        bucket: String,
        key: String,
        message: String,
        hint: &'static str,
    },
    #[error("the zip for s3://{bucket}/{key} was not finished (the builder stopped); nothing was written")]
    Unfinished { bucket: String, key: String },
    #[error(
        "another worker wrote s3://{bucket}/{key} while this job built it, so this zip was not \
         written over it; the job is retried, and then finds the key current or builds the newer head"
    )]
    Replaced { bucket: String, key: String },
}

/// The object at a key now: what the worker compares a build with, and
/// what its upload may replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// The commit recorded on it (none on an object git2s3 did not write).
    pub commit: Option<String>,
    /// Its ETag, which the upload names as the object it replaces.
    pub etag: String,
    /// Its version (none in a bucket without versioning) and size: what
    /// an incremental build reads and copies from.
    pub version_id: Option<String>,
    pub size: u64,
}

/// What an upload may replace: the upload is conditional on it, so two
/// workers racing on one key can never leave the older build there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaces {
    /// No object: the upload fails if one appeared (`If-None-Match: *`).
    Nothing,
    /// The object with this ETag: the upload fails if another replaced it
    /// (`If-Match`).
    Object(String),
}

impl Replaces {
    /// What an upload replaces, given the object there when the job began.
    pub fn current(current: Option<&Current>) -> Replaces {
        match current {
            Some(c) => Replaces::Object(c.etag.clone()),
            None => Replaces::Nothing,
        }
    }
}

/// Where the worker keeps zips: the commit a key holds now, and a streamed
/// upload. [`Store`] (S3) is the real one; the worker's unit tests use one
/// in memory.
///
/// The upload's contract is the worker's safety: it stores an object only
/// after [`Part::End`]. When the parts stop without it (the builder failed
/// or was dropped), the upload is aborted, nothing is stored, and it
/// answers [`StoreError::Unfinished`].
pub trait ZipStore: Send + Sync {
    /// The object at `key` now, if any.
    fn current(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Current>, StoreError>> + Send;

    /// Uploads what arrives on `parts` to `key`, and completes it only
    /// after [`Part::End`], and only if the object there is still the one
    /// `replaces` names ([`StoreError::Replaced`] otherwise).
    fn upload(
        &self,
        key: &str,
        meta: &ObjectMeta,
        parts: mpsc::Receiver<Part>,
        replaces: &Replaces,
    ) -> impl Future<Output = Result<Uploaded, StoreError>> + Send;

    /// The keys below `prefix` (`owner/repo/`): what a sweep compares with
    /// the refs a server still has.
    fn keys(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Puts a delete marker on `key` (the bucket is versioned: its old
    /// versions stay).
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Bytes of version `version_id` of `key`: `len` from `start`, or with
    /// `start` `None`, its last `len` bytes.
    fn read(
        &self,
        key: &str,
        version_id: &str,
        start: Option<u64>,
        len: u64,
    ) -> impl Future<Output = Result<Bytes, StoreError>> + Send;
}

impl ZipStore for Store {
    async fn current(&self, key: &str) -> Result<Option<Current>, StoreError> {
        Store::current(self, key).await
    }

    async fn upload(
        &self,
        key: &str,
        meta: &ObjectMeta,
        parts: mpsc::Receiver<Part>,
        replaces: &Replaces,
    ) -> Result<Uploaded, StoreError> {
        Store::upload(self, key, meta, parts, replaces).await
    }

    async fn keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("ListObjectsV2", prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from)),
            );
        }
        Ok(keys)
    }

    async fn read(
        &self,
        key: &str,
        version_id: &str,
        start: Option<u64>,
        len: u64,
    ) -> Result<Bytes, StoreError> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        let range = match start {
            Some(start) => OldRange {
                version_id: version_id.to_string(),
                start,
                len,
            }
            .http_range(),
            None => format!("bytes=-{len}"),
        };
        Store::read_range(self, key, version_id, range).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error("DeleteObject", key, e))?;
        Ok(())
    }
}

/// The output bucket.
#[derive(Debug, Clone)]
pub struct Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Store {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn error(&self, action: &'static str, key: &str, err: impl std::error::Error) -> StoreError {
        let message = DisplayErrorContext(&err).to_string();
        let hint = if message.contains("AccessDenied") {
            "; the worker's role needs s3:PutObject, s3:GetObject, s3:AbortMultipartUpload, s3:ListBucket and s3:ListBucketMultipartUploads on this bucket (and s3:DeleteObject with branches.on_delete: delete)"
        } else if message.contains("NoSuchBucket") {
            "; the output bucket does not exist: check the stack, or --bucket for serve"
        } else {
            ""
        };
        StoreError::S3 {
            action,
            bucket: self.bucket.clone(),
            key: key.to_string(),
            message,
            hint,
        }
    }

    /// The object at `key` now, if any.
    pub async fn current(&self, key: &str) -> Result<Option<Current>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(Current {
                commit: head.metadata().and_then(|m| m.get("commit").cloned()),
                etag: head.e_tag().unwrap_or_default().to_string(),
                version_id: head.version_id().map(String::from),
                size: head.content_length().unwrap_or(0).max(0) as u64,
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(self.error("HeadObject", key, e)),
        }
    }

    /// The commit recorded on the current object at `key`, if any.
    pub async fn current_commit(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.current(key).await?.and_then(|c| c.commit))
    }

    /// S3's answer to a conditional write whose condition failed (412), as
    /// [`StoreError::Replaced`]; any other error as it is.
    fn unless_replaced<E>(&self, action: &'static str, key: &str, err: SdkError<E>) -> StoreError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let precondition = err
            .raw_response()
            .is_some_and(|r| r.status().as_u16() == 412);
        if precondition {
            return StoreError::Replaced {
                bucket: self.bucket.clone(),
                key: key.to_string(),
            };
        }
        self.error(action, key, err)
    }

    /// Uploads what arrives on `parts` to `key`, as one PutObject or a
    /// multipart upload, and completes it only after [`Part::End`].
    pub async fn upload(
        &self,
        key: &str,
        meta: &ObjectMeta,
        mut parts: mpsc::Receiver<Part>,
        replaces: &Replaces,
    ) -> Result<Uploaded, StoreError> {
        let (if_match, if_none_match) = match replaces {
            Replaces::Nothing => (None, Some("*".to_string())),
            Replaces::Object(etag) => (Some(etag.clone()), None),
        };
        let unfinished = || StoreError::Unfinished {
            bucket: self.bucket.clone(),
            key: key.to_string(),
        };
        let first = match parts.recv().await {
            Some(Part::End) | None => return Err(unfinished()),
            Some(first) => first,
        };
        let second = match (first, parts.recv().await) {
            (Part::Data(bytes), Some(Part::End)) => {
                let size = bytes.len() as u64;
                let put = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .content_type("application/zip")
                    .set_metadata(Some(meta.to_headers()))
                    .set_if_match(if_match.clone())
                    .set_if_none_match(if_none_match.clone())
                    .body(ByteStream::from(bytes))
                    .send()
                    .await
                    .map_err(|e| self.unless_replaced("PutObject", key, e))?;
                return Ok(Uploaded {
                    version_id: put.version_id().map(String::from),
                    bytes: size,
                    parts: 1,
                    ..Uploaded::default()
                });
            }
            (first, Some(second)) => [first, second],
            (_, None) => return Err(unfinished()),
        };

        self.abort_left_uploads(key).await;
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/zip")
            .set_metadata(Some(meta.to_headers()))
            .send()
            .await
            .map_err(|e| self.error("CreateMultipartUpload", key, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let result = self.upload_parts(key, &upload_id, second, &mut parts).await;
        match result {
            Ok((completed, counts)) => {
                let completing = std::time::Instant::now();
                let done = self
                    .client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(completed))
                            .build(),
                    )
                    .set_if_match(if_match)
                    .set_if_none_match(if_none_match)
                    .send()
                    .await
                    .map_err(|e| self.unless_replaced("CompleteMultipartUpload", key, e));
                match done {
                    Ok(done) => Ok(Uploaded {
                        version_id: done.version_id().map(String::from),
                        complete_millis: completing.elapsed().as_millis() as u64,
                        ..counts
                    }),
                    Err(e) => {
                        self.abort(key, &upload_id).await;
                        Err(e)
                    }
                }
            }
            Err(e) => {
                self.abort(key, &upload_id).await;
                Err(e)
            }
        }
    }

    /// The body of a GET of one version of `key`, `range` as HTTP gives it.
    async fn get_range(
        &self,
        key: &str,
        version_id: &str,
        range: String,
    ) -> Result<ByteStream, StoreError> {
        let got = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            .range(range)
            .send()
            .await
            .map_err(|e| self.error("GetObject", key, e))?;
        Ok(got.body)
    }

    /// Bytes of one version of `key`, `range` as HTTP gives it.
    async fn read_range(
        &self,
        key: &str,
        version_id: &str,
        range: String,
    ) -> Result<Bytes, StoreError> {
        let body = self.get_range(key, version_id, range).await?;
        let body = body
            .collect()
            .await
            .map_err(|e| self.error("GetObject", key, e))?;
        Ok(body.into_bytes())
    }

    /// A ranged GET of `range` of the previous version, to read in order.
    async fn old_bytes(&self, key: &str, range: &OldRange) -> Result<OldBytes, StoreError> {
        Ok(OldBytes {
            body: self
                .get_range(key, &range.version_id, range.http_range())
                .await?,
            at: range.start,
            chunk: Bytes::new(),
        })
    }

    /// Uploads or copies one part.
    async fn put_part(
        &self,
        key: String,
        upload_id: String,
        number: i32,
        job: Job,
    ) -> Result<CompletedPart, StoreError> {
        let e_tag = match job {
            Job::Copy(range) => {
                let source = format!(
                    "{}/{}?versionId={}",
                    self.bucket,
                    crate::secure_url::encode_path(&key),
                    range.version_id
                );
                let out = self
                    .client
                    .upload_part_copy()
                    .bucket(&self.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .copy_source(source)
                    .copy_source_range(range.http_range())
                    .send()
                    .await
                    .map_err(|e| self.error("UploadPartCopy", &key, e))?;
                out.copy_part_result()
                    .and_then(|r| r.e_tag())
                    .map(String::from)
            }
            job @ Job::Upload(_) => {
                let body = self.part_bytes(&key, job).await?;
                self.upload_part(&key, &upload_id, number, body).await?
            }
        };
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(e_tag)
            .build())
    }

    /// An uploaded part's bytes. A part of new bytes only (every part of a
    /// cold build) is sent as it came, not copied. Otherwise its old pieces
    /// are read back from the previous version as they arrive: one ranged
    /// GET for all of them when they lie close together
    /// ([`Job::read_back_span`]), one each otherwise. Only the part's bytes
    /// are held, never a whole read beside them, and the pieces are dropped
    /// before the part is sent: a part in flight holds one copy of its bytes.
    async fn part_bytes(&self, key: &str, job: Job) -> Result<Bytes, StoreError> {
        let span = job.read_back_span();
        let len = job.len() as usize;
        let Job::Upload(pieces) = job else {
            unreachable!("a copied part has no bytes here")
        };
        if let [Piece::Data(bytes)] = pieces.as_slice() {
            return Ok(bytes.clone());
        }
        let mut body = BytesMut::with_capacity(len);
        let mut span = match span {
            Some(span) => Some(self.old_bytes(key, &span).await?),
            None => None,
        };
        for piece in pieces {
            let read = match piece {
                Piece::Data(bytes) => {
                    body.extend_from_slice(&bytes);
                    continue;
                }
                Piece::Old(range) => match span.as_mut() {
                    Some(old) => old.append(&range, &mut body).await,
                    None => {
                        let mut old = self.old_bytes(key, &range).await?;
                        old.append(&range, &mut body).await
                    }
                },
            };
            read.map_err(|message| StoreError::S3 {
                action: "GetObject",
                bucket: self.bucket.clone(),
                key: key.to_string(),
                message,
                hint: "",
            })?;
        }
        Ok(body.freeze())
    }

    /// Uploads one part's bytes; its ETag.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("UploadPart", key, e))?;
        Ok(out.e_tag().map(String::from))
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        first_two: [Part; 2],
        rest: &mut mpsc::Receiver<Part>,
    ) -> Result<(Vec<CompletedPart>, Uploaded), StoreError> {
        let mut in_flight: JoinSet<Result<CompletedPart, StoreError>> = JoinSet::new();
        let mut completed = Vec::new();
        let mut counts = Uploaded::default();
        let mut assembler = Assembler::default();
        let mut first_two = Vec::from(first_two);
        first_two.reverse();
        loop {
            let part = match first_two.pop() {
                Some(part) => part,
                None => match rest.recv().await {
                    Some(part) => part,
                    None => {
                        in_flight.abort_all();
                        return Err(StoreError::Unfinished {
                            bucket: self.bucket.clone(),
                            key: key.to_string(),
                        });
                    }
                },
            };
            let end = matches!(part, Part::End);
            let mut jobs = assembler.push(part);
            if end {
                jobs.extend(std::mem::take(&mut assembler).finish());
            }
            for job in jobs {
                while in_flight.len() >= PARTS_IN_FLIGHT {
                    completed.push(joined(in_flight.join_next().await)?);
                }
                counts.parts += 1;
                counts.bytes += job.len();
                match &job {
                    Job::Copy(range) => counts.copied += range.len,
                    Job::Upload(pieces) => {
                        for piece in pieces {
                            if let Piece::Old(range) = piece {
                                counts.read_back += range.len;
                            }
                        }
                    }
                }
                let number = counts.parts as i32;
                let (store, key, upload_id) =
                    (self.clone(), key.to_string(), upload_id.to_string());
                in_flight.spawn(async move { store.put_part(key, upload_id, number, job).await });
            }
            if end {
                break;
            }
        }
        let ended = std::time::Instant::now();
        while let Some(done) = in_flight.join_next().await {
            completed.push(joined(Some(done))?);
        }
        counts.last_parts_millis = ended.elapsed().as_millis() as u64;
        completed.sort_by_key(|p| p.part_number());
        Ok((completed, counts))
    }

    /// Aborts the multipart uploads an earlier try left at `key`: one
    /// stopped mid-upload (S3 unreachable, so its abort failed too; a
    /// timeout) leaves its parts, which cost storage until the lifecycle
    /// rule removes them a day later. Tries at one key never overlap (the
    /// queue's message group is the key's ref), so each one found is stale.
    async fn abort_left_uploads(&self, key: &str) {
        let listed = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(key)
            .send()
            .await;
        match listed {
            Ok(listed) => {
                for upload in listed.uploads() {
                    if let (Some(k), Some(id)) = (upload.key(), upload.upload_id()) {
                        if k == key {
                            tracing::info!(
                                key,
                                upload = id,
                                "aborting the multipart upload an earlier try left"
                            );
                            self.abort(key, id).await;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(
                key, error = %DisplayErrorContext(&e),
                "could not list the multipart uploads earlier tries left; the bucket's lifecycle rule removes them after a day"
            ),
        }
    }

    async fn abort(&self, key: &str, upload_id: &str) {
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
        if let Err(e) = aborted {
            // The bucket's lifecycle rule removes it after a day anyway.
            tracing::warn!(key, error = %DisplayErrorContext(&e), "could not abort the multipart upload");
        }
    }
}

/// The body of a ranged GET of the previous version, read in order, a
/// chunk at a time.
struct OldBytes {
    body: ByteStream,
    /// The offset in the object of `chunk`'s first byte.
    at: u64,
    chunk: Bytes,
}

impl OldBytes {
    /// Appends `range` to `out`, skipping what lies before it. Ranges come
    /// in order and do not overlap.
    async fn append(&mut self, range: &OldRange, out: &mut BytesMut) -> Result<(), String> {
        debug_assert!(range.start >= self.at, "ranges are read in order");
        let end = range.start + range.len;
        while self.at < end {
            if self.chunk.is_empty() {
                self.chunk = match self.body.next().await {
                    Some(Ok(chunk)) => chunk,
                    Some(Err(e)) => return Err(DisplayErrorContext(&e).to_string()),
                    None => {
                        return Err(format!(
                        "the previous version's bytes ended at {}, short of the {end} asked for",
                        self.at
                    ))
                    }
                };
                continue;
            }
            let n = (self.chunk.len() as u64).min(end - self.at) as usize;
            let read = self.chunk.split_to(n);
            let skip = range.start.saturating_sub(self.at);
            if skip < n as u64 {
                out.extend_from_slice(&read[skip as usize..]);
            }
            self.at += n as u64;
        }
        Ok(())
    }
}

fn joined(
    done: Option<Result<Result<CompletedPart, StoreError>, tokio::task::JoinError>>,
) -> Result<CompletedPart, StoreError> {
    match done {
        Some(Ok(part)) => part,
        Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        None => unreachable!("join_next is called only while parts are in flight"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn old_bytes_are_read_in_order_past_the_gaps_and_a_short_body_is_an_error() {
        let mut old = OldBytes {
            body: ByteStream::from(Bytes::from_static(b"0123456789")),
            at: 100,
            chunk: Bytes::new(),
        };
        let range = |start, len| OldRange {
            version_id: "v1".into(),
            start,
            len,
        };
        let mut out = BytesMut::new();
        old.append(&range(101, 2), &mut out).await.unwrap();
        old.append(&range(105, 3), &mut out).await.unwrap();
        assert_eq!(&out[..], b"12567");
        let short = old.append(&range(109, 5), &mut out).await.unwrap_err();
        assert!(short.contains("ended at 110"), "{short}");
        assert_eq!(&out[..], b"125679");
    }

    #[test]
    fn the_revision_summary_is_short_id_subject_and_author() {
        let sha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
        assert_eq!(
            revision_summary(
                sha,
                Some("\nFix the login form\n\nLonger text"),
                Some(" Jane Doe ")
            ),
            "0d1a26e Fix the login form (Jane Doe)"
        );
        assert_eq!(revision_summary(sha, None, None), "0d1a26e");
        assert_eq!(revision_summary(sha, Some(""), Some("")), "0d1a26e");
    }

    #[test]
    fn metadata_is_header_safe() {
        let meta = ObjectMeta {
            commit: "a".repeat(40),
            git_ref: "refs/heads/été".into(),
            repo: "équipe/api".into(),
            provider: "gitlab".into(),
            delivery_id: "d-1".into(),
            pusher: Some("Zoë 100%".into()),
            summary: Some(revision_summary(
                &"a".repeat(40),
                Some("Fix été\n\nbody"),
                Some("Zoë"),
            )),
        };
        let h = meta.to_headers();
        assert_eq!(h[REVISION_SUMMARY], "aaaaaaa Fix %C3%A9t%C3%A9 (Zo%C3%AB)");
        assert_eq!(h["ref"], "refs/heads/%C3%A9t%C3%A9");
        assert_eq!(h["pusher"], "Zo%C3%AB 100%25");
        assert!(h
            .values()
            .all(|v| v.bytes().all(|b| (0x20..0x7f).contains(&b))));
    }

    /// Attack (of a kind): a long percent-encoded ref or pusher name made
    /// the metadata pass S3's 2 KB, so that every try of the job failed.
    #[test]
    fn metadata_over_s3s_limit_is_cut_to_fit_and_keeps_the_commit_whole() {
        let commit = "0123456789abcdef".repeat(4);
        let meta = ObjectMeta {
            commit: commit.clone(),
            git_ref: format!("refs/heads/{}", "é".repeat(400)),
            repo: "équipe/api".into(),
            provider: "gitlab".into(),
            delivery_id: "d-1".into(),
            pusher: Some("Zoë".repeat(300)),
            summary: Some(revision_summary(
                &commit,
                Some(&"a long subject ".repeat(200)),
                None,
            )),
        };
        let h = meta.to_headers();
        let size: usize = h.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(size <= METADATA_BYTES, "{size} bytes");
        assert_eq!(h["commit"], commit);
        assert_eq!(h["repo"], "%C3%A9quipe/api");
        assert!(h["ref"].starts_with("refs/heads/%C3%A9"), "{h:?}");
        for v in h.values() {
            let b = v.as_bytes();
            let n = b.len();
            assert!(
                !(n >= 1 && b[n - 1] == b'%' || n >= 2 && b[n - 2] == b'%'),
                "cut inside an escape: {v}"
            );
        }
    }
}
