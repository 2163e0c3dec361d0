//! The provider REST APIs over HTTP: one client that every provider
//! module uses, so that authentication, errors that name the fix, rate
//! limits and pagination are written once.

use std::io::Write;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use git2s3_lambda::listing::Paging;
use git2s3_lambda::listing::MAX_PAGES;
use git2s3_lambda::secure_url::{may_carry_credentials, MAX_REDIRECTS};

use super::error::RegisterError;

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

    /// The name of every item of `listing` (`git2s3_lambda::listing`).
    pub async fn names(
        &self,
        listing: &git2s3_lambda::listing::Listing,
        rights: Rights,
    ) -> Result<Vec<String>, RegisterError> {
        let list = self.list(&listing.path, listing.paging, rights).await?;
        Ok(list
            .iter()
            .filter_map(|item| listing.name_of(item))
            .collect())
    }

    /// Every item of a paginated list.
    pub async fn list(
        &self,
        path: &str,
        paging: Paging,
        rights: Rights,
    ) -> Result<Vec<Value>, RegisterError> {
        let mut items = Vec::new();
        let mut next = Some(path.to_string());
        for page_number in 1..=MAX_PAGES {
            let Some(page) = next.take() else { break };
            // The token goes only to the API it was given for.
            if page.contains("://") && !page.starts_with(&format!("{}/", self.base)) {
                tracing::warn!(next = %page, "not following a next-page link to another server");
                break;
            }
            let (body, headers) = self.call(Method::GET, &page, None, rights).await?;
            items.extend(paging.items(&body));
            next = paging.next(path, page_number, items.len(), &body, &|name| {
                header(&headers, name)
            });
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
