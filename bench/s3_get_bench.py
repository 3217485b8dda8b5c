#!/usr/bin/python3
"""Issue 3 benchmark: the worker's S3 GETs against nginx and against s3rver, in one run.

Hot: wrk drives GETs of 1 MiB and of 16 KiB objects through a warm Sluice worker and
through nginx serving the same bytes from local files (same wrk settings), in alternating
rounds (medians reported).
Cold: a fresh worker (empty cache) against s3rver directly, each object fetched once by
the same curl client. The direct requests are signed (SigV4), as any client of a store with
credentials signs them and as Sluice's are; unsigned direct requests are timed too, for
reference (s3rver checks signatures, so they cost it less). Prints a markdown table with the ratios.

Usage: bench/s3_get_bench.py [--duration 10] [--connections 32] [--small 2000] [--large 128]
                             [--rounds 5] [--hot-rounds 3]
"""
import argparse
import concurrent.futures
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from conftest import S3rver, Worker, free_port, wait_port  # noqa: E402


def put_objects(endpoint, bucket, objects):
    host, port = endpoint.removeprefix("http://").split(":")

    def put(item):
        key, data = item
        c = http.client.HTTPConnection(host, int(port), timeout=60)
        c.request("PUT", f"/{bucket}/{key}", body=data)
        r = c.getresponse()
        r.read()
        assert r.status == 200, (key, r.status)
        c.close()

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(put, objects.items()))


def get_all(endpoint, paths, threads=16):
    host, port = endpoint.removeprefix("http://").split(":")
    chunks = [paths[i::threads] for i in range(threads)]

    def run(chunk):
        c = http.client.HTTPConnection(host, int(port), timeout=60)
        n = 0
        for p in chunk:
            c.request("GET", p)
            r = c.getresponse()
            n += len(r.read())
            assert r.status == 200, (p, r.status)
        c.close()
        return n

    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        total = sum(ex.map(run, chunks))
    return time.time() - start, total


# curl's SigV4 for s3rver's default credentials.
SIGV4 = ["--aws-sigv4", "aws:amz:us-east-1:s3", "--user", "S3RVER:S3RVER",
         "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]


def curl_all(endpoint, paths, parallel=16, extra=()):
    """GETs every path once with curl's parallel mode (a C client, so the client's own CPU
    does not crowd the 2 cores the store and Sluice share). Returns (seconds, bytes)."""
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
        for p in paths:
            f.write(f'url = "{endpoint}{p}"\noutput = "/dev/null"\n')
        cfg = f.name
    start = time.time()
    out = subprocess.run(["curl", "-s", "-f", "--parallel", "--parallel-max", str(parallel),
                          "--config", cfg, "-w", "%{size_download}\n", *extra],
                         capture_output=True, text=True)
    elapsed = time.time() - start
    os.unlink(cfg)
    if out.returncode != 0:
        raise RuntimeError(f"curl failed: {out.stderr}")
    return elapsed, sum(int(x) for x in out.stdout.split())


def wrk(url_base, paths, duration, connections, threads=2):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(paths))
        plist = f.name
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(f"""
local paths = {{}}
for line in io.lines("{plist}") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
""")
    lua.close()
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
                          "-s", lua.name, url_base], capture_output=True, text=True,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mult = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}[tr.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"wrk saw errors: {out}")
    return rps, float(tr.group(1)) * mult / 1e6


def median_pair(runs):
    """The (req/s, MB/s) of the run with the median req/s."""
    return sorted(runs)[len(runs) // 2]


def start_nginx(root, port, workdir):
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes 2;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
daemon off;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path {workdir}/body;
  proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fastcgi;
  uwsgi_temp_path {workdir}/uwsgi;
  scgi_temp_path {workdir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {root};
  }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", workdir], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--large", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5, help="cold rounds (medians reported)")
    ap.add_argument("--hot-rounds", type=int, default=3,
                    help="alternating wrk rounds per size and server (medians reported)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sluice-bench-")
    os.chmod(work, 0o755)  # nginx workers run unprivileged
    store = S3rver("bench")
    procs = []
    workers = []
    try:
        objects = {f"small/{i:05d}": os.urandom(16 << 10) for i in range(args.small)}
        objects.update({f"large/{i:04d}": os.urandom(1 << 20) for i in range(args.large)})
        put_objects(store.endpoint, "bench", objects)
        # nginx serves the same bytes from local files.
        root = os.path.join(work, "www")
        for k, v in objects.items():
            os.makedirs(os.path.dirname(os.path.join(root, "data", k)), exist_ok=True)
            with open(os.path.join(root, "data", k), "wb") as f:
                f.write(v)
        nport = free_port()
        procs.append(start_nginx(root, nport, work))
        small = [f"/data/{k}" for k in objects if k.startswith("small/")]
        large = [f"/data/{k}" for k in objects if k.startswith("large/")]

        # Cold: a fresh worker against s3rver directly, same client, each object once. A
        # throwaway pass first, so neither side pays s3rver's warm-up (JIT, page cache).
        direct_paths = [p.replace("/data/", "/bench/", 1) for p in small + large]
        curl_all(store.endpoint, direct_paths, extra=SIGV4)
        # Alternating rounds, medians: one round is too noisy on a shared 2-core machine.
        # Each Sluice round uses a fresh worker, so its cache starts empty.
        direct_times, anon_times, cold_times = [], [], []
        for _ in range(args.rounds):
            s3_t, s3_b = curl_all(store.endpoint, direct_paths, extra=SIGV4)
            direct_times.append(s3_t)
            anon_times.append(curl_all(store.endpoint, direct_paths)[0])
            fresh = Worker({"data": store.uri()}, memory="2GiB", metadata_ttl="5m")
            sl_cold_t, sl_cold_b = curl_all(fresh.endpoint, small + large)
            fresh.stop()
            assert sl_cold_b == s3_b, (sl_cold_b, s3_b)
            cold_times.append(sl_cold_t)
        s3_t = sorted(direct_times)[len(direct_times) // 2]
        anon_t = sorted(anon_times)[len(anon_times) // 2]
        sl_cold_t = sorted(cold_times)[len(cold_times) // 2]
        cold = Worker({"data": store.uri()}, memory="2GiB", metadata_ttl="5m")
        workers.append(cold)
        curl_all(cold.endpoint, small + large)  # warm it for the hot runs
        # Hot: a worker that has read everything once.
        # Alternating rounds, medians (as for cold): one wrk run of each is at the mercy of
        # whatever else the two shared cores did during it.
        rows = []
        for name, paths in (("16 KiB", small), ("1 MiB", large)):
            sl, ng = [], []
            for _ in range(args.hot_rounds):
                sl.append(wrk(cold.endpoint, paths, args.duration, args.connections))
                ng.append(wrk(f"http://127.0.0.1:{nport}", paths, args.duration,
                              args.connections))
            s_rps, s_mb = median_pair(sl)
            n_rps, n_mb = median_pair(ng)
            ratios = [s[0] / n[0] for s, n in zip(sl, ng)]
            rows.append((name, s_rps, s_mb, n_rps, n_mb, ratios))
        cold.stop()

        print(f"\nHot GETs: wrk -t2 -c{args.connections} -d{args.duration}s, "
              f"{args.small} x 16 KiB and {args.large} x 1 MiB objects, "
              f"median of {args.hot_rounds} alternating rounds\n")
        print("| object size | Sluice req/s | Sluice MB/s | nginx req/s | nginx MB/s | "
              "Sluice / nginx | each round's ratio |")
        print("|---|---|---|---|---|---|---|")
        for name, s_rps, s_mb, n_rps, n_mb, ratios in rows:
            print(f"| {name} | {s_rps:,.0f} | {s_mb:,.1f} | {n_rps:,.0f} | {n_mb:,.1f} | "
                  f"{s_rps / n_rps:.2f} | {', '.join(f'{r:.2f}' for r in ratios)} |")
        print(f"\nCold GETs of all {len(small) + len(large)} objects once, "
              f"curl --parallel --parallel-max 16, median of {args.rounds} alternating rounds\n")
        print("| path | median seconds | MB/s | all rounds |")
        print("|---|---|---|---|")
        print(f"| s3rver directly, signed | {s3_t:.2f} | {s3_b / s3_t / 1e6:.1f} | "
              f"{', '.join(f'{t:.2f}' for t in direct_times)} |")
        print(f"| s3rver directly, unsigned | {anon_t:.2f} | {s3_b / anon_t / 1e6:.1f} | "
              f"{', '.join(f'{t:.2f}' for t in anon_times)} |")
        print(f"| Sluice, cold cache | {sl_cold_t:.2f} | {sl_cold_b / sl_cold_t / 1e6:.1f} | "
              f"{', '.join(f'{t:.2f}' for t in cold_times)} |")
        print(f"\nSluice cold / s3rver direct (signed) time: {sl_cold_t / s3_t:.2f} "
              f"(target: at most 1.10); / unsigned: {sl_cold_t / anon_t:.2f}")
    finally:
        for w in workers:
            w.stop()
        for p in procs:
            p.terminate()
            p.wait()
        store.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
