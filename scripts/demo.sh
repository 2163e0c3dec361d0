#!/usr/bin/env bash
# git2s3's whole chain on this machine, with no AWS account:
#
#   scripts/demo.sh
#
#  1. installs what it needs (scripts/setup.sh: openssh-server, moto and
#     cargo-lambda in .venv/);
#  2. builds git2s3;
#  3. starts moto (the AWS emulator) and an unprivileged sshd on loopback,
#     with a bare repo;
#  4. runs `git2s3 init --yes` against moto with the generic provider: the
#     stack, the secrets and the Lambda artifact are created for real in the
#     emulator;
#  5. starts `git2s3 serve`, the local stand-in for API Gateway and Lambda,
#     which reads the bucket, webhook secret and deploy key from the stack;
#  6. installs git2s3's post-receive hook in the bare repo;
#  7. pushes commits to two branches and a tag, over SSH;
#  8. prints the S3 keys, their commit metadata and `git2s3 status`;
#  9. stops everything it started (DEMO_KEEP=1 keeps the files).
#
# Environment: GIT2S3_BIN=PATH uses that binary instead of building one;
# CARGO_TARGET_DIR as in scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n==> %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }

. scripts/lib/local.sh

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/git2s3-demo.XXXXXX")
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${DEMO_KEEP:-}" = 1 ]; then
    echo "(kept $DEMO)"
  else
    rm -rf "$DEMO"
  fi
  [ "$status" = 0 ] || echo "demo failed (exit $status); logs were in $DEMO (DEMO_KEEP=1 keeps them)" >&2
}
trap cleanup EXIT

# --- 1. install ---------------------------------------------------------------
step "1/9 Installing what the demo needs (scripts/setup.sh)"
scripts/setup.sh

# --- 2. build -----------------------------------------------------------------
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/git2s3/target}"
if [ -n "${GIT2S3_BIN:-}" ]; then
  step "2/9 Using $GIT2S3_BIN"
  BIN=$GIT2S3_BIN
  BOOTSTRAP=$(dirname "$GIT2S3_BIN")/bootstrap
else
  step "2/9 Building git2s3 and the Lambda's bootstrap (cargo build)"
  cargo build --locked --quiet --bin git2s3 --bin bootstrap --package git2s3 --package git2s3-lambda
  BIN=$CARGO_TARGET_DIR/debug/git2s3
  BOOTSTRAP=$CARGO_TARGET_DIR/debug/bootstrap
fi
if [ ! -x "$BOOTSTRAP" ]; then
  cargo build --locked --quiet --bin bootstrap --package git2s3-lambda
  BOOTSTRAP=$CARGO_TARGET_DIR/debug/bootstrap
fi
# moto stores the Lambda's code without running it, so the demo deploys
# this machine's debug build. The zip for real AWS is `cargo lambda build
# --release` (see docs/getting-started.md).
(cd "$DEMO" && cp "$BOOTSTRAP" bootstrap && zip -q bootstrap.zip bootstrap && rm bootstrap)
say "git2s3 $("$BIN" --version | cut -d' ' -f2), Lambda zip $DEMO/bootstrap.zip"

# --- 3. moto and sshd ---------------------------------------------------------
step "3/9 Starting moto (AWS emulator) and an unprivileged sshd on loopback"
start_moto "$DEMO"
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
unset AWS_PROFILE AWS_SESSION_TOKEN GIT2S3_CONFIG GIT2S3_WEBHOOK_SECRET
say "moto on $AWS_ENDPOINT_URL"

ME=$(id -un)
mkdir -p "$DEMO/ssh" "$DEMO/repos/demo"
start_sshd "$DEMO/ssh"
REPO=$DEMO/repos/demo/app.git
git init -q --bare -b main "$REPO"
SSH_URL=ssh://$ME@127.0.0.1:$SSH_PORT$REPO
say "sshd on 127.0.0.1:$SSH_PORT, bare repo $SSH_URL"

# --- 4. init ------------------------------------------------------------------
step "4/9 git2s3 init --yes (generic provider) against moto"
CONFIG=$DEMO/git2s3.yaml
git2s3() { "$BIN" --config "$CONFIG" "$@"; }
git2s3 init --yes --provider generic --stack-name git2s3-demo --repo demo/app \
  --lambda-zip "$DEMO/bootstrap.zip" --architecture "$( [ "$(uname -m)" = aarch64 ] && echo arm64 || echo x86_64)" \
  --output json >"$DEMO/init.json"
json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }
BUCKET=$(json "$DEMO/init.json" bucket)
say "stack git2s3-demo is up; bucket $BUCKET; secrets in moto's Secrets Manager; config $CONFIG"
# moto ignores the template's VersioningConfiguration; real S3 does not.
.venv/bin/python - "$BUCKET" <<'EOF'
import sys, boto3
boto3.client("s3").put_bucket_versioning(Bucket=sys.argv[1], VersioningConfiguration={"Status": "Enabled"})
EOF
# The worker pulls with the stack's deploy key: authorize it, read-only in spirit.
json "$DEMO/init.json" public_key >>"$DEMO/ssh/authorized_keys"
say "the stack's deploy key may now pull from sshd"

# --- 5. serve -----------------------------------------------------------------
step "5/9 Starting git2s3 serve (the local API Gateway + Lambda)"
SERVE_PORT=$(free_port)
"$BIN" --config "$CONFIG" -v serve --listen "127.0.0.1:$SERVE_PORT" --known-hosts "$DEMO/ssh/known_hosts" 2>"$DEMO/serve.log" &
PIDS+=($!)
wait_for_port "$SERVE_PORT" "git2s3 serve" "$DEMO/serve.log"
say "serve on http://127.0.0.1:$SERVE_PORT (bucket, secret and deploy key read from the stack)"

# --- 6. hook ------------------------------------------------------------------
step "6/9 git2s3 hook install (post-receive hook in the bare repo)"
git2s3 hook install --git-dir "$REPO" --webhook-url "http://127.0.0.1:$SERVE_PORT/gitpull" \
  --name demo/app --ssh-url "$SSH_URL" | sed 's/^/    /'

# --- 7. push ------------------------------------------------------------------
step "7/9 Pushing two branches and a tag over SSH"
WORK=$DEMO/work
git init -q -b main "$WORK"
g() { git -C "$WORK" -c user.name="Demo Developer" -c user.email=dev@example.com "$@"; }
g remote add origin "$SSH_URL"
printf '# demo app\n' >"$WORK/README.md"
printf '#!/bin/sh\necho "building"\n' >"$WORK/build.sh" && chmod +x "$WORK/build.sh"
mkdir -p "$WORK/.github" && printf 'on: push\n' >"$WORK/.github/ci.yml"
g add -A && g commit -q -m "first commit"
g tag -a v1.0 -m "release 1.0"
g checkout -q -b feature/hello
printf 'hello\n' >"$WORK/hello.txt"
g add -A && g commit -q -m "say hello"
g checkout -q main
printf '# demo app, second commit\n' >"$WORK/README.md"
g commit -q -am "second commit"
g push -q origin main feature/hello v1.0 2>&1 | sed 's/^/    /'
say "pushed main, feature/hello and v1.0; the hook sent one signed event per ref"

# Wait for the three deliveries, then for serve to finish building.
LOG=$REPO/git2s3/hook.log
for _ in $(seq 1 150); do
  [ "$(grep -c ' delivery ' "$LOG" 2>/dev/null || true)" -ge 3 ] && break
  sleep 0.2
done
sed 's/^/    /' "$LOG"
for _ in $(seq 1 300); do
  pending=$(curl -fsS "http://127.0.0.1:$SERVE_PORT/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending_jobs"])')
  [ "$pending" = 0 ] && break
  sleep 0.2
done

say "serve: $(grep -c 'zip written' "$DEMO/serve.log" || true) zip(s) written"

# --- 8. show ------------------------------------------------------------------
step "8/9 What landed in S3"
.venv/bin/python - "$BUCKET" <<'EOF'
import sys, boto3
s3, bucket = boto3.client("s3"), sys.argv[1]
keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
if len(keys) != 3:
    sys.exit("expected 3 zips in s3://%s, found %d; see serve.log" % (bucket, len(keys)))
for key in keys:
    head = s3.head_object(Bucket=bucket, Key=key)
    meta = head["Metadata"]
    print("    s3://%s/%s" % (bucket, key))
    print("        %d bytes, version %s" % (head["ContentLength"], head.get("VersionId", "-")))
    print("        commit %s  ref %s  provider %s  pusher %s" % (
        meta.get("commit"), meta.get("ref"), meta.get("provider"), meta.get("pusher", "-")))
EOF
printf '\n    $ git2s3 status\n'
git2s3 status | sed 's/^/    /'

# --- 9. stop ------------------------------------------------------------------
step "9/9 Stopping serve, sshd and moto"
say "done. The same flow against real AWS: docs/getting-started.md"
