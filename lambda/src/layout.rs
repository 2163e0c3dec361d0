//! Where a push lands in S3.
//!
//! The layout is the AWS Quick Start's, so existing pipelines keep working:
//!
//! | push                         | key                                        |
//! |------------------------------|--------------------------------------------|
//! | branch `main` of `acme/api`  | `acme/api/main/acme_api.zip`               |
//! | branch `feature/x`           | `acme/api/feature/x/acme_api.zip`          |
//! | tag `v1.2`                   | `acme/api/tags/v1.2/acme_api.zip`          |
//! | nested group `g/sub/api`     | `g/sub/api/main/g_sub_api.zip`             |
//!
//! Both the repo path and the ref are checked here, at the edge, so that no
//! push can write outside its repo's prefix (`..`, empty components) or
//! produce a key S3 rejects. This module stops at the key: writing is the
//! store's job.

use std::fmt;

/// S3's limit on the length of an object key, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// A pushed ref: a branch or a tag, by its short name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GitRef {
    Branch(String),
    Tag(String),
}

/// Why a repo path or ref cannot be turned into an S3 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("`{0}` is neither a branch (refs/heads/…) nor a tag (refs/tags/…); git2s3 only builds branches and tags")]
    NotBranchOrTag(String),
    #[error("ref name `{name}` is not valid: {reason}")]
    InvalidRefName { name: String, reason: &'static str },
    #[error("repository path `{path}` is not valid: {reason}; expected OWNER/REPO or GROUP/SUBGROUP/REPO")]
    InvalidRepoPath { path: String, reason: &'static str },
    #[error(
        "branch `{0}` would land under the tags/ prefix and could overwrite a tag's zip; \
         rename the branch, or exclude it with a ref filter"
    )]
    BranchShadowsTags(String),
    #[error("the S3 key for `{repo}` at `{git_ref}` would be {len} bytes; S3 allows at most 1024")]
    KeyTooLong {
        repo: String,
        git_ref: String,
        len: usize,
    },
}

impl GitRef {
    /// Parses a full ref name as providers send it: `refs/heads/NAME` or `refs/tags/NAME`.
    pub fn parse(full: &str) -> Result<Self, LayoutError> {
        if let Some(name) = full.strip_prefix("refs/heads/") {
            Self::branch(name)
        } else if let Some(name) = full.strip_prefix("refs/tags/") {
            Self::tag(name)
        } else {
            Err(LayoutError::NotBranchOrTag(full.to_string()))
        }
    }

    /// A branch, by its short name (`main`, `feature/x`).
    pub fn branch(name: &str) -> Result<Self, LayoutError> {
        check_ref_name(name)?;
        Ok(GitRef::Branch(name.to_string()))
    }

    /// A tag, by its short name (`v1.2`).
    pub fn tag(name: &str) -> Result<Self, LayoutError> {
        check_ref_name(name)?;
        Ok(GitRef::Tag(name.to_string()))
    }

    /// The short name, without `refs/heads/` or `refs/tags/`.
    pub fn name(&self) -> &str {
        match self {
            GitRef::Branch(n) | GitRef::Tag(n) => n,
        }
    }

    /// The full ref name, as git writes it.
    pub fn full_name(&self) -> String {
        match self {
            GitRef::Branch(n) => format!("refs/heads/{n}"),
            GitRef::Tag(n) => format!("refs/tags/{n}"),
        }
    }
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full_name())
    }
}

/// The S3 key of the zip for `repo_path` (`owner/repo`, or a nested group
/// path) at `git_ref`.
pub fn object_key(repo_path: &str, git_ref: &GitRef) -> Result<String, LayoutError> {
    check_repo_path(repo_path)?;
    let file = format!("{}.zip", repo_path.replace('/', "_"));
    let key = match git_ref {
        GitRef::Branch(b) => {
            if b == "tags" || b.starts_with("tags/") {
                return Err(LayoutError::BranchShadowsTags(b.clone()));
            }
            format!("{repo_path}/{b}/{file}")
        }
        GitRef::Tag(t) => format!("{repo_path}/tags/{t}/{file}"),
    };
    if key.len() > MAX_KEY_BYTES {
        return Err(LayoutError::KeyTooLong {
            repo: repo_path.to_string(),
            git_ref: git_ref.full_name(),
            len: key.len(),
        });
    }
    Ok(key)
}

/// The ref whose zip is at `key`, for `repo_path`: the inverse of
/// [`object_key`]. `None` for any other key (another repository's below a
/// nested group, a file git2s3 did not write).
pub fn ref_of_key(repo_path: &str, key: &str) -> Option<GitRef> {
    let rest = key.strip_prefix(repo_path)?.strip_prefix('/')?;
    let (middle, _file) = rest.rsplit_once('/')?;
    let git_ref = match middle.strip_prefix("tags/") {
        Some(tag) => GitRef::tag(tag).ok()?,
        None => GitRef::branch(middle).ok()?,
    };
    (object_key(repo_path, &git_ref).ok()? == key).then_some(git_ref)
}

/// The repository whose zip `key` is, for a key below an org: the
/// shortest leading path whose file name and ref read back as `key`.
pub fn repo_of_key(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('/').collect();
    (2..parts.len().saturating_sub(1))
        .map(|n| parts[..n].join("/"))
        .find(|repo| ref_of_key(repo, key).is_some())
}

/// Whether `c` means something else further down: in a URL (`%`, `?`,
/// `#`: a percent-encoded `..`, a query, a fragment), on Windows (`\\`), or
/// to a reader (control characters, and Unicode format characters such as
/// bidi overrides, which make a name read as another).
pub fn is_treacherous(c: char) -> bool {
    c.is_control() || matches!(c, '%' | '?' | '#' | '\\') || is_format_char(c)
}

/// Unicode's format characters (general category Cf).
fn is_format_char(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// Checks a repo path: at least two `/`-separated components, none empty,
/// `.` or `..`, and none of the characters [`is_treacherous`] names. Spaces
/// and non-ASCII letters are allowed: some providers allow them in names.
pub fn check_repo_path(path: &str) -> Result<(), LayoutError> {
    let bad = |reason| LayoutError::InvalidRepoPath {
        path: path.to_string(),
        reason,
    };
    if path.chars().any(is_treacherous) {
        return Err(bad(
            "it contains a control or Unicode format character, or one of % ? # \\",
        ));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() < 2 {
        return Err(bad("it has no owner"));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad("it has an empty component"));
    }
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(bad("it has a `.` or `..` component"));
    }
    if parts.iter().any(|p| p.trim() != *p) {
        return Err(bad("a component starts or ends with white space"));
    }
    Ok(())
}

/// Git's own rules for ref names (git-check-ref-format), applied to the
/// short name.
fn check_ref_name(name: &str) -> Result<(), LayoutError> {
    let bad = |reason| LayoutError::InvalidRefName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name == "@" {
        return Err(bad("`@` alone is not a ref name"));
    }
    if name
        .chars()
        .any(|c| is_treacherous(c) || matches!(c, ' ' | '~' | '^' | ':' | '*' | '['))
    {
        return Err(bad(
            "it contains a space, a control or Unicode format character, or one of ~ ^ : ? * [ \\ % #",
        ));
    }
    if name.contains("..") {
        return Err(bad("it contains `..`"));
    }
    if name.contains("@{") {
        return Err(bad("it contains `@{`"));
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err(bad("it has an empty path component"));
    }
    if name.ends_with('.') {
        return Err(bad("it ends with `.`"));
    }
    if name
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        return Err(bad("a component starts with `.` or ends with `.lock`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(repo: &str, full_ref: &str) -> Result<String, LayoutError> {
        object_key(repo, &GitRef::parse(full_ref)?)
    }

    #[test]
    fn a_key_reads_back_as_its_ref_and_no_other_key_does() {
        for git_ref in [
            GitRef::branch("main").unwrap(),
            GitRef::branch("feature/x/y").unwrap(),
            GitRef::tag("v1.0").unwrap(),
        ] {
            let key = object_key("group/sub", &git_ref).unwrap();
            assert_eq!(ref_of_key("group/sub", &key), Some(git_ref));
        }
        // A project below the nested group has keys of its own.
        let inner = object_key("group/sub/proj", &GitRef::branch("main").unwrap()).unwrap();
        assert_eq!(ref_of_key("group/sub", &inner), None);
        assert_eq!(ref_of_key("group/sub", "group/sub/notes.txt"), None);
        assert_eq!(
            ref_of_key("group/sub", "other/repo/main/other_repo.zip"),
            None
        );
        assert_eq!(repo_of_key(&inner).as_deref(), Some("group/sub/proj"));
        let tag = object_key("acme/api", &GitRef::tag("v1").unwrap()).unwrap();
        assert_eq!(repo_of_key(&tag).as_deref(), Some("acme/api"));
        // A branch named like the repository's own path.
        let odd = object_key("acme/api", &GitRef::branch("api/x").unwrap()).unwrap();
        assert_eq!(repo_of_key(&odd).as_deref(), Some("acme/api"));
        assert_eq!(repo_of_key("acme/notes.txt"), None);
    }

    #[test]
    fn branch_key_is_the_quick_start_layout() {
        assert_eq!(
            key("acme/api", "refs/heads/main").unwrap(),
            "acme/api/main/acme_api.zip"
        );
    }

    #[test]
    fn branch_with_slashes_keeps_them_in_the_prefix() {
        assert_eq!(
            key("acme/api", "refs/heads/feature/login").unwrap(),
            "acme/api/feature/login/acme_api.zip"
        );
    }

    #[test]
    fn tags_go_under_tags() {
        assert_eq!(
            key("acme/api", "refs/tags/v1.2.0").unwrap(),
            "acme/api/tags/v1.2.0/acme_api.zip"
        );
    }

    #[test]
    fn nested_groups_keep_the_full_path_and_flatten_the_file_name() {
        assert_eq!(
            key("group/sub/api", "refs/heads/main").unwrap(),
            "group/sub/api/main/group_sub_api.zip"
        );
    }

    #[test]
    fn unicode_and_spaces_in_repo_names_are_kept() {
        assert_eq!(
            key("équipe/my repo", "refs/heads/main").unwrap(),
            "équipe/my repo/main/équipe_my repo.zip"
        );
    }

    #[test]
    fn a_branch_under_tags_is_refused_rather_than_shadowing_a_tag() {
        assert_eq!(
            key("acme/api", "refs/heads/tags/v1"),
            Err(LayoutError::BranchShadowsTags("tags/v1".into()))
        );
    }

    #[test]
    fn other_refs_are_refused() {
        for r in ["refs/pull/1/head", "main", "refs/notes/commits", ""] {
            assert!(
                matches!(key("acme/api", r), Err(LayoutError::NotBranchOrTag(_))),
                "{r}"
            );
        }
    }

    #[test]
    fn bad_ref_names_are_refused() {
        for r in [
            "refs/heads/../../etc",
            "refs/heads/a..b",
            "refs/heads/",
            "refs/heads//x",
            "refs/heads/x/",
            "refs/heads/.hidden",
            "refs/heads/x.lock",
            "refs/heads/x.",
            "refs/heads/a b",
            "refs/heads/a\nb",
            "refs/heads/a~1",
            "refs/heads/a^",
            "refs/heads/a:b",
            "refs/heads/a?",
            "refs/heads/a*",
            "refs/heads/a[",
            "refs/heads/a\\b",
            "refs/heads/@",
            "refs/heads/a@{1}",
            "refs/tags/..",
        ] {
            assert!(
                matches!(key("acme/api", r), Err(LayoutError::InvalidRefName { .. })),
                "{r:?} gave {:?}",
                key("acme/api", r)
            );
        }
    }

    #[test]
    fn bad_repo_paths_are_refused() {
        for p in [
            "api",
            "acme/",
            "/api",
            "acme//api",
            "acme/../api",
            "./api",
            "acme/a\u{0}pi",
            "acme\\api",
            " acme/api",
        ] {
            assert!(
                matches!(
                    key(p, "refs/heads/main"),
                    Err(LayoutError::InvalidRepoPath { .. })
                ),
                "{p:?}"
            );
        }
    }

    #[test]
    fn keys_longer_than_s3_allows_are_refused() {
        let long = "b".repeat(600);
        let err = key(&format!("acme/{long}"), "refs/heads/main").unwrap_err();
        assert!(matches!(err, LayoutError::KeyTooLong { .. }), "{err}");
        assert!(err.to_string().contains("at most 1024"));
    }

    #[test]
    fn ref_round_trips_to_its_full_name() {
        for r in ["refs/heads/main", "refs/tags/v1", "refs/heads/a/b"] {
            assert_eq!(GitRef::parse(r).unwrap().full_name(), r);
        }
    }
}
