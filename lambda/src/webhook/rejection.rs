//! Why the receiver refuses a request: each refusal's message, which is
//! sent back to the caller, and its HTTP status.

/// Why a request is refused. `Display` is the message sent back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error(
        "not a webhook git2s3 knows: expected an X-GitHub-Event, X-Gitlab-Event, \
         X-Event-Key (Bitbucket) or X-Git2s3-Event header"
    )]
    UnknownSender,
    #[error(
        "content type `{0}` is not supported: set the webhook's content type to application/json \
         (application/x-www-form-urlencoded also works)"
    )]
    UnsupportedMediaType(String),
    #[error("the body is {0} bytes; the limit is 10 MB")]
    PayloadTooLarge(usize),
    #[error("bad payload: {0}")]
    BadPayload(String),
    /// Signed, but not for this stack: another provider, a repository that
    /// is not connected, a URL off the provider's host, or a source address
    /// outside the allow list. The message names the setting to change.
    #[error("forbidden: {0}")]
    Forbidden(String),
}

impl Rejection {
    /// The HTTP status for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Unauthorized(_) => 401,
            Rejection::Forbidden(_) => 403,
            Rejection::UnknownSender | Rejection::BadPayload(_) => 400,
            Rejection::UnsupportedMediaType(_) => 415,
            Rejection::PayloadTooLarge(_) => 413,
        }
    }
}
