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
use std::io::{self, Write};

use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
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

/// Size of each multipart part (S3's minimum is 5 MiB).
pub const PART_BYTES: usize = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 4;

/// What travels from the writer to the uploader.
#[derive(Debug)]
pub enum Part {
    Data(Bytes),
    /// The zip is complete.
    End,
}

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub version_id: Option<String>,
    pub bytes: u64,
    pub parts: usize,
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
            Some(Part::Data(bytes)) => bytes,
            _ => return Err(unfinished()),
        };
        let second = match parts.recv().await {
            Some(Part::End) => {
                let bytes = first.len() as u64;
                let put = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .content_type("application/zip")
                    .set_metadata(Some(meta.to_headers()))
                    .set_if_match(if_match.clone())
                    .set_if_none_match(if_none_match.clone())
                    .body(ByteStream::from(first))
                    .send()
                    .await
                    .map_err(|e| self.unless_replaced("PutObject", key, e))?;
                return Ok(Uploaded {
                    version_id: put.version_id().map(String::from),
                    bytes,
                    parts: 1,
                });
            }
            Some(Part::Data(bytes)) => bytes,
            None => return Err(unfinished()),
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
        let result = self
            .upload_parts(key, &upload_id, [first, second], &mut parts)
            .await;
        match result {
            Ok((completed, bytes)) => {
                let count = completed.len();
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
                        bytes,
                        parts: count,
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

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        first_two: [Bytes; 2],
        rest: &mut mpsc::Receiver<Part>,
    ) -> Result<(Vec<CompletedPart>, u64), StoreError> {
        let mut in_flight: JoinSet<Result<CompletedPart, StoreError>> = JoinSet::new();
        let mut completed = Vec::new();
        let mut number = 0;
        let mut bytes = 0u64;
        let mut pending: Vec<Bytes> = first_two.into();
        pending.reverse();
        loop {
            let chunk = match pending.pop() {
                Some(chunk) => chunk,
                None => match rest.recv().await {
                    Some(Part::Data(chunk)) => chunk,
                    Some(Part::End) => break,
                    None => {
                        in_flight.abort_all();
                        return Err(StoreError::Unfinished {
                            bucket: self.bucket.clone(),
                            key: key.to_string(),
                        });
                    }
                },
            };
            while in_flight.len() >= PARTS_IN_FLIGHT {
                completed.push(joined(in_flight.join_next().await)?);
            }
            number += 1;
            bytes += chunk.len() as u64;
            let request = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(chunk));
            let store = self.clone();
            let key = key.to_string();
            in_flight.spawn(async move {
                let out = request
                    .send()
                    .await
                    .map_err(|e| store.error("UploadPart", &key, e))?;
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(String::from))
                    .build())
            });
        }
        while let Some(done) = in_flight.join_next().await {
            completed.push(joined(Some(done))?);
        }
        completed.sort_by_key(|p| p.part_number());
        Ok((completed, bytes))
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

fn joined(
    done: Option<Result<Result<CompletedPart, StoreError>, tokio::task::JoinError>>,
) -> Result<CompletedPart, StoreError> {
    match done {
        Some(Ok(part)) => part,
        Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        None => unreachable!("join_next is called only while parts are in flight"),
    }
}

/// A blocking `Write` that cuts what it is given into parts for [`Store::upload`].
pub struct PartWriter {
    tx: mpsc::Sender<Part>,
    buf: BytesMut,
}

impl PartWriter {
    pub fn new(tx: mpsc::Sender<Part>) -> Self {
        PartWriter {
            tx,
            buf: BytesMut::with_capacity(PART_BYTES),
        }
    }

    fn send(&self, part: Part) -> io::Result<()> {
        self.tx
            .blocking_send(part)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the S3 upload stopped"))
    }

    /// Sends what is left and marks the zip complete.
    pub fn finish(mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let rest = self.buf.split().freeze();
            self.send(Part::Data(rest))?;
        }
        self.send(Part::End)
    }
}

impl Write for PartWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while self.buf.len() >= PART_BYTES {
            let part = self.buf.split_to(PART_BYTES).freeze();
            self.send(Part::Data(part))?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_writer_cuts_full_parts_and_ends_only_on_finish() {
        let (tx, mut rx) = mpsc::channel(8);
        let writer_thread = std::thread::spawn(move || {
            let mut w = PartWriter::new(tx);
            w.write_all(&vec![1u8; PART_BYTES + 10]).unwrap();
            w.finish().unwrap();
        });
        let mut sizes = Vec::new();
        let mut ended = false;
        while let Some(part) = rx.blocking_recv() {
            match part {
                Part::Data(b) => sizes.push(b.len()),
                Part::End => ended = true,
            }
        }
        writer_thread.join().unwrap();
        assert_eq!(sizes, vec![PART_BYTES, 10]);
        assert!(ended);
    }

    #[test]
    fn a_dropped_writer_never_ends_the_stream() {
        let (tx, mut rx) = mpsc::channel(8);
        std::thread::spawn(move || {
            let mut w = PartWriter::new(tx);
            w.write_all(b"half a zip").unwrap();
            // dropped without finish()
        })
        .join()
        .unwrap();
        assert!(rx.blocking_recv().is_none(), "nothing, and no End");
    }
}
