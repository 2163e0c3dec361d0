//! Screen 1: the AWS profile and region, checked with STS.

use dialoguer::{FuzzySelect, Select};

use super::aws_config;
use super::ui::say;
use crate::aws::Clients;
use crate::cli::GlobalArgs;
use crate::deploy::identity;
use crate::settings::Settings;

/// Chooses the profile and region, and gives the AWS clients for them.
/// The profile chosen is returned, not written into the flags.
pub async fn aws(
    global: &GlobalArgs,
    settings: &mut Settings,
) -> anyhow::Result<(Clients, Option<String>)> {
    let mut profile = global.profile.clone();
    let profiles = crate::aws::profiles::profiles();
    if profile.is_none() && profiles.len() > 1 {
        let default = profiles.iter().position(|p| p == "default").unwrap_or(0);
        let i = Select::new()
            .with_prompt("AWS profile")
            .items(&profiles)
            .default(default)
            .interact()?;
        profile = Some(profiles[i].clone());
    }
    if global.region.is_none() {
        let current = settings
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        let default = aws_config::REGIONS
            .iter()
            .position(|r| *r == current)
            .unwrap_or(0);
        let i = FuzzySelect::new()
            .with_prompt("AWS region (type to search)")
            .items(aws_config::REGIONS)
            .default(default)
            .interact()?;
        settings.region = Some(aws_config::REGIONS[i].to_string());
    } else {
        settings.region = global.region.clone();
    }
    let mut options = crate::context::aws_options(global, settings);
    options.profile = profile.clone();
    let clients = crate::context::clients_for(&options).await;
    let me = identity::whoami(&clients).await?;
    say(format!(
        "account {} as {}, region {}{}",
        me.account,
        me.arn,
        me.region,
        profile
            .as_deref()
            .map(|p| format!(", profile {p}"))
            .unwrap_or_default()
    ));
    Ok((clients, profile))
}
