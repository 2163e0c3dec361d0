//! Screen 8: whether to create a pipeline, and for which repository and branch.

use dialoguer::{Input, Select};

use super::ui::check_repos;
use crate::settings::{PipelineSettings, Settings};

pub fn pipeline(settings: &mut Settings) -> anyhow::Result<()> {
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
    settings.pipeline = Some(PipelineSettings {
        repo,
        branch,
        stack_name: None,
        build_image: None,
        report_status: None,
    });
    Ok(())
}
