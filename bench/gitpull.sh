#!/usr/bin/env bash
# Benchmark of the git-pull path (not a test; run it by hand):
#
#   bench/gitpull.sh [FILES] [MEGABYTES]      default: 20000 files, 300 MB
#   RUNS=5 bench/gitpull.sh                   first pushes and clones (default 3)
#
# It generates a repo (text plus some binaries), pushes it to a bare repo
# behind an unprivileged sshd on loopback, and measures, in the same run:
#   git2s3   - a signed webhook to `git2s3 serve` (release build) until the
#              zip is in moto's S3: fetch, blobs copied from the pack into the zip
#              on every core, streamed upload;
#   quick    - the Quick Start's steps: git clone --depth 1 --single-branch,
#              zip -r -q -x '*.git*', then the upload to the same S3;
#   clone    - the floor: the shallow clone alone.
# git2s3's first push and the clone alone run RUNS times, interleaved (each
# git2s3 run is the same commit pushed to a new branch, so it is a first
# push: a fresh fetch and a whole zip), and the fastest of each is compared:
# on a 2-core machine one clone can take half as long again as the next, so
# the least disturbed run of each says more than either mean or median.
# The medians are printed too. The Quick Start's steps run once.
# It prints each time, the ratios to the references, and each one's peak
# RSS; then the time of a second push with one file changed.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-20000}
MEGABYTES=${2:-300}
ROOT=$(pwd)
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
now() { date +%s.%N; }

echo "==> moto and sshd on loopback"
start_moto "$WORK"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
ENDPOINT="http://127.0.0.1:$MOTO_PORT"
start_sshd "$WORK"
USER_NAME=$(id -un)
BARE="$WORK/repos/bench/big.git"
URL="ssh://$USER_NAME@127.0.0.1:$SSH_PORT$BARE"

echo "==> generating a repo of $FILES files, about $MEGABYTES MB"
mkdir -p "$WORK/src" "$BARE"
git init -q --bare -b main "$BARE"
python3 - "$WORK/src" "$FILES" "$MEGABYTES" <<'EOF'
import os, random, sys
root, files, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 10))) for _ in range(5000)]
binaries = max(1, files // 100)
binary_bytes = mb * 1024 * 1024 // 3      # a third of the size in binaries
text_bytes = mb * 1024 * 1024 - binary_bytes
for i in range(files):
    d = os.path.join(root, f"pkg{i % 97}", f"mod{i % 13}")
    os.makedirs(d, exist_ok=True)
    if i < binaries:
        with open(os.path.join(d, f"blob{i}.bin"), "wb") as f:
            f.write(os.urandom(binary_bytes // binaries))
    else:
        size = text_bytes // (files - binaries)
        out, n = [], 0
        while n < size:
            line = ' '.join(rng.choice(words) for _ in range(12)) + '\n'
            out.append(line); n += len(line)
        with open(os.path.join(d, f"file{i}.txt"), "w") as f:
            f.write(''.join(out))
EOF
(cd "$WORK/src" && git init -q -b main && git add -A && git -c user.name=b -c user.email=b@example.com commit -q -m bench \
  && git push -q "$BARE" main)
COMMIT=$(git -C "$WORK/src" rev-parse HEAD)
echo "    $(du -sh --exclude=.git "$WORK/src" | cut -f1) in $(git -C "$WORK/src" ls-files | wc -l) files; pack $(du -sh "$BARE" | cut -f1)"

py() { .venv/bin/python - "$@"; }
py "$ENDPOINT" <<'EOF'
import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
for b in ("bench-git2s3", "bench-quick"):
    s3.create_bucket(Bucket=b)
EOF

peak_kb() { grep VmHWM "/proc/$1/status" | awk '{print $2}'; }

echo "==> git2s3 serve (release)"
SERVE_PORT=$(free_port)
RUST_LOG=info GIT2S3_WEBHOOK_SECRET=bench-secret GIT2S3_PROVIDER=generic GIT2S3_REPOS=bench/big "$GIT2S3" serve --listen "127.0.0.1:$SERVE_PORT" --bucket bench-git2s3 \
  --ssh-key "$WORK/developer" --known-hosts "$WORK/known_hosts" --endpoint-url "$ENDPOINT" >"$WORK/serve.log" 2>&1 & SERVE_PID=$!
PIDS+=($SERVE_PID)
wait_for_port "$SERVE_PORT" "git2s3 serve" "$WORK/serve.log"

push_and_wait() { # commit, delivery, branch -> seconds
  py "$SERVE_PORT" "$URL" "$1" "$2" "$ENDPOINT" "$3" <<'EOF'
import boto3, hashlib, hmac, json, sys, time, urllib.request
port, url, commit, delivery, endpoint, branch = sys.argv[1:]
body = json.dumps({"ref": f"refs/heads/{branch}", "after": commit,
                   "repository": {"full_name": "bench/big", "ssh_url": url}}).encode()
sig = "sha256=" + hmac.new(b"bench-secret", body, hashlib.sha256).hexdigest()
req = urllib.request.Request(f"http://127.0.0.1:{port}/gitpull", data=body, method="POST", headers={
    "content-type": "application/json", "x-git2s3-event": "push", "x-git2s3-delivery": delivery,
    "x-hub-signature-256": sig})
s3 = boto3.client("s3", endpoint_url=endpoint)
start = time.time()
urllib.request.urlopen(req).read()
while True:
    try:
        head = s3.head_object(Bucket="bench-git2s3", Key=f"bench/big/{branch}/bench_big.zip")
        if head["Metadata"].get("commit") == commit:
            break
    except Exception:
        pass
    time.sleep(0.05)
print(f"{time.time() - start:.2f}")
EOF
}

timed() { # prints "seconds peak-KiB"; a failing step prints its stderr and stops the run
  if ! /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/step.err"; then
    echo "step failed: $*" >&2; cat "$WORK/step.err" >&2; kill $$; exit 1
  fi
  tail -1 "$WORK/time.out"
}

RUNS=${RUNS:-3}
echo "==> $RUNS first pushes through git2s3, each followed by a shallow clone alone"
T_RUNS=() C_RUNS=() RSS_CLONE=0
for i in $(seq 1 "$RUNS"); do
  BRANCH=main; [ "$i" = 1 ] || { BRANCH="run$i"; git -C "$WORK/src" push -q "$BARE" "main:$BRANCH"; }
  # Each run starts with no dirty pages left by the one before: a clone
  # writes the whole tree, and its writeback would slow the next step.
  sync
  T_RUNS+=("$(push_and_wait "$COMMIT" "first-$i" "$BRANCH")")
  sync
  read -r T R < <(timed git clone -q --depth 1 --single-branch -b main "$URL" "$WORK/floor")
  rm -rf "$WORK/floor"
  C_RUNS+=("$T"); [ "$R" -le "$RSS_CLONE" ] || RSS_CLONE=$R
  echo "    run $i: git2s3 ${T_RUNS[-1]}s, clone ${T}s"
done
RSS_GIT2S3=$(peak_kb "$SERVE_PID")
# The worker logs how long each fetch took; the rest is zip and upload.
F_RUNS=$(grep 'fetched' "$WORK/serve.log" | grep -v 'zipped' | grep -o 'seconds=[0-9.]*' | cut -d= -f2 | tr '\n' ' ')

echo "==> Quick Start steps: clone --depth 1, zip -r -x '*.git*', upload"
sync
read -r C1 R1 < <(timed git clone -q --depth 1 --single-branch -b main "$URL" "$WORK/quick")
read -r Z1 R2 < <(cd "$WORK/quick" && timed zip -r -q "$WORK/quick.zip" . -x '*.git*')
read -r U1 R3 < <(timed .venv/bin/python -c "import boto3,sys; boto3.client('s3', endpoint_url='$ENDPOINT').upload_file('$WORK/quick.zip','bench-quick','bench/big/main/bench_big.zip')")
T_QUICK=$(python3 -c "print(f'{$C1+$Z1+$U1:.2f}')")
RSS_QUICK=$(printf '%s\n' "$R1" "$R2" "$R3" | sort -n | tail -1)

echo "==> second push, one file changed"
sync
CHANGED=$(git -C "$WORK/src" ls-files '*.txt' | sed -n 1p)
(cd "$WORK/src" && echo "changed" >>"$CHANGED" && git -c user.name=b -c user.email=b@example.com commit -q -am second && git push -q "$BARE" main)
T_SECOND=$(push_and_wait "$(git -C "$WORK/src" rev-parse HEAD)" second main)

ZIP_BYTES=$(py "$ENDPOINT" <<'EOF'
import boto3, sys
print(boto3.client("s3", endpoint_url=sys.argv[1]).head_object(Bucket="bench-git2s3", Key="bench/big/main/bench_big.zip")["ContentLength"])
EOF
)
python3 - "${T_RUNS[*]}" "$T_QUICK" "${C_RUNS[*]}" "$RSS_GIT2S3" "$RSS_QUICK" "$RSS_CLONE" "$T_SECOND" "$ZIP_BYTES" "$C1" "$Z1" "$U1" "$(nproc)" "$F_RUNS" <<'EOF'
import statistics, sys
runs, q, clones, rg, rq, rc, second, size, c1, z1, u1, cores, fetches = sys.argv[1:]
runs, clones = [float(x) for x in runs.split()], [float(x) for x in clones.split()]
fetches = [float(x) for x in fetches.split()][:len(runs)]
g, c = min(runs), min(clones)
median = lambda xs: f"median {statistics.median(xs):.2f}s"
fetch = fetches[runs.index(g)] if len(fetches) == len(runs) else 0.0
q, second = float(q), float(second)
mb = lambda kb: f"{int(kb) / 1024:.0f} MiB"
each = lambda xs: ", ".join(f"{x:.2f}" for x in xs)
print()
print(f"{'run':<34}{'time':>9}{'peak RSS':>11}")
print(f"{'git2s3 (webhook to zip in S3)':<34}{g:>8.2f}s{mb(rg):>11}   best of {each(runs)} ({median(runs)}); fetch {fetch:.2f}s, zip+upload {g - fetch:.2f}s")
print(f"{'Quick Start (clone+zip+upload)':<34}{q:>8.2f}s{mb(rq):>11}   clone {c1}s, zip {z1}s, upload {u1}s")
print(f"{'shallow clone alone':<34}{c:>8.2f}s{mb(rc):>11}   best of {each(clones)} ({median(clones)})")
print(f"{'git2s3, second push (1 file)':<34}{second:>8.2f}s")
print()
print(f"git2s3 / Quick Start = {g / q:.2f}x   (target <= 0.6x)")
print(f"git2s3 / clone alone = {g / c:.2f}x   (target <= 1.15x)")
print(f"git2s3 peak RSS      = {mb(rg)}   (target <= 128 MiB; the serve process's whole life)")
print(f"zip size             = {int(size) / 1048576:.0f} MiB; cores: {cores}")
EOF
