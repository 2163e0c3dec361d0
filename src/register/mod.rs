//! Registration with the Git provider: the push webhook and the read-only
//! deploy key, through each provider's REST API.
//!
//! Every provider implements [`ProviderApi`], a handful of list, create,
//! update and delete calls. The parts, each importing only those above it:
//!
//! - [`error`]: [`RegisterError`], each message naming the fix;
//! - [`http`]: one authenticated client, errors that name the fix, rate
//!   limits with a countdown, the four pagination styles;
//! - [`api`]: the trait and the types of its answers;
//! - [`github`], [`gitlab`], [`bitbucket`], [`bitbucket_server`], [`gitea`]
//!   (Gitea and Forgejo): the APIs;
//! - [`github_layout`]: hooks and deploy keys laid out as GitHub's (GitHub, Gitea, Forgejo);
//! - [`client`]: the client for a provider, at its base URL;
//! - [`converge`]: ensure and remove, written once for every provider;
//! - [`registration`]: a whole registration (hooks on targets, deploy
//!   keys), what `register-webhook`, `init`, `destroy`, `verify` and
//!   `status` call.

pub mod api;
pub mod bitbucket;
pub mod bitbucket_server;
pub mod client;
pub mod converge;
pub mod error;
pub mod gitea;
pub mod github;
pub mod github_layout;
pub mod gitlab;
pub mod http;
pub mod registration;

pub use api::{
    scopes_header, split_repo, Delivery, Head, Hook, HookSpec, Key, Outcome, ProviderApi, Target,
    TokenOwner,
};
pub use client::client;
pub use converge::{
    add_key_beside, check_key_limit, ensure_hook, ensure_key, key_material, remove_hook,
    remove_key, MayReplace,
};
pub use error::RegisterError;
pub use registration::{
    env_secret, first_secret, for_stack, key_repos, key_title, register, stack_keys, stack_secret,
    targets, token, unregister, word, HookReport, KeyReport, Registration, Report,
};
