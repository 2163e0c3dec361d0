//! Rotating the stack's secrets with no push refused on the way. Each
//! rotation is a few steps whose progress is kept in the secret itself, so
//! a run that stops part-way leaves a working state, says what is left,
//! and the next run picks up from there:
//!
//! - [`webhook_secret`]: the new secret on the first line, the old one
//!   below it (the receiver accepts every line; hooks are signed with the
//!   first); every hook updated; then the old line removed;
//! - [`deploy_key`]: the new keys staged as the secret's `AWSPENDING`
//!   version; added beside the old ones on each repository; made current;
//!   then the old keys removed from each repository, and the stack's
//!   `PublicSSHKey` output brought up to date.
//!
//! A plain SSH server (`generic`) has no API: the rotation stops where a
//! person has to act on the server, says what to do, and `--continue`
//! finishes it.

pub mod deploy_key;
pub mod webhook_secret;

use serde::Serialize;

use crate::register::{HookReport, Outcome};

/// What a rotation did (`--output json` prints this).
#[derive(Debug, Serialize)]
pub struct Report {
    pub stack: String,
    pub secret_id: String,
    /// A rotation was already under way, and this run carried it on.
    pub resumed: bool,
    /// The old secret or key is no longer stored.
    pub done: bool,
    /// What a person still has to do, on a server with no API; else null.
    pub next: Option<String>,
    /// The hooks updated to the new webhook secret.
    pub hooks: Vec<HookReport>,
    /// The deploy keys added and removed, per repository.
    pub keys: Vec<KeyChange>,
}

/// One repository's deploy keys in a rotation.
#[derive(Debug, Serialize)]
pub struct KeyChange {
    pub repo: String,
    /// The new key: created, or already there.
    pub added: Option<Outcome>,
    /// The old key: removed, or not there.
    pub removed: Option<Outcome>,
}

impl Report {
    fn new(stack: &str, secret_id: String, resumed: bool) -> Report {
        Report {
            stack: stack.to_string(),
            secret_id,
            resumed,
            done: false,
            next: None,
            hooks: Vec::new(),
            keys: Vec::new(),
        }
    }

    fn key(&mut self, repo: &str) -> &mut KeyChange {
        if let Some(i) = self.keys.iter().position(|k| k.repo == repo) {
            return &mut self.keys[i];
        }
        self.keys.push(KeyChange {
            repo: repo.to_string(),
            added: None,
            removed: None,
        });
        self.keys.last_mut().expect("just pushed")
    }
}
