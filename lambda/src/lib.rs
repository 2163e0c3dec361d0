//! git2s3's webhook receiver and worker, and the pieces the CLI reuses.
//!
//! This crate never depends on the CLI. It holds:
//! - [`layout`]: where a push lands in S3 (`<owner>/<repo>/<branch>/<owner>_<repo>.zip`);
//! - [`provider`]: the Git hosting services git2s3 knows, one table of facts;
//! - [`secure_url`]: where a credential may be sent (https, or http to loopback);
//! - [`webhook`]: from a webhook request to jobs: provider detection,
//!   authentication, payload parsing;
//! - [`filter`]: which refs and paths to build;
//! - [`connection`]: what a stack is connected to (provider, repositories, git hosts),
//!   and the checks every push must pass against it;
//! - [`job`]: one ref to build, as it crosses the queue;
//! - [`queue`]: the job queue trait, and SQS FIFO;
//! - [`receiver`]: the receiver role, a plain async fn, and its API Gateway adapter;
//! - [`reloading`]: secrets read again when they expire or are refused;
//! - [`fetch`]: getting the pushed code (git over SSH, host keys);
//! - [`pack`]: the fetched pack read directly, for large blobs streamed into the zip;
//! - [`snapshot`]: a commit's tree as a zip, compressed on every core;
//! - [`incremental`]: the next commit's zip built on the previous one, copying what did not change;
//! - [`parts`]: from the zip builder to the uploader: new bytes and copied ranges, as S3 parts;
//! - [`zip`]: the streaming zip writer;
//! - [`store`]: the only place that writes to S3 (streamed multipart upload);
//! - [`worker`]: the worker role: one job in, one zip in S3 out;
//! - [`sweep`]: every connected ref's head against its zip, for the webhooks that never came.

pub mod config;
pub mod connection;
pub mod fetch;
pub mod filter;
pub mod incremental;
pub mod job;
pub mod layout;
pub mod listing;
pub mod logging;
pub mod pack;
pub mod parts;
pub mod provider;
pub mod queue;
pub mod receiver;
pub mod reloading;
pub mod report;
pub mod secure_url;
pub mod snapshot;
pub mod store;
pub mod sweep;
#[cfg(test)]
mod test_git;
pub mod webhook;
pub mod worker;
pub mod zip;

pub use job::{Job, Method};
pub use layout::{object_key, GitRef, LayoutError};
pub use provider::Provider;
