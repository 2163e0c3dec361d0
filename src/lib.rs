//! git2s3: connect any Git server to AWS CodePipeline.
//!
//! The binary's `main` only parses, sets up logging and calls
//! [`commands::run`]. Everything else lives here, so that tests use the same
//! code as the binary:
//! - [`cli`]: the command line (clap); its doc comments are the `--help` text;
//! - [`settings`]: configuration, merged in one place;
//! - [`context`]: what every command shares: settings, AWS clients, prompting;
//! - [`failure`]: how an error ends a command (text, or the JSON error document);
//! - [`template`]: the embedded CloudFormation templates and their parameters;
//! - [`aws`]: the AWS SDK configuration, built in one place;
//! - [`deploy`]: the deploy engine behind `init`, `update-stack`, `status`, `destroy`;
//! - [`progress`]: spinners on a terminal, plain lines elsewhere;
//! - [`commands`]: one module per subcommand;
//! - [`serve`]: the local receiver + worker server behind `git2s3 serve`;
//! - [`hook`]: the post-receive hook for plain SSH git servers;
//! - [`wizard`]: the screens `init` shows on a terminal;
//! - [`register`]: the providers' webhook and deploy-key APIs;
//! - [`rotate`]: the webhook secret and the deploy key, replaced with no push refused;
//! - [`verify`]: the test push and its named checks (`init`, `git2s3 verify`).

pub mod aws;
pub mod cli;
pub mod commands;
pub mod context;
pub mod deploy;
pub mod failure;
pub mod hook;
pub mod logging;
pub mod progress;
pub mod register;
pub mod rotate;
pub mod serve;
pub mod settings;
pub mod template;
pub mod verify;
pub mod wizard;
