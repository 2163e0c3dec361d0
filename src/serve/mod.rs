//! `git2s3 serve`: the receiver and the worker in one process, behind a
//! small HTTP server with API Gateway's routes (`POST /gitpull`,
//! `POST /zipdl`), writing to S3 at the configured endpoint. It is the
//! local stand-in for API Gateway and Lambda in tests and the demo, and a
//! way to run git2s3 next to a Git server that cannot reach AWS.
//! `GET /healthz` answers `{"ok": true, "pending_jobs": N, "dead_letters": N}`,
//! and `GET /dead-letters` lists the jobs that failed every try. With
//! `--sweep-every`, it also sweeps (`git2s3_lambda::sweep`) on a timer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use git2s3_lambda::store::Store;
use git2s3_lambda::sweep::Sweeper;
use git2s3_lambda::webhook::body::MAX_BODY_BYTES;
use git2s3_lambda::webhook::{ReceiverConfig, Request};
use git2s3_lambda::worker::{self, WorkerConfig};
use git2s3_lambda::{receiver, Method};

pub mod queue;

use queue::{MemoryQueue, Retries};

/// Everything `serve` runs with.
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub receiver: ReceiverConfig,
    pub worker: WorkerConfig,
    pub store: Store,
    pub parallel: usize,
    /// `--job-timeout`: a try that runs longer fails.
    pub job_timeout: Duration,
    /// `--attempts`, `--retry-delay`.
    pub retries: Retries,
    /// `--sweep-every`: the sweep, how often, and over which repositories.
    pub sweep: Option<SweepEvery>,
}

/// A sweep every so often, its jobs on serve's own queue.
pub struct SweepEvery {
    pub every: Duration,
    pub sweeper: Sweeper,
}

impl SweepEvery {
    /// Sweeps at once, then every `every`, until serve stops.
    fn start(self, queue: MemoryQueue, store: Store) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.every);
            loop {
                tick.tick().await;
                self.sweeper.round(&store, &queue).await;
            }
        });
    }
}

struct AppState {
    receiver: ReceiverConfig,
    queue: MemoryQueue,
}

async fn webhook(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let method = Method::from_path(uri.path()).expect("only the webhook routes reach this handler");
    let request = Request {
        method,
        headers: &headers,
        body: &body,
        source_ip: Some(peer.ip()),
    };
    let response = receiver::handle(&request, &state.receiver, &state.queue).await;
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(response.body))
}

/// `GET /healthz`: up, and how many jobs are queued or running, so that
/// scripts can wait until every push has been built.
async fn health(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    Json(serde_json::json!({
        "ok": true,
        "pending_jobs": state.queue.pending(),
        "dead_letters": state.queue.dead_letter_count(),
    }))
}

/// `GET /dead-letters`: the jobs that failed every try, with the reason.
async fn dead_letters(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    Json(state.queue.dead_letters())
}

/// Serves until Ctrl-C or SIGTERM, then lets running jobs finish (up to a minute).
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let worker_config = Arc::new(config.worker);
    let store = config.store.clone();
    let timeout = config.job_timeout;
    let queue = MemoryQueue::new(config.parallel, config.retries, move |job| {
        let (worker_config, store) = (worker_config.clone(), store.clone());
        async move {
            // Dropping the try at its timeout drops its upload, which is
            // then never completed: nothing is half-written.
            match tokio::time::timeout(timeout, worker::handle(&job, &worker_config, &store)).await
            {
                Ok(result) => {
                    worker::log_outcome(&job, &result);
                    result.map(|_| ()).map_err(|e| e.to_string())
                }
                Err(_) => {
                    let e = format!(
                        "the job ran past --job-timeout ({}s) and was stopped; raise --job-timeout \
                         (WorkerTimeout on the stack) if this repository needs longer",
                        timeout.as_secs()
                    );
                    tracing::error!(
                        repo = %job.repo, git_ref = %job.git_ref, delivery = %job.delivery_id,
                        error = %e, "{}", worker::JOB_FAILED
                    );
                    Err(e)
                }
            }
        }
    });
    if let Some(sweep) = config.sweep {
        sweep.start(queue.clone(), config.store.clone());
    }
    let state = Arc::new(AppState {
        receiver: config.receiver,
        queue: queue.clone(),
    });
    let app = Router::new()
        .route("/gitpull", post(webhook))
        .route("/zipdl", post(webhook))
        .route("/healthz", get(health))
        .route("/dead-letters", get(dead_letters))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES + 1))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e}; pick another address with --listen",
                config.listen
            )
        })?;
    let addr = listener.local_addr()?;
    eprintln!(
        "git2s3 serve: listening on http://{addr} (POST /gitpull, POST /zipdl), writing to s3://{}",
        config.store.bucket()
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    let left = queue.drain(Duration::from_secs(60)).await;
    if left > 0 {
        eprintln!("git2s3 serve: stopped with {left} job(s) unfinished; the next push to those branches rebuilds them");
    } else {
        eprintln!("git2s3 serve: stopped");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
