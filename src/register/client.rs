//! The registration client for a provider, at its API base URL: the one
//! given, else the public service's, from the provider table.

use git2s3_lambda::Provider;

use super::api::ProviderApi;
use super::bitbucket::Bitbucket;
use super::bitbucket_server::Server;
use super::error::RegisterError;
use super::gitea::Gitea;
use super::github::GitHub;
use super::gitlab::GitLab;

/// The client for `provider`, at `api_url` or the provider's public API.
pub fn client(
    provider: Provider,
    api_url: Option<&str>,
    token: &str,
) -> Result<Box<dyn ProviderApi>, RegisterError> {
    if provider == Provider::Generic {
        return Err(RegisterError::Unsupported(
            "a plain SSH server has no API: use `git2s3 hook install` on the server, or add the hook by hand".into(),
        ));
    }
    let base = provider.api_base(api_url).ok_or_else(|| {
        RegisterError::Unsupported(format!(
            "{provider} runs on your own server: pass --api-url, e.g. {}",
            provider
                .facts()
                .self_hosted
                .map_or("https://HOST", |s| s.api_url_example)
        ))
    })?;
    Ok(match provider {
        Provider::Github | Provider::GithubEnterprise => Box::new(GitHub::new(&base, token)?),
        Provider::Gitlab => Box::new(GitLab::new(&base, token)?),
        Provider::Bitbucket => Box::new(Bitbucket::new(&base, token)?),
        Provider::BitbucketServer => Box::new(Server::new(&base, token)?),
        Provider::Gitea | Provider::Forgejo => Box::new(Gitea::new(provider, &base, token)?),
        Provider::Generic => unreachable!("refused above"),
    })
}
