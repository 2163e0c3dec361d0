//! Which pushes to build: glob lists of refs to include and exclude, and an
//! optional glob list of paths a push must touch.
//!
//! Ref globs match the short name (`main`, `release/1.2`, `v1.0`) and also
//! the full name (`refs/tags/*`), so both styles work. `*` does not cross a
//! `/`; `**` does. An empty include list includes everything; exclusion wins.
//! Path globs apply only where the payload lists changed files (GitHub,
//! GitLab, the generic hook); where it does not, the push is built.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::layout::GitRef;

/// The compiled filters.
#[derive(Debug, Clone)]
pub struct Filters {
    include_refs: Option<GlobSet>,
    exclude_refs: Option<GlobSet>,
    include_paths: Option<GlobSet>,
    /// What a deleted branch or tag inside the filters does to its zip.
    pub on_delete: OnDelete,
}

/// `branches.on_delete`: a deleted branch's (or tag's) zip is kept, or
/// gets a delete marker (its old versions stay, under the bucket's
/// lifecycle rule). A ref outside the filters is never touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDelete {
    #[default]
    Keep,
    Delete,
}

/// An `on_delete` that is neither `keep` nor `delete`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is neither `keep` nor `delete`")]
pub struct BadOnDelete(pub String);

impl std::str::FromStr for OnDelete {
    type Err = BadOnDelete;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" | "keep" => Ok(OnDelete::Keep),
            "delete" => Ok(OnDelete::Delete),
            other => Err(BadOnDelete(other.to_string())),
        }
    }
}

/// A glob that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: `{glob}` is not a valid glob: {reason}")]
pub struct FilterError {
    pub setting: &'static str,
    pub glob: String,
    pub reason: String,
}

/// Why a push is not built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    NotIncluded,
    Excluded,
    NoMatchingPath,
}

impl FilterError {
    /// The Lambda environment variable that holds this setting.
    pub fn setting_var(&self) -> &'static str {
        match self.setting {
            "include_refs" => "GIT2S3_INCLUDE_REFS",
            "exclude_refs" => "GIT2S3_EXCLUDE_REFS",
            _ => "GIT2S3_INCLUDE_PATHS",
        }
    }
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Skip::NotIncluded => "the ref matches none of the include_refs globs",
            Skip::Excluded => "the ref matches an exclude_refs glob",
            Skip::NoMatchingPath => "no changed path matches the include_paths globs",
        })
    }
}

impl Filters {
    /// Filters that build everything.
    pub fn all() -> Self {
        Filters {
            include_refs: None,
            exclude_refs: None,
            include_paths: None,
            on_delete: OnDelete::Keep,
        }
    }

    pub fn new(
        include_refs: &[String],
        exclude_refs: &[String],
        include_paths: &[String],
    ) -> Result<Self, FilterError> {
        Ok(Filters {
            include_refs: compile("include_refs", include_refs)?,
            exclude_refs: compile("exclude_refs", exclude_refs)?,
            include_paths: compile("include_paths", include_paths)?,
            on_delete: OnDelete::Keep,
        })
    }

    /// The same filters, with what a deletion does.
    pub fn with_on_delete(mut self, on_delete: OnDelete) -> Self {
        self.on_delete = on_delete;
        self
    }

    /// Parses comma-separated lists, as the Lambda's environment holds them.
    pub fn from_csv(
        include_refs: &str,
        exclude_refs: &str,
        include_paths: &str,
    ) -> Result<Self, FilterError> {
        let split = |s: &str| -> Vec<String> {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        Self::new(
            &split(include_refs),
            &split(exclude_refs),
            &split(include_paths),
        )
    }

    /// Whether to build `git_ref`, given the changed paths if the payload
    /// lists them.
    pub fn check(&self, git_ref: &GitRef, changed_paths: Option<&[String]>) -> Result<(), Skip> {
        let short = git_ref.name();
        let full = git_ref.full_name();
        let matches = |set: &GlobSet| set.is_match(short) || set.is_match(&full);
        if let Some(exclude) = &self.exclude_refs {
            if matches(exclude) {
                return Err(Skip::Excluded);
            }
        }
        if let Some(include) = &self.include_refs {
            if !matches(include) {
                return Err(Skip::NotIncluded);
            }
        }
        if let (Some(paths), Some(changed)) = (&self.include_paths, changed_paths) {
            if !changed.iter().any(|p| paths.is_match(p)) {
                return Err(Skip::NoMatchingPath);
            }
        }
        Ok(())
    }
}

fn compile(setting: &'static str, globs: &[String]) -> Result<Option<GlobSet>, FilterError> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(build(glob).map_err(|e| FilterError {
            setting,
            glob: glob.clone(),
            reason: e.kind().to_string(),
        })?);
    }
    let set = builder.build().map_err(|e| FilterError {
        setting,
        glob: globs.join(","),
        reason: e.to_string(),
    })?;
    Ok(Some(set))
}

fn build(glob: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(glob).literal_separator(true).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn branch(name: &str) -> GitRef {
        GitRef::branch(name).unwrap()
    }

    #[test]
    fn empty_filters_build_everything() {
        assert_eq!(
            Filters::all().check(&branch("anything/at/all"), None),
            Ok(())
        );
    }

    #[test]
    fn include_and_exclude_globs() {
        let f = Filters::new(&v(&["main", "release/*", "v*"]), &v(&["release/old*"]), &[]).unwrap();
        assert_eq!(f.check(&branch("main"), None), Ok(()));
        assert_eq!(f.check(&branch("release/2.0"), None), Ok(()));
        assert_eq!(f.check(&GitRef::tag("v1.0").unwrap(), None), Ok(()));
        assert_eq!(f.check(&branch("release/old-1"), None), Err(Skip::Excluded));
        assert_eq!(f.check(&branch("feature/x"), None), Err(Skip::NotIncluded));
        // `*` does not cross a slash.
        assert_eq!(
            f.check(&branch("release/2.0/hotfix"), None),
            Err(Skip::NotIncluded)
        );
    }

    #[test]
    fn full_ref_globs_work_too() {
        let f = Filters::new(&v(&["refs/tags/*"]), &[], &[]).unwrap();
        assert_eq!(f.check(&GitRef::tag("v2").unwrap(), None), Ok(()));
        assert_eq!(f.check(&branch("main"), None), Err(Skip::NotIncluded));
    }

    #[test]
    fn path_filters_apply_only_where_paths_are_known() {
        let f = Filters::new(&[], &[], &v(&["src/**", "Cargo.toml"])).unwrap();
        let changed = v(&["docs/readme.md"]);
        assert_eq!(
            f.check(&branch("main"), Some(&changed)),
            Err(Skip::NoMatchingPath)
        );
        let changed = v(&["docs/readme.md", "src/deep/lib.rs"]);
        assert_eq!(f.check(&branch("main"), Some(&changed)), Ok(()));
        assert_eq!(f.check(&branch("main"), None), Ok(()));
    }

    #[test]
    fn csv_lists_are_trimmed() {
        let f = Filters::from_csv(" main , dev ", "", "").unwrap();
        assert_eq!(f.check(&branch("dev"), None), Ok(()));
    }

    #[test]
    fn bad_globs_name_their_setting() {
        let err = Filters::new(&v(&["a[b"]), &[], &[]).unwrap_err();
        assert_eq!(err.setting, "include_refs");
        assert!(err.to_string().contains("`a[b`"), "{err}");
    }
}
