"""The load driver of bench/load.sh (run that, not this).

Pushes to REPOS bare repositories (new commits written straight into them
as loose objects, so the pushes cost the driver almost nothing), and after
each push sends its signed webhook to `git2s3 serve`, SENDERS at once.
Per repository, 8 pushes make 10 webhooks: pushes 1-6 in order, then push
8's webhook before push 7's (out of order), and 2 redeliveries of earlier
webhooks (same delivery id, same body) at random later points. That is 3
in 10 redelivered or out of order.

Then it waits until every repository's zip holds its last push, and
checks, from what is in moto's S3 and in serve's log:
  1. each final zip holds the final head, and its files are that commit's;
  2. no older commit ever replaced a newer one (the object versions, oldest
     first, have strictly increasing push numbers);
  3. no delivery was built twice (serve's "zip written" lines).
The reference run sends as many requests, from as many senders, to serve's
GET /healthz, which does no work, to show what the HTTP round trip alone
costs on this machine.
"""

import hashlib
import hmac
import http.client
import io
import json
import os
import random
import re
import statistics
import sys
import threading
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor

import boto3

SERVE_PORT = int(os.environ["SERVE_PORT"])
ENDPOINT = os.environ["ENDPOINT"]
REPOS_DIR = os.environ["REPOS_DIR"]
SSH_BASE = os.environ["SSH_BASE"]  # ssh://user@127.0.0.1:PORT/…/repos
SECRET = os.environ["SECRET"].encode()
BUCKET = os.environ["BUCKET"]
SERVE_LOG = os.environ["SERVE_LOG"]
REPOS = int(os.environ.get("REPOS", "200"))
SENDERS = int(os.environ.get("SENDERS", "50"))
PUSHES = 8  # per repository; 10 webhooks with the redeliveries
DEADLINE = float(os.environ.get("DEADLINE", "900"))  # seconds, for the whole run

README = b"load test repository\n"


def write_object(git_dir, kind, body):
    data = b"%s %d\0" % (kind, len(body)) + body
    sha = hashlib.sha1(data).hexdigest()
    path = os.path.join(git_dir, "objects", sha[:2], sha[2:])
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as f:
            f.write(zlib.compress(data, 1))
        os.replace(tmp, path)
    return sha


def files_of(n):
    """The tree of push n: a README, a counter, and a file per push so far."""
    files = {"README.md": README, "counter.txt": b"push %d\n" % n}
    for i in range(1, n + 1):
        files[f"pushes/{i:02}.txt"] = b"pushed %d\n" % i
    return files


def tree(git_dir, entries):
    """entries: name -> bytes or dict (a subtree). Returns the tree's id."""
    body = b""
    # git sorts tree entries by name, a tree's name as if it ended in "/".
    for name in sorted(entries, key=lambda n: n + "/" if isinstance(entries[n], dict) else n):
        value = entries[name]
        if isinstance(value, dict):
            mode, sha = b"40000", tree(git_dir, value)
        else:
            mode, sha = b"100644", write_object(git_dir, b"blob", value)
        body += mode + b" " + name.encode() + b"\0" + bytes.fromhex(sha)
    return write_object(git_dir, b"tree", body)


def nested(files):
    root = {}
    for path, content in files.items():
        node = root
        *dirs, leaf = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = content
    return root


def push(git_dir, n, parent):
    """Writes push n's commit and moves main to it; returns its id."""
    tree_id = tree(git_dir, nested(files_of(n)))
    stamp = 1_700_000_000 + n
    body = f"tree {tree_id}\n"
    if parent:
        body += f"parent {parent}\n"
    body += (
        f"author Load Test <load@example.com> {stamp} +0000\n"
        f"committer Load Test <load@example.com> {stamp} +0000\n\npush {n}\n"
    )
    commit = write_object(git_dir, b"commit", body.encode())
    ref = os.path.join(git_dir, "refs", "heads", "main")
    tmp = ref + ".lock"
    with open(tmp, "w") as f:
        f.write(commit + "\n")
    os.replace(tmp, ref)
    return commit


class Sender:
    """One keep-alive connection per thread to serve."""

    local = threading.local()

    @classmethod
    def request(cls, method, path, body=None, headers=None):
        conn = getattr(cls.local, "conn", None)
        if conn is None:
            conn = cls.local.conn = http.client.HTTPConnection("127.0.0.1", SERVE_PORT, timeout=60)
        start = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            response.read()
        except (http.client.HTTPException, OSError):
            cls.local.conn = None
            raise
        return time.perf_counter() - start, response.status


def webhook(repo, before, after, delivery):
    body = json.dumps({
        "ref": "refs/heads/main", "before": before, "after": after,
        "repository": {"full_name": repo, "ssh_url": f"{SSH_BASE}/{repo}.git"},
        "pusher": {"name": "Load Test"},
    }).encode()
    headers = {
        "content-type": "application/json", "x-git2s3-event": "push",
        "x-git2s3-delivery": delivery,
        "x-hub-signature-256": "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest(),
    }
    return body, headers


def run_repo(index, latencies, statuses, heads, commits_of):
    repo = f"load/r{index:03}"
    git_dir = os.path.join(REPOS_DIR, f"{repo}.git")
    rng = random.Random(index)
    parent = None
    sent = []  # (body, headers) of each webhook sent, for redeliveries
    # Never after push 7, whose webhook is held back until push 8's.
    redeliver_after = rng.sample([n for n in range(2, PUSHES + 1) if n != PUSHES - 1], 2)
    held = None
    zero = "0" * 40
    for n in range(1, PUSHES + 1):
        commit = push(git_dir, n, parent)
        commits_of[(repo, commit)] = n
        hook = webhook(repo, parent or zero, commit, f"{repo}#{n}")
        parent = commit
        if n == PUSHES - 1:
            held = hook  # push 7's webhook comes after push 8's
            continue
        outgoing = [hook] + ([held] if n == PUSHES else [])
        if n in redeliver_after:
            outgoing.append(rng.choice(sent + outgoing))
        for body, headers in outgoing:
            seconds, status = Sender.request("POST", "/gitpull", body, headers)
            latencies.append(seconds)
            statuses[status] = statuses.get(status, 0) + 1
            sent.append((body, headers))
    heads[repo] = parent


def percentiles(xs):
    xs = sorted(xs)
    pick = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    return pick(0.5), pick(0.99), xs[-1]


def ms(x):
    return f"{x * 1000:.1f} ms"


def main():
    started = time.time()
    s3 = boto3.client("s3", endpoint_url=ENDPOINT)

    # Reference: as many requests, from as many senders, that do no work.
    ref_latencies = []

    def ref(_):
        seconds, _ = Sender.request("GET", "/healthz")
        ref_latencies.append(seconds)

    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(ref, range(REPOS * 10)))
    Sender.local = threading.local()

    latencies, statuses, heads, commits_of = [], {}, {}, {}
    t0 = time.perf_counter()
    with ThreadPoolExecutor(SENDERS) as pool:
        done = [pool.submit(run_repo, i, latencies, statuses, heads, commits_of) for i in range(REPOS)]
        for f in done:
            f.result()
    sent_seconds = time.perf_counter() - t0

    # The time until the last zip landed: serve idle, and every final head in S3.
    def final_commit(repo):
        key = f"{repo}/main/{repo.replace('/', '_')}.zip"
        try:
            return s3.head_object(Bucket=BUCKET, Key=key)["Metadata"].get("commit")
        except s3.exceptions.ClientError:
            return None

    waiting = dict(heads)
    while waiting:
        if time.time() - started > DEADLINE:
            print(f"FAIL: {len(waiting)} repositories never got their last push within {DEADLINE:.0f} s")
            sys.exit(1)
        idle = json.loads(urlopen_health())["pending_jobs"] == 0
        if idle:
            waiting = {r: h for r, h in waiting.items() if final_commit(r) != h}
        if waiting:
            time.sleep(0.2)
    landed_seconds = time.perf_counter() - t0

    # Check 1: the final zip holds the final head, and that commit's files.
    bad_tree = []
    for repo, head in heads.items():
        key = f"{repo}/main/{repo.replace('/', '_')}.zip"
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            got = {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
        if got != files_of(PUSHES):
            bad_tree.append(repo)

    # Check 2: versions, oldest first, have strictly increasing push numbers.
    regressions, versions_written = [], 0
    for repo in heads:
        key = f"{repo}/main/{repo.replace('/', '_')}.zip"
        listed = s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", [])
        versions_written += len(listed)
        order = []
        for v in reversed(listed):  # S3 lists the newest first
            meta = s3.head_object(Bucket=BUCKET, Key=key, VersionId=v["VersionId"])["Metadata"]
            order.append(commits_of[(repo, meta["commit"])])
        if any(b <= a for a, b in zip(order, order[1:])):
            regressions.append((repo, order))

    # Check 3: no delivery's job ran twice (written, or found already current).
    written = {}
    with open(SERVE_LOG, errors="replace") as f:
        for line in f:
            if "zip written" in line or "already current; nothing written" in line:
                m = re.search(r"delivery=(\S+)", line)
                if m:
                    written[m.group(1)] = written.get(m.group(1), 0) + 1
    twice = {d: n for d, n in written.items() if n > 1}

    sent = len(latencies)
    p50, p99, top = percentiles(latencies)
    r50, r99, rtop = percentiles(ref_latencies)
    print()
    print(f"repositories {REPOS}, pushes {REPOS * PUSHES}, webhooks {sent} "
          f"({REPOS * 3} redelivered or out of order), senders {SENDERS}; answers {statuses}")
    print(f"{'':<26}{'p50':>10}{'p99':>10}{'max':>10}")
    print(f"{'webhook acknowledgement':<26}{ms(p50):>10}{ms(p99):>10}{ms(top):>10}")
    print(f"{'reference: GET /healthz':<26}{ms(r50):>10}{ms(r99):>10}{ms(rtop):>10}")
    print(f"ratio to the reference: p50 {p50 / r50:.2f}x, p99 {p99 / r99:.2f}x")
    print(f"webhooks per second       {sent / sent_seconds:.0f} (all sent in {sent_seconds:.1f} s)")
    print(f"last zip landed after     {landed_seconds:.1f} s")
    print(f"zips written              {versions_written} ({versions_written / landed_seconds:.1f} a second); "
          f"{REPOS * PUSHES - versions_written} pushes were already built by a later job")
    with open(os.environ["RESULT"], "w") as f:
        json.dump({"landed_seconds": landed_seconds, "zips": versions_written, "webhooks": sent,
                   "jobs": sum(written.values())}, f)
    print()
    checks = [
        ("every final zip holds its final head and that commit's files", not bad_tree, bad_tree[:5]),
        ("no older commit ever replaced a newer one", not regressions, regressions[:5]),
        ("no job was built twice for one delivery", not twice, list(twice.items())[:5]),
    ]
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {name}" + ("" if ok else f": {detail}"))
    if not all(ok for _, ok, _ in checks) or statuses.get(202, 0) != sent:
        sys.exit(1)


def urlopen_health():
    conn = http.client.HTTPConnection("127.0.0.1", SERVE_PORT, timeout=10)
    conn.request("GET", "/healthz")
    return conn.getresponse().read()


if __name__ == "__main__":
    main()
