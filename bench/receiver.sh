#!/usr/bin/env bash
# Benchmark of the receiver (not a test; run it by hand):
#
#   bench/receiver.sh
#
# Prints, for each provider's signed push, how many `receive` calls (verify,
# parse, filter, make the jobs) one core makes a second and their p50, p99
# and max, beside the reference run in the same process (a bare HMAC-SHA256
# of the same body) and the ratio; then the `bootstrap` binary's cold start
# in the receiver role, from spawning it to its first request for an event,
# beside spawning /bin/true. The receiver reads its webhook secret at start,
# so moto stands in for Secrets Manager. Goals: p99 under 100 ms in the
# handler; a bootstrap ready in under 50 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/git2s3/target}"

scripts/setup.sh >/dev/null
echo "==> building the bench and bootstrap (release)"
cargo build -q --release -p git2s3-lambda --example receiver_bench --bin bootstrap

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
. scripts/lib/local.sh
start_moto "$WORK"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
.venv/bin/python - <<PY
import boto3
boto3.client("secretsmanager", endpoint_url="$AWS_ENDPOINT_URL", region_name="us-east-1").create_secret(
    Name="git2s3/bench/webhook-secret", SecretString="bench-secret")
PY
export GIT2S3_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/bench-jobs.fifo"
export GIT2S3_WEBHOOK_SECRET_ID=git2s3/bench/webhook-secret
export GIT2S3_PROVIDER=github GIT2S3_REPOS=acme/api

"$CARGO_TARGET_DIR/release/examples/receiver_bench" "$CARGO_TARGET_DIR/release/bootstrap"
