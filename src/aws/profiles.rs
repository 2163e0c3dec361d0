//! The profiles in the AWS config and credentials files: what the wizard
//! lists, and what `--profile` is checked against.

use std::path::PathBuf;

fn file(var: &str, default: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws").join(default)))
}

/// Profile names from `[profile NAME]`/`[default]` in the config file and
/// `[NAME]` in the credentials file, sorted, without repeats.
pub fn profiles() -> Vec<String> {
    let mut names = Vec::new();
    let mut read = |path: Option<PathBuf>, config: bool| {
        let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
            return;
        };
        names.extend(section_names(&text, config));
    };
    read(file("AWS_CONFIG_FILE", "config"), true);
    read(file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), false);
    names.sort();
    names.dedup();
    names
}

/// The profile names in one file's `[...]` headers.
fn section_names(text: &str, config: bool) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']'))
        .filter_map(|name| {
            let name = name.trim();
            match (config, name.strip_prefix("profile ")) {
                (true, Some(p)) => Some(p.trim().to_string()),
                (true, None) if name == "default" => Some(name.to_string()),
                (true, None) => None, // [sso-session x], [services x]
                (false, _) => Some(name.to_string()),
            }
        })
        .collect()
}

/// `--profile NAME` must name a profile the AWS config or credentials file
/// has: an error lists the ones found, rather than an SDK error later.
pub fn check(name: &str) -> Result<(), String> {
    let found = profiles();
    if found.iter().any(|p| p == name) {
        return Ok(());
    }
    Err(format!(
        "--profile {name}: no such profile in the AWS config ({}) or credentials file; {}",
        file("AWS_CONFIG_FILE", "config")
            .map_or_else(|| "~/.aws/config".into(), |p| p.display().to_string()),
        match found.is_empty() {
            true => "it lists none: run `aws configure --profile NAME`".to_string(),
            false => format!("it lists {}", found.join(", ")),
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_come_from_both_files_headers() {
        let config =
            "[default]\nregion=eu-west-1\n[profile prod]\n[sso-session corp]\n[services x]\n";
        assert_eq!(section_names(config, true), ["default", "prod"]);
        assert_eq!(section_names("[default]\n[ci]\n", false), ["default", "ci"]);
    }
}
