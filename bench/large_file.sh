#!/usr/bin/env bash
# Benchmark of one large file through the git-pull path (not a test; run it
# by hand):
#
#   bench/large_file.sh [MEGABYTES]      default: 2048 (one 2 GB file)
#   MEMORY_LIMIT_MB=128 bench/large_file.sh   serve inside a memory cgroup
#                                             of that size, as a Lambda's
#                                             memory bounds its worker
#
# A repository holding one file of random bytes (which does not compress,
# so its zip entry is as large as the file) is pushed to a bare repo behind
# an unprivileged sshd on loopback; a signed webhook to `git2s3 serve`
# (release build) builds its zip into moto's S3. It prints the time and the
# peak RSS of `serve`'s whole life, beside the same figures for the
# reference run in the same script, a shallow `git clone` of the same
# repository, and the ratios. The target: serve's peak RSS at most 128 MiB
# whatever the file's size (the file streams through, a chunk at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
MEGABYTES=${1:-2048}
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
ENDPOINT="http://127.0.0.1:$MOTO_PORT"
start_sshd "$WORK"
BARE="$WORK/repos/bench/large.git"
URL="ssh://$(id -un)@127.0.0.1:$SSH_PORT$BARE"

echo "==> one file of $MEGABYTES MB of random bytes"
mkdir -p "$WORK/src" "$BARE"
git init -q --bare -b main "$BARE"
head -c "$((MEGABYTES * 1024 * 1024))" /dev/urandom >"$WORK/src/large.bin"
echo "a small file beside it" >"$WORK/src/README.md"
(cd "$WORK/src" && git init -q -b main && git add -A && git -c user.name=b -c user.email=b@example.com commit -q -m large \
  && git push -q "$BARE" main)
COMMIT=$(git -C "$WORK/src" rev-parse HEAD)
rm -f "$WORK/src/large.bin"
echo "    pack $(du -sh "$BARE" | cut -f1)"
.venv/bin/python - "$ENDPOINT" <<'PY'
import boto3, sys
boto3.client("s3", endpoint_url=sys.argv[1]).create_bucket(Bucket="bench-large")
PY

echo "==> git2s3 serve (release)"
SERVE_PORT=$(free_port)
RUST_LOG=info GIT2S3_WEBHOOK_SECRET=bench-secret GIT2S3_PROVIDER=generic GIT2S3_REPOS=bench/large \
  "$GIT2S3" serve --listen "127.0.0.1:$SERVE_PORT" --bucket bench-large \
  --ssh-key "$WORK/developer" --known-hosts "$WORK/known_hosts" --endpoint-url "$ENDPOINT" >"$WORK/serve.log" 2>&1 & SERVE_PID=$!
PIDS+=($SERVE_PID)
wait_for_port "$SERVE_PORT" "git2s3 serve" "$WORK/serve.log"

# With MEMORY_LIMIT_MB, serve runs in a memory cgroup (v1) of that size,
# which, like a Lambda's memory, counts the page cache serve's files use:
# the kernel reclaims clean file pages under the limit, and kills serve if
# what it needs cannot be reclaimed.
CGROUP=
if [ -n "${MEMORY_LIMIT_MB:-}" ]; then
  CGROUP=/sys/fs/cgroup/memory/git2s3-bench-$$
  if mkdir "$CGROUP" 2>/dev/null; then
    echo "$((MEMORY_LIMIT_MB * 1024 * 1024))" >"$CGROUP/memory.limit_in_bytes"
    echo "$SERVE_PID" >"$CGROUP/cgroup.procs"
    echo "    serve in $CGROUP, limit ${MEMORY_LIMIT_MB} MiB"
    trap 'cleanup; rmdir "$CGROUP" 2>/dev/null || true' EXIT
  else
    echo "    cannot make a memory cgroup here (needs cgroup v1's memory controller, writable); running without a limit"
    CGROUP=
  fi
fi

echo "==> the webhook, until the zip is in S3"
sync
# serve's resident memory, sampled twice a second, to tell which phase holds what.
( while kill -0 "$SERVE_PID" 2>/dev/null; do
    echo "$(date +%s.%N) $(grep VmRSS /proc/$SERVE_PID/status | awk '{print $2}') $(awk '/^Anonymous:/{a=$2} /^Rss:/{r=$2} END{print a, r-a}' /proc/$SERVE_PID/smaps_rollup)"; sleep 0.2
  done >"$WORK/rss.samples" ) & PIDS+=($!)
START=$(date +%s.%N)
.venv/bin/python - "$SERVE_PORT" "$URL" "$COMMIT" "$ENDPOINT" <<'PY'
import boto3, hashlib, hmac, json, sys, time, urllib.request
port, url, commit, endpoint = sys.argv[1:]
body = json.dumps({"ref": "refs/heads/main", "after": commit,
                   "repository": {"full_name": "bench/large", "ssh_url": url}}).encode()
sig = "sha256=" + hmac.new(b"bench-secret", body, hashlib.sha256).hexdigest()
req = urllib.request.Request(f"http://127.0.0.1:{port}/gitpull", data=body, method="POST", headers={
    "content-type": "application/json", "x-git2s3-event": "push", "x-git2s3-delivery": "large-1",
    "x-hub-signature-256": sig})
urllib.request.urlopen(req).read()
s3 = boto3.client("s3", endpoint_url=endpoint)
deadline = time.time() + 1800
while time.time() < deadline:
    try:
        if s3.head_object(Bucket="bench-large", Key="bench/large/main/bench_large.zip")["Metadata"].get("commit") == commit:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit("no zip after 30 minutes")
PY
T_GIT2S3=$(python3 -c "import time; print(f'{time.time() - $START:.2f}')")
if [ -n "$CGROUP" ]; then
  kill -0 "$SERVE_PID" 2>/dev/null || { echo "serve was killed under the ${MEMORY_LIMIT_MB} MiB limit"; exit 1; }
  echo "    under the ${MEMORY_LIMIT_MB} MiB limit: the cgroup's peak (with page cache) $(( $(cat "$CGROUP/memory.max_usage_in_bytes") / 1048576 )) MiB, limit reached $(cat "$CGROUP/memory.failcnt") times, $(grep -E '^oom_kill ' "$CGROUP/memory.oom_control" || echo 'oom_kill 0') (the kernel reclaimed file pages instead)"
fi
# When the fetch ended (the worker logs it), and serve's peak before and after.
python3 - "$WORK/rss.samples" "$START" "$(grep -m1 ' fetched' "$WORK/serve.log" | grep -o 'seconds=[0-9.]*' | cut -d= -f2)" <<'PY'
import sys
samples = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 4]
start, fetch = float(sys.argv[2]), float(sys.argv[3] or 0)
def peak(phase, col):
    return max((s[col] for s in samples if phase(s[0] - start)), default=0) / 1024
fetching, zipping = (lambda t: t <= fetch), (lambda t: t > fetch)
print(f"    fetch {fetch:.1f}s; sampled peaks (MiB): while fetching RSS {peak(fetching, 1):.0f} "
      f"(heap {peak(fetching, 2):.0f}, mapped files {peak(fetching, 3):.0f}); "
      f"while zipping and uploading RSS {peak(zipping, 1):.0f} (heap {peak(zipping, 2):.0f}, mapped files {peak(zipping, 3):.0f})")
PY
RSS_GIT2S3=$(grep VmHWM "/proc/$SERVE_PID/status" | awk '{print $2}')
grep -q 'files=2' "$WORK/serve.log" || { echo "the worker did not write both files:"; tail -5 "$WORK/serve.log"; exit 1; }

echo "==> the zip reads back: Info-ZIP's test of every entry"
.venv/bin/python - "$ENDPOINT" "$WORK/large.zip" <<'PY'
import boto3, sys
boto3.client("s3", endpoint_url=sys.argv[1]).download_file("bench-large", "bench/large/main/bench_large.zip", sys.argv[2])
PY
unzip -tq "$WORK/large.zip"
ZIP_BYTES=$(stat -c %s "$WORK/large.zip")
rm -f "$WORK/large.zip"

echo "==> reference: a shallow clone of the same repository"
sync
/usr/bin/time -f "%e %M" -o "$WORK/clone.time" git clone -q --depth 1 --single-branch -b main "$URL" "$WORK/clone"
read -r T_CLONE RSS_CLONE <"$WORK/clone.time"
rm -rf "$WORK/clone"

python3 - "$MEGABYTES" "$T_GIT2S3" "$RSS_GIT2S3" "$T_CLONE" "$RSS_CLONE" "$ZIP_BYTES" <<'PY'
import sys
mb, tg, rg, tc, rc, size = sys.argv[1:]
tg, tc, rg, rc = float(tg), float(tc), int(rg), int(rc)
print()
print(f"{'run':<34}{'time':>9}{'peak RSS':>11}")
print(f"{'git2s3 (webhook to zip in S3)':<34}{tg:>8.2f}s{rg / 1024:>8.0f} MiB")
print(f"{'shallow clone alone':<34}{tc:>8.2f}s{rc / 1024:>8.0f} MiB")
print()
print(f"git2s3 / clone time  = {tg / tc:.2f}x")
print(f"git2s3 / clone RSS   = {rg / rc:.2f}x")
print(f"git2s3 peak RSS      = {rg / 1024:.0f} MiB for one {mb} MB file   (target <= 128 MiB)")
print(f"zip size             = {int(size) / 1048576:.0f} MiB")
PY
