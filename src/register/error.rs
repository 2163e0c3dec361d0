//! Why a call to a provider failed, and how to fix it: [`RegisterError`].

/// What went wrong talking to the provider, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{provider} answered 401 for {call}: the token is invalid or expired; create a new one and set it in the token variable")]
    Unauthorized {
        provider: &'static str,
        call: String,
    },
    #[error(
        "{provider} answered {status} for {call}: the repository, group or workspace does not exist, \
         or the token may not manage its {what}; it needs {needs}"
    )]
    Denied {
        provider: &'static str,
        status: u16,
        call: String,
        what: &'static str,
        needs: &'static str,
    },
    #[error(
        "{provider} answered 422 for {call}: key is already in use. GitHub allows a deploy key on one \
         repository only, across all of GitHub: remove it from the other repository, or give each \
         repository its own key"
    )]
    KeyInUse {
        provider: &'static str,
        call: String,
    },
    #[error("{provider} kept answering with its rate limit (next try in {seconds} s): run the command again later")]
    RateLimited {
        provider: &'static str,
        seconds: u64,
    },
    #[error("{provider} answered {status} for {call}: {message}")]
    Failed {
        provider: &'static str,
        status: u16,
        call: String,
        message: String,
    },
    #[error("cannot reach {provider} at {url}: {message}. Check the network and --api-url")]
    Unreachable {
        provider: &'static str,
        url: String,
        message: String,
    },
    #[error("{provider} answered {call} with something that is not the JSON expected: {message}")]
    BadAnswer {
        provider: &'static str,
        call: String,
        message: String,
    },
    #[error(
        "the token holds characters that cannot go in an HTTP header: check the token variable"
    )]
    BadToken,
    #[error("{provider} lists no branch `{branch}` in {repo}: push it first, or pass --branch with one that exists")]
    NoBranch {
        provider: &'static str,
        repo: String,
        branch: String,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("{0}")]
    Unsupported(String),
    /// A change no one agreed to: the message says how to give consent.
    #[error("{0}")]
    NotConfirmed(String),
}
