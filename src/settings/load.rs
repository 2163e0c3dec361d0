//! Loading: read the file, the environment and the flags as YAML layers,
//! merge them, and read the result into [`Settings`]. File errors keep
//! their line numbers; an unknown key is named with the nearest valid one.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::error::ConfigError;
use super::flags::FLAGS;
use super::model::{Overrides, Settings, DEFAULT_CONFIG_FILE};

/// How a `GIT2S3_*` variable's text becomes a YAML value.
#[derive(Debug, Clone, Copy)]
pub enum EnvKind {
    /// Taken as is.
    Text,
    /// Comma-separated; blanks around items are trimmed; empty means an empty list.
    List,
    /// A whole number.
    Number,
    /// `true` or `false`.
    Bool,
}

/// Every environment variable that sets configuration: (variable, key, kind).
/// `docs/configuration.md` lists the same; a test keeps the two in step.
pub const ENV_VARS: &[(&str, &str, EnvKind)] = &[
    ("GIT2S3_STACK_NAME", "stack_name", EnvKind::Text),
    ("GIT2S3_REGION", "region", EnvKind::Text),
    ("GIT2S3_PROVIDER", "provider", EnvKind::Text),
    ("GIT2S3_API_URL", "api_url", EnvKind::Text),
    ("GIT2S3_CLONE_URL", "clone_url", EnvKind::Text),
    ("GIT2S3_ON_DELETE", "branches.on_delete", EnvKind::Text),
    ("GIT2S3_REPOS", "repos", EnvKind::List),
    ("GIT2S3_ORG", "org", EnvKind::Text),
    ("GIT2S3_METHOD", "method", EnvKind::Text),
    ("GIT2S3_INCLUDE_REFS", "filters.include_refs", EnvKind::List),
    ("GIT2S3_EXCLUDE_REFS", "filters.exclude_refs", EnvKind::List),
    (
        "GIT2S3_INCLUDE_PATHS",
        "filters.include_paths",
        EnvKind::List,
    ),
    ("GIT2S3_BUCKET", "bucket.name", EnvKind::Text),
    (
        "GIT2S3_NONCURRENT_VERSION_DAYS",
        "bucket.noncurrent_version_days",
        EnvKind::Number,
    ),
    ("GIT2S3_ARCHITECTURE", "lambda.architecture", EnvKind::Text),
    (
        "GIT2S3_LAMBDA_CODE_BUCKET",
        "lambda.code_bucket",
        EnvKind::Text,
    ),
    ("GIT2S3_LAMBDA_CODE_KEY", "lambda.code_key", EnvKind::Text),
    (
        "GIT2S3_WORKER_MEMORY_MB",
        "lambda.worker_memory_mb",
        EnvKind::Number,
    ),
    (
        "GIT2S3_WORKER_MAX_CONCURRENCY",
        "lambda.worker_max_concurrency",
        EnvKind::Number,
    ),
    (
        "GIT2S3_WORKER_RESERVED_CONCURRENCY",
        "lambda.worker_reserved_concurrency",
        EnvKind::Number,
    ),
    (
        "GIT2S3_WORKER_TIMEOUT_SECONDS",
        "lambda.worker_timeout_seconds",
        EnvKind::Number,
    ),
    ("GIT2S3_ALLOWED_IPS", "auth.allowed_ips", EnvKind::List),
    (
        "GIT2S3_CONFIGURE_ACCOUNT_LOGGING_ROLE",
        "api.configure_account_logging_role",
        EnvKind::Bool,
    ),
    ("GIT2S3_LOG_LEVEL", "logs.level", EnvKind::Text),
    (
        "GIT2S3_LOG_RETENTION_DAYS",
        "logs.retention_days",
        EnvKind::Number,
    ),
];

/// Where to read configuration from. Built by the CLI from its global flags
/// and the process environment; tests build it by hand.
pub struct Sources<'a> {
    /// `--config`; `None` reads [`DEFAULT_CONFIG_FILE`] if it exists.
    pub config_file: Option<&'a Path>,
    /// Whether a missing `config_file` is fine (for `init`, which writes it).
    pub creating: bool,
    /// Looks up an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Values from command-line flags.
    pub overrides: &'a Overrides,
}

/// Loads, merges and validates the configuration. The one place that does.
pub fn load(sources: &Sources<'_>) -> Result<Settings, ConfigError> {
    Ok(load_given(sources)?.0)
}

/// [`load`], and which keys the file, the environment and the flags set:
/// the keys left to their defaults are not [`Given`].
pub fn load_given(sources: &Sources<'_>) -> Result<(Settings, Given), ConfigError> {
    let file = read_file_layer(sources.config_file, sources.creating)?;
    let env = env_layer(sources.env)?;
    let flags = overrides_layer(sources.overrides);
    let file_path = sources
        .config_file
        .unwrap_or(Path::new(DEFAULT_CONFIG_FILE))
        .display()
        .to_string();
    // What set a key: the highest layer that holds it.
    let origin_of = |key: &str| {
        if holds(&flags, key) {
            let flag = FLAGS.iter().find(|(_, k)| *k == key).map(|(f, _)| *f);
            return Some(flag.unwrap_or("a command-line answer").to_string());
        }
        if holds(&env, key) {
            let var = ENV_VARS.iter().find(|(_, k, _)| *k == key);
            return Some(
                var.map_or("a GIT2S3_* variable", |(v, _, _)| *v)
                    .to_string(),
            );
        }
        file.as_ref()
            .filter(|f| holds(f, key))
            .map(|_| file_path.clone())
    };
    let mut merged = Value::Mapping(Mapping::new());
    if let Some(file) = &file {
        merged = merge(merged, file.clone());
    }
    merged = merge(merged, env.clone());
    merged = merge(merged, flags.clone());
    let mut given = Given::default();
    given.add_leaves(&merged, "");
    let settings: Settings = serde_path_to_error::deserialize(merged)
        .map_err(|e| invalid_value_error(&e).set_by(origin_of))?;
    settings.validate().map_err(|e| e.set_by(origin_of))?;
    Ok((settings, given))
}

/// The configuration keys that were set (by the file, `GIT2S3_*` or a
/// flag, or by the command itself, as `init` sets the public key it
/// stored), as dotted paths; the rest took their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given(std::collections::BTreeSet<String>);

impl Given {
    /// Records `key` as set.
    pub fn insert(&mut self, key: &str) {
        self.0.insert(key.to_string());
    }

    /// Whether `key`, or a key inside it or around it, was set.
    pub fn covers(&self, key: &str) -> bool {
        self.0.iter().any(|g| {
            g == key
                || g.strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with('.'))
                || key
                    .strip_prefix(g.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }

    fn add_leaves(&mut self, value: &Value, prefix: &str) {
        match value {
            Value::Mapping(map) if !map.is_empty() => {
                for (k, v) in map {
                    let key = k.as_str().unwrap_or_default();
                    let path = match prefix {
                        "" => key.to_string(),
                        p => format!("{p}.{key}"),
                    };
                    self.add_leaves(v, &path);
                }
            }
            _ if !prefix.is_empty() => self.insert(prefix),
            _ => {}
        }
    }
}

/// Lays `over` on `base`: mappings merge key by key, recursively; any other
/// value in `over` replaces the one in `base`.
pub fn merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Mapping(mut base), Value::Mapping(over)) => {
            for (k, v) in over {
                let merged = match base.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                base.insert(k, merged);
            }
            Value::Mapping(base)
        }
        (_, over) => over,
    }
}

fn read_file_layer(explicit: Option<&Path>, creating: bool) -> Result<Option<Value>, ConfigError> {
    let path = explicit.unwrap_or(Path::new(DEFAULT_CONFIG_FILE));
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match explicit {
                Some(_) if !creating => Err(ConfigError::NotFound { path: path.into() }),
                _ => Ok(None),
            };
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.into(),
                source,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    // Read the file on its own first, so that its errors carry a line number.
    serde_yaml::from_str::<Settings>(&text).map_err(|e| file_error(path, &e))?;
    let value: Value = serde_yaml::from_str(&text).map_err(|e| file_error(path, &e))?;
    Ok(Some(value))
}

fn file_error(path: &Path, err: &serde_yaml::Error) -> ConfigError {
    let location = err
        .location()
        .map(|l| format!(":{}:{}", l.line(), l.column()))
        .unwrap_or_default();
    let message = strip_location(&err.to_string());
    match parse_unknown_field(&message) {
        Some((key, expected)) => ConfigError::UnknownKey {
            path: path.into(),
            location,
            hint: suggestion_hint(&key, &expected),
            key,
        },
        None => ConfigError::Syntax {
            path: path.into(),
            location,
            message,
        },
    }
}

/// serde_yaml ends its messages with " at line L column C"; we print the
/// location ourselves, in `file:line:column` form.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Picks apart serde's "unknown field `x`, expected one of `a`, `b`"
/// (or "expected `a`"), with any "path: " prefix serde_yaml adds.
fn parse_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let start = message.find("unknown field `")?;
    let prefix = message[..start].trim_end_matches(": ").trim();
    let rest = &message[start + "unknown field `".len()..];
    let end = rest.find('`')?;
    let field = &rest[..end];
    let expected = rest[end..]
        .split('`')
        .skip(2)
        .step_by(2)
        .map(str::to_string)
        .collect();
    let key = if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    };
    Some((key, expected))
}

fn suggestion_hint(key: &str, expected: &[String]) -> String {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let parent = key.strip_suffix(leaf).unwrap_or("");
    let nearest = expected
        .iter()
        .map(|e| (strsim::damerau_levenshtein(leaf, e), e))
        .min_by_key(|(d, _)| *d);
    match nearest {
        Some((d, e)) if d <= (leaf.len() / 2).max(2) => format!("; did you mean `{parent}{e}`?"),
        _ if !expected.is_empty() => format!(
            "; valid keys here are {}",
            expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => String::new(),
    }
}

/// Whether the layer sets `key` (a dotted path).
fn holds(layer: &Value, key: &str) -> bool {
    let mut node = layer;
    for part in key.split('.') {
        match node.get(part) {
            Some(next) => node = next,
            None => return false,
        }
    }
    true
}

/// A value of the wrong type, named by the key serde was reading.
fn invalid_value_error(err: &serde_path_to_error::Error<serde_yaml::Error>) -> ConfigError {
    let path = err.path().to_string();
    let message = strip_location(&err.inner().to_string());
    match path.as_str() {
        "" | "." => ConfigError::BadValue {
            key: "configuration".into(),
            message: format!("{message} (after merging git2s3.yaml, GIT2S3_* variables and flags)"),
            origin: None,
        },
        _ => ConfigError::BadValue {
            key: path,
            message,
            origin: None,
        },
    }
}

fn env_layer(env: &dyn Fn(&str) -> Option<String>) -> Result<Value, ConfigError> {
    let mut layer = Value::Mapping(Mapping::new());
    for &(var, key, kind) in ENV_VARS {
        let Some(text) = env(var) else { continue };
        let value = match kind {
            EnvKind::Text => Value::String(text),
            EnvKind::List => Value::Sequence(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ),
            EnvKind::Number => {
                let n: u64 = text.trim().parse().map_err(|_| ConfigError::Env {
                    var,
                    message: format!("`{text}` is not a whole number"),
                })?;
                Value::Number(n.into())
            }
            EnvKind::Bool => match text.trim() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(ConfigError::Env {
                        var,
                        message: format!("`{text}` is neither `true` nor `false`"),
                    })
                }
            },
        };
        set_path(&mut layer, key, value);
    }
    Ok(layer)
}

fn overrides_layer(overrides: &Overrides) -> Value {
    let mut layer = Value::Mapping(Mapping::new());
    for (key, value) in overrides {
        set_path(&mut layer, key, value.clone());
    }
    layer
}

/// Sets `a.b.c` in a mapping, creating the mappings on the way.
fn set_path(root: &mut Value, dotted: &str, value: Value) {
    let mut node = root;
    let mut parts = dotted.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Mapping(map) = node else {
            unreachable!("set_path only descends through mappings it created")
        };
        let key = Value::String(part.to_string());
        if parts.peek().is_none() {
            map.insert(key, value);
            return;
        }
        node = map
            .entry(key)
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if !node.is_mapping() {
            *node = Value::Mapping(Mapping::new());
        }
    }
}
