//! The deploy-key secret, from the CLI's side: the key `init` generates
//! for every repository, the extra key per repository that GitHub needs
//! (it accepts a deploy key on one repository only), and the public
//! halves to register or remove. The secret's format is the Lambda's
//! (`git2s3_lambda::fetch::keys`); private keys go only to Secrets Manager.

use git2s3_lambda::fetch::git::DeployKey;
use git2s3_lambda::fetch::keys::{DeployKeys, DEFAULT_ENTRY};
use ssh_key::PrivateKey;

use super::error::DeployError;
use super::secrets::{self, Outcome};

pub const DESCRIPTION: &str =
    "git2s3 SSH deploy keys (OpenSSH private key, or a JSON map from OWNER/REPO to one)";

/// A public key to add to, or remove from, one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoKey {
    pub repo: String,
    pub public_key: String,
}

/// The public half of an OpenSSH private key.
pub fn public_of(private: &DeployKey) -> Result<String, String> {
    PrivateKey::from_openssh(private.openssh().trim())
        .and_then(|k| k.public_key().to_openssh())
        .map_err(|e| e.to_string())
}

fn bad(id: &str, message: String) -> DeployError {
    DeployError::BadDeployKey {
        id: id.to_string(),
        message,
    }
}

/// The secret's keys; empty if there is no secret.
pub async fn load(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<DeployKeys, DeployError> {
    match secrets::read(sm, id).await {
        Ok(Some(text)) if !text.trim().is_empty() => {
            DeployKeys::parse(&text).map_err(|e| bad(id, e.to_string()))
        }
        Ok(_) => Ok(DeployKeys::default()),
        Err(e) if e.is_not_found() => Ok(DeployKeys::default()),
        Err(e) => Err(e.into()),
    }
}

/// Creates the secret with a default key unless it exists (an existing
/// one is kept, so providers keep trusting it), and gives its keys.
pub async fn ensure_default(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    comment: &str,
) -> Result<(Outcome, DeployKeys), DeployError> {
    let outcome = secrets::ensure(sm, id, DESCRIPTION, || {
        Ok(secrets::new_deploy_key(comment)?.0)
    })
    .await?;
    Ok((outcome, load(sm, id).await?))
}

/// Gives each of `repos` that lacks one a key of its own, and stores the
/// secret if any was added (before any is registered, so a key a provider
/// trusts always has its private half stored). Gives whether it changed.
pub async fn add_own(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    comment: &str,
    keys: &mut DeployKeys,
    repos: &[String],
) -> Result<bool, DeployError> {
    let mut added = false;
    for repo in repos {
        if keys.has_own(repo) {
            continue;
        }
        let (private, _) = secrets::new_deploy_key(&format!("{comment} {repo}"))?;
        keys.insert(repo, DeployKey::new(private));
        added = true;
    }
    if added {
        // A new current version would strand a rotation's pending one.
        if secrets::stages::read(sm, id).await?.pending.is_some() {
            return Err(DeployError::RotationUnderway {
                id: id.to_string(),
                what: "deploy-key",
            });
        }
        secrets::put(sm, id, DESCRIPTION, &keys.to_secret_string()).await?;
    }
    Ok(added)
}

/// The default key's public half: the stack's `PublicSSHKey`.
pub fn default_public(id: &str, keys: &DeployKeys) -> Result<String, DeployError> {
    let default = keys
        .entries()
        .find(|(r, _)| *r == DEFAULT_ENTRY)
        .map(|(_, k)| k)
        .ok_or_else(|| {
            bad(
                id,
                "it has no `*` entry, the key for every other repository".into(),
            )
        })?;
    public_of(default).map_err(|e| bad(id, e))
}

/// The key to register on each repository: its own, else the default.
pub fn to_register(
    id: &str,
    keys: &DeployKeys,
    repos: &[String],
) -> Result<Vec<RepoKey>, DeployError> {
    let mut out = Vec::new();
    for repo in repos {
        let key = keys.for_repo(repo).ok_or_else(|| {
            bad(
                id,
                format!("it has no key for {repo}, and no `*` entry for other repositories"),
            )
        })?;
        out.push(RepoKey {
            repo: repo.clone(),
            public_key: public_of(key).map_err(|e| bad(id, e))?,
        });
    }
    Ok(out)
}

/// `repos`, and each repository with a key of its own that they do not
/// list (names compared without case).
pub fn with_own_keys(keys: &DeployKeys, repos: &[String]) -> Vec<String> {
    let mut all = repos.to_vec();
    for (repo, _) in keys.entries().filter(|(r, _)| *r != DEFAULT_ENTRY) {
        if !all.iter().any(|r| r.eq_ignore_ascii_case(repo)) {
            all.push(repo.to_string());
        }
    }
    all
}

/// Every key git2s3 holds, on each of `repos` and on each repository with
/// a key of its own: what `unregister-webhook` and `destroy` remove.
pub fn to_remove(keys: &DeployKeys, repos: &[String]) -> Vec<RepoKey> {
    let all_repos = with_own_keys(keys, repos);
    let publics: Vec<(String, String)> = keys
        .entries()
        .filter_map(|(r, k)| public_of(k).ok().map(|p| (r.to_string(), p)))
        .collect();
    let mut out = Vec::new();
    for repo in &all_repos {
        for (owner, public) in &publics {
            if owner == DEFAULT_ENTRY || owner.eq_ignore_ascii_case(repo) {
                out.push(RepoKey {
                    repo: repo.clone(),
                    public_key: public.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(comment: &str) -> DeployKey {
        DeployKey::new(secrets::new_deploy_key(comment).unwrap().0)
    }

    #[test]
    fn each_repository_gets_its_own_key_else_the_default() {
        let (default, api) = (key("default"), key("api"));
        let mut keys = DeployKeys::single(default.clone());
        keys.insert("acme/api", api.clone());
        let repos = vec!["acme/api".to_string(), "acme/web".to_string()];
        let planned = to_register("id", &keys, &repos).unwrap();
        assert_eq!(planned[0].public_key, public_of(&api).unwrap());
        assert_eq!(planned[1].public_key, public_of(&default).unwrap());
    }

    #[test]
    fn removal_covers_the_default_key_and_repositories_known_only_to_the_secret() {
        let (default, api) = (key("default"), key("api"));
        let mut keys = DeployKeys::single(default.clone());
        keys.insert("acme/api", api.clone());
        let removed = to_remove(&keys, &["acme/web".to_string()]);
        let pairs: Vec<(&str, String)> = removed
            .iter()
            .map(|k| (k.repo.as_str(), k.public_key.clone()))
            .collect();
        let (d, a) = (public_of(&default).unwrap(), public_of(&api).unwrap());
        assert_eq!(
            pairs,
            vec![("acme/web", d.clone()), ("acme/api", d), ("acme/api", a)]
        );
    }

    #[test]
    fn a_map_without_a_default_names_the_missing_repository() {
        let mut keys = DeployKeys::default();
        keys.insert("acme/api", key("api"));
        let err = to_register("git2s3/x/ssh-deploy-key", &keys, &["acme/web".into()]).unwrap_err();
        assert!(err.to_string().contains("no key for acme/web"), "{err}");
    }
}
