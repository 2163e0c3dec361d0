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
