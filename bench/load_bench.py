#!/usr/bin/python3
"""Load benchmark: a cold `sluice load -r` of a prefix into a local cluster against
`aws s3 sync` and `rclone copy` of the same prefix from s3rver to local disk, in one run.

The data set: --files objects of --file-size (default 20,000 x 128 KiB) in s3rver. Each
round starts a fresh `sluice up --workers N` (empty caches) and times
`sluice load -r /data/ds` until the job is done everywhere; then it times
`aws s3 sync s3://BUCKET/ds DEST` and `rclone copy remote:BUCKET/ds DEST` into fresh
folders under --dest-dir. Same concurrency: the peers get --concurrency transfers; each
Sluice worker loads --concurrency / N objects at once (rounded up), so the cluster has
about as many requests in flight as a peer. Sluice's load is checked by the workers'
metrics (every byte fetched once from s3rver) and a hot `sluice cp -r` afterwards that must
read nothing from s3rver; the peers' copies are checked file for file.
Target: Sluice at least 1.5 times the faster peer's rate.

Usage: bench/load_bench.py [--quick] [--files 20000] [--file-size 128KiB] [--workers 3]
                           [--concurrency 16] [--rounds 1] [--json PATH|-]
"""
import argparse
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from conftest import SLUICE, S3rver  # noqa: E402

sys.path.insert(0, HERE)
from cluster_bench import (Cluster, check_small, clean_env, fmt_size, parse_size,  # noqa: E402
                           timed, write_json)
from s3_get_bench import SIGV4, curl_all, put_objects  # noqa: E402

AWS = "/usr/bin/aws"
BUCKET = "bench"


def cpu_seconds(pid):
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_copy(root, objects):
    check_small(root, objects, prefix="ds/")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--file-size", type=parse_size, default=128 << 10, help="(128KiB)")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16,
                    help="peer transfers; Sluice: this / workers per worker")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of each tool (medians)")
    ap.add_argument("--memory", default="1GiB", help="memory tier per worker")
    ap.add_argument("--cache-size", default="4GiB", help="disk tier per worker")
    ap.add_argument("--dest-dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                    help="where the peers' copies and the workers' caches live (tmpfs)")
    ap.add_argument("--tools", default="sluice,aws,rclone,curl",
                    help="curl: not a peer, the store's ceiling (every object once, no listing)")
    ap.add_argument("--quick", action="store_true", help="2,000 files: a sanity run")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': stdout)")
    args = ap.parse_args()
    if args.quick:
        args.files = 2000
    tools = args.tools.split(",")

    def on_term(*_):
        raise KeyboardInterrupt("SIGTERM")
    signal.signal(signal.SIGTERM, on_term)

    work = tempfile.mkdtemp(prefix="sluice-load-bench-", dir=args.dest_dir)
    store = cluster = None
    total_bytes = args.files * args.file_size
    per_worker = math.ceil(args.concurrency / args.workers)
    try:
        t0 = time.time()
        store = S3rver(BUCKET)
        objects = {f"ds/d{i % 100:02d}/{i:06d}.bin": os.urandom(args.file_size)
                   for i in range(args.files)}
        put_objects(store.endpoint, BUCKET, objects)
        print(f"data set ready in {time.time() - t0:.1f}s: {args.files} x "
              f"{fmt_size(args.file_size)}", file=sys.stderr)
        peer_env = clean_env()
        aws_cfg = os.path.join(work, "aws.cfg")
        with open(aws_cfg, "w") as f:
            f.write(f"[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = "
                    f"{args.concurrency}\n")
        peer_env["AWS_CONFIG_FILE"] = aws_cfg
        rclone_cfg = os.path.join(work, "rclone.conf")
        with open(rclone_cfg, "w") as f:
            f.write(f"[remote]\ntype = s3\nprovider = Other\nendpoint = {store.endpoint}\n"
                    "access_key_id = S3RVER\nsecret_access_key = S3RVER\nregion = us-east-1\n")
        n = 0

        def dest():
            nonlocal n
            n += 1
            return os.path.join(work, f"copy-{n}")

        def run_aws():
            d = dest()
            t, _ = timed([AWS, "--endpoint-url", store.endpoint, "s3", "sync", "--only-show-errors",
                          f"s3://{BUCKET}/ds", d], peer_env, "aws s3 sync")
            check_copy(d, objects)
            shutil.rmtree(d)
            return t

        def run_rclone():
            d = dest()
            t, _ = timed(["rclone", "--config", rclone_cfg, "copy", f"remote:{BUCKET}/ds", d,
                          "--transfers", str(args.concurrency), "--checkers",
                          str(args.concurrency)], peer_env, "rclone copy")
            check_copy(d, objects)
            shutil.rmtree(d)
            return t

        def run_sluice():
            nonlocal cluster
            cluster = Cluster(args.workers, store.uri(), args.memory, args.cache_size, "10m",
                              parent=args.dest_dir)
            env = clean_env({"SLUICE_CLUSTER": cluster.cluster})
            before = cluster.under_store()
            cpu0 = cpu_seconds(store.proc.pid)
            t, out = timed([SLUICE, "load", "-r", "/data/ds", "--json", "--concurrency",
                            str(per_worker)], env, "sluice load")
            busy = (cpu_seconds(store.proc.pid) - cpu0) / t
            after = cluster.under_store()
            summary = json.loads(out.stdout)
            if summary["files_done"] < args.files or summary["failed"]:
                raise RuntimeError(f"sluice load: {summary}")
            fetched = after[0] - before[0]
            if fetched < total_bytes:
                raise RuntimeError(f"sluice load fetched {fetched} bytes of {total_bytes}")
            # Everything is cached: a full copy reads nothing from s3rver.
            d = dest()
            timed([SLUICE, "cp", "-r", "sluice://data/ds", d], env, "sluice cp -r")
            hot = cluster.under_store()
            check_copy(d, objects)
            shutil.rmtree(d)
            if hot[0] != after[0]:
                raise RuntimeError(f"the copy after the load read {hot[0] - after[0]} bytes "
                                   "from s3rver")
            cluster.stop()
            cluster = None
            return t, busy

        def run_curl():
            # The store's ceiling at this concurrency: the lightest client there is (C, no
            # listing, nothing written) fetching every object once with SigV4.
            t, got = curl_all(store.endpoint, [f"/{BUCKET}/{k}" for k in objects],
                              parallel=args.concurrency, extra=SIGV4)
            if got != total_bytes:
                raise RuntimeError(f"curl fetched {got} bytes of {total_bytes}")
            return t

        def list_all():
            # One paged listing of the prefix, as any loader needs: s3rver's cost for it.
            token, keys = "", 0
            start = time.time()
            while True:
                q = "list-type=2&prefix=ds/&max-keys=1000" + (
                    "&continuation-token=" + urllib.parse.quote(token, safe="") if token else "")
                body = urllib.request.urlopen(f"{store.endpoint}/{BUCKET}?{q}").read().decode()
                keys += body.count("<Key>")
                m = re.search(r"<NextContinuationToken>([^<]+)<", body)
                if not m:
                    break
                token = m.group(1)
            if keys != args.files:
                raise RuntimeError(f"the listing gave {keys} keys of {args.files}")
            return time.time() - start

        runners = {"sluice": run_sluice, "aws": run_aws, "rclone": run_rclone, "curl": run_curl}
        # A throwaway pass, so no tool pays s3rver's warm-up.
        if "rclone" in tools:
            run_rclone()
        times = {t: [] for t in tools}
        s3rver_cpu = {t: [] for t in tools}  # s3rver's CPU use while each tool ran
        for r in range(args.rounds):
            for tool in tools:
                cpu0 = cpu_seconds(store.proc.pid)
                res = runners[tool]()
                if isinstance(res, tuple):  # sluice: (load seconds, s3rver busy during it)
                    secs, busy = res
                else:
                    secs = res
                    busy = (cpu_seconds(store.proc.pid) - cpu0) / secs
                times[tool].append(secs)
                s3rver_cpu[tool].append(busy)
                print(f"round {r + 1}: {tool} {secs:.2f}s "
                      f"({args.files / secs:,.0f} files/s, {total_bytes / secs / 1e6:,.0f} MB/s), "
                      f"s3rver busy {100 * busy:.0f}% of a core", file=sys.stderr)
        med = {t: statistics.median(v) for t, v in times.items()}
        list_t = list_all() if "curl" in tools else 0.0
        results = {"files": args.files, "file_size": args.file_size, "workers": args.workers,
                   "concurrency": args.concurrency, "sluice_per_worker": per_worker,
                   "seconds": med, "rounds": times, "s3rver_busy": s3rver_cpu}
        print(f"\nCold load of {args.files:,} x {fmt_size(args.file_size)} "
              f"({total_bytes / 1e9:.2f} GB) from s3rver, concurrency {args.concurrency} "
              f"(Sluice: {args.workers} workers x {per_worker}):")
        print(f"| tool | seconds | files/s | MB/s | s3rver busy (of one core) |\n|---|---|---|---|---|")
        for t in tools:
            print(f"| {t} | {med[t]:.2f} | {args.files / med[t]:,.0f} | "
                  f"{total_bytes / med[t] / 1e6:,.0f} | "
                  f"{100 * statistics.median(s3rver_cpu[t]):.0f}% |")
        peers = [t for t in tools if t not in ("sluice", "curl")]
        if "sluice" in tools and peers:
            fastest = min(peers, key=lambda t: med[t])
            ratio = med[fastest] / med["sluice"]
            results["ratio_over_fastest_peer"] = ratio
            results["fastest_peer"] = fastest
            print(f"\nSluice / fastest peer ({fastest}): {ratio:.2f}x "
                  f"(target >= 1.5: {'met' if ratio >= 1.5 else 'NOT met'})")
            if "curl" in tools:
                # s3rver is one Node thread: what it spends on the listing it cannot spend on
                # GETs, so a loader that lists the prefix needs at least curl's time plus the
                # listing's.
                floor = med["curl"] + list_t
                results["listing_seconds"] = list_t
                results["ceiling_over_fastest_peer"] = med[fastest] / floor
                print(f"The store's ceiling: curl GETs every object in {med['curl']:.2f}s (no "
                      f"listing), one paged listing takes {list_t:.2f}s, so a loader needs at "
                      f"least {floor:.2f}s: at most {med[fastest] / floor:.2f}x {fastest} "
                      f"(without the listing {med[fastest] / med['curl']:.2f}x)")
        if args.json:
            write_json(results, args.json)
    finally:
        if cluster:
            cluster.stop()
        if store:
            store.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
