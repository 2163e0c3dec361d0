//! The Git hosting services git2s3 knows, as they are spelled in
//! `git2s3.yaml`, on the command line and in logs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Git hosting service, or a plain SSH server that runs git2s3's
/// post-receive hook (`generic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    Github,
    GithubEnterprise,
    Gitlab,
    Bitbucket,
    BitbucketServer,
    Generic,
}

impl Provider {
    /// Every provider, in the order the CLI lists them.
    pub const ALL: [Provider; 6] = [
        Provider::Github,
        Provider::GithubEnterprise,
        Provider::Gitlab,
        Provider::Bitbucket,
        Provider::BitbucketServer,
        Provider::Generic,
    ];

    /// The name used in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Github => "github",
            Provider::GithubEnterprise => "github-enterprise",
            Provider::Gitlab => "gitlab",
            Provider::Bitbucket => "bitbucket",
            Provider::BitbucketServer => "bitbucket-server",
            Provider::Generic => "generic",
        }
    }

    /// Whether the provider has an archive API that the zip-download method can use.
    pub fn has_archive_api(self) -> bool {
        !matches!(self, Provider::Generic)
    }

    /// Whether the provider runs on the user's own host, so its API URL must be given.
    pub fn needs_api_url(self) -> bool {
        matches!(self, Provider::GithubEnterprise | Provider::BitbucketServer)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a provider name git2s3 does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown provider `{0}`: use one of github, github-enterprise, gitlab, bitbucket, bitbucket-server, generic")]
pub struct UnknownProvider(pub String);

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProvider(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>().unwrap(), p);
            let yaml = serde_json::to_string(&p).unwrap();
            assert_eq!(yaml, format!("\"{}\"", p.as_str()));
        }
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = "gitea".parse::<Provider>().unwrap_err().to_string();
        assert!(
            err.contains("`gitea`") && err.contains("bitbucket-server"),
            "{err}"
        );
    }
}
