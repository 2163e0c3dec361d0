//! Screen 8: whether to create a pipeline, for which repository and
//! branch, and whether its runs show on the commit.

use dialoguer::{Input, Select};

use super::ui::check_repos;
use git2s3_lambda::Provider;

use crate::deploy::secrets::stack::STATUS_TOKEN_VAR;
use crate::settings::Settings;

/// `ask_report`: whether to ask about build status (not when `--report-status` says).
pub fn pipeline(settings: &mut Settings, ask_report: bool) -> anyhow::Result<()> {
    let i = Select::new()
        .with_prompt("Also create a pipeline?")
        .items([
            "No: just the zips in S3 (point your own pipeline at them)",
            "Yes: a CodePipeline with the zip as its S3 source and a CodeBuild stage",
        ])
        .default(usize::from(settings.pipeline.is_some()))
        .interact()?;
    if i == 0 {
        settings.pipeline = None;
        return Ok(());
    }
    let repo = match settings.repos.len() {
        0 => Input::new()
            .with_prompt("Repository the pipeline builds, OWNER/REPO")
            .validate_with(|r: &String| check_repos(std::slice::from_ref(r)))
            .interact_text()?,
        1 => settings.repos[0].clone(),
        _ => {
            let j = Select::new()
                .with_prompt("Repository the pipeline builds")
                .items(&settings.repos)
                .default(0)
                .interact()?;
            settings.repos[j].clone()
        }
    };
    let branch: String = Input::new()
        .with_prompt("Branch")
        .default("main".to_string())
        .interact_text()?;
    settings.set_pipeline(repo, branch);
    if ask_report && settings.provider != Provider::Generic {
        let on = settings.report_status();
        let j = Select::new()
            .with_prompt(format!(
                "Show each run's state on the commit in {}? (--report-status)",
                settings.provider
            ))
            .items([
                format!(
                    "Yes: needs a token with the commit status scope, from {STATUS_TOKEN_VAR} or the provider token variable"
                ),
                "No".to_string(),
            ])
            .default(usize::from(!on))
            .interact()?;
        if let Some(p) = settings.pipeline.as_mut() {
            p.report_status = Some(j == 0);
        }
    }
    Ok(())
}
