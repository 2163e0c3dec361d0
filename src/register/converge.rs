//! What to do with a provider's list, create, update and delete calls,
//! written once for every provider: a hook is found by its URL and
//! updated, or created; a key is found by its key material (or, for a
//! replaced key, by git2s3's title) and added once; removal deletes
//! exactly what matches git2s3's URL and key, and nothing else. So every
//! operation converges when run again.

use git2s3_lambda::Provider;

use super::api::{Hook, HookSpec, Outcome, ProviderApi, Target};
use super::error::RegisterError;

/// The key's type and base64 body, without its comment.
pub fn key_material(key: &str) -> String {
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Asked before anything that exists is written over or replaced, with
/// what would be; answers whether to go ahead.
pub type MayReplace<'a> = &'a (dyn Fn(&str) -> Result<bool, RegisterError> + Sync);

/// Creates the hook, or updates the one with the same URL (its secret
/// cannot be read back, so it is always written) if `may_replace` agrees;
/// else leaves it as it is ([`Outcome::Kept`]).
pub async fn ensure_hook(
    api: &dyn ProviderApi,
    target: &Target,
    spec: &HookSpec,
    may_replace: MayReplace<'_>,
) -> Result<(Outcome, Hook), RegisterError> {
    let existing = api.hooks(target).await?;
    match existing.into_iter().find(|h| h.url == spec.url) {
        Some(hook) => {
            let question = format!(
                "Update git2s3's existing webhook on {target} (its events and secret are written again)?"
            );
            if !may_replace(&question)? {
                return Ok((Outcome::Kept, hook));
            }
            api.update_hook(target, &hook.id, spec).await?;
            Ok((Outcome::Updated, hook))
        }
        None => Ok((Outcome::Created, api.create_hook(target, spec).await?)),
    }
}

/// Deletes the hooks with git2s3's URL, and only those.
pub async fn remove_hook(
    api: &dyn ProviderApi,
    target: &Target,
    url: &str,
) -> Result<Outcome, RegisterError> {
    let mut outcome = Outcome::Absent;
    for hook in api
        .hooks(target)
        .await?
        .into_iter()
        .filter(|h| h.url == url)
    {
        api.delete_hook(target, &hook.id).await?;
        outcome = Outcome::Removed;
    }
    Ok(outcome)
}

/// Adds the read-only deploy key unless the repo has it. A key with
/// git2s3's title but other material (an older git2s3 key) is replaced, if
/// `may_replace` agrees; else both are left as they are.
pub async fn ensure_key(
    api: &dyn ProviderApi,
    repo: &str,
    title: &str,
    key: &str,
    may_replace: MayReplace<'_>,
) -> Result<Outcome, RegisterError> {
    let wanted = key_material(key);
    let existing = api.keys(repo).await?;
    if existing.iter().any(|k| key_material(&k.key) == wanted) {
        return Ok(Outcome::Unchanged);
    }
    let older: Vec<_> = existing
        .iter()
        .filter(|k| is_titled(&k.title, title))
        .collect();
    let question = format!("Replace the older git2s3 deploy key on {repo} with the stack's?");
    if !older.is_empty() && !may_replace(&question)? {
        return Ok(Outcome::Kept);
    }
    let mut outcome = Outcome::Created;
    for old in older {
        api.delete_key(repo, &old.id).await?;
        outcome = Outcome::Updated;
    }
    api.add_key(repo, title, key).await?;
    Ok(outcome)
}

/// Whether a key's title is git2s3's `title`, or a rotated key's
/// (`title` and the key's tail).
fn is_titled(found: &str, title: &str) -> bool {
    found == title
        || found
            .strip_prefix(title)
            .is_some_and(|rest| rest.starts_with(' '))
}

/// Adds the read-only deploy key unless the repo has it, leaving every
/// other key as it is: a rotation's new key, beside the old one. Its
/// title ends with the key's last characters, as Gitea and Forgejo refuse
/// two keys of one title on a repository.
pub async fn add_key_beside(
    api: &dyn ProviderApi,
    repo: &str,
    title: &str,
    key: &str,
) -> Result<Outcome, RegisterError> {
    let wanted = key_material(key);
    if api
        .keys(repo)
        .await?
        .iter()
        .any(|k| key_material(&k.key) == wanted)
    {
        return Ok(Outcome::Unchanged);
    }
    let tail: String = {
        let body = wanted.rsplit(' ').next().unwrap_or_default();
        body.chars()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    };
    api.add_key(repo, &format!("{title} {tail}"), key).await?;
    Ok(Outcome::Created)
}

/// Deletes the deploy key with this key material, and only that.
pub async fn remove_key(
    api: &dyn ProviderApi,
    repo: &str,
    key: &str,
) -> Result<Outcome, RegisterError> {
    let wanted = key_material(key);
    let mut outcome = Outcome::Absent;
    for k in api
        .keys(repo)
        .await?
        .into_iter()
        .filter(|k| key_material(&k.key) == wanted)
    {
        api.delete_key(repo, &k.id).await?;
        outcome = Outcome::Removed;
    }
    Ok(outcome)
}

/// GitHub allows a deploy key on one repository only, across all of
/// GitHub, so one `--public-key` for `repos` repositories is refused
/// before any call. (The stack's secret gets one key per repository.)
pub fn check_key_limit(provider: Provider, repos: usize) -> Result<(), RegisterError> {
    if provider.one_key_per_repo(repos) {
        return Err(RegisterError::Unsupported(format!(
            "GitHub allows a deploy key on one repository only, and --public-key would add one key to \
             {repos} repositories. Leave out --public-key: the stack's deploy-key secret then gets a \
             key of its own for each repository"
        )));
    }
    Ok(())
}
