//! The deploy engine: what `init`, `update-stack`, `status` and `destroy`
//! do in an AWS account, without any prompting. The wizard and the
//! non-interactive commands drive the same functions.
//!
//! - [`apply`]: plan, show, confirm, execute, for the core and pipeline stacks;
//! - [`identity`]: who and where we are (STS), checked first;
//! - [`bucket`]: bucket ownership checks, the artifacts bucket, emptying;
//! - [`secrets`]: the deploy keypair and webhook secret, in Secrets Manager;
//! - [`artifact`]: finding, checking and uploading the Lambda zip;
//! - [`stack`]: stack state, change sets, execution, events and deletion;
//! - [`report`]: what `status` shows.
//!
//! Errors are [`DeployError`]: each says what went wrong and what to do.

pub mod apply;
pub mod artifact;
pub mod bucket;
pub mod error;
pub mod identity;
pub mod keys;
pub mod logs;
pub mod report;
pub mod secrets;
pub mod stack;

pub use error::{ArtifactError, DeployError};
