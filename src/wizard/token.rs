//! Screen 3: the API token, from its variable or a hidden prompt, checked
//! against the provider (whoami) until it works.

use dialoguer::Password;

use super::ui::say;
use crate::register::{self, ProviderApi, TokenOwner};
use crate::settings::Settings;

/// Reads the token (its variable, else a hidden prompt) and checks it
/// against the provider until it works.
pub async fn check_token(
    settings: &Settings,
    token_env: Option<&str>,
) -> anyhow::Result<(String, Box<dyn ProviderApi>, TokenOwner)> {
    let var = settings
        .provider
        .token_var(token_env)
        .unwrap_or_else(|| "GIT2S3_TOKEN".into());
    let mut from_env = std::env::var(&var).ok().filter(|t| !t.trim().is_empty());
    loop {
        let token = match from_env.take() {
            Some(t) => {
                say(format!("using the token in {var}"));
                t
            }
            None => Password::new()
                .with_prompt(format!(
                    "{} API token (hidden; or set {var})",
                    settings.provider
                ))
                .interact()?,
        };
        let token = token.trim().to_string();
        let api = register::client(settings.provider, settings.api_url.as_deref(), &token)?;
        match api.whoami().await {
            Ok(owner) => {
                say(format!(
                    "✓ token of {}; scopes: {}",
                    owner.user,
                    owner
                        .scopes
                        .as_deref()
                        .unwrap_or("not listed (a fine-grained or project token)")
                ));
                return Ok((token, api, owner));
            }
            Err(e) => say(format!("✗ {e}")),
        }
    }
}
