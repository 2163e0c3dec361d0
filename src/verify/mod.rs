//! The test push: the last step of `init`, and `git2s3 verify`. It sends a
//! signed push of a branch's newest commit to the webhook, in the
//! provider's own shape and signed with the stack's secret, then waits
//! until S3 holds that commit's zip. When the zip does not come, it names
//! the check that failed and what to do about it.
//!
//! The checks, in order:
//! 1. `head`: the branch's newest commit (the caller resolves it, from the
//!    provider's API or `--commit`);
//! 2. `receiver`: the webhook's answer: unreachable, a refused signature,
//!    or a ref the filters leave out;
//! 3. `zip`: S3 holds the commit at the branch's key in time;
//! 4. only when the zip did not come, [`diagnose`]: the dead-letter queue,
//!    the worker's log and the job queue.
//!
//! The parts, each importing only those above it: [`check`] (what was
//! found), [`diagnose`], [`send`] (send and wait), [`test_push`] (what to
//! send, for an installed stack).

pub mod check;
pub mod diagnose;
pub mod send;
pub mod test_push;

pub use check::{print_text, Check, Verdict};
pub use send::{run, Plan, DELIVERY_PREFIX};
pub use test_push::{test_push, Options};
