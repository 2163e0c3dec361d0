//! Lists in a provider's REST API: an organization's repositories, and a
//! repository's branches and tags with the commit each points at. Where
//! each list is, how it pages and which field names an item are written
//! here once; the CLI's registration client (`register-webhook
//! --all-repos`) and the worker's API session (the sweep of a stack that
//! downloads zips) both read them, each with its own transport.

use serde_json::Value;

use crate::provider::Provider;
use crate::secure_url::{encode_path, encode_segment};

/// How a provider says where the next page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// GitHub: a `Link: <…>; rel="next"` header.
    LinkHeader,
    /// GitLab: an `x-next-page` header with the page number (empty on the last).
    NextPageHeader,
    /// Bitbucket Cloud: a `next` URL in the body, items in `values`.
    BodyNext,
    /// Bitbucket Data Center: `isLastPage` and `nextPageStart` in the body.
    StartLimit,
    /// Gitea and Forgejo: `page=N`, and an `X-Total-Count` header with the
    /// number of items in all pages (the server's page size may be smaller
    /// than the `limit` asked for).
    TotalCount,
}

/// The most pages any list is read to: 100 pages of 50 to 100 items.
pub const MAX_PAGES: usize = 100;

impl Paging {
    /// The items on one page.
    pub fn items(self, body: &Value) -> Vec<Value> {
        match self {
            Paging::LinkHeader | Paging::NextPageHeader | Paging::TotalCount => {
                body.as_array().cloned().unwrap_or_default()
            }
            Paging::BodyNext | Paging::StartLimit => {
                body["values"].as_array().cloned().unwrap_or_default()
            }
        }
    }

    /// The next page after page `page` (1 for the first) of the list that
    /// starts at `first`, given that page's body and headers and the
    /// number of items read so far; `None` after the last.
    pub fn next(
        self,
        first: &str,
        page: usize,
        read: usize,
        body: &Value,
        header: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        match self {
            Paging::LinkHeader => header("link").and_then(|l| link_next(&l)),
            Paging::NextPageHeader => header("x-next-page")
                .filter(|p| !p.is_empty())
                .map(|p| with_query(first, "page", &p)),
            Paging::BodyNext => body["next"].as_str().map(str::to_string),
            Paging::TotalCount => {
                let total: Option<usize> = header("x-total-count").and_then(|t| t.parse().ok());
                let got = body.as_array().map_or(0, Vec::len);
                match total {
                    Some(total) if got > 0 && read < total => {
                        Some(with_query(first, "page", &(page + 1).to_string()))
                    }
                    _ => None,
                }
            }
            Paging::StartLimit => {
                match (body["isLastPage"].as_bool(), body["nextPageStart"].as_u64()) {
                    (Some(false), Some(start)) => {
                        Some(with_query(first, "start", &start.to_string()))
                    }
                    _ => None,
                }
            }
        }
    }
}

/// `path` with `key=value` set in its query string.
pub fn with_query(path: &str, key: &str, value: &str) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with(&format!("{key}=")))
        .map(str::to_string)
        .collect();
    pairs.push(format!("{key}={value}"));
    format!("{base}?{}", pairs.join("&"))
}

/// The `rel="next"` URL of a `Link` header's value.
pub fn link_next(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

/// One list: its path below the API base, how it pages, and how an item
/// is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub path: String,
    pub paging: Paging,
    name: Name,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    /// A JSON pointer to the name.
    At(&'static str),
    /// Data Center: `PROJECT/slug`, the project asked for and the item's slug.
    InProject(String),
}

impl Listing {
    /// The name of one item of the list.
    pub fn name_of(&self, item: &Value) -> Option<String> {
        match &self.name {
            Name::At(pointer) => item.pointer(pointer)?.as_str().map(str::to_string),
            Name::InProject(project) => item["slug"].as_str().map(|s| format!("{project}/{s}")),
        }
    }
}

/// The list of `org`'s repositories (a GitLab group's, subgroups'
/// included; a Bitbucket workspace's; a Data Center project's), by their
/// `owner/repo` names; `None` for `generic`, which has no API.
pub fn org_repos(provider: Provider, org: &str) -> Option<Listing> {
    let org_segment = encode_segment(org);
    let (path, paging, name) = match provider {
        Provider::Github | Provider::GithubEnterprise => (
            format!("/orgs/{org_segment}/repos?per_page=100"),
            Paging::LinkHeader,
            Name::At("/full_name"),
        ),
        Provider::Gitlab => (
            format!("/groups/{org_segment}/projects?include_subgroups=true&per_page=100"),
            Paging::NextPageHeader,
            Name::At("/path_with_namespace"),
        ),
        Provider::Bitbucket => (
            format!("/repositories/{org_segment}?pagelen=100"),
            Paging::BodyNext,
            Name::At("/full_name"),
        ),
        Provider::BitbucketServer => (
            format!("/rest/api/1.0/projects/{org_segment}/repos?limit=100"),
            Paging::StartLimit,
            Name::InProject(org.to_string()),
        ),
        Provider::Gitea | Provider::Forgejo => (
            format!("/orgs/{org_segment}/repos?limit=50"),
            Paging::TotalCount,
            Name::At("/full_name"),
        ),
        Provider::Generic => return None,
    };
    Some(Listing { path, paging, name })
}

/// A repository's branches, or its tags: the list, the JSON pointer to
/// the commit each points at (a tag's commit, not its tag object), and
/// the prefix that makes an item's name a full ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefListing {
    pub listing: Listing,
    pub commit: &'static str,
    pub prefix: &'static str,
}

impl RefListing {
    /// `(refs/heads/NAME or refs/tags/NAME, commit)` of one item.
    pub fn head_of(&self, item: &Value) -> Option<(String, String)> {
        let name = self.listing.name_of(item)?;
        let commit = item.pointer(self.commit)?.as_str()?.to_string();
        Some((format!("{}{name}", self.prefix), commit))
    }
}

/// Where `repo`'s branches and tags are listed; `None` for `generic`.
/// GitLab takes the project's path, encoded, where its id would go.
pub fn refs(provider: Provider, repo: &str) -> Option<[RefListing; 2]> {
    let path = encode_path(repo);
    let (project, slug) = repo.split_once('/').unwrap_or((repo, ""));
    let dc = format!("{}/repos/{}", encode_segment(project), encode_segment(slug));
    let (branches, tags, paging, name, branch_commit, tag_commit) = match provider {
        Provider::Github | Provider::GithubEnterprise => (
            format!("/repos/{path}/branches?per_page=100"),
            format!("/repos/{path}/tags?per_page=100"),
            Paging::LinkHeader,
            "/name",
            "/commit/sha",
            "/commit/sha",
        ),
        Provider::Gitlab => {
            let id = encode_segment(repo);
            (
                format!("/projects/{id}/repository/branches?per_page=100"),
                format!("/projects/{id}/repository/tags?per_page=100"),
                Paging::NextPageHeader,
                "/name",
                "/commit/id",
                "/commit/id",
            )
        }
        Provider::Bitbucket => (
            format!("/repositories/{path}/refs/branches?pagelen=100"),
            format!("/repositories/{path}/refs/tags?pagelen=100"),
            Paging::BodyNext,
            "/name",
            "/target/hash",
            "/target/hash",
        ),
        Provider::BitbucketServer => (
            format!("/rest/api/1.0/projects/{dc}/branches?limit=100"),
            format!("/rest/api/1.0/projects/{dc}/tags?limit=100"),
            Paging::StartLimit,
            "/displayId",
            "/latestCommit",
            "/latestCommit",
        ),
        Provider::Gitea | Provider::Forgejo => (
            format!("/repos/{path}/branches?limit=50"),
            format!("/repos/{path}/tags?limit=50"),
            Paging::TotalCount,
            "/name",
            "/commit/id",
            "/commit/sha",
        ),
        Provider::Generic => return None,
    };
    let list = |path: String, commit, prefix| RefListing {
        listing: Listing {
            path,
            paging,
            name: Name::At(name),
        },
        commit,
        prefix,
    };
    Some([
        list(branches, branch_commit, "refs/heads/"),
        list(tags, tag_commit, "refs/tags/"),
    ])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_provider_names_its_org_repos_and_refs() {
        let cases = [
            (
                Provider::Github,
                json!({"full_name": "acme/api"}),
                "acme/api",
            ),
            (
                Provider::Gitlab,
                json!({"path_with_namespace": "acme/sub/api"}),
                "acme/sub/api",
            ),
            (
                Provider::Bitbucket,
                json!({"full_name": "acme/api"}),
                "acme/api",
            ),
            (
                Provider::BitbucketServer,
                json!({"slug": "api"}),
                "ACME/api",
            ),
            (
                Provider::Gitea,
                json!({"full_name": "acme/api"}),
                "acme/api",
            ),
        ];
        for (provider, item, want) in cases {
            let org = if provider == Provider::BitbucketServer {
                "ACME"
            } else {
                "acme"
            };
            let listing = org_repos(provider, org).unwrap();
            assert_eq!(
                listing.name_of(&item).as_deref(),
                Some(want),
                "{provider:?}"
            );
        }
        assert!(org_repos(Provider::Generic, "acme").is_none());
        assert_eq!(
            org_repos(Provider::Gitlab, "acme/sub").unwrap().path,
            "/groups/acme%2Fsub/projects?include_subgroups=true&per_page=100"
        );

        let [branches, tags] = refs(Provider::Gitea, "acme/api").unwrap();
        assert_eq!(branches.listing.path, "/repos/acme/api/branches?limit=50");
        assert_eq!(
            branches.head_of(&json!({"name": "main", "commit": {"id": "abc"}})),
            Some(("refs/heads/main".into(), "abc".into()))
        );
        assert_eq!(
            tags.head_of(&json!({"name": "v1", "commit": {"sha": "def"}})),
            Some(("refs/tags/v1".into(), "def".into()))
        );
        let [branches, _] = refs(Provider::Gitlab, "acme/sub/api").unwrap();
        assert_eq!(
            branches.listing.path,
            "/projects/acme%2Fsub%2Fapi/repository/branches?per_page=100"
        );
        let [_, tags] = refs(Provider::BitbucketServer, "ACME/api").unwrap();
        assert_eq!(
            tags.listing.path,
            "/rest/api/1.0/projects/ACME/repos/api/tags?limit=100"
        );
        assert_eq!(
            tags.head_of(&json!({"displayId": "v1", "latestCommit": "0a1b"})),
            Some(("refs/tags/v1".into(), "0a1b".into()))
        );
        // A name that would add a segment stays one.
        let [branches, _] = refs(Provider::Github, "acme/a?b").unwrap();
        assert_eq!(
            branches.listing.path,
            "/repos/acme/a%3Fb/branches?per_page=100"
        );
    }

    #[test]
    fn pages_follow_each_providers_rule() {
        let none = |_: &str| None;
        let link = |name: &str| {
            (name == "link").then(|| {
                "<https://api.github.com/x?page=2>; rel=\"next\", <https://api.github.com/x?page=9>; rel=\"last\"".to_string()
            })
        };
        assert_eq!(
            Paging::LinkHeader.next("/x", 1, 100, &json!([]), &link),
            Some("https://api.github.com/x?page=2".into())
        );
        assert_eq!(
            Paging::LinkHeader.next("/x", 1, 100, &json!([]), &none),
            None
        );
        let next_page = |name: &str| (name == "x-next-page").then(|| "3".to_string());
        assert_eq!(
            Paging::NextPageHeader.next("/p?per_page=100&page=2", 2, 200, &json!([]), &next_page),
            Some("/p?per_page=100&page=3".into())
        );
        let total = |name: &str| (name == "x-total-count").then(|| "75".to_string());
        let page: Value = json!([{}, {}]);
        assert_eq!(
            Paging::TotalCount.next("/r?limit=50", 1, 50, &page, &total),
            Some("/r?limit=50&page=2".into())
        );
        assert_eq!(
            Paging::TotalCount.next("/r?limit=50", 2, 75, &page, &total),
            None
        );
        let dc = json!({"isLastPage": false, "nextPageStart": 100, "values": [{}]});
        assert_eq!(
            Paging::StartLimit.next("/b?limit=100", 1, 100, &dc, &none),
            Some("/b?limit=100&start=100".into())
        );
        assert_eq!(Paging::StartLimit.items(&dc).len(), 1);
        assert_eq!(
            Paging::BodyNext.next(
                "/w",
                1,
                1,
                &json!({"next": "https://api.bitbucket.org/2.0/w?page=2"}),
                &none
            ),
            Some("https://api.bitbucket.org/2.0/w?page=2".into())
        );
    }

    #[test]
    fn finds_the_next_page_in_a_link_header() {
        let link = "<https://api.github.com/repositories/1/hooks?page=3>; rel=\"next\", <https://api.github.com/repositories/1/hooks?page=5>; rel=\"last\"";
        assert_eq!(
            link_next(link).unwrap(),
            "https://api.github.com/repositories/1/hooks?page=3"
        );
        assert_eq!(link_next("<https://x/?page=1>; rel=\"prev\""), None);
    }

    #[test]
    fn sets_a_query_parameter_once() {
        assert_eq!(
            with_query("/projects/1/hooks?per_page=100", "page", "2"),
            "/projects/1/hooks?per_page=100&page=2"
        );
        assert_eq!(
            with_query("/x?page=2&per_page=100", "page", "3"),
            "/x?per_page=100&page=3"
        );
        assert_eq!(with_query("/x", "start", "25"), "/x?start=25");
    }
}
