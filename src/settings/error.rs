//! What went wrong while loading or saving the configuration:
//! [`ConfigError`], each message naming the file, key or variable.

use std::path::PathBuf;

/// What went wrong while loading the configuration, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} does not exist: run `git2s3 init` to create it, or point --config at yours")]
    NotFound { path: PathBuf },
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}{location}: {message}")]
    Syntax {
        path: PathBuf,
        location: String,
        message: String,
    },
    #[error("{path}{location}: unknown key `{key}`{hint}")]
    UnknownKey {
        path: PathBuf,
        location: String,
        key: String,
        hint: String,
    },
    #[error("environment variable {var}: {message}")]
    Env { var: &'static str, message: String },
    #[error("cannot write config file {path}: {source}. Check that its directory is writable, or point --config elsewhere")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A value that breaks a rule; `origin` names what set it (a flag, a
    /// `GIT2S3_*` variable or the file), when something did.
    #[error("{key}{}: {message}", from(origin))]
    Invalid {
        key: &'static str,
        message: String,
        origin: Option<String>,
    },
    /// A value of the wrong type or shape, found after the merge.
    #[error("{key}{}: {message}", from(origin))]
    BadValue {
        key: String,
        message: String,
        origin: Option<String>,
    },
}

fn from(origin: &Option<String>) -> String {
    origin
        .as_deref()
        .map(|o| format!(" (set by {o})"))
        .unwrap_or_default()
}

impl ConfigError {
    /// The error, naming what set its key.
    pub(super) fn set_by(self, origin_of: impl Fn(&str) -> Option<String>) -> ConfigError {
        match self {
            ConfigError::Invalid {
                key,
                message,
                origin: None,
            } => ConfigError::Invalid {
                key,
                message,
                origin: origin_of(key),
            },
            ConfigError::BadValue {
                key,
                message,
                origin: None,
            } => {
                let origin = origin_of(&key);
                ConfigError::BadValue {
                    key,
                    message,
                    origin,
                }
            }
            other => other,
        }
    }
}
