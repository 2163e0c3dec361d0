//! The receiver role: a plain async function from a webhook request to an
//! HTTP answer, over any [`JobQueue`]; and the adapter from API Gateway's
//! proxy event to it. `git2s3 serve` calls [`handle`] directly.
//!
//! Answers: 200 for a ping, 202 with the job ids for a push (or with what
//! was left out and why), 202 for an ignored event, the [`Rejection`]'s
//! status for bad input, 503 if the queue is unavailable. Logs name the
//! provider, delivery, repo, ref and commit, never a header value.

use std::net::IpAddr;

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use http::HeaderMap;
use serde_json::{json, Value};

use crate::job::Method;
use crate::queue::JobQueue;
use crate::webhook::{
    body::decode_event_body, receive, Outcome, ReceiverConfig, Rejection, Request,
};

/// An HTTP answer: status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: Value,
}

impl Response {
    fn new(status: u16, body: Value) -> Self {
        Response { status, body }
    }

    fn rejected(rejection: &Rejection) -> Self {
        Response::new(
            rejection.status(),
            json!({ "error": rejection.to_string() }),
        )
    }
}

/// Verifies, parses and enqueues one webhook call.
pub async fn handle<Q: JobQueue>(
    request: &Request<'_>,
    config: &ReceiverConfig,
    queue: &Q,
) -> Response {
    let outcome = match receive(request, config) {
        Ok(outcome) => outcome,
        Err(rejection) => {
            tracing::warn!(status = rejection.status(), reason = %rejection, "webhook refused");
            return Response::rejected(&rejection);
        }
    };
    match outcome {
        Outcome::Pong { provider } => {
            tracing::info!(%provider, "ping");
            Response::new(
                200,
                json!({ "message": format!("pong: git2s3 accepts {provider} webhooks here") }),
            )
        }
        Outcome::Ignored { provider, event } => {
            tracing::info!(%provider, event, "event ignored");
            Response::new(
                202,
                json!({ "message": format!("{event} events are not built; only pushes are") }),
            )
        }
        Outcome::Push {
            provider,
            jobs,
            skipped,
        } => {
            let skipped: Vec<Value> = skipped
                .into_iter()
                .map(|(git_ref, reason)| json!({ "ref": git_ref, "reason": reason }))
                .collect();
            let mut queued = Vec::new();
            for job in &jobs {
                if let Err(e) = queue.enqueue(job).await {
                    tracing::error!(%provider, delivery = %job.delivery_id, error = %e, "enqueue failed");
                    return Response::new(503, json!({ "error": e.to_string(), "queued": queued }));
                }
                let key = job.object_key().unwrap_or_default();
                tracing::info!(
                    %provider, delivery = %job.delivery_id, repo = %job.repo, git_ref = %job.git_ref,
                    commit = %job.commit, job = %job.id(), key = %key, "push queued"
                );
                queued.push(
                    json!({ "id": job.id(), "ref": job.git_ref, "commit": job.commit, "key": key }),
                );
            }
            if queued.is_empty() {
                tracing::info!(%provider, ?skipped, "push left nothing to build");
                return Response::new(
                    202,
                    json!({ "message": "nothing to build", "skipped": skipped }),
                );
            }
            Response::new(202, json!({ "jobs": queued, "skipped": skipped }))
        }
    }
}

/// The API Gateway proxy event → [`handle`] → the proxy response.
pub async fn handle_api_gateway<Q: JobQueue>(
    event: ApiGatewayProxyRequest,
    config: &ReceiverConfig,
    queue: &Q,
) -> ApiGatewayProxyResponse {
    let path = event.path.clone().unwrap_or_default();
    let response = match Method::from_path(&path) {
        None => Response::new(
            404,
            json!({ "error": format!("no route {path}: use /gitpull or /zipdl") }),
        ),
        Some(method) => {
            match decode_event_body(event.body.as_deref().unwrap_or(""), event.is_base64_encoded) {
                Err(rejection) => Response::rejected(&rejection),
                Ok(body) => {
                    let source_ip: Option<IpAddr> = event
                        .request_context
                        .identity
                        .source_ip
                        .as_deref()
                        .and_then(|ip| ip.parse().ok());
                    let request = Request {
                        method,
                        headers: &event.headers,
                        body: &body,
                        source_ip,
                    };
                    handle(&request, config, queue).await
                }
            }
        }
    };
    to_proxy_response(&response)
}

fn to_proxy_response(response: &Response) -> ApiGatewayProxyResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    ApiGatewayProxyResponse {
        status_code: i64::from(response.status),
        headers,
        multi_value_headers: HeaderMap::new(),
        body: Some(Body::Text(response.body.to_string())),
        is_base64_encoded: false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use base64::Engine;

    use super::*;
    use crate::connection::Connection;
    use crate::filter::Filters;
    use crate::job::Job;
    use crate::queue::QueueError;
    use crate::webhook::{sign, AllowedIps, Secrets};
    use crate::Provider;

    const SECRET: &str = "receiver-test-secret";

    /// Records what is enqueued; fails every call when `fail` is set.
    #[derive(Default)]
    struct Recording {
        jobs: Mutex<Vec<Job>>,
        fail: bool,
    }

    impl JobQueue for Recording {
        async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
            if self.fail {
                return Err(QueueError::new(job, "the queue is unavailable"));
            }
            self.jobs.lock().unwrap().push(job.clone());
            Ok(())
        }
    }

    fn config() -> ReceiverConfig {
        ReceiverConfig {
            secrets: Secrets::from_lines(SECRET),
            allowed_ips: AllowedIps::default(),
            filters: Filters::all(),
            // The generic fixture's repository, on its plain SSH server.
            connection: Connection::new(
                Provider::Generic,
                vec!["infra/deploy-scripts".into()],
                None,
                None,
                "[git.internal.example]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
            ),
        }
    }

    fn data(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

    /// The captured proxy event, carrying `payload` signed with `secret`.
    fn event(payload: &str, secret: &str) -> ApiGatewayProxyRequest {
        let body = base64::engine::general_purpose::STANDARD.encode(payload);
        let text = data("apigw-proxy-gitpull.json")
            .replace("SIGNATURE", &sign(secret, payload.as_bytes()))
            .replace("\"BODY\"", &format!("\"{body}\""));
        serde_json::from_str(&text).unwrap()
    }

    fn body_of(response: &ApiGatewayProxyResponse) -> Value {
        match &response.body {
            Some(Body::Text(text)) => serde_json::from_str(text).unwrap(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[tokio::test]
    async fn api_gateway_event_with_base64_body_is_queued() {
        let queue = Recording::default();
        let payload = data("webhooks/generic-push.json");
        let response = handle_api_gateway(event(&payload, SECRET), &config(), &queue).await;
        assert_eq!(response.status_code, 202);
        let jobs = queue.jobs.lock().unwrap().clone();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].delivery_id, "5c2f1e8a-delivery");
        assert_eq!(jobs[0].method, Method::GitPull);
        let body = body_of(&response);
        assert_eq!(body["jobs"][0]["id"], jobs[0].id());
        assert_eq!(
            body["jobs"][0]["key"],
            "infra/deploy-scripts/main/infra_deploy-scripts.zip"
        );
    }

    #[tokio::test]
    async fn a_bad_signature_is_401_and_queues_nothing() {
        let queue = Recording::default();
        let payload = data("webhooks/generic-push.json");
        let response = handle_api_gateway(event(&payload, "wrong"), &config(), &queue).await;
        assert_eq!(response.status_code, 401);
        assert!(queue.jobs.lock().unwrap().is_empty());
        let error = body_of(&response)["error"].as_str().unwrap().to_string();
        assert!(
            !error.contains(SECRET) && !error.contains("sha256="),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_unknown_route_is_404() {
        let mut e = event("{}", SECRET);
        e.path = Some("/prod/other".into());
        let response = handle_api_gateway(e, &config(), &Recording::default()).await;
        assert_eq!(response.status_code, 404);
    }

    #[tokio::test]
    async fn an_unavailable_queue_is_503_so_the_provider_retries() {
        let queue = Recording {
            fail: true,
            ..Recording::default()
        };
        let payload = data("webhooks/generic-push.json");
        let response = handle_api_gateway(event(&payload, SECRET), &config(), &queue).await;
        assert_eq!(response.status_code, 503);
        assert!(body_of(&response)["error"]
            .as_str()
            .unwrap()
            .contains("infra/deploy-scripts"));
    }

    #[tokio::test]
    async fn ping_and_deletion_answers() {
        let queue = Recording::default();
        let mut e = event("{\"zen\":\"ok\"}", SECRET);
        e.headers
            .insert("x-git2s3-event", http::HeaderValue::from_static("ping"));
        assert_eq!(
            handle_api_gateway(e, &config(), &queue).await.status_code,
            200
        );

        let deleted = data("webhooks/generic-push.json").replace(
            "c0ffee0123456789abcdef0123456789abcdef01",
            "0000000000000000000000000000000000000000",
        );
        let response = handle_api_gateway(event(&deleted, SECRET), &config(), &queue).await;
        assert_eq!(response.status_code, 202);
        assert_eq!(body_of(&response)["skipped"][0]["reason"], "deleted");
        assert!(queue.jobs.lock().unwrap().is_empty());
    }
}
