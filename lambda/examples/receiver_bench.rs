//! The receiver, measured (run by `bench/receiver.sh`, not a test):
//!
//! - `receive` (verify, parse, filter, make the jobs) on each provider's
//!   signed push, as the provider sends it (`webhook::outgoing`): calls per
//!   second on one core, p50, p99 and max, beside the reference run in the
//!   same process, a bare HMAC-SHA256 of the same body (the least any
//!   receiver must do), and the goal (p99 under 100 ms);
//! - `bootstrap`'s cold start in the receiver role (given as the first
//!   argument): from spawning it to its first request for an event on a
//!   stand-in of the Lambda runtime API, beside the reference, spawning
//!   `/bin/true` and waiting for it, and the goal (under 50 ms). The
//!   receiver reads its webhook secret from Secrets Manager at start: the
//!   script points it at moto.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git2s3_lambda::connection::Connection;
use git2s3_lambda::filter::Filters;
use git2s3_lambda::webhook::outgoing::{push, PushSpec};
use git2s3_lambda::webhook::{receive, AllowedIps, Outcome, ReceiverConfig, Request, Secrets};
use git2s3_lambda::{Method, Provider};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "bench-webhook-secret-not-a-real-one";
const CALLS: usize = 20_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Times `f` `CALLS` times; gives the sorted durations and calls/s.
fn time(mut f: impl FnMut()) -> (Vec<Duration>, f64) {
    for _ in 0..1_000 {
        f();
    }
    let mut each = Vec::with_capacity(CALLS);
    let started = Instant::now();
    for _ in 0..CALLS {
        let t = Instant::now();
        f();
        each.push(t.elapsed());
    }
    let rate = CALLS as f64 / started.elapsed().as_secs_f64();
    each.sort();
    (each, rate)
}

fn receiver() {
    println!("receive(), {CALLS} calls each, one core");
    println!(
        "{:<18} {:>10} {:>9} {:>9} {:>9} {:>13} {:>8}",
        "provider", "calls/s", "p50 µs", "p99 µs", "max µs", "HMAC p50 µs", "ratio"
    );
    for provider in Provider::ALL {
        let spec = PushSpec {
            repo: "acme/api".into(),
            git_ref: "refs/heads/main".into(),
            before: "89abcdef0123456789abcdef0123456789abcdef".into(),
            after: "0123456789abcdef0123456789abcdef01234567".into(),
            ssh_url: Some("git@git.example.com:acme/api.git".into()),
            project_id: Some("42".into()),
            pusher: Some("bench".into()),
            enterprise_host: Some("ghe.example.com".into()),
        };
        let out = push(provider, &spec, SECRET, "bench-delivery");
        let headers = out.header_map();
        let config = ReceiverConfig {
            secrets: Secrets::from_lines(SECRET),
            allowed_ips: AllowedIps::default(),
            filters: Filters::all(),
            connection: Connection::new(provider, vec!["acme/api".into()], None, None, ""),
        };
        let request = Request {
            method: Method::ZipDownload,
            headers: &headers,
            body: &out.body,
            source_ip: None,
        };
        let check = receive(&request, &config).expect("the bench push is accepted");
        assert!(matches!(check, Outcome::Push { ref jobs, .. } if jobs.len() == 1));
        let (each, rate) = time(|| {
            std::hint::black_box(receive(&request, &config).ok());
        });
        let (hmac, _) = time(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(&out.body);
            std::hint::black_box(mac.finalize());
        });
        let p50 = percentile(&each, 0.5);
        let hmac_p50 = percentile(&hmac, 0.5);
        println!(
            "{:<18} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>13.1} {:>7.1}x",
            provider.as_str(),
            rate,
            micros(p50),
            micros(percentile(&each, 0.99)),
            micros(*each.last().unwrap()),
            micros(hmac_p50),
            p50.as_secs_f64() / hmac_p50.as_secs_f64()
        );
    }
    println!("goal: p99 under 100 ms (100000 µs) in the handler");
}

/// From spawning `bootstrap` to its first `GET …/invocation/next`.
fn cold_start(bootstrap: &str) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let mut child = Command::new(bootstrap)
        .env("GIT2S3_ROLE", "receiver")
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bootstrap");
    let (mut stream, _) = listener.accept().unwrap();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).unwrap_or(0);
    let ready = started.elapsed();
    assert!(
        String::from_utf8_lossy(&buf[..n]).contains("/runtime/invocation/next"),
        "bootstrap asked for something else first"
    );
    let _ = stream.write_all(b"HTTP/1.1 500 Bench Over\r\ncontent-length: 0\r\n\r\n");
    let _ = child.kill();
    let _ = child.wait();
    ready
}

fn bootstrap_cold_start(bootstrap: &str) {
    const RUNS: usize = 10;
    let mut ready: Vec<Duration> = (0..RUNS).map(|_| cold_start(bootstrap)).collect();
    ready.sort();
    let mut reference: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            Command::new("/bin/true").status().unwrap();
            t.elapsed()
        })
        .collect();
    reference.sort();
    let (p50, r50) = (percentile(&ready, 0.5), percentile(&reference, 0.5));
    println!();
    println!("bootstrap cold start, receiver role, {RUNS} runs (spawn to its first request for an event)");
    println!(
        "  median {:.1} ms, worst {:.1} ms; reference /bin/true {:.1} ms; ratio {:.1}x; goal under 50 ms",
        p50.as_secs_f64() * 1e3,
        ready.last().unwrap().as_secs_f64() * 1e3,
        r50.as_secs_f64() * 1e3,
        p50.as_secs_f64() / r50.as_secs_f64()
    );
}

fn main() {
    receiver();
    if let Some(bootstrap) = std::env::args().nth(1) {
        bootstrap_cold_start(&bootstrap);
    }
}
