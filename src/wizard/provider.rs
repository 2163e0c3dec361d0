//! Screen 2: where the repositories live. The menu is the provider table's:
//! each provider's entry, and a self-hosted entry where it has one.

use dialoguer::{Input, Select};
use git2s3_lambda::secure_url::is_https_or_loopback;
use git2s3_lambda::Provider;

use crate::settings::Settings;

/// The menu: (label, provider, needs an API URL, URL example).
fn menu() -> Vec<(&'static str, Provider, bool, &'static str)> {
    let mut menu = Vec::new();
    for p in Provider::ALL {
        let facts = p.facts();
        let example = facts.self_hosted.map_or("", |s| s.api_url_example);
        menu.push((facts.label, p, p.needs_api_url(), example));
        if let (Some(own), Some(_)) = (facts.self_hosted, facts.api_url) {
            menu.push((own.label, p, true, own.api_url_example));
        }
    }
    menu
}

pub fn provider(settings: &mut Settings, url_given: bool) -> anyhow::Result<()> {
    // With an API URL, GitHub means GitHub Enterprise Server.
    let family = |p: Provider| match p {
        Provider::GithubEnterprise => Provider::Github,
        p => p,
    };
    let menu = menu();
    let default = menu
        .iter()
        .position(|(_, p, url, _)| {
            family(*p) == family(settings.provider) && *url == settings.api_url.is_some()
        })
        .unwrap_or(0);
    let labels: Vec<&str> = menu.iter().map(|(l, ..)| *l).collect();
    let i = Select::new()
        .with_prompt("Where do your repositories live?")
        .items(&labels)
        .default(default)
        .interact()?;
    let (_, chosen, needs_url, example) = menu[i];
    settings.provider = chosen;
    if needs_url && !url_given {
        let url: String = Input::new()
            .with_prompt(format!("API URL, e.g. {example}"))
            .with_initial_text(settings.api_url.clone().unwrap_or_default())
            .validate_with(|u: &String| {
                if is_https_or_loopback(u) {
                    Ok(())
                } else {
                    Err("it must be an https:// URL (tokens never go over plain HTTP)")
                }
            })
            .interact_text()?;
        settings.api_url = Some(url.trim_end_matches('/').to_string());
    } else if !needs_url && !url_given {
        settings.api_url = None;
    }
    Ok(())
}
