//! `rotate deploy-key`: the worker reads the deploy-key secret's current
//! version, and a Git server trusts the keys registered on it. So the
//! steps are:
//!
//! 1. new keys, one for each key held (the default and each repository's
//!    own), staged as the secret's `AWSPENDING` version: not in use yet;
//! 2. each new key added to its repositories, beside the old one (with no
//!    API, `generic`, a person adds it to `authorized_keys`);
//! 3. the staged version made current (the old one becomes `AWSPREVIOUS`):
//!    the worker uses the new keys from its next job;
//! 4. each old key removed from its repositories;
//! 5. the stack's `PublicSSHKey` output set to the new default key;
//! 6. the `AWSPENDING` label dropped: the rotation is over.
//!
//! The labels say where a rotation stands: `AWSPENDING` on another version
//! than `AWSCURRENT` is steps 2–3 to do, on the same version steps 4–6.

use git2s3_lambda::fetch::git::DeployKey;
use git2s3_lambda::fetch::keys::{DeployKeys, DEFAULT_ENTRY};

use crate::deploy::error::DeployError;
use crate::deploy::keys::{self, RepoKey};
use crate::deploy::secrets::{self, stages};
use crate::deploy::stack::{self, StackInfo};
use crate::progress::Progress;
use crate::register::{self, add_key_beside, key_material, remove_key, ProviderApi};
use crate::settings::Settings;

use super::Report;

/// Where the keys are registered: the provider's API, or by a person.
pub enum Repos {
    Api(Box<dyn ProviderApi>),
    /// A plain SSH server; `done` says the new keys are installed there.
    ByHand {
        done: bool,
    },
}

/// What the rotation did, and the new default key's public half (for the
/// stack's output and `git2s3.yaml`).
pub struct Rotated {
    pub report: Report,
    pub public_ssh_key: Option<String>,
}

/// The secret's state: which keys are new, which old, and the version
/// still to make current (steps 2–3), if any.
struct State {
    new: DeployKeys,
    old: DeployKeys,
    resumed: bool,
    to_promote: Option<(String, String)>,
}

/// Runs the rotation, or the rest of one under way.
pub async fn rotate(
    sm: &aws_sdk_secretsmanager::Client,
    cf: &aws_sdk_cloudformation::Client,
    settings: &Settings,
    core: &StackInfo,
    repos: Repos,
    progress: &Progress,
) -> anyhow::Result<Rotated> {
    let id = settings.ssh_key_secret_id();
    let state = state(sm, &id, settings, progress).await?;
    let mut all_repos = keys::with_own_keys(&state.new, &settings.repos);
    // Below an org, the old key may be on repositories that `repos` does
    // not list (`register-webhook --all-repos`): those get the new key too,
    // or the worker could no longer fetch them.
    if let (Repos::Api(api), Some(org)) = (&repos, &settings.org) {
        let old: Vec<String> = state
            .old
            .entries()
            .filter_map(|(_, k)| keys::public_of(k).ok())
            .map(|p| key_material(&p))
            .collect();
        for repo in api.repos(org).await? {
            if all_repos.iter().any(|r| r.eq_ignore_ascii_case(&repo)) {
                continue;
            }
            let holds_old = api
                .keys(&repo)
                .await?
                .iter()
                .any(|k| old.contains(&key_material(&k.key)));
            if holds_old {
                all_repos.push(repo);
            }
        }
    }
    let title = register::key_title(settings);
    let mut report = Report::new(&settings.stack_name, id.clone(), state.resumed);

    if let Some((pending, current)) = &state.to_promote {
        let adds = keys::to_register(&id, &state.new, &all_repos)?;
        match &repos {
            Repos::ByHand { done: false } => {
                report.next = Some(format!(
                    "add the new public key to the git user's authorized_keys on the server, beside \
                     the old one (read-only, as before): {}; then run `git2s3 rotate deploy-key \
                     --continue`",
                    distinct_keys(&adds)
                ));
                return Ok(Rotated {
                    report,
                    public_ssh_key: None,
                });
            }
            Repos::ByHand { done: true } => {}
            Repos::Api(api) => {
                for k in &adds {
                    let outcome = add_key_beside(api.as_ref(), &k.repo, &title, &k.public_key)
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "{e}. The new key is staged (AWSPENDING in {id}) and not in use yet; \
                                 the old key still works. Fix the cause, then run `git2s3 rotate \
                                 deploy-key` again: it carries on from here"
                            )
                        })?;
                    progress.line(format!(
                        "new deploy key on {}: {}",
                        k.repo,
                        register::word(outcome)
                    ));
                    report.key(&k.repo).added = Some(outcome);
                }
            }
        }
        stages::make_current(sm, &id, pending, current).await?;
        progress.line(
            "the new deploy keys are current: the worker uses them from its next job (one that still \
             holds the old key reads the secret again when a server refuses it)",
        );
    }

    let new_publics = keys::to_register(&id, &state.new, &all_repos)?;
    let still_new = |k: &RepoKey| {
        new_publics
            .iter()
            .any(|n| n.repo == k.repo && key_material(&n.public_key) == key_material(&k.public_key))
    };
    let olds: Vec<RepoKey> = keys::to_remove(&state.old, &all_repos)
        .into_iter()
        .filter(|k| !still_new(k))
        .collect();
    match &repos {
        Repos::Api(api) => {
            for k in &olds {
                let outcome = remove_key(api.as_ref(), &k.repo, &k.public_key)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "{e}. The new key is in use; the old one is still on {}. Fix the cause, \
                             then run `git2s3 rotate deploy-key` again to finish",
                            k.repo
                        )
                    })?;
                progress.line(format!(
                    "old deploy key on {}: {}",
                    k.repo,
                    register::word(outcome)
                ));
                report.key(&k.repo).removed = Some(outcome);
            }
        }
        Repos::ByHand { .. } if !olds.is_empty() => {
            report.next = Some(format!(
                "remove the old key from the git user's authorized_keys on the server: {}",
                distinct_keys(&olds)
            ));
        }
        Repos::ByHand { .. } => {}
    }

    let public_ssh_key = keys::default_public(&id, &state.new).ok();
    let shown = core
        .parameters
        .get("PublicSSHKey")
        .filter(|v| !v.is_empty());
    if let (Some(public), Some(_)) = (&public_ssh_key, shown) {
        stack::set_parameter(cf, core, "PublicSSHKey", public, progress)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "{e}. The new keys are in use and the old ones removed; run `git2s3 rotate \
                     deploy-key` again to bring the stack's PublicSSHKey output up to date"
                )
            })?;
    }
    if let Some(pending) = stages::read(sm, &id).await?.pending {
        stages::drop_pending(sm, &id, &pending).await?;
    }
    report.done = true;
    Ok(Rotated {
        report,
        public_ssh_key,
    })
}

/// Reads where the rotation stands; with none under way, stages new keys.
async fn state(
    sm: &aws_sdk_secretsmanager::Client,
    id: &str,
    settings: &Settings,
    progress: &Progress,
) -> anyhow::Result<State> {
    let no_key = || {
        anyhow::anyhow!(
            "stack {} has no deploy key (secret {id} is missing or empty): it uses zip download, or \
             init has not run. Run `git2s3 init --method git-pull`",
            settings.stack_name
        )
    };
    let labels = match stages::read(sm, id).await {
        Err(e) if e.is_not_found() => return Err(no_key()),
        other => other?,
    };
    let current = labels.current.clone().ok_or_else(no_key)?;
    let parse = |text: String| {
        DeployKeys::parse(&text).map_err(|e| DeployError::BadDeployKey {
            id: id.to_string(),
            message: e.to_string(),
        })
    };
    match labels.pending {
        None => {
            let old = keys::load(sm, id).await?;
            if old.is_empty() {
                return Err(no_key());
            }
            let new = renew(&old, &format!("git2s3@{}", settings.stack_name))?;
            let pending = stages::put_pending(sm, id, &new.to_secret_string()).await?;
            progress.line(format!(
                "staged new deploy keys in {id} (AWSPENDING): not in use until they are on every repository"
            ));
            Ok(State {
                new,
                old,
                resumed: false,
                to_promote: Some((pending, current)),
            })
        }
        Some(pending) if pending != current => {
            progress.line(format!(
                "a rotation is under way ({id} has staged keys): carrying it on"
            ));
            Ok(State {
                new: parse(stages::value(sm, id, &pending).await?)?,
                old: parse(stages::value(sm, id, &current).await?)?,
                resumed: true,
                to_promote: Some((pending, current)),
            })
        }
        Some(_) => {
            progress.line(format!(
                "a rotation is under way ({id}'s new keys are current): removing the old ones"
            ));
            let old = match &labels.previous {
                Some(previous) => parse(stages::value(sm, id, previous).await?)?,
                None => DeployKeys::default(),
            };
            Ok(State {
                new: parse(stages::value(sm, id, &current).await?)?,
                old,
                resumed: true,
                to_promote: None,
            })
        }
    }
}

/// A new key for each key held: the default, and each repository's own.
fn renew(old: &DeployKeys, comment: &str) -> Result<DeployKeys, DeployError> {
    let mut new = DeployKeys::default();
    for (repo, _) in old.entries() {
        let comment = match repo {
            DEFAULT_ENTRY => comment.to_string(),
            repo => format!("{comment} {repo}"),
        };
        new.insert(repo, DeployKey::new(secrets::new_deploy_key(&comment)?.0));
    }
    Ok(new)
}

/// The distinct public keys, for a person to paste.
fn distinct_keys(keys: &[RepoKey]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for k in keys {
        if !seen.contains(&k.public_key.as_str()) {
            seen.push(&k.public_key);
        }
    }
    seen.join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> DeployKeys {
        let mut keys = DeployKeys::default();
        for repo in [DEFAULT_ENTRY, "acme/api"] {
            keys.insert(
                repo,
                DeployKey::new(secrets::new_deploy_key("old").unwrap().0),
            );
        }
        keys
    }

    #[test]
    fn every_key_held_gets_a_new_one() {
        let old = held();
        let new = renew(&old, "git2s3@s").unwrap();
        let names = |k: &DeployKeys| k.entries().map(|(r, _)| r.to_string()).collect::<Vec<_>>();
        assert_eq!(names(&new), names(&old));
        for ((_, a), (_, b)) in old.entries().zip(new.entries()) {
            assert_ne!(a, b);
        }
    }

    #[test]
    fn repositories_with_a_key_of_their_own_are_rotated_too() {
        let mut keys = held();
        keys.insert("acme/ops", DeployKey::new("-----BEGIN x"));
        let repos = ["ACME/API".to_string(), "acme/web".to_string()];
        assert_eq!(
            keys::with_own_keys(&keys, &repos),
            ["ACME/API", "acme/web", "acme/ops"]
        );
    }
}
