//! AWS errors, said for people: what failed, and what to do about it.
//!
//! Every AWS call in the CLI ends in [`AwsResultExt::aws`], which names the
//! call as its IAM action (`cloudformation:CreateChangeSet`) and sorts the
//! SDK's error into the few cases a user can act on: no credentials, bad
//! credentials, a missing permission, an unreachable endpoint, or the
//! service's own code and message.
//!
//! When the SDK cannot parse an error body (moto answers some JSON-protocol
//! calls with an XML body, and some XML-protocol calls with JSON), the code
//! and message are read from the raw body instead, so the user sees the
//! service's words rather than "error parsing XML".

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// A failed AWS call.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error(
        "no AWS credentials were found for {call}: run `aws configure` or `aws sso login`, \
         set AWS_PROFILE or pass --profile"
    )]
    NoCredentials { call: &'static str },
    #[error(
        "AWS rejected the credentials on {call} ({code}): they are invalid or expired. \
         Refresh them (`aws sso login`, `aws configure`) or pick another --profile"
    )]
    BadCredentials { call: &'static str, code: String },
    #[error(
        "access denied on {call}: {message}. Grant {action} to this identity; \
         docs/iam.md lists every permission git2s3 needs"
    )]
    AccessDenied {
        call: &'static str,
        action: String,
        message: String,
    },
    #[error(
        "cannot reach AWS for {call}: {message}. Check the network and --region, \
         and --endpoint-url (or AWS_ENDPOINT_URL) if you use one"
    )]
    Unreachable { call: &'static str, message: String },
    #[error("{call} failed: {code}: {message}")]
    Service {
        call: &'static str,
        code: String,
        message: String,
        status: u16,
    },
}

impl AwsError {
    /// The service's error code, for callers that act on one
    /// (`NoSuchBucket`, `ResourceNotFoundException`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } => Some(code),
            AwsError::BadCredentials { code, .. } => Some(code),
            AwsError::AccessDenied { .. } => Some("AccessDenied"),
            _ => None,
        }
    }

    /// The service's message, empty when there was none.
    pub fn message(&self) -> &str {
        match self {
            AwsError::Service { message, .. }
            | AwsError::AccessDenied { message, .. }
            | AwsError::Unreachable { message, .. } => message,
            _ => "",
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            AwsError::Service { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the service said the thing asked about does not exist.
    pub fn is_not_found(&self) -> bool {
        let code = self.code().unwrap_or_default();
        matches!(
            code,
            "NotFound" | "NoSuchBucket" | "NoSuchKey" | "ResourceNotFoundException" | "404"
        ) || self.status() == Some(404)
            || (code == "ValidationError" && self.message().contains("does not exist"))
    }
}

/// Turns an SDK result into one with an [`AwsError`] named after `call`.
pub trait AwsResultExt<T> {
    fn aws(self, call: &'static str) -> Result<T, AwsError>;
}

impl<T, E> AwsResultExt<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn aws(self, call: &'static str) -> Result<T, AwsError> {
        self.map_err(|e| classify(call, e))
    }
}

const CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "InvalidToken",
    "AuthFailure",
];

const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
];

fn classify<E>(call: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, message, status) = match &err {
        SdkError::ServiceError(ctx) => {
            let raw = ctx.raw();
            let status = raw.status().as_u16();
            match ctx.err().code() {
                Some(code) => (
                    code.to_string(),
                    ctx.err().message().unwrap_or_default().to_string(),
                    status,
                ),
                None => {
                    let body = String::from_utf8_lossy(raw.body().bytes().unwrap_or_default());
                    let (code, message) = from_raw_body(&body, status);
                    (code, message, status)
                }
            }
        }
        SdkError::ResponseError(ctx) => {
            let raw = ctx.raw();
            let status = raw.status().as_u16();
            let body = String::from_utf8_lossy(raw.body().bytes().unwrap_or_default());
            let (code, message) = from_raw_body(&body, status);
            (code, message, status)
        }
        other => {
            let text = DisplayErrorContext(other).to_string();
            let lower = text.to_lowercase();
            if lower.contains("credential") {
                return AwsError::NoCredentials { call };
            }
            // The SDK's whole chain, with its Debug structs, is detail: -v.
            tracing::debug!(call, error = %text, "AWS call failed before an answer");
            return AwsError::Unreachable {
                call,
                message: unreachable_reason(&text),
            };
        }
    };
    if CREDENTIAL_CODES.contains(&code.as_str()) {
        return AwsError::BadCredentials { call, code };
    }
    if DENIED_CODES.contains(&code.as_str())
        || (status == 403 && message.contains("not authorized"))
    {
        let action = denied_action(&message).unwrap_or(call).to_string();
        return AwsError::AccessDenied {
            call,
            action,
            message,
        };
    }
    AwsError::Service {
        call,
        code,
        message,
        status,
    }
}

/// The action named in "… is not authorized to perform: s3:PutObject …".
fn denied_action(message: &str) -> Option<&str> {
    let rest = message.split("perform: ").nth(1)?;
    let action = rest.split([' ', ',', '"']).next()?;
    action.contains(':').then_some(action)
}

/// The code and message of an error body the SDK could not read: an XML
/// `<Code>`/`<Message>`, a JSON `__type`/`message`, or the body itself.
fn from_raw_body(body: &str, status: u16) -> (String, String) {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))?;
        Some(body[start..start + end].trim().to_string())
    };
    if let (Some(code), message) = (tag("Code"), tag("Message")) {
        return (code, message.unwrap_or_default());
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let field = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| json.get(*n).and_then(|v| v.as_str()))
                .map(str::to_string)
        };
        if let Some(code) = field(&["__type", "code", "Code"]) {
            let code = code.rsplit('#').next().unwrap_or(&code).to_string();
            return (code, field(&["message", "Message"]).unwrap_or_default());
        }
    }
    let text = body.trim();
    let message = if text.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        text.chars().take(500).collect()
    };
    (status.to_string(), message)
}

/// Why no answer came, in a few words, from the SDK's error chain.
fn unreachable_reason(text: &str) -> String {
    let lower = text.to_lowercase();
    let reason = if lower.contains("connection refused") {
        "nothing is listening at the endpoint (connection refused)"
    } else if lower.contains("dns error") || lower.contains("lookup address") {
        "the endpoint's host name does not resolve (an unknown region has no endpoint)"
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "the endpoint did not answer in time"
    } else if lower.contains("certificate") || lower.contains("tls") {
        "the TLS handshake with the endpoint failed"
    } else if lower.contains("valid host label") {
        "the region is not a valid name"
    } else {
        // The chain's words, without the Debug dump the SDK appends.
        return text
            .split(" (")
            .next()
            .unwrap_or(text)
            .trim_end_matches(':')
            .to_string();
    };
    reason.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_endpoint_is_said_in_a_few_words() {
        let refused = "dispatch failure: io error: client error (Connect): tcp connect error: \
            Connection refused (os error 111) (DispatchFailure(DispatchFailure { source: .. }))";
        assert_eq!(
            unreachable_reason(refused),
            "nothing is listening at the endpoint (connection refused)"
        );
        let dns = "dispatch failure: io error: client error (Connect): dns error: failed to \
            lookup address information: Name or service not known (DispatchFailure(..))";
        assert!(unreachable_reason(dns).contains("does not resolve"));
        assert_eq!(
            unreachable_reason("dispatch failure: other (DispatchFailure { .. })"),
            "dispatch failure: other"
        );
    }

    #[test]
    fn reads_xml_and_json_bodies_the_sdk_could_not() {
        let xml = "<ErrorResponse><Errors><Error><Code>AccessDenied</Code>\
                   <Message>User: arn:aws:iam::1:user/d is not authorized to perform: secretsmanager:DescribeSecret</Message>\
                   </Error></Errors></ErrorResponse>";
        let (code, message) = from_raw_body(xml, 403);
        assert_eq!(code, "AccessDenied");
        assert_eq!(
            denied_action(&message),
            Some("secretsmanager:DescribeSecret")
        );

        let json =
            r#"{"__type": "com.amazonaws#ValidationError", "message": "Template format error"}"#;
        assert_eq!(
            from_raw_body(json, 400),
            ("ValidationError".into(), "Template format error".into())
        );
        assert_eq!(
            from_raw_body("", 404),
            ("404".into(), "HTTP 404 with an empty body".into())
        );
    }

    #[test]
    fn denied_action_needs_a_service_prefix() {
        assert_eq!(denied_action("not authorized to perform: this"), None);
        assert_eq!(
            denied_action("is not authorized to perform: s3:PutObject on resource"),
            Some("s3:PutObject")
        );
    }
}
