//! git2s3's integration tests: the real binary, against real parts.
//!
//! One test binary (faster to link, one moto for all tests), with:
//! - [`util`]: a small builder that runs the `git2s3` binary in a clean environment;
//! - [`moto`]: moto's server on loopback, started once per run;
//! - [`cli`]: flag values in `--help`, and bad values named with their flag;
//! - [`render`]: `git2s3 render`, end to end;
//! - [`docs`]: docs/configuration.md lists every key and variable the code reads;
//! - [`modules`]: no import cycle in either crate;
//! - [`queue`]: the receiver's SQS FIFO queue in moto;
//! - [`gitpull`]: push → sshd → `git2s3 serve` → moto's S3, end to end;
//! - [`server`], [`sshd`]: the real `git2s3 serve` and a real OpenSSH server, as fixtures;
//! - [`zipdl`]: a provider's zipball → `git2s3 serve` → moto's S3, end to end;
//! - [`runtime`]: the `bootstrap` binary under cargo-lambda's emulator, in both roles;
//! - [`deploy`]: `init`, `update-stack`, `status`, `destroy` against moto;
//! - [`iam`]: docs/iam.md against the calls the code makes, in a moto that enforces IAM;
//! - [`report`]: build status on the commit: Prism for GitHub, wiremock for the others, the `report` role in the emulator;
//! - [`register`]: register-webhook against a local mock of each provider;
//! - [`prism`]: register-webhook against GitHub's own API description, served by Prism;
//! - [`stack`]: the rendered templates deployed, read, updated and deleted in moto;
//! - [`store`]: the worker's conditional writes against moto's S3;
//! - [`faults`]: S3, SQS, Secrets Manager or sshd failing mid-job, through [`proxy`]: the right zip or a dead letter;
//! - [`trust`]: each attack on the receiver, through `serve` and moto: nothing written or queued;
//! - [`wizard`]: the `init` wizard through a real pseudo-terminal;
//! - [`e2e`]: init → serve → `hook install` → pushes over SSH → zips in S3, as the demo runs it.

mod cli;
mod deploy;
mod docs;
mod e2e;
mod faults;
mod gitea;
mod gitpull;
mod iam;
mod json;
mod modules;
mod moto;
mod prism;
mod proxy;
mod queue;
mod register;
mod render;
mod report;
mod rotate;
mod runtime;
mod server;
mod sshd;
mod stack;
mod store;
mod sweep;
mod trust;
mod util;
mod verify;
mod warm;
mod wizard;
mod zipdl;
