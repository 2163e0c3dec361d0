//! Configuration: everything `init` asked, loaded in one place.
//!
//! Precedence, lowest first:
//!
//! 1. built-in defaults (the `Default` impls below);
//! 2. the config file, `git2s3.yaml` unless `--config` names another;
//! 3. `GIT2S3_*` environment variables, the fixed list in [`ENV_VARS`];
//! 4. command-line flags, which each command passes in as [`Overrides`];
//!    [`FLAGS`] says which flag sets which key.
//!
//! Each layer above the defaults is a YAML mapping. [`merge`] lays one
//! over the other: mappings merge key by key, anything else (a string, a
//! number, a list) is replaced whole. The result is read into [`Settings`]
//! and checked by [`Settings::validate`], so every command sees the same
//! values and the same errors.
//!
//! The file never holds a secret: secret values live in Secrets Manager and
//! only their names appear here. Environment variables that carry secrets
//! ([`WEBHOOK_SECRET_VAR`], [`GIT_TOKEN_VAR`]) are not configuration and
//! are not in [`ENV_VARS`].

mod error;
mod flags;
mod load;
mod model;
mod save;
mod validate;
pub use error::ConfigError;
pub use flags::{flag_key, set_flag, set_list_flag, FLAGS};
pub use load::{load, load_given, merge, EnvKind, Given, Sources, ENV_VARS};
pub use model::*;
pub use save::{render as render_file, save};
pub use validate::{validate_bucket_name, validate_stack_name, LOG_RETENTION_DAYS};

#[cfg(test)]
mod tests;
