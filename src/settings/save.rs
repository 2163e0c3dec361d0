//! Writing `git2s3.yaml` after `init` or `update-stack`: every setting, so
//! the file says what is deployed. It never holds a secret, only the names
//! of the Secrets Manager secrets. The file is replaced atomically.

use std::io::Write;
use std::path::Path;

use super::error::ConfigError;
use super::model::Settings;

const HEADER: &str = "\
# git2s3 configuration, written by `git2s3 init` and `git2s3 update-stack`.
# Precedence: defaults < this file < GIT2S3_* variables < flags (docs/configuration.md).
# Secret values are never stored here: auth.secrets names where they live.
";

/// The file's text for `settings`.
pub fn render(settings: &Settings) -> String {
    let body = serde_yaml::to_string(settings).expect("settings serialize to YAML");
    format!("{HEADER}{body}")
}

/// Writes `settings` to `path`, through a temporary file in the same directory.
pub fn save(path: &Path, settings: &Settings) -> Result<(), ConfigError> {
    let err = |source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(render(settings).as_bytes()).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
