#!/usr/bin/env bash
# Load benchmark (not a test; run it by hand):
#
#   bench/load.sh                     200 repositories, 2,000 webhooks, 50 senders
#   REPOS=20 SENDERS=10 bench/load.sh a quick look
#
# 200 small real repositories behind an unprivileged sshd on loopback, and
# `git2s3 serve` (release build) in front of moto's S3. Each repository gets
# 8 pushes and 10 signed webhooks, 3 of them redelivered or out of order
# (bench/load.py says how), from 50 senders at once. It prints the
# webhook acknowledgement latency (p50, p99, max) beside a reference run of
# as many requests that do no work, the webhooks per second, the time until
# the last zip landed and the zips per second, beside a reference run of as
# many shallow clones over the same sshd as serve ran jobs, as many at once
# as serve builds; serve's peak RSS; then three checks, PASS or FAIL:
#   every final zip holds its final head and that commit's files;
#   no older commit ever replaced a newer one (the object versions);
#   no job was built twice for one delivery.
# It exits non-zero if a check fails. Bounded: DEADLINE seconds (900).
set -euo pipefail
cd "$(dirname "$0")/.."
export REPOS=${REPOS:-200} SENDERS=${SENDERS:-50} PARALLEL=${PARALLEL:-4}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/git2s3/target}"

scripts/setup.sh >/dev/null
echo "==> building git2s3 (release)"
cargo build -q --release --bin git2s3
GIT2S3="$CARGO_TARGET_DIR/release/git2s3"

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
. scripts/lib/local.sh

echo "==> moto and sshd on loopback"
start_moto "$WORK"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export ENDPOINT="http://127.0.0.1:$MOTO_PORT" BUCKET=load-zips
start_sshd "$WORK"
export REPOS_DIR="$WORK/repos" SSH_BASE="ssh://$(id -un)@127.0.0.1:$SSH_PORT$WORK/repos"
.venv/bin/python -c "
import boto3
s3 = boto3.client('s3', endpoint_url='$ENDPOINT')
s3.create_bucket(Bucket='$BUCKET')
s3.put_bucket_versioning(Bucket='$BUCKET', VersioningConfiguration={'Status': 'Enabled'})"

echo "==> $REPOS bare repositories"
for i in $(seq 0 $((REPOS - 1))); do
  git init -q --bare -b main "$REPOS_DIR/load/r$(printf %03d "$i").git"
done

echo "==> git2s3 serve (release, --parallel $PARALLEL)"
SERVE_PORT=$(free_port)
export SERVE_PORT SERVE_LOG="$WORK/serve.log" SECRET=load-bench-secret RESULT="$WORK/result.json"
GIT2S3_WEBHOOK_SECRET=$SECRET GIT2S3_PROVIDER=generic GIT2S3_ORG=load RUST_LOG=info \
  "$GIT2S3" serve --listen "127.0.0.1:$SERVE_PORT" --bucket "$BUCKET" --parallel "$PARALLEL" \
  --ssh-key "$WORK/developer" --known-hosts "$WORK/known_hosts" --endpoint-url "$ENDPOINT" \
  >"$SERVE_LOG" 2>&1 & SERVE_PID=$!
PIDS+=($SERVE_PID)
wait_for_port "$SERVE_PORT" "git2s3 serve" "$SERVE_LOG"

echo "==> $((REPOS * 10)) webhooks from $SENDERS senders"
STATUS=0
timeout "${DEADLINE:-900}" .venv/bin/python bench/load.py || STATUS=$?
RSS_KB=$(grep VmHWM "/proc/$SERVE_PID/status" | awk '{print $2}')
echo "serve peak RSS            $((RSS_KB / 1024)) MiB"
[ "$STATUS" = 0 ] || { echo "load run failed (exit $STATUS); serve's log: $SERVE_LOG"; tail -20 "$SERVE_LOG"; exit "$STATUS"; }

# The reference: what the jobs' fetches alone cost. serve ran one job per
# webhook that was not a duplicate delivery, each with one fetch over SSH;
# as many shallow clones, spread over the repositories, as many at once.
JOBS=$(.venv/bin/python -c "import json; print(json.load(open('$RESULT'))['jobs'])")
echo "==> reference: $JOBS shallow clones over the same sshd, $PARALLEL at once"
START=$(date +%s.%N)
seq 0 $((JOBS - 1)) | xargs -P "$PARALLEL" -I{} sh -c \
  'n=$(printf %03d $(({} % REPOS))); git clone -q --depth 1 "$SSH_BASE/load/r$n.git" "$0/clones/{}" && rm -rf "$0/clones/{}"' "$WORK"
CLONES=$(.venv/bin/python -c "import time; print(f'{time.time() - $START:.1f}')")
.venv/bin/python - "$RESULT" "$CLONES" <<'PY'
import json, sys
result, clones = json.load(open(sys.argv[1])), float(sys.argv[2])
landed, jobs = result["landed_seconds"], result["jobs"]
print(f"{jobs} shallow clones        {clones:.1f} s")
print(f"git2s3's {jobs} jobs ({result['zips']} zips written) took {landed / clones:.2f}x the time of "
      f"{jobs} clones: {landed / jobs * 1000:.0f} ms a job against {clones / jobs * 1000:.0f} ms a clone")
PY
