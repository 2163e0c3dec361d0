//! The provider REST APIs over HTTP: one client that every provider
//! module uses, so that authentication, errors that name the fix, rate
//! limits and pagination are written once.

use std::io::Write;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use git2s3_lambda::secure_url::{may_carry_credentials, MAX_REDIRECTS};

use super::error::RegisterError;

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

/// What to say about a 403 or 404, per kind of call.
#[derive(Debug, Clone, Copy)]
pub struct Rights {
    /// "hooks", "deploy keys", "repositories".
    pub what: &'static str,
    /// The scope or role the token needs, in the provider's words.
    pub needs: &'static str,
}

/// An authenticated client for one provider's API.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    provider: &'static str,
    /// Most times a rate-limited request is retried.
    retries: u32,
    /// The longest wait for a rate limit before giving up.
    max_wait: Duration,
}

/// How many times a rate-limited call is retried.
const RATE_LIMIT_RETRIES: u32 = 3;

impl Api {
    /// `headers` carry the token and the provider's fixed headers.
    pub fn new(
        provider: &'static str,
        base: &str,
        headers: HeaderMap,
    ) -> Result<Self, RegisterError> {
        // The token is in every request's headers, so a redirect is followed
        // only to the same secure origin (`secure_url::may_carry_credentials`):
        // reqwest strips `Authorization` on a cross-host redirect, but not
        // GitLab's `PRIVATE-TOKEN`, and would follow one to plain http.
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let from = &attempt.previous()[0];
            if attempt.previous().len() <= MAX_REDIRECTS
                && may_carry_credentials(from, attempt.url())
            {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(concat!("git2s3/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .redirect(policy)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| RegisterError::Client(e.to_string()))?;
        Ok(Api {
            client,
            base: base.trim_end_matches('/').to_string(),
            provider,
            retries: RATE_LIMIT_RETRIES,
            max_wait: Duration::from_secs(15 * 60),
        })
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// Sends a request and reads a JSON answer (`Value::Null` for none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        rights: Rights,
    ) -> Result<(Value, HeaderMap), RegisterError> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let shown = url.strip_prefix(&self.base).unwrap_or(&url).to_string();
        let mut attempt = 0;
        loop {
            let mut request = self.client.request(method.clone(), &url);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| RegisterError::Unreachable {
                    provider: self.provider,
                    url: url.clone(),
                    message: e.to_string(),
                })?;
            let status = response.status();
            let headers = response.headers().clone();
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                let value = if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).map_err(|e| RegisterError::BadAnswer {
                        provider: self.provider,
                        call: format!("{method} {shown}"),
                        message: e.to_string(),
                    })?
                };
                return Ok((value, headers));
            }
            if let Some(wait) = rate_limit_wait(status, &headers) {
                if attempt < self.retries && wait <= self.max_wait {
                    attempt += 1;
                    countdown(self.provider, wait).await;
                    continue;
                }
                return Err(RegisterError::RateLimited {
                    provider: self.provider,
                    seconds: wait.as_secs(),
                });
            }
            let mut text = text;
            if status.is_redirection() {
                text = format!(
                    "a redirect to {}, which git2s3 does not follow with the token (another host, \
                     or plain http): check --api-url (api_url) names the API itself",
                    header(&headers, "location").unwrap_or_else(|| "nowhere".into())
                );
            }
            // Prism (GitHub's API description, in the tests) says why it refused.
            if let Some(violations) = header(&headers, "sl-violations") {
                text = format!("{text} (sl-violations: {violations})");
            }
            return Err(error_for(
                self.provider,
                &method,
                &shown,
                status,
                &text,
                rights,
            ));
        }
    }

    /// Every item of a paginated list.
    pub async fn list(
        &self,
        path: &str,
        paging: Paging,
        rights: Rights,
    ) -> Result<Vec<Value>, RegisterError> {
        let mut items = Vec::new();
        let mut page_number = 1;
        let mut next = Some(path.to_string());
        while let Some(page) = next.take() {
            // The token goes only to the API it was given for.
            if page.contains("://") && !page.starts_with(&format!("{}/", self.base)) {
                tracing::warn!(next = %page, "not following a next-page link to another server");
                break;
            }
            let (body, headers) = self.call(Method::GET, &page, None, rights).await?;
            match paging {
                Paging::LinkHeader | Paging::NextPageHeader | Paging::TotalCount => {
                    items.extend(body.as_array().cloned().unwrap_or_default());
                }
                Paging::BodyNext | Paging::StartLimit => {
                    items.extend(body["values"].as_array().cloned().unwrap_or_default());
                }
            }
            next = match paging {
                Paging::LinkHeader => link_next(&headers),
                Paging::NextPageHeader => header(&headers, "x-next-page")
                    .filter(|p| !p.is_empty())
                    .map(|p| with_query(path, "page", &p)),
                Paging::BodyNext => body["next"].as_str().map(str::to_string),
                Paging::TotalCount => {
                    let total = header(&headers, "x-total-count").and_then(|t| t.parse().ok());
                    let got = body.as_array().map_or(0, Vec::len);
                    page_number += 1;
                    match total {
                        Some(total) if got > 0 && items.len() < total => {
                            Some(with_query(path, "page", &page_number.to_string()))
                        }
                        _ => None,
                    }
                }
                Paging::StartLimit => {
                    match (body["isLastPage"].as_bool(), body["nextPageStart"].as_u64()) {
                        (Some(false), Some(start)) => {
                            Some(with_query(path, "start", &start.to_string()))
                        }
                        _ => None,
                    }
                }
            };
        }
        Ok(items)
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(HeaderName::from_bytes(name.as_bytes()).ok()?)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
}

/// `path` with `key=value` set in its query string.
fn with_query(path: &str, key: &str, value: &str) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with(&format!("{key}=")))
        .map(str::to_string)
        .collect();
    pairs.push(format!("{key}={value}"));
    format!("{base}?{}", pairs.join("&"))
}

/// The `rel="next"` URL of a `Link` header.
fn link_next(headers: &HeaderMap) -> Option<String> {
    let link = header(headers, "link")?;
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

/// How long the provider asks us to wait, if this answer is a rate limit.
fn rate_limit_wait(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (header(headers, "x-ratelimit-remaining").as_deref() == Some("0")
                || header(headers, "retry-after").is_some()));
    if !limited {
        return None;
    }
    if let Some(seconds) = header(headers, "retry-after").and_then(|s| s.parse::<u64>().ok()) {
        return Some(Duration::from_secs(seconds));
    }
    if let Some(reset) = header(headers, "x-ratelimit-reset").and_then(|s| s.parse::<u64>().ok()) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    Some(Duration::from_secs(60))
}

/// Waits, counting down on stderr once a second.
async fn countdown(provider: &str, wait: Duration) {
    let total = wait.as_secs();
    let live = std::io::IsTerminal::is_terminal(&std::io::stderr());
    eprintln!("{provider} rate limit reached: waiting {total} s as it asks, then retrying");
    for left in (1..=total).rev() {
        if live {
            eprint!("\r  retrying in {left:>4} s ");
            let _ = std::io::stderr().flush();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    if total == 0 {
        tokio::time::sleep(wait).await;
    }
    if live {
        eprintln!();
    }
}

/// The error for a failed answer, naming the fix.
fn error_for(
    provider: &'static str,
    method: &Method,
    path: &str,
    status: StatusCode,
    body: &str,
    rights: Rights,
) -> RegisterError {
    let call = format!("{method} {path}");
    let message = provider_message(body);
    match status {
        StatusCode::UNAUTHORIZED => RegisterError::Unauthorized { provider, call },
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => RegisterError::Denied {
            provider,
            status: status.as_u16(),
            call,
            what: rights.what,
            needs: rights.needs,
        },
        StatusCode::UNPROCESSABLE_ENTITY if message.contains("key is already in use") => {
            RegisterError::KeyInUse { provider, call }
        }
        _ => RegisterError::Failed {
            provider,
            status: status.as_u16(),
            call,
            message,
        },
    }
}

/// The provider's own words from an error body.
fn provider_message(body: &str) -> String {
    let Ok(json) =
        serde_json::from_str::<Value>(body.split(" (sl-violations: ").next().unwrap_or(body))
    else {
        return body.chars().take(300).collect();
    };
    let mut parts = Vec::new();
    for key in ["message", "error", "error_description"] {
        match &json[key] {
            Value::String(s) => parts.push(s.clone()),
            Value::Object(o) => {
                if let Some(m) = o.get("message").and_then(Value::as_str) {
                    parts.push(m.to_string());
                }
            }
            _ => {}
        }
    }
    for list in ["errors"] {
        if let Some(errors) = json[list].as_array() {
            for e in errors {
                if let Some(m) = e["message"].as_str().or(e.as_str()) {
                    parts.push(m.to_string());
                }
            }
        }
    }
    if let Some(v) = body.split_once(" (sl-violations: ") {
        parts.push(format!("sl-violations: {}", v.1.trim_end_matches(')')));
    }
    if parts.is_empty() {
        body.chars().take(300).collect()
    } else {
        parts.join("; ")
    }
}

/// A header value from text the user gave (a token); refuses control characters.
pub fn secret_header(value: &str) -> Result<HeaderValue, RegisterError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| RegisterError::BadToken)?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn finds_the_next_page_in_a_link_header() {
        let h = headers(&[(
            "link",
            "<https://api.github.com/repositories/1/hooks?page=3>; rel=\"next\", <https://api.github.com/repositories/1/hooks?page=5>; rel=\"last\"",
        )]);
        assert_eq!(
            link_next(&h).unwrap(),
            "https://api.github.com/repositories/1/hooks?page=3"
        );
        assert_eq!(
            link_next(&headers(&[("link", "<https://x/?page=1>; rel=\"prev\"")])),
            None
        );
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

    #[test]
    fn reads_rate_limits_from_either_header() {
        let wait = rate_limit_wait(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "7")]),
        );
        assert_eq!(wait, Some(Duration::from_secs(7)));
        let soon = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 30;
        let wait = rate_limit_wait(
            StatusCode::FORBIDDEN,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &soon.to_string()),
            ]),
        )
        .unwrap();
        assert!((29..=31).contains(&wait.as_secs()), "{wait:?}");
        assert_eq!(
            rate_limit_wait(
                StatusCode::FORBIDDEN,
                &headers(&[("x-ratelimit-remaining", "12")])
            ),
            None
        );
    }

    #[test]
    fn quotes_the_provider_message() {
        assert_eq!(
            provider_message(
                r#"{"message":"Validation Failed","errors":[{"resource":"PublicKey","code":"custom","message":"key is already in use"}]}"#
            ),
            "Validation Failed; key is already in use"
        );
        assert_eq!(
            provider_message(r#"{"type":"error","error":{"message":"Bad request"}}"#),
            "Bad request"
        );
        assert_eq!(provider_message("<html>oops</html>"), "<html>oops</html>");
    }
}
