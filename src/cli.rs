//! The command line. These structs hold what the user typed and nothing
//! more; their `///` comments are the `--help` text. Turning flags into
//! configuration is `settings`' job.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use git2s3_lambda::Provider;

use crate::settings::{Architecture, Method};

/// `--provider`: the provider table's names, so `--help` lists them and a
/// bad value names the flag.
fn provider_parser() -> impl TypedValueParser<Value = Provider> {
    PossibleValuesParser::new(Provider::names().collect::<Vec<_>>()).map(|name| {
        name.parse::<Provider>()
            .expect("a name from the provider table")
    })
}

/// Connect any Git server to AWS CodePipeline: every push lands as a zip in a
/// versioned S3 bucket, at <owner>/<repo>/<branch>/<owner>_<repo>.zip.
#[derive(Debug, Parser)]
#[command(
    name = "git2s3",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes, listed apart from each command's own.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Configuration file [default: git2s3.yaml, if it exists].
    #[arg(long, global = true, value_name = "FILE", env = "GIT2S3_CONFIG")]
    pub config: Option<PathBuf>,

    /// Output format: text for people, json for scripts.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More logging on stderr: -v for debug, -vv for trace. RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// AWS profile from your AWS config. It wins over credentials in the
    /// environment (AWS_ACCESS_KEY_ID…), as the AWS CLI's --profile does;
    /// AWS_PROFILE, read by the AWS SDK, does not.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// AWS region [default: the configuration's `region`, then the AWS config's].
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// Apply changes without asking, and never prompt: take every answer
    /// from flags, GIT2S3_* and the config file. With no terminal, or CI
    /// set, git2s3 never prompts either, but a change then needs --yes.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,

    /// Send every AWS call to this endpoint, e.g. moto or LocalStack on http://127.0.0.1:5000.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a CloudFormation template, or its parameter values as JSON.
    ///
    /// The template is printed exactly as git2s3 deploys it. With
    /// --parameters, the values come from git2s3.yaml, GIT2S3_* variables
    /// and flags, in the form `aws cloudformation create-stack --parameters
    /// file://params.json` reads, so you can deploy with your own tooling.
    #[command(
        after_help = "Examples:\n  git2s3 render > git2s3.yaml.template\n  git2s3 render --parameters > params.json\n  git2s3 render --pipeline"
    )]
    Render(RenderArgs),

    /// Run the webhook receiver and the worker locally, in one process.
    ///
    /// It answers API Gateway's routes (POST /gitpull, POST /zipdl) and
    /// writes zips to S3 (or to --endpoint-url). The webhook secret comes
    /// from GIT2S3_WEBHOOK_SECRET (one per line while you rotate), never
    /// from a flag. Ref filters and the IP allow list come from git2s3.yaml.
    #[command(
        after_help = "Examples:\n  GIT2S3_WEBHOOK_SECRET=... git2s3 serve --bucket my-zips --ssh-key deploy_key\n  git2s3 serve --listen 0.0.0.0:8080 --known-hosts known_hosts   # bucket and secret from the stack"
    )]
    Serve(ServeArgs),

    /// Deploy git2s3 into an AWS account, or converge an existing install.
    ///
    /// Checks the credentials, region, bucket name and stack state; stores a
    /// new webhook secret and SSH deploy key in Secrets Manager (never on
    /// disk); uploads the Lambda zip; creates or updates the stack through a
    /// change set, showing it first; optionally deploys the pipeline; and
    /// writes git2s3.yaml. Running it again updates and never duplicates.
    #[command(
        after_help = "Examples:\n  git2s3 init                                   # the wizard, on a terminal\n  git2s3 init --yes --provider github --repo acme/api --method git-pull\n  git2s3 init --yes --provider generic --repo infra/deploy --skip-register"
    )]
    Init(InitArgs),

    /// Re-render the stacks from git2s3.yaml and flags, show the change set, apply it.
    ///
    /// With --diff it only prints the changes, and exits as Terraform's
    /// -detailed-exitcode does: 0 when there are none, 2 when there are
    /// some, and 1 on an error.
    #[command(
        after_help = "Examples:\n  git2s3 update-stack --diff                    # exit 0: no changes, 2: changes, 1: error\n  git2s3 update-stack --yes --lambda-zip bootstrap.zip\n  git2s3 update-stack --yes --allow-replace --bucket new-zips"
    )]
    UpdateStack(UpdateStackArgs),

    /// Show the stack, the newest zip of each branch, the queues and the pipeline.
    #[command(
        after_help = "Examples:\n  git2s3 status\n  git2s3 --output json status | jq '.status.zips'"
    )]
    Status(StatusArgs),

    /// Add the push webhook (or update it), and with --deploy-key the read-only deploy key.
    ///
    /// The hook points at the stack's endpoint and carries the stack's
    /// webhook secret; without a stack (beside `git2s3 serve`), pass
    /// --webhook-url, set GIT2S3_WEBHOOK_SECRET, and give --public-key.
    /// The token comes from an environment variable (--token-env), or a
    /// hidden prompt; never from a flag. Running it again updates, and
    /// never duplicates.
    #[command(
        after_help = "Examples:\n  GITHUB_TOKEN=... git2s3 register-webhook --repo acme/api --deploy-key\n  git2s3 register-webhook --org acme --token-env ORG_TOKEN\n  git2s3 register-webhook --yes --repo acme/api   # write over the existing hook without asking"
    )]
    RegisterWebhook(RegisterArgs),

    /// Remove exactly the webhook and deploy key git2s3 registered, nothing else.
    ///
    /// The hook is found by its URL (the stack's, or --webhook-url), the key
    /// by its key material (the stack's, or --public-key); hooks and keys of
    /// anything else are never touched.
    #[command(
        mut_arg("deploy_key", |a| a.help("Also remove the deploy key from each repository")),
        mut_arg("all_repos", |a| a.help("Also remove the deploy key from every repository of the org (--org, or `org` in the configuration)")),
        mut_arg("webhook_url", |a| a.help("The URL of the webhook to remove, instead of the stack's output")),
        mut_arg("public_key", |a| a.help("The deploy key to remove, instead of the stack's")),
        mut_arg("no_ping", |a| a.hide(true)),
        after_help = "Examples:\n  git2s3 unregister-webhook --repo acme/api --deploy-key\n  git2s3 unregister-webhook --yes --org acme",
    )]
    UnregisterWebhook(RegisterArgs),

    /// Remove git2s3 from the account: pipeline and core stacks, the output
    /// bucket (all versions) and the secrets git2s3 created.
    #[command(
        after_help = "Examples:\n  git2s3 destroy                                # shows what goes, then asks\n  git2s3 destroy --yes --keep-bucket\n  git2s3 destroy --yes --secret-recovery-days 30"
    )]
    Destroy(DestroyArgs),

    /// Send a signed test push of a branch's newest commit to the webhook,
    /// and wait until its zip is in S3.
    ///
    /// If the zip does not come, it names the check that failed: the
    /// receiver's answer, the dead-letter queue, the worker's log or the job
    /// queue, with what to do. Exits 0 when the zip is there, 1 when not.
    #[command(
        after_help = "Examples:\n  git2s3 verify --repo acme/api\n  git2s3 verify --repo infra/deploy --branch main --commit SHA --ssh-url ssh://git@git.example.com/srv/git/infra/deploy.git"
    )]
    Verify(VerifyArgs),

    /// A post-receive hook for a plain SSH git server (gitolite, a bare
    /// sshd): each push is sent to git2s3 as a signed webhook.
    #[command(
        subcommand,
        after_help = "Examples:\n  git2s3 hook install --git-dir /srv/git/acme/api.git --webhook-url https://…/prod/gitpull\n  git2s3 hook print --git-dir /srv/git/acme/api.git > post-receive"
    )]
    Hook(HookCommand),

    /// Print the receiver's and the worker's log events, from their CloudWatch log groups.
    #[command(
        after_help = "Examples:\n  git2s3 logs worker --since 1h\n  git2s3 logs --follow --filter ERROR\n  git2s3 --output json logs worker --since 30m | jq -r .message"
    )]
    Logs(LogsArgs),

    /// Move the dead-letter queue's jobs back to the job queue, after
    /// showing how many there are and why they failed.
    ///
    /// Each job's reason is the worker's ERROR line for its delivery. A
    /// moved job is built as any other: the ref's head at that time, and
    /// nothing if its zip is already current. It asks first, or takes --yes.
    #[command(
        after_help = "Examples:\n  git2s3 redrive                 # shows the jobs and why, then asks\n  git2s3 --output json redrive --yes"
    )]
    Redrive(RedriveArgs),

    /// Replace the webhook secret or the deploy key, with no push refused
    /// on the way.
    ///
    /// webhook-secret: a new secret is stored beside the old one (the
    /// receiver accepts both), every hook git2s3 registered is updated to
    /// it, and only then is the old one removed. deploy-key: a new key is
    /// staged, added to each repository beside the old one, made current,
    /// and only then is the old key removed from each repository. A failure
    /// part-way leaves a working state and says what is left; running the
    /// command again picks up where it stopped.
    #[command(
        subcommand,
        after_help = "Examples:\n  GITHUB_TOKEN=... git2s3 rotate webhook-secret --yes\n  GITLAB_TOKEN=... git2s3 rotate deploy-key\n  git2s3 rotate webhook-secret --continue --yes   # generic: after `git2s3 hook install` on the server"
    )]
    Rotate(RotateCommand),

    /// Build every ref whose zip is missing or stale: a sweep, now.
    ///
    /// For each connected repository, its branch and tag heads are listed
    /// over SSH with the stack's deploy key (as `git ls-remote`), and each
    /// head inside the stack's ref filters is compared with the `commit` of
    /// its zip. Every ref whose zip is missing or behind is queued on the
    /// stack's job queue, as a webhook would be. It asks first, or takes
    /// --yes; --dry-run only lists them.
    #[command(
        after_help = "Examples:\n  git2s3 sync --dry-run                 # the stale refs, with their zip's commit and the head\n  git2s3 sync --yes --repo acme/api\n  git2s3 --output json sync --dry-run | jq '.repos[].stale'"
    )]
    Sync(SyncArgs),

    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    #[command(
        after_help = "Examples:\n  git2s3 completions bash > /etc/bash_completion.d/git2s3\n  git2s3 completions zsh > \"${fpath[1]}/_git2s3\"\n  git2s3 completions fish > ~/.config/fish/completions/git2s3.fish"
    )]
    Completions(CompletionsArgs),

    /// Write man pages, git2s3.1 and one per subcommand, into a directory.
    #[command(
        after_help = "Examples:\n  git2s3 man /usr/local/share/man/man1 && mandb\n  git2s3 man target/man && man -l target/man/git2s3-init.1"
    )]
    Man(ManArgs),
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Write the post-receive hook into a bare repository, with the webhook
    /// secret beside it (mode 0600). Running it again rewrites both.
    ///
    /// The URL comes from --url, else the stack's git-pull endpoint; the
    /// secret from GIT2S3_WEBHOOK_SECRET, else the stack's secret.
    Install(HookInstallArgs),

    /// Print the hook script, to install it by hand or to chain it with
    /// another post-receive hook. The secret is not printed.
    Print(HookTarget),

    /// Send push events for git's `OLD NEW REF` lines on stdin; the hook
    /// runs this. Always exits 0, so the push never fails because of it.
    Send(HookSendArgs),
}

/// Where the hook sends, and how it names the repository.
#[derive(Debug, Args, Clone, Default)]
pub struct HookTarget {
    /// The webhook URL, e.g. https://….execute-api…/prod/gitpull or
    /// http://127.0.0.1:8080/gitpull for `git2s3 serve` [default: the
    /// stack's git-pull URL].
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,

    /// The old name of --webhook-url (hooks installed before still use it).
    #[arg(
        long = "url",
        value_name = "URL",
        hide = true,
        conflicts_with = "webhook_url"
    )]
    pub url: Option<String>,

    /// The repository's name in S3 keys, OWNER/REPO [default: the last two
    /// parts of the repository's path, without .git].
    #[arg(long, value_name = "OWNER/REPO")]
    pub name: Option<String>,

    /// The URL the worker clones from [default:
    /// ssh://USER@HOSTNAME/ABSOLUTE-PATH of the repository].
    #[arg(long, value_name = "URL")]
    pub ssh_url: Option<String>,

    /// The bare repository [default: the current directory].
    #[arg(long, value_name = "PATH.git")]
    pub git_dir: Option<PathBuf>,

    /// The old name of --git-dir: --repo is OWNER/REPO everywhere else.
    #[arg(
        long = "repo",
        value_name = "PATH.git",
        hide = true,
        conflicts_with = "git_dir"
    )]
    pub repo: Option<PathBuf>,
}

impl HookTarget {
    /// --webhook-url, or its old name with a warning.
    pub fn webhook_url(&self) -> Option<String> {
        if self.url.is_some() {
            eprintln!("warning: --url is now --webhook-url; --url goes in the next release");
        }
        self.webhook_url.clone().or_else(|| self.url.clone())
    }

    /// --git-dir, or its old name with a warning.
    pub fn git_dir(&self) -> Option<PathBuf> {
        if self.repo.is_some() {
            eprintln!(
                "warning: the hook's --repo is now --git-dir (--repo is OWNER/REPO in every other \
                 command); --repo goes in the next release"
            );
        }
        self.git_dir.clone().or_else(|| self.repo.clone())
    }
}

#[derive(Debug, Args)]
pub struct HookInstallArgs {
    #[command(flatten)]
    pub target: HookTarget,

    /// Replace a post-receive hook that git2s3 did not write.
    #[arg(long)]
    pub force: bool,

    /// Send while the push waits (and show the result to the pusher),
    /// instead of in the background.
    #[arg(long)]
    pub wait: bool,
}

impl HookSendArgs {
    /// --attempt-timeout, or its old name with a warning.
    pub fn attempt_timeout(&self) -> u64 {
        match self.timeout {
            Some(seconds) => {
                eprintln!(
                    "warning: the hook's --timeout is now --attempt-timeout (verify's --timeout \
                     is the whole wait); --timeout goes in the next release"
                );
                seconds
            }
            None => self.attempt_timeout,
        }
    }
}

#[derive(Debug, Args)]
pub struct HookSendArgs {
    #[command(flatten)]
    pub target: HookTarget,

    /// Hand the sending to a background process and return at once.
    #[arg(long)]
    pub background: bool,

    /// Send with this delivery id instead of a new one: a redelivery, which
    /// the receiver drops if it has seen the id. Takes one ref line.
    #[arg(long, value_name = "ID")]
    pub delivery: Option<String>,

    /// Seconds to wait for each attempt (verify's --timeout is the whole wait).
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub attempt_timeout: u64,

    /// The old name of --attempt-timeout.
    #[arg(
        long = "timeout",
        value_name = "SECONDS",
        hide = true,
        conflicts_with = "attempt_timeout"
    )]
    pub timeout: Option<u64>,

    /// Attempts per ref, with 1 s, 2 s, 4 s… between them.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub attempts: u32,
}

/// Which stack, provider and repositories; each flag overrides git2s3.yaml.
/// Shared by the commands that deploy and those that register.
#[derive(Debug, Args, Default)]
pub struct TargetArgs {
    /// CloudFormation stack name [config: stack_name, default git2s3].
    #[arg(long, value_name = "NAME")]
    pub stack_name: Option<String>,

    /// Where the repositories live; generic is a plain SSH server with
    /// git2s3's post-receive hook [config: provider].
    #[arg(long, value_name = "PROVIDER", value_parser = provider_parser())]
    pub provider: Option<Provider>,

    /// API base URL, for GitHub Enterprise Server (https://HOST/api/v3),
    /// self-managed GitLab or Bitbucket Data Center [config: api_url;
    /// default: the public service].
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,

    /// A repository, OWNER/REPO; repeat for more. Replaces the configured list.
    #[arg(long = "repo", value_name = "OWNER/REPO")]
    pub repos: Vec<String>,

    /// A whole organization (GitHub), group (GitLab), workspace (Bitbucket)
    /// or project (Data Center) [config: org].
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
}

/// What the stacks are made of; each flag overrides git2s3.yaml.
#[derive(Debug, Args, Default)]
pub struct StackArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// How the worker gets the code: git-pull (SSH deploy key) or
    /// zip-download (API token) [config: method].
    #[arg(long, value_name = "METHOD", value_enum)]
    pub method: Option<Method>,

    /// Output bucket name [default: CloudFormation makes one up].
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,

    /// Lambda CPU architecture [config: lambda.architecture].
    #[arg(long, value_name = "ARCH", value_enum)]
    pub architecture: Option<Architecture>,

    /// Also deploy a CodePipeline for the first --repo (or configured repo) on this branch.
    #[arg(long, value_name = "BRANCH")]
    pub pipeline_branch: Option<String>,

    /// Post each pipeline run's state on the commit it built, through the
    /// provider's commit status API [config: pipeline.report_status;
    /// default: true for zip download, false for git pull].
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub report_status: Option<bool>,

    /// Build only these branches and tags (a glob; repeat for more)
    /// [config: filters.include_refs; default: all].
    #[arg(long = "include-ref", value_name = "GLOB")]
    pub include_refs: Vec<String>,

    /// Never build these branches and tags (a glob; repeatable) [config:
    /// filters.exclude_refs].
    #[arg(long = "exclude-ref", value_name = "GLOB")]
    pub exclude_refs: Vec<String>,

    /// Build only when a push changes one of these paths (a glob;
    /// repeatable) [config: filters.include_paths; default: any change].
    #[arg(long = "include-path", value_name = "GLOB")]
    pub include_paths: Vec<String>,

    /// Days to keep replaced zips [config: bucket.noncurrent_version_days, default 90].
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub noncurrent_version_days: Option<u32>,

    /// Let the plan replace the output bucket (every pipeline's source), or
    /// change the deploy key or the webhook or deploy-key secret's id.
    #[arg(long)]
    pub allow_replace: bool,

    /// The Lambda zip to deploy [default: the checkout's `cargo lambda build`
    /// output, then bootstrap.zip beside the executable].
    #[arg(long, value_name = "FILE")]
    pub lambda_zip: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Environment variable that holds the provider token, for zip download
    /// [default: GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN or
    /// FORGEJO_TOKEN]. Tokens are
    /// never taken as flag values.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,

    /// Do not register the webhook and deploy key with the provider; the
    /// output says what to add by hand.
    #[arg(long)]
    pub skip_register: bool,

    /// If the stack is in ROLLBACK_COMPLETE (its creation failed), delete it
    /// and create it again, without asking.
    #[arg(long)]
    pub delete_failed_stack: bool,

    /// After registering, send a test push and wait for its zip (as
    /// `git2s3 verify` does). The wizard always does.
    #[arg(long)]
    pub verify: bool,

    /// How long --verify waits for the zip, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub verify_timeout: u64,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// The branch to push [default: the pipeline's branch for its
    /// repository, else the repository's default branch].
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,

    /// The commit to announce [default: the branch's newest commit, from the
    /// provider's API]. Needed for a plain SSH server, with --branch.
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,

    /// Where the worker fetches from, for a plain SSH server
    /// (ssh://git@HOST/PATH.git).
    #[arg(long, value_name = "URL")]
    pub ssh_url: Option<String>,

    /// The webhook URL [default: the stack's, for the configured method].
    /// The secret comes from GIT2S3_WEBHOOK_SECRET, else the stack.
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,

    /// Environment variable that holds the provider token [default:
    /// GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN or
    /// FORGEJO_TOKEN].
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,

    /// How long to wait for the zip, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct UpdateStackArgs {
    #[command(flatten)]
    pub stack: StackArgs,

    /// Only print the changes: exit 0 when there are none, 2 when there are, 1 on an error.
    #[arg(long)]
    pub diff: bool,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Also add the deploy key to every repository of the org (--org, or
    /// `org` in the configuration), listed page by page. On GitHub each
    /// repository gets a key of its own.
    #[arg(long, requires = "deploy_key")]
    pub all_repos: bool,

    /// Also add the read-only deploy key (git-pull method) to each repository.
    #[arg(long)]
    pub deploy_key: bool,

    /// Environment variable that holds the provider token [default:
    /// GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN or
    /// FORGEJO_TOKEN].
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,

    /// The webhook URL, instead of the stack's output.
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,

    /// The deploy key's public half, instead of the stack's.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,

    /// Do not ask the provider to send its test event.
    #[arg(long)]
    pub no_ping: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// CloudFormation stack name [config: stack_name].
    #[arg(long, value_name = "NAME")]
    pub stack_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// CloudFormation stack name [config: stack_name].
    #[arg(long, value_name = "NAME")]
    pub stack_name: Option<String>,

    /// Keep the output bucket and its zips.
    #[arg(long)]
    pub keep_bucket: bool,

    /// Days the secrets can still be restored after destroy (7 to 30):
    /// they are scheduled for deletion, not deleted at once.
    #[arg(long, default_value_t = 7, value_name = "DAYS",
          value_parser = clap::value_parser!(u32).range(7..=30))]
    pub secret_recovery_days: u32,

    /// Delete the secrets at once, with no recovery window.
    #[arg(long, conflicts_with = "secret_recovery_days")]
    pub force_delete_secrets: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,

    /// Output bucket [default: bucket.name from the configuration, then the stack's output].
    #[arg(long, value_name = "NAME")]
    pub bucket: Option<String>,

    /// The deploy key's private half (OpenSSH format), or a JSON map from
    /// OWNER/REPO to one, for git pull [default: the stack's deploy-key secret].
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,

    /// Extra SSH host keys, in OpenSSH known_hosts format (ssh-keyscan output).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,

    /// API base URL of GitHub Enterprise Server, self-managed GitLab or
    /// Bitbucket Data Center, for zip download [default: api_url from the
    /// configuration]. The token comes from GIT2S3_GIT_TOKEN.
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,

    /// Jobs built at once (pushes to one branch are always built one at a time).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub parallel: usize,

    /// Also sweep every DURATION (e.g. 15m): list each repository's heads
    /// over SSH and build every ref whose zip is missing or stale, for the
    /// webhooks that never came [default: off].
    #[arg(long, value_name = "DURATION", value_parser = parse_age)]
    pub sweep_every: Option<std::time::Duration>,

    /// Stop a job that runs longer than this and count it as failed, as
    /// the worker function's timeout (WorkerTimeout) does on AWS.
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = parse_age)]
    pub job_timeout: std::time::Duration,

    /// Tries of a failed job in all, as the job queue's maxReceiveCount;
    /// after the last, the job is set aside (GET /dead-letters).
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub attempts: u32,

    /// The wait before a failed job is tried again.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_age)]
    pub retry_delay: std::time::Duration,
}

/// Which function's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Function {
    Receiver,
    Worker,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// One function's logs [default: both, merged by time].
    #[arg(value_enum)]
    pub function: Option<Function>,

    /// Keep printing new events as they come, until Ctrl-C.
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// How far back to start: 30s, 10m, 2h or 1d.
    #[arg(long, default_value = "10m", value_name = "AGE", value_parser = parse_age)]
    pub since: std::time::Duration,

    /// Only events that match this CloudWatch Logs filter pattern (a word:
    /// the events that contain it).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,

    /// CloudFormation stack name [config: stack_name].
    #[arg(long, value_name = "NAME")]
    pub stack_name: Option<String>,
}

/// `30s`, `10m`, `2h`, `1d`.
fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}` is not an age such as 30s, 10m, 2h or 1d")),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not an age such as 30s, 10m, 2h or 1d"))?;
    Ok(std::time::Duration::from_secs(n * seconds))
}

#[derive(Debug, Subcommand)]
pub enum RotateCommand {
    /// A new webhook secret, on every hook git2s3 registered.
    WebhookSecret(RotateArgs),
    /// A new SSH deploy key (or one per repository), on every repository.
    DeployKey(RotateArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Environment variable that holds the provider token [default:
    /// GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN or
    /// FORGEJO_TOKEN].
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,

    /// For a plain SSH server (generic), which has no API: the new secret
    /// or key is in place on the server (the command said what to do), so
    /// finish by removing the old one.
    #[arg(long = "continue")]
    pub continue_: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// CloudFormation stack name [config: stack_name].
    #[arg(long, value_name = "NAME")]
    pub stack_name: Option<String>,

    /// A repository to sweep, OWNER/REPO; repeat for more [default: the
    /// stack's repos].
    #[arg(long = "repo", value_name = "OWNER/REPO")]
    pub repos: Vec<String>,

    /// List the stale refs, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// CloudFormation stack name [config: stack_name].
    #[arg(long, value_name = "NAME")]
    pub stack_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Where to write the pages (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The pipeline template (one CodePipeline for one repo and branch)
    /// instead of the core stack.
    #[arg(long)]
    pub pipeline: bool,

    /// Print the parameter values as JSON instead of the template.
    #[arg(long)]
    pub parameters: bool,
}
