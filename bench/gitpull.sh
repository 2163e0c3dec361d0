#!/usr/bin/env bash
# Benchmark of the git-pull path (not a test; run it by hand):
#
#   bench/gitpull.sh [FILES] [MEGABYTES...]   default: 20000 files, 300 and 600 MB
#   RUNS=5 WARM_RUNS=9 bench/gitpull.sh       repeats (defaults 3 and 5)
#
# For each size (the repository at the second size has twice the files of
# the first, and so on: twice the repository in every way), it generates a
# repo (text plus some binaries), pushes it to a bare repo behind an
# unprivileged sshd on loopback, and measures through `git2s3 serve`
# (release build) into moto's S3, from the signed webhook until the zip's
# `commit` metadata is the pushed commit:
#   first     - the first push to the key: a cold build (fetch at depth 1,
#               zip on every core, streamed upload); RUNS times, each to a
#               new branch, interleaved with the references:
#   quick     - the Quick Start's steps, once: git clone --depth 1
#               --single-branch, zip -r -q -x '*.git*', upload to the same S3;
#   clone     - the floor: the shallow clone alone;
#   one file  - a push changing one file: built on the previous zip (warm);
#   100 files - a push changing 100 files of one folder, and one changing 100
#               files anywhere in the tree, warm; each WARM_RUNS times;
#   fallback  - a force push (the last commit amended) and `git gc --prune=now`
#               on the server: the previous zip's commit is gone, so cold;
#   moto      - after each round of warm pushes, moto alone (no git2s3):
#               CopyObject of the zip, and the multipart upload a one-file
#               push makes (copy, 5 MiB part, copy, complete): moto's floor.
# It prints each time (best, and median), the bytes that came over SSH and
# the bytes uploaded, read back (ranged GET) and copied inside S3 for each
# kind of push, from serve's log; where a warm push's time goes; the ratios
# to the references and between the sizes; and each process's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-20000}
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(300 600)
RUNS=${RUNS:-3}
WARM_RUNS=${WARM_RUNS:-5}
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
USER_NAME=$(id -un)
py() { .venv/bin/python - "$@"; }
py "$ENDPOINT" <<'EOF'
import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
for b in ("bench-git2s3", "bench-quick"):
    s3.create_bucket(Bucket=b)
s3.put_bucket_versioning(Bucket="bench-git2s3", VersioningConfiguration={"Status": "Enabled"})
EOF

peak_kb() { grep VmHWM "/proc/$1/status" | awk '{print $2}'; }

timed() { # prints "seconds peak-KiB"; a failing step prints its stderr and stops the run
  if ! /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/step.err"; then
    echo "step failed: $*" >&2; cat "$WORK/step.err" >&2; kill $$; exit 1
  fi
  tail -1 "$WORK/time.out"
}

RESULTS="$WORK/results.jsonl"
SCALE=0
for MEGABYTES in "${SIZES[@]}"; do
  SCALE=$((SCALE + 1))
  NFILES=$((FILES * MEGABYTES / ${SIZES[0]}))
  REPO="bench/big$MEGABYTES"
  NAME="bench_big$MEGABYTES"
  BARE="$WORK/repos/$REPO.git"
  SRC="$WORK/src$MEGABYTES"
  URL="ssh://$USER_NAME@127.0.0.1:$SSH_PORT$BARE"
  echo
  echo "######## $MEGABYTES MB, $NFILES files"
  echo "==> generating the repo"
  mkdir -p "$SRC" "$BARE"
  git init -q --bare -b main "$BARE"
  python3 - "$SRC" "$NFILES" "$MEGABYTES" <<'EOF'
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
  G() { git -C "$SRC" -c user.name=b -c user.email=b@example.com "$@"; }
  G init -q -b main && G add -A && G commit -q -m bench && G push -q "$BARE" main
  COMMIT=$(G rev-parse HEAD)
  echo "    $(du -sh --exclude=.git "$SRC" | cut -f1) in $(G ls-files | wc -l) files; pack $(du -sh "$BARE" | cut -f1)"

  SERVE_PORT=$(free_port)
  LOG="$WORK/serve$MEGABYTES.log"
  RUST_LOG=info GIT2S3_WEBHOOK_SECRET=bench-secret GIT2S3_PROVIDER=generic GIT2S3_REPOS="$REPO" "$GIT2S3" serve \
    --listen "127.0.0.1:$SERVE_PORT" --bucket bench-git2s3 --ssh-key "$WORK/developer" \
    --known-hosts "$WORK/known_hosts" --endpoint-url "$ENDPOINT" >"$LOG" 2>&1 & SERVE_PID=$!
  PIDS+=($SERVE_PID)
  wait_for_port "$SERVE_PORT" "git2s3 serve" "$LOG"
  echo 5 >"/proc/$SERVE_PID/clear_refs"

  push_and_wait() { # commit, delivery, branch -> seconds
    py "$SERVE_PORT" "$URL" "$1" "$2" "$ENDPOINT" "$3" "$REPO" "$NAME" <<'EOF'
import boto3, hashlib, hmac, json, sys, time, urllib.request
port, url, commit, delivery, endpoint, branch, repo, name = sys.argv[1:]
body = json.dumps({"ref": f"refs/heads/{branch}", "after": commit,
                   "repository": {"full_name": repo, "ssh_url": url}}).encode()
sig = "sha256=" + hmac.new(b"bench-secret", body, hashlib.sha256).hexdigest()
req = urllib.request.Request(f"http://127.0.0.1:{port}/gitpull", data=body, method="POST", headers={
    "content-type": "application/json", "x-git2s3-event": "push", "x-git2s3-delivery": delivery,
    "x-hub-signature-256": sig})
s3 = boto3.client("s3", endpoint_url=endpoint)
start = time.time()
urllib.request.urlopen(req).read()
while True:
    try:
        head = s3.head_object(Bucket="bench-git2s3", Key=f"{repo}/{branch}/{name}.zip")
        if head["Metadata"].get("commit") == commit:
            break
    except Exception:
        pass
    time.sleep(0.01)
print(f"{time.time() - start:.3f}")
EOF
  }
  # Each push's own peak RSS: serve's peak is reset before it
  # (clear_refs 5) and read after it.
  reset_peak() { echo 5 >"/proc/$SERVE_PID/clear_refs"; }
  record() { # kind seconds commit
    printf '{"size": %s, "kind": "%s", "seconds": %s, "commit": "%s", "rss_kb": %s}\n' \
      "$MEGABYTES" "$1" "$2" "$3" "$(peak_kb "$SERVE_PID")" >>"$RESULTS"
    reset_peak
  }

  echo "==> $RUNS first pushes (cold), each followed by a shallow clone alone"
  for i in $(seq 1 "$RUNS"); do
    BRANCH=main; [ "$i" = 1 ] || { BRANCH="run$i"; G push -q "$BARE" "main:$BRANCH"; }
    # Each run starts with no dirty pages left by the one before: a clone
    # writes the whole tree, and its writeback would slow the next step.
    sync
    T=$(push_and_wait "$COMMIT" "first-$i" "$BRANCH")
    record first "$T" "$COMMIT"
    sync
    read -r C R < <(timed git clone -q --depth 1 --single-branch -b main "$URL" "$WORK/floor")
    rm -rf "$WORK/floor"
    printf '{"size": %s, "kind": "clone", "seconds": %s, "rss_kb": %s}\n' "$MEGABYTES" "$C" "$R" >>"$RESULTS"
    echo "    run $i: git2s3 ${T}s, clone ${C}s"
  done

  echo "==> Quick Start steps: clone --depth 1, zip -r -x '*.git*', upload"
  sync
  read -r C1 R1 < <(timed git clone -q --depth 1 --single-branch -b main "$URL" "$WORK/quick")
  read -r Z1 R2 < <(cd "$WORK/quick" && timed zip -r -q "$WORK/quick.zip" . -x '*.git*')
  read -r U1 R3 < <(timed .venv/bin/python -c "import boto3,sys; boto3.client('s3', endpoint_url='$ENDPOINT').upload_file('$WORK/quick.zip','bench-quick','$REPO/main/$NAME.zip')")
  RQ=$(printf '%s\n' "$R1" "$R2" "$R3" | sort -n | tail -1)
  printf '{"size": %s, "kind": "quick", "seconds": %s, "rss_kb": %s, "steps": "clone %ss, zip %ss, upload %ss"}\n' \
    "$MEGABYTES" "$(python3 -c "print(f'{$C1+$Z1+$U1:.2f}')")" "$RQ" "$C1" "$Z1" "$U1" >>"$RESULTS"
  rm -rf "$WORK/quick" "$WORK/quick.zip"

  echo "==> $WARM_RUNS pushes of one changed file, of 100 in one folder and of 100 anywhere, each on the zip before it"
  mapfile -t TEXT < <(G ls-files '*.txt')
  mapfile -t FOLDER < <(G ls-files 'pkg1/*.txt')
  for i in $(seq 1 "$WARM_RUNS"); do
    echo "changed $i" >>"$SRC/${TEXT[$((i * 7919 % ${#TEXT[@]}))]}"
    G commit -q -am "one file $i" && G push -q "$BARE" main
    C=$(G rev-parse HEAD); T1=$(push_and_wait "$C" "one-$i" main); record "one file" "$T1" "$C"
    for j in $(seq 0 99); do echo "changed $i" >>"$SRC/${FOLDER[$((j % ${#FOLDER[@]}))]}"; done
    G commit -q -am "100 files in one folder $i" && G push -q "$BARE" main
    C=$(G rev-parse HEAD); T2=$(push_and_wait "$C" "folder-$i" main); record "100 files, one folder" "$T2" "$C"
    for j in $(seq 0 99); do echo "changed $i" >>"$SRC/${TEXT[$(((i * 100 + j) * 104729 % ${#TEXT[@]}))]}"; done
    G commit -q -am "100 files anywhere $i" && G push -q "$BARE" main
    C=$(G rev-parse HEAD); T3=$(push_and_wait "$C" "hundred-$i" main); record "100 files, anywhere" "$T3" "$C"
    # The references, with no git2s3 in them, from the version just
    # written: moto copying the zip to a new object (CopyObject), the least
    # any client can spend in moto on a new version of an object that size;
    # and moto taking the multipart upload a one-file warm push makes (the
    # first half copied, a 5 MiB part uploaded, the rest copied, then the
    # complete; the three parts at once), the least a warm push can spend
    # in moto.
    read -r R M < <(py "$ENDPOINT" "$REPO/main/$NAME.zip" <<'EOF'
import boto3, os, sys, time
from concurrent.futures import ThreadPoolExecutor
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
bucket, key = "bench-git2s3", sys.argv[2]
head = s3.head_object(Bucket=bucket, Key=key)
source = {"Bucket": bucket, "Key": key, "VersionId": head["VersionId"]}
start = time.time()
s3.copy_object(Bucket=bucket, Key="reference-copy.zip", CopySource=source)
copy = time.time() - start
size, new = head["ContentLength"], 5 * 1024 * 1024
half = (size - new) // 2
start = time.time()
upload = s3.create_multipart_upload(Bucket=bucket, Key="reference-multipart.zip")["UploadId"]
def copied(number, first, last):
    r = s3.upload_part_copy(Bucket=bucket, Key="reference-multipart.zip", UploadId=upload, PartNumber=number,
                            CopySource=source, CopySourceRange=f"bytes={first}-{last}")
    return {"PartNumber": number, "ETag": r["CopyPartResult"]["ETag"]}
def uploaded(number, body):
    r = s3.upload_part(Bucket=bucket, Key="reference-multipart.zip", UploadId=upload, PartNumber=number, Body=body)
    return {"PartNumber": number, "ETag": r["ETag"]}
# At once, as git2s3 sends its parts (up to four in flight).
with ThreadPoolExecutor(3) as pool:
    parts = [f.result() for f in [pool.submit(copied, 1, 0, half - 1), pool.submit(uploaded, 2, os.urandom(new)),
                                  pool.submit(copied, 3, half + new, size - 1)]]
s3.complete_multipart_upload(Bucket=bucket, Key="reference-multipart.zip", UploadId=upload,
                             MultipartUpload={"Parts": parts})
print(f"{copy:.3f} {time.time() - start:.3f}")
EOF
)
    printf '{"size": %s, "kind": "moto copy", "seconds": %s}\n' "$MEGABYTES" "$R" >>"$RESULTS"
    printf '{"size": %s, "kind": "moto multipart", "seconds": %s}\n' "$MEGABYTES" "$M" >>"$RESULTS"
    echo "    run $i: one file ${T1}s, 100 in one folder ${T2}s, 100 anywhere ${T3}s; moto's CopyObject of the zip ${R}s, its multipart copy ${M}s"
  done

  echo "==> a force push, then gc on the server: the previous zip's commit is gone"
  echo "rewritten" >>"$SRC/${TEXT[1]}"
  G commit -q -a --amend -m "rewritten" && G push -q -f "$BARE" main
  git -C "$BARE" reflog expire --expire=now --all && git -C "$BARE" gc -q --prune=now
  C=$(G rev-parse HEAD); T=$(push_and_wait "$C" fallback main); record fallback "$T" "$C"
  echo "    ${T}s"

  printf '{"size": %s, "kind": "serve", "rss_kb": %s, "log": "%s"}\n' "$MEGABYTES" "$(peak_kb "$SERVE_PID")" "$LOG" >>"$RESULTS"
  kill "$SERVE_PID"
  rm -rf "$SRC" "$BARE"
done

python3 - "$RESULTS" "$(nproc)" <<'EOF'
import json, re, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cores = sys.argv[2]
sizes = sorted({r["size"] for r in rows})
field = lambda line, name: (m.group(1) if (m := re.search(rf"\b{name}=([0-9.]+)", line)) else None)

def log_figures(path):
    """commit -> bytes over SSH, uploaded, read back, copied, and where a warm push's time went."""
    out, pending, last = {}, {}, {}
    for line in open(path):
        m = re.search(r"commit=([0-9a-f]{40})", line)
        if m is None:
            if "warm fetch over SSH" in line:
                pending = {"connect": float(field(line, "connect_seconds")),
                           "negotiate": float(field(line, "negotiate_and_pack_seconds"))}
            elif "planned the zip" in line and out:
                last.update(plan=float(field(line, "seconds")))
            continue
        f = last = out.setdefault(m.group(1), {})
        if "fetched what changed" in line:
            f.update(pending, directory=float(field(line, "directory_seconds")), ssh=int(field(line, "received_bytes")))
            pending = {}
        elif "building cold" in line:
            f["cold"] = True
        elif "fetched, zipped and uploaded" in line:
            f.update(uploaded=int(field(line, "uploaded_bytes")), read_back=0, copied=0)
        elif "fetched" in line and "received_bytes" in line:
            f["ssh"] = int(field(line, "received_bytes"))
        elif "built on the previous zip and uploaded" in line:
            f.update(uploaded=int(field(line, "uploaded_bytes")), read_back=int(field(line, "read_back_bytes")),
                     copied=int(field(line, "copied_bytes")), last_parts=int(field(line, "last_parts_ms")) / 1000,
                     complete=int(field(line, "complete_ms")) / 1000, total=float(field(line, "seconds")))
    return out

KINDS = ("first", "one file", "100 files, one folder", "100 files, anywhere", "fallback")
mib = lambda b: f"{b / 1048576:.1f} MiB" if b >= 1048576 else f"{b / 1024:.0f} KiB"
best = {}
for size in sizes:
    rs = [r for r in rows if r["size"] == size]
    serve = next(r for r in rs if r["kind"] == "serve")
    figures = log_figures(serve["log"])
    times = lambda kind: [float(r["seconds"]) for r in rs if r["kind"] == kind]
    print(f"\n{size} MB: {'kind of push':<28}{'best':>8}{'median':>9}   {'over SSH':>11}{'uploaded':>11}{'read back':>11}{'copied in S3':>14}{'peak RSS':>10}")
    for kind in KINDS:
        ts = times(kind)
        commits = [r["commit"] for r in rs if r["kind"] == kind]
        f = figures.get(commits[-1], {})
        best[(size, kind)] = min(ts)
        label = {"first": "first push (cold)", "fallback": "force push + gc (cold)"}.get(kind, kind + " (warm)")
        print(f"{'':9}{label:<28}{min(ts):>7.2f}s{statistics.median(ts):>8.2f}s   {mib(f.get('ssh', 0)):>11}"
              f"{mib(f.get('uploaded', 0)):>11}{mib(f.get('read_back', 0)):>11}{mib(f.get('copied', 0)):>14}"
              f"{max(int(r['rss_kb']) for r in rs if r['kind'] == kind) / 1024:>6.0f} MiB"
              + ("   (built cold)" if f.get("cold") and kind != "first" and kind != "fallback" else ""))
    q = next(r for r in rs if r["kind"] == "quick")
    c = min(times("clone"))
    print(f"{'':9}{'Quick Start steps':<28}{float(q['seconds']):>7.2f}s{'':9}   {q['steps']}")
    print(f"{'':9}{'shallow clone alone':<28}{c:>7.2f}s")
    mc = min(times("moto copy"))
    best[(size, "moto copy")] = mc
    mm = min(times("moto multipart"))
    best[(size, "moto multipart")] = mm
    print(f"{'':9}{'moto CopyObject of the zip':<28}{mc:>7.2f}s   (reference: moto's own floor for a new version of the object)")
    print(f"{'':9}{'moto multipart copy':<28}{mm:>7.2f}s   (reference: moto taking a one-file push's parts: copy, 5 MiB, copy, complete)")
    print(f"{'':9}one file / moto's CopyObject = {best[(size, 'one file')] / mc:.2f}x; / moto's multipart copy = {best[(size, 'one file')] / mm:.2f}x; "
          f"100 files in one folder / the multipart copy = {best[(size, '100 files, one folder')] / mm:.2f}x")
    first = best[(size, "first")]
    print(f"{'':9}first push / Quick Start = {first / float(q['seconds']):.2f}x (target <= 0.6x); / clone = {first / c:.2f}x")
    warm = [f for cm, f in figures.items() if "total" in f]
    if warm:
        avg = lambda k: statistics.median(f.get(k, 0) for f in warm)
        print(f"{'':9}a warm push's time (median of {len(warm)} jobs, s): connect+auth {avg('connect'):.3f}, "
              f"negotiation+pack {avg('negotiate'):.3f}, central directory GET {avg('directory'):.3f}, "
              f"plan {avg('plan'):.3f}, parts after the last byte {avg('last_parts'):.3f}, complete {avg('complete'):.3f}; "
              f"worker total {avg('total'):.3f}")
    print(f"{'':9}peak RSS: serve {int(serve['rss_kb']) / 1024:.0f} MiB (since the last push), "
          f"clone {max(int(r['rss_kb']) for r in rs if r['kind'] == 'clone') / 1024:.0f} MiB, Quick Start {int(q['rss_kb']) / 1024:.0f} MiB")
if len(sizes) > 1:
    a, b = sizes[0], sizes[-1]
    print(f"\n{b} MB / {a} MB:", ", ".join(f"{k} {best[(b, k)] / best[(a, k)]:.2f}x" for k in KINDS + ("moto copy", "moto multipart")),
          "(target for one file <= 1.2x)")
print(f"cores: {cores}")
EOF
