//! The command line itself: the values a flag takes are listed in
//! `--help`, and a bad one is refused naming the flag and its values.

use crate::util::git2s3;

#[test]
fn init_help_lists_the_values_of_provider_method_and_architecture() {
    let help = git2s3().args(["init", "--help"]).stdout();
    for values in [
        "github, github-enterprise, gitlab, bitbucket, bitbucket-server, generic",
        "git-pull",
        "zip-download",
        "x86_64, arm64",
    ] {
        assert!(help.contains(values), "init --help lacks {values}:\n{help}");
    }
}

#[test]
fn a_bad_value_names_its_flag_and_the_values_it_takes() {
    for (flag, bad, values) in [
        ("--method", "foo", "git-pull, zip-download"),
        ("--provider", "gitea", "bitbucket-server, generic"),
        ("--architecture", "sparc", "x86_64, arm64"),
    ] {
        let err = git2s3().args(["init", flag, bad]).fails();
        assert!(
            err.contains(&format!("'{bad}'")) && err.contains(flag) && err.contains(values),
            "{flag} {bad}: {err}"
        );
    }
}
