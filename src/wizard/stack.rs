//! Screen 7: the stack name, the output bucket (checked for syntax and
//! availability) and how long replaced zips are kept.

use anyhow::Context;
use dialoguer::Input;

use super::ui::say;
use crate::aws::Clients;
use crate::cli::InitArgs;
use crate::deploy::bucket::{self, Owner};
use crate::settings::{validate_bucket_name, validate_stack_name, Settings};

pub async fn stack(
    clients: &Clients,
    args: &InitArgs,
    settings: &mut Settings,
) -> anyhow::Result<()> {
    if args.stack.target.stack_name.is_none() {
        settings.stack_name = Input::new()
            .with_prompt("Stack name")
            .default(settings.stack_name.clone())
            .validate_with(|n: &String| validate_stack_name(n))
            .interact_text()?;
    }
    if args.stack.bucket.is_none() {
        loop {
            let name: String = Input::new()
                .with_prompt("Output bucket name (empty: CloudFormation picks a unique one)")
                .with_initial_text(settings.bucket.name.clone().unwrap_or_default())
                .allow_empty(true)
                .validate_with(|n: &String| {
                    if n.is_empty() {
                        Ok(())
                    } else {
                        validate_bucket_name(n)
                    }
                })
                .interact_text()?;
            if name.is_empty() {
                settings.bucket.name = None;
                break;
            }
            match bucket::owner(&clients.s3, &name)
                .await
                .context("checking the bucket name")?
            {
                Owner::OtherAccount => say(format!(
                    "✗ s3://{name} belongs to another AWS account: bucket names are global, pick another"
                )),
                Owner::ThisAccount => {
                    say(format!("s3://{name} exists in this account: init uses it only if this stack made it"));
                    settings.bucket.name = Some(name);
                    break;
                }
                Owner::Nobody => {
                    say(format!("✓ s3://{name} is available"));
                    settings.bucket.name = Some(name);
                    break;
                }
            }
        }
    }
    if args.stack.noncurrent_version_days.is_some() {
        return Ok(());
    }
    settings.bucket.noncurrent_version_days = Input::new()
        .with_prompt("Days to keep replaced zips (older versions)")
        .default(settings.bucket.noncurrent_version_days)
        .validate_with(|d: &u32| {
            if *d >= 1 {
                Ok(())
            } else {
                Err("at least 1 day")
            }
        })
        .interact_text()?;
    Ok(())
}
