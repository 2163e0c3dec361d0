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
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}
