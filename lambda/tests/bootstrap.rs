//! The `bootstrap` binary, started the way Lambda starts it, but
//! misconfigured: it must stop at once with a message that names the fix,
//! rather than wait for events it cannot handle.

use std::process::Command;

fn bootstrap(env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", "http://127.0.0.1:9/.rt")
        .env("AWS_REGION", "us-east-1")
        .envs(env.iter().copied())
        .output()
        .expect("bootstrap runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn without_a_role_it_says_which_variable_the_stack_sets() {
    let (ok, output) = bootstrap(&[]);
    assert!(!ok);
    assert!(output.contains("GIT2S3_ROLE is not set"), "{output}");
}

#[test]
fn an_unknown_role_is_named() {
    let (ok, output) = bootstrap(&[("GIT2S3_ROLE", "janitor")]);
    assert!(!ok);
    assert!(
        output.contains("`janitor`") && output.contains("receiver"),
        "{output}"
    );
}

#[test]
fn a_receiver_without_its_queue_says_so() {
    let (ok, output) = bootstrap(&[("GIT2S3_ROLE", "receiver")]);
    assert!(!ok);
    assert!(output.contains("GIT2S3_QUEUE_URL is not set"), "{output}");
}
