//! What the wizard lists on its AWS screen: the profiles in the AWS config
//! and credentials files, and the commercial regions.

use std::path::PathBuf;

/// Commercial regions where every service git2s3 uses is available.
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-south-1",
    "sa-east-1",
];

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
