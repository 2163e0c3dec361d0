//! Screen 4: what to connect: repositories picked from a searchable list,
//! or a whole organization, group, workspace or project.

use dialoguer::{FuzzySelect, Input, Select};

use super::ui::{check_repos, list, say};
use crate::register::{ProviderApi, TokenOwner};
use crate::settings::Settings;

pub async fn connect(
    api: &dyn ProviderApi,
    owner: &TokenOwner,
    settings: &mut Settings,
) -> anyhow::Result<()> {
    let choice = Select::new()
        .with_prompt("Connect")
        .items([
            "One or more repositories, picked from a list",
            "A whole organization, group, workspace or project",
        ])
        .default(usize::from(settings.org.is_some()))
        .interact()?;
    let org: String = Input::new()
        .with_prompt(if choice == 0 {
            "List the repositories of (organization, group, workspace or project)"
        } else {
            "Organization, group, workspace or project"
        })
        .default(settings.org.clone().unwrap_or_else(|| owner.user.clone()))
        .interact_text()?;
    if choice == 1 {
        settings.org = Some(org);
        return Ok(());
    }
    let mut left = match api.repos(&org).await {
        Ok(repos) if !repos.is_empty() => repos,
        Ok(_) | Err(_) => {
            say(format!(
                "could not list the repositories of {org}; type them instead"
            ));
            let typed: String = Input::new()
                .with_prompt("Repositories, OWNER/REPO, comma-separated")
                .validate_with(|t: &String| check_repos(&list(t)))
                .interact_text()?;
            settings.repos = list(&typed);
            return Ok(());
        }
    };
    let mut picked: Vec<String> = Vec::new();
    const DONE: &str = "✔ done";
    loop {
        let mut items: Vec<&str> = left.iter().map(String::as_str).collect();
        if !picked.is_empty() {
            items.insert(0, DONE);
        }
        let i = FuzzySelect::new()
            .with_prompt(if picked.is_empty() {
                "Add a repository (type to search)".to_string()
            } else {
                format!(
                    "Add another, or pick “{DONE}” (chosen: {})",
                    picked.join(", ")
                )
            })
            .items(&items)
            .default(0)
            .interact()?;
        if items[i] == DONE {
            break;
        }
        let repo = items[i].to_string();
        left.retain(|r| *r != repo);
        picked.push(repo);
        if left.is_empty() {
            break;
        }
    }
    settings.repos = picked;
    settings.org = None;
    Ok(())
}
