#!/usr/bin/python3
"""Cluster benchmark: `sluice cp` through a local 4-worker cluster against `aws s3 cp` from
s3rver, in one run.

Large: one --size file (default 2 GiB) read with `sluice cp sluice://data/big.bin DEST`,
cold (a fresh cluster) and hot (again, --rounds times), against
`/usr/bin/aws s3 cp s3://BUCKET/big.bin DEST` from s3rver directly.
Small: --files files of --file-size (default 10,000 x 16 KiB) read with
`sluice cp -r sluice://data/small DEST`, cold then hot, against
`aws s3 cp --recursive s3://BUCKET/small/ DEST`.
Target: hot Sluice at least 3x faster than the peer in both workloads.

The cluster is `sluice up --workers N` over the s3rver bucket. Every copy lands in a fresh
folder under --dest-dir (tmpfs by default), is checked byte for byte against the source,
then deleted; only the copy itself is timed (process start included, for both tools). The
workers' under-store traffic is read from /metrics around every Sluice copy, so a "hot"
copy that went back to s3rver shows.

Usage: bench/cluster_bench.py [--quick] [--size 2GiB] [--files 10000] [--file-size 16KiB]
                              [--workers 4] [--rounds 3] [--json PATH|-]
"""
import argparse
import filecmp
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from conftest import SLUICE, S3rver  # noqa: E402

sys.path.insert(0, HERE)
from s3_get_bench import put_objects  # noqa: E402

AWS = "/usr/bin/aws"
BUCKET = "bench"
UNITS = {"": 1, "B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "KB": 10**3,
         "MB": 10**6, "GB": 10**9}


def parse_size(text):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 2GiB, 16KiB, 1000)")
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])


def fmt_size(n):
    for unit, mult in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult} {unit}"
    return f"{n} B"


def clean_env(extra=None):
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    env.update({"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
                "AWS_DEFAULT_REGION": "us-east-1"})
    env.update(extra or {})
    return env


def ports_free(base, n):
    for p in range(base, base + n):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def pick_base_port(n):
    # `sluice up` wants N consecutive ports; take a free one and check its successors.
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n < 65000 and ports_free(base, n):
            return base
    raise RuntimeError("no run of free ports found")


class Cluster:
    """`sluice up --workers N` as a subprocess; stopped with SIGINT (what Ctrl-C does)."""

    def __init__(self, workers, mount_uri, memory, cache_size, metadata_ttl, parent=None):
        # parent: where its folder (logs, caches) goes; default the system temp dir.
        self.dir = tempfile.mkdtemp(prefix="sluice-bench-up-", dir=parent)
        self.base = pick_base_port(workers)
        self.workers = workers
        self.log_path = os.path.join(self.dir, "up.log")
        self.log = open(self.log_path, "w")
        args = [SLUICE, "up", "--workers", str(workers), "--mount", f"data={mount_uri}",
                "--dir", self.dir, "--base-port", str(self.base), "--memory", memory,
                "--cache-size", cache_size, "--metadata-ttl", metadata_ttl]
        self.proc = subprocess.Popen(args, env=clean_env(), stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.cluster = None
        deadline = time.time() + 60
        while time.time() < deadline:
            m = re.search(r"^export SLUICE_CLUSTER=(\S+)$", self.logs(), re.M)
            if m:
                self.cluster = m.group(1)
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not self.cluster:
            logs = self.logs()
            rc = self.stop()
            raise RuntimeError(f"sluice up did not print SLUICE_CLUSTER (exit code {rc}):\n{logs}")
        self.endpoints = [f"http://{hp}" for hp in self.cluster.split(",")]

    def logs(self):
        with open(self.log_path) as f:
            return f.read()

    def under_store(self):
        """(bytes, operations) read from the under store so far, summed over the workers."""
        total_bytes = total_ops = 0.0
        for ep in self.endpoints:
            text = urllib.request.urlopen(ep + "/metrics", timeout=10).read().decode()
            for line in text.splitlines():
                if line.startswith("#") or not line.strip():
                    continue
                name, _, value = line.rpartition(" ")
                base = name.split("{", 1)[0]
                if base == "sluice_ufs_bytes_read_total":
                    total_bytes += float(value)
                elif base == "sluice_ufs_operations_total":
                    total_ops += float(value)
        return total_bytes, total_ops

    def stop(self):
        """SIGINT, as Ctrl-C would; returns `sluice up`'s exit code (None if it was killed)."""
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                rc = self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        else:
            rc = self.proc.returncode
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def write_json(doc, path):
    """Writes `doc` as indented JSON to `path` ('-': stdout), for the benches' --json."""
    text = json.dumps(doc, indent=2)
    if path == "-":
        print(text)
    else:
        with open(path, "w") as f:
            f.write(text + "\n")


def timed(cmd, env, what, timeout=3600):
    start = time.time()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.time() - start
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {out.returncode}): {' '.join(cmd)}\n"
                           f"stdout: {out.stdout[-2000:]}\nstderr: {out.stderr[-2000:]}")
    return elapsed, out


def check_big(path, source, size):
    got = os.path.getsize(path)
    if got != size:
        raise RuntimeError(f"{path}: {got} bytes, expected {size}")
    if not filecmp.cmp(path, source, shallow=False):
        raise RuntimeError(f"{path}: bytes differ from the source")


def check_small(root, objects, prefix="small/"):
    """Every key of `objects` (less `prefix`) is a file under root with its bytes, and
    nothing else is there."""
    seen = 0
    for dirpath, _, names in os.walk(root):
        seen += len(names)
    if seen != len(objects):
        raise RuntimeError(f"{root}: {seen} files, expected {len(objects)}")
    for key, data in objects.items():
        with open(os.path.join(root, key.removeprefix(prefix)), "rb") as f:
            if f.read() != data:
                raise RuntimeError(f"{root}: {key} differs from the source")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=parse_size, default=2 << 30, help="large file (2GiB)")
    ap.add_argument("--files", type=int, default=10000, help="small files (10000)")
    ap.add_argument("--file-size", type=parse_size, default=16 << 10, help="(16KiB)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3,
                    help="hot Sluice copies and peer copies per workload (medians reported)")
    ap.add_argument("--memory", default="1GiB", help="memory tier per worker")
    ap.add_argument("--cache-size", default="4GiB", help="disk tier per worker")
    ap.add_argument("--metadata-ttl", default="5m",
                    help="workers' metadata TTL (5m: hot rounds do not revalidate)")
    ap.add_argument("--jobs", type=int, default=16, help="sluice cp -j (files in flight)")
    ap.add_argument("--dest-dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                    help="where copies land (default /dev/shm, a tmpfs)")
    ap.add_argument("--quick", action="store_true",
                    help="256 MiB and 1000 files, 2 rounds: a sanity run")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': stdout)")
    args = ap.parse_args()
    if args.quick:
        args.size, args.files, args.rounds = 256 << 20, 1000, 2
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")

    # SIGTERM ends the run like Ctrl-C, so the finally below stops every process.
    def on_term(*_):
        raise KeyboardInterrupt("SIGTERM")
    signal.signal(signal.SIGTERM, on_term)

    work = tempfile.mkdtemp(prefix="sluice-bench-")
    dest_root = tempfile.mkdtemp(prefix="sluice-bench-dest-", dir=args.dest_dir)
    store = cluster = None
    up_rc = None
    try:
        t0 = time.time()
        store = S3rver(BUCKET)
        aws_env = clean_env()
        aws_base = [AWS, "--endpoint-url", store.endpoint, "s3", "cp", "--only-show-errors"]

        # The data set, uploaded to s3rver directly.
        source = os.path.join(work, "big.bin")
        with open(source, "wb") as f:
            left = args.size
            while left:
                n = min(left, 64 << 20)
                f.write(os.urandom(n))
                left -= n
        timed(aws_base + [source, f"s3://{BUCKET}/big.bin"], aws_env, "upload of big.bin")
        objects = {f"small/{i:05d}.bin": os.urandom(args.file_size) for i in range(args.files)}
        put_objects(store.endpoint, BUCKET, objects)
        setup_s = time.time() - t0
        print(f"data set ready in {setup_s:.1f}s: {fmt_size(args.size)} + "
              f"{args.files} x {fmt_size(args.file_size)}", file=sys.stderr)

        n_copy = 0

        def dest():
            nonlocal n_copy
            n_copy += 1
            return os.path.join(dest_root, f"copy-{n_copy}")

        def peer_big():
            d = dest()
            os.makedirs(d)
            t, _ = timed(aws_base + [f"s3://{BUCKET}/big.bin", os.path.join(d, "big.bin")],
                         aws_env, "aws s3 cp")
            check_big(os.path.join(d, "big.bin"), source, args.size)
            shutil.rmtree(d)
            return t

        def peer_small():
            d = dest()
            t, _ = timed(aws_base + ["--recursive", f"s3://{BUCKET}/small/", d], aws_env,
                         "aws s3 cp --recursive")
            check_small(d, objects)
            shutil.rmtree(d)
            return t

        def sluice_big(env):
            d = dest()
            os.makedirs(d)
            before = cluster.under_store()
            t, out = timed([SLUICE, "cp", "sluice://data/big.bin", os.path.join(d, "big.bin")],
                           env, "sluice cp")
            after = cluster.under_store()
            check_big(os.path.join(d, "big.bin"), source, args.size)
            shutil.rmtree(d)
            return t, after[0] - before[0], after[1] - before[1], out.stderr.strip()

        def sluice_small(env):
            d = dest()
            before = cluster.under_store()
            t, out = timed([SLUICE, "cp", "-r", "-j", str(args.jobs), "sluice://data/small", d],
                           env, "sluice cp -r")
            after = cluster.under_store()
            check_small(d, objects)
            shutil.rmtree(d)
            return t, after[0] - before[0], after[1] - before[1], out.stderr.strip()

        # A throwaway peer pass first, so neither side pays s3rver's warm-up (JIT, page cache).
        peer_big()
        cluster = Cluster(args.workers, store.uri(), args.memory, args.cache_size,
                          args.metadata_ttl)
        sl_env = clean_env({"SLUICE_CLUSTER": cluster.cluster})
        print(f"cluster: {cluster.cluster}", file=sys.stderr)

        results = {}
        for name, peer, sluice, units in (("large", peer_big, sluice_big, args.size),
                                          ("small", peer_small, sluice_small, args.files)):
            cold = sluice(sl_env)
            print(f"{name}: sluice cold {cold[0]:.2f}s ({cold[3]})", file=sys.stderr)
            hot, peers = [], []
            for _ in range(args.rounds):  # alternating rounds, medians
                hot.append(sluice(sl_env))
                peers.append(peer())
                print(f"{name}: sluice hot {hot[-1][0]:.2f}s ({hot[-1][3]}), "
                      f"aws {peers[-1]:.2f}s", file=sys.stderr)
            results[name] = {
                "units": units,
                "sluice_cold_s": cold[0],
                "sluice_cold_ufs_bytes": cold[1],
                "sluice_cold_ufs_ops": cold[2],
                "sluice_hot_s": statistics.median(h[0] for h in hot),
                "sluice_hot_rounds_s": [h[0] for h in hot],
                "sluice_hot_ufs_bytes": sum(h[1] for h in hot),
                "sluice_hot_ufs_ops": sum(h[2] for h in hot),
                "peer_s": statistics.median(peers),
                "peer_rounds_s": peers,
            }
            r = results[name]
            r["ratio_peer_over_hot"] = r["peer_s"] / r["sluice_hot_s"]
            r["ratio_peer_over_cold"] = r["peer_s"] / r["sluice_cold_s"]
        up_rc = cluster.stop()
        cluster = None

        big, small = results["large"], results["small"]
        mb = args.size / 1e6
        print(f"\n`sluice cp` through `sluice up --workers {args.workers}` (--memory {args.memory}, "
              f"--cache-size {args.cache_size}, --metadata-ttl {args.metadata_ttl}) against "
              f"`aws s3 cp` (awscli defaults) from s3rver; copies to {args.dest_dir or 'a temp dir'}; "
              f"hot and peer: median of {args.rounds} alternating rounds\n")
        print("| workload | path | seconds | throughput | all rounds | under-store reads |")
        print("|---|---|---|---|---|---|")
        wl = f"1 x {fmt_size(args.size)}"
        print(f"| {wl} | aws s3 cp from s3rver | {big['peer_s']:.2f} | "
              f"{mb / big['peer_s']:,.0f} MB/s | "
              f"{', '.join(f'{t:.2f}' for t in big['peer_rounds_s'])} | |")
        print(f"| {wl} | sluice cp, cold | {big['sluice_cold_s']:.2f} | "
              f"{mb / big['sluice_cold_s']:,.0f} MB/s | | "
              f"{big['sluice_cold_ufs_bytes'] / 1e6:,.0f} MB |")
        print(f"| {wl} | sluice cp, hot | {big['sluice_hot_s']:.2f} | "
              f"{mb / big['sluice_hot_s']:,.0f} MB/s | "
              f"{', '.join(f'{t:.2f}' for t in big['sluice_hot_rounds_s'])} | "
              f"{big['sluice_hot_ufs_bytes'] / 1e6:,.0f} MB |")
        ws = f"{args.files} x {fmt_size(args.file_size)}"
        print(f"| {ws} | aws s3 cp --recursive from s3rver | {small['peer_s']:.2f} | "
              f"{args.files / small['peer_s']:,.0f} files/s | "
              f"{', '.join(f'{t:.2f}' for t in small['peer_rounds_s'])} | |")
        print(f"| {ws} | sluice cp -r -j {args.jobs}, cold | {small['sluice_cold_s']:.2f} | "
              f"{args.files / small['sluice_cold_s']:,.0f} files/s | | "
              f"{small['sluice_cold_ufs_ops']:,.0f} ops |")
        print(f"| {ws} | sluice cp -r -j {args.jobs}, hot | {small['sluice_hot_s']:.2f} | "
              f"{args.files / small['sluice_hot_s']:,.0f} files/s | "
              f"{', '.join(f'{t:.2f}' for t in small['sluice_hot_rounds_s'])} | "
              f"{small['sluice_hot_ufs_ops']:,.0f} ops |")
        print("\n| workload | aws time / sluice hot time | aws time / sluice cold time | target |")
        print("|---|---|---|---|")
        ok = True
        for label, r in ((wl, big), (ws, small)):
            passed = r["ratio_peer_over_hot"] >= 3.0
            ok &= passed
            print(f"| {label} | {r['ratio_peer_over_hot']:.2f} | "
                  f"{r['ratio_peer_over_cold']:.2f} | >= 3 hot: {'met' if passed else 'NOT met'} |")
        print(f"\nsluice up exit code on SIGINT: {up_rc}; data set set-up {setup_s:.0f}s; "
              f"whole run {time.time() - t0:.0f}s")
        if args.json:
            doc = {"config": {k: v for k, v in vars(args).items() if k != "json"},
                   "results": results, "target_met": ok, "sluice_up_exit_code": up_rc}
            write_json(doc, args.json)
    finally:
        if cluster is not None:
            cluster.stop()
        if store is not None:
            store.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(dest_root, ignore_errors=True)


if __name__ == "__main__":
    main()
