//! `bootstrap`: the one binary of both Lambda functions. `GIT2S3_ROLE`
//! picks the role; this file only wires configuration, clients and the
//! runtime to the handlers in the library.

use aws_config::BehaviorVersion;
use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::sqs::SqsEvent;
use git2s3_lambda::config::{self, Role};
use git2s3_lambda::queue::SqsQueue;
use git2s3_lambda::reloading::{self, Reloading};
use git2s3_lambda::report::{
    CodePipelineExecutions, ReportError, Reported, Reporter, S3ZipVersions,
};
use git2s3_lambda::store::{self, Store};
use git2s3_lambda::{receiver, worker};
use lambda_runtime::{service_fn, Error, LambdaEvent};

fn main() {
    git2s3_lambda::logging::init();
    let result = match git2s3_lambda::fetch::git::runtime() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = result {
        // Lambda shows this line in the function's log and marks the init failed.
        tracing::error!(error = %e, "cannot start");
        eprintln!("git2s3 bootstrap: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    let role = Role::from_env()?;
    let aws = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    match role {
        Role::Receiver => {
            let (first, queue_url) = config::receiver(&secrets).await?;
            let load = || async { Ok(config::receiver(&secrets).await?.0) };
            let state = Reloading::new(first, load, reloading::ttl_from_env());
            let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws), queue_url);
            let (state, queue) = (&state, &queue);
            lambda_runtime::run(service_fn(
                move |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
                    let config = state.get().await;
                    let answer =
                        receiver::handle_api_gateway(event.payload.clone(), &config, queue).await;
                    // Signed with a secret this container has not read yet
                    // (`git2s3 rotate webhook-secret`)? Read it, and try once more.
                    if answer.status_code != 401 {
                        return Ok::<_, Error>(answer);
                    }
                    Ok(match state.refused(&config).await {
                        Some(fresh) => {
                            receiver::handle_api_gateway(event.payload, &fresh, queue).await
                        }
                        None => answer,
                    })
                },
            ))
            .await
        }
        Role::Worker => {
            let (first, bucket) = config::worker(&secrets).await?;
            let load = || async { Ok(config::worker(&secrets).await?.0) };
            let state = Reloading::new(first, load, reloading::ttl_from_env());
            let store = Store::new(store::s3_client(&aws), bucket);
            let (state, store) = (&state, &store);
            lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
                let config = state.get().await;
                let deadline = worker_deadline(event.context.deadline());
                let batch = worker::handle_sqs(event.payload, &config, store, deadline).await;
                // A refused key may have been rotated (`git2s3 rotate
                // deploy-key`): the failed jobs come back to the new one.
                if batch.deploy_key_refused {
                    state.refused(&config).await;
                }
                Ok::<_, Error>(batch.response)
            }))
            .await
        }
        Role::Report => {
            let config = config::report(&secrets).await?;
            let reporter = Reporter {
                provider: config.provider,
                executions: CodePipelineExecutions(aws_sdk_codepipeline::Client::new(&aws)),
                zips: S3ZipVersions {
                    client: store::s3_client(&aws),
                    bucket: config.bucket,
                    key: config.key,
                },
                statuses: config.statuses,
            };
            let reporter = &reporter;
            lambda_runtime::run(service_fn(
                move |event: LambdaEvent<serde_json::Value>| async move {
                    match reporter.handle(&event.payload).await {
                        Ok(done) => {
                            match &done {
                                Reported::Posted { status } => tracing::info!(
                                    repo = %status.repo, commit = %status.commit,
                                    state = ?status.state, context = %status.context,
                                    "status posted"
                                ),
                                Reported::Ignored { reason } => {
                                    tracing::info!(%reason, "run not reported")
                                }
                            }
                            Ok::<_, Error>(serde_json::to_value(done)?)
                        }
                        // A refused status is final: say why, and do not
                        // have Lambda try the event again.
                        Err(e @ ReportError::Refused { .. }) => {
                            tracing::error!(error = %e, "commit status refused");
                            Ok(serde_json::json!({ "outcome": "refused", "error": e.to_string() }))
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "report failed");
                            Err(e.into())
                        }
                    }
                },
            ))
            .await
        }
        Role::Sweep => {
            let config = config::sweep(&secrets).await?;
            let store = Store::new(store::s3_client(&aws), config.bucket.clone());
            let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws), config.queue_url.clone());
            let (config, store, queue) = (&config, &store, &queue);
            // Any event starts a round: the schedule's, or a test invoke.
            lambda_runtime::run(service_fn(
                move |_: LambdaEvent<serde_json::Value>| async move {
                    let round = config.sweeper.round(store, queue).await;
                    Ok::<_, Error>(serde_json::to_value(round)?)
                },
            ))
            .await
        }
    }
}

/// The invocation's deadline, less [`worker::DEADLINE_MARGIN`], as an
/// `Instant`. A deadline already past (a runtime that sends none) is taken
/// as Lambda's longest timeout, 15 minutes, so no job is stopped at once.
fn worker_deadline(deadline: std::time::SystemTime) -> std::time::Instant {
    let left = deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or(std::time::Duration::from_secs(900));
    std::time::Instant::now() + left.saturating_sub(worker::DEADLINE_MARGIN)
}
