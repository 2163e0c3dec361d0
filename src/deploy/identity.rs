//! Preflight: who the credentials belong to, and which region we work in.
//! Checked before anything else, so a bad profile fails in one second with
//! a message about credentials rather than halfway through a deploy.

use serde::Serialize;

use super::error::DeployError;
use crate::aws::{AwsResultExt, Clients};

/// The caller, as STS sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub region: String,
}

/// Asks STS who we are (GetCallerIdentity needs no permission), and checks
/// that a region is set.
pub async fn whoami(clients: &Clients) -> Result<Identity, DeployError> {
    let region = clients.region.clone().ok_or(DeployError::NoRegion)?;
    if !is_region_name(&region) {
        return Err(DeployError::BadRegion { region });
    }
    let out = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .aws("sts:GetCallerIdentity")?;
    Ok(Identity {
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
        region,
    })
}

/// Whether `name` has the shape of an AWS region: lowercase words joined
/// by `-` and a number last (`eu-west-1`, `us-gov-east-1`,
/// `ap-southeast-5`). Whether the region exists, only AWS can say.
fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::is_region_name;

    #[test]
    fn region_names_are_checked_for_their_shape() {
        for good in [
            "eu-west-1",
            "us-gov-east-1",
            "ap-southeast-5",
            "cn-north-1",
            "us-east-1",
        ] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "eu west 1",
            "EU-WEST-1",
            "eu-west",
            "west-1",
            "eu--1",
            "eu-west-1a",
            "",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }
}
