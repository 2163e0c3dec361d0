//! The deploy-key secret: one key for every repository, or one key per
//! repository.
//!
//! GitHub accepts a deploy key on one repository only (across all of
//! GitHub), so a stack that pulls several GitHub repositories holds one
//! key per repository. The secret is then a JSON object from repository
//! (`OWNER/REPO`, as the provider names it) to OpenSSH private key, with
//! an optional `"*"` entry used for repositories not listed:
//!
//! ```json
//! {"acme/api": "-----BEGIN OPENSSH PRIVATE KEY-----\n…", "*": "…"}
//! ```
//!
//! A secret that is a bare OpenSSH private key is the single-key form.
//! Repository names match without regard to case, as on the providers.

use std::collections::BTreeMap;
use std::fmt;

use super::git::DeployKey;

/// The key for a repository that the map does not list.
pub const DEFAULT_ENTRY: &str = "*";

/// The deploy keys the worker can use. `Debug` shows repository names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DeployKeys {
    default: Option<DeployKey>,
    /// Lower-cased repository name → (name as given, key).
    per_repo: BTreeMap<String, (String, DeployKey)>,
}

/// Why a deploy-key secret cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeysError {
    #[error(
        "it is neither an OpenSSH private key nor a JSON object from OWNER/REPO to one: \
         store `-----BEGIN OPENSSH PRIVATE KEY-----…`, or {{\"acme/api\": \"-----BEGIN OPENSSH…\"}}"
    )]
    Format,
    #[error("the entry for `{0}` is not an OpenSSH private key (it must start with -----BEGIN)")]
    Entry(String),
}

impl DeployKeys {
    /// One key for every repository.
    pub fn single(key: DeployKey) -> Self {
        DeployKeys {
            default: Some(key),
            per_repo: BTreeMap::new(),
        }
    }

    /// Reads the secret's text: a private key, or the JSON map.
    pub fn parse(text: &str) -> Result<Self, KeysError> {
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            return Ok(DeployKeys::single(DeployKey::new(text)));
        }
        let map: BTreeMap<String, String> =
            serde_json::from_str(text).map_err(|_| KeysError::Format)?;
        let mut keys = DeployKeys::default();
        for (repo, pem) in map {
            if !pem.trim().starts_with("-----BEGIN") {
                return Err(KeysError::Entry(repo));
            }
            keys.insert(&repo, DeployKey::new(pem.trim()));
        }
        Ok(keys)
    }

    /// Sets the key for `repo` (or the default, for `"*"`).
    pub fn insert(&mut self, repo: &str, key: DeployKey) {
        if repo == DEFAULT_ENTRY {
            self.default = Some(key);
        } else {
            self.per_repo
                .insert(repo.to_lowercase(), (repo.to_string(), key));
        }
    }

    /// The key to fetch `repo` with: its own, else the default.
    pub fn for_repo(&self, repo: &str) -> Option<&DeployKey> {
        self.per_repo
            .get(&repo.to_lowercase())
            .map(|(_, k)| k)
            .or(self.default.as_ref())
    }

    /// Whether `repo` has a key of its own (not the default).
    pub fn has_own(&self, repo: &str) -> bool {
        self.per_repo.contains_key(&repo.to_lowercase())
    }

    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.per_repo.is_empty()
    }

    /// Every key, with its repository (`"*"` for the default).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &DeployKey)> {
        self.default
            .iter()
            .map(|k| (DEFAULT_ENTRY, k))
            .chain(self.per_repo.values().map(|(r, k)| (r.as_str(), k)))
    }

    /// The secret's text: the bare key for a lone default, else the JSON map.
    pub fn to_secret_string(&self) -> String {
        match (&self.default, self.per_repo.is_empty()) {
            (Some(key), true) => key.openssh().to_string(),
            _ => {
                let map: BTreeMap<&str, &str> =
                    self.entries().map(|(r, k)| (r, k.openssh())).collect();
                serde_json::to_string(&map).expect("a map of strings serializes")
            }
        }
    }
}

impl fmt::Debug for DeployKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let repos: Vec<&str> = self.entries().map(|(r, _)| r).collect();
        write!(f, "DeployKeys({repos:?}, <keys redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM_A: &str =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----";
    const PEM_B: &str =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nBBBB\n-----END OPENSSH PRIVATE KEY-----";

    #[test]
    fn a_bare_key_is_used_for_every_repository() {
        let keys = DeployKeys::parse(&format!("{PEM_A}\n")).unwrap();
        assert_eq!(keys.for_repo("acme/api").unwrap().openssh(), PEM_A);
        assert_eq!(keys.for_repo("other/x").unwrap().openssh(), PEM_A);
        assert_eq!(keys.to_secret_string(), PEM_A);
    }

    #[test]
    fn a_map_picks_the_repositorys_key_ignoring_case_then_the_default() {
        let text = serde_json::json!({"Acme/API": PEM_A, "*": PEM_B}).to_string();
        let keys = DeployKeys::parse(&text).unwrap();
        assert_eq!(keys.for_repo("acme/api").unwrap().openssh(), PEM_A);
        assert_eq!(keys.for_repo("acme/web").unwrap().openssh(), PEM_B);
        assert!(keys.has_own("ACME/api") && !keys.has_own("acme/web"));
        assert_eq!(DeployKeys::parse(&keys.to_secret_string()).unwrap(), keys);
    }

    #[test]
    fn a_map_without_a_default_has_no_key_for_other_repositories() {
        let keys = DeployKeys::parse(&serde_json::json!({"acme/api": PEM_A}).to_string()).unwrap();
        assert!(keys.for_repo("acme/web").is_none());
    }

    #[test]
    fn bad_secrets_are_refused_with_the_expected_form() {
        assert_eq!(DeployKeys::parse("hunter2"), Err(KeysError::Format));
        assert_eq!(
            DeployKeys::parse(r#"{"acme/api": "not a key"}"#),
            Err(KeysError::Entry("acme/api".into()))
        );
    }

    #[test]
    fn debug_output_names_repositories_and_never_keys() {
        let mut keys = DeployKeys::single(DeployKey::new(PEM_A));
        keys.insert("acme/api", DeployKey::new(PEM_B));
        let shown = format!("{keys:?}");
        assert!(shown.contains("acme/api") && !shown.contains("AAAA") && !shown.contains("BBBB"));
    }
}
