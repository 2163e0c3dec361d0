//! Screen 6: which branches, tags and paths build.

use dialoguer::Input;

use super::ui::list;
use crate::settings::Settings;

pub fn filters(settings: &mut Settings) -> anyhow::Result<()> {
    let ask = |prompt: &str, current: &[String]| -> anyhow::Result<Vec<String>> {
        let text: String = Input::new()
            .with_prompt(prompt)
            .with_initial_text(current.join(", "))
            .allow_empty(true)
            .validate_with(|t: &String| {
                git2s3_lambda::filter::Filters::new(&list(t), &[], &[])
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .interact_text()?;
        Ok(list(&text))
    };
    settings.filters.include_refs = ask(
        "Build these branches and tags (globs, comma-separated; empty: all)",
        &settings.filters.include_refs,
    )?;
    settings.filters.exclude_refs = ask(
        "Never build these (globs; empty: none)",
        &settings.filters.exclude_refs,
    )?;
    settings.filters.include_paths = ask(
        "Only when these paths change (globs; empty: any change)",
        &settings.filters.include_paths,
    )?;
    Ok(())
}
