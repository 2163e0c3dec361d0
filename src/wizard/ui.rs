//! What every screen shares: the heading, an indented line, lists typed
//! comma-separated, and the repository checks.

use crate::register;
use crate::settings::Settings;

pub fn heading(n: u8, title: &str) {
    eprintln!("\n── {n}/9  {title} ──");
}

pub fn say(line: impl std::fmt::Display) {
    eprintln!("  {line}");
}

/// A comma-separated list, trimmed, without empty items.
pub fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn targets_line(settings: &Settings) -> String {
    match (&settings.org, settings.repos.is_empty()) {
        (Some(org), true) => format!("all of {org}"),
        (Some(org), false) => format!("all of {org}, and {}", settings.repos.join(", ")),
        (None, _) => settings.repos.join(", "),
    }
}

pub fn check_repos(repos: &[String]) -> Result<(), String> {
    if repos.is_empty() {
        return Err("name at least one repository".into());
    }
    match repos.iter().find(|r| register::split_repo(r).is_err()) {
        Some(bad) => Err(format!("`{bad}` is not OWNER/REPO")),
        None => Ok(()),
    }
}
