#!/usr/bin/python3
"""FUSE benchmark: Sluice's mount against `rclone mount --vfs-cache-mode full` and
`s3fs -o use_cache`, over the same s3rver bucket, in one run.

Workloads, each cold and hot, for each of the three mounts:
  seq   fio sequential 1 MiB reads of one --size file (default 1 GiB), MB/s;
  rand  fio random 4 KiB reads of the same file (--rand-io bytes of it, fixed seed), IOPS;
  walk  os.walk over small/ reading every one of --files files of --file-size
        (default 10,000 x 16 KiB), files/s.
Hot targets (issue): walk >= 3x rclone and >= 5x s3fs; seq >= 1.5x rclone.

What cold and hot mean (the same for all three tools):
  cold  a fresh instance for every workload: Sluice a new `sluice up` cluster (empty tiers)
        and a new `sluice mount`; rclone and s3fs a new mount over an empty cache folder.
        Then `sync; echo 3 > /proc/sys/vm/drop_caches` (kernel page, dentry and inode
        caches), and s3rver's own files are read back into the page cache, so every tool's
        cold pass fetches from the same warm under store. The first pass is "cold".
  hot   the same instance again, --rounds times (median reported), two ways:
        "hot"          nothing dropped: the kernel keeps whatever each tool lets it keep
                       (Sluice asks for keep_cache while an object's version is unchanged;
                       rclone and s3fs run with their defaults). fio runs with
                       --invalidate=0 so fio itself does not drop the file's pages.
        "hot, dropped" drop_caches (and s3rver re-warmed) before every round: only what
                       the tool itself cached (its cache folder, or Sluice's workers) helps.
  All caches (rclone's --cache-dir, s3fs's use_cache folder, the `sluice up` folder with
  the workers' disk tier) live under --cache-root (default /dev/shm, a tmpfs), so
  drop_caches does not push any tool's own cache to disk.

Usage: bench/fuse_bench.py [--quick] [--size 1GiB] [--files 10000] [--file-size 16KiB]
                           [--rounds 3] [--tools sluice,rclone,s3fs] [--json PATH|-]
Needs root (FUSE, drop_caches). The machine is shared: treat differences under ~10-20%
as noise.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from conftest import SLUICE, S3rver  # noqa: E402

sys.path.insert(0, HERE)
from cluster_bench import (AWS, Cluster, clean_env, fmt_size, parse_size, timed,  # noqa: E402
                           write_json)
from s3_get_bench import put_objects  # noqa: E402

BUCKET = "bench"
BIG = "big.bin"
TOOLS = ("sluice", "rclone", "s3fs")
WORKLOADS = ("seq", "rand", "walk")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def warm_tree(root):
    """Reads every file under root (s3rver's data) so it sits in the page cache."""
    buf = bytearray(1 << 20)
    for dirpath, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(dirpath, n), "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


def force_unmount(path):
    if is_mounted(path):
        subprocess.run(["fusermount3", "-u", "-z", path], capture_output=True)
    if is_mounted(path):
        subprocess.run(["umount", "-l", path], capture_output=True)


def stop_proc(proc, timeout=20):
    if proc is None or proc.poll() is not None:
        return proc.returncode if proc else None
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


class Mount:
    """One tool's FUSE mount (and, for Sluice, its cluster), started fresh."""

    name = ""

    def __init__(self, store, cache_root, expect):
        self.store = store
        self.dir = tempfile.mkdtemp(prefix=f"fuse-bench-{self.name}-", dir=cache_root)
        self.mp = tempfile.mkdtemp(prefix=f"fuse-bench-mp-{self.name}-")
        self.log_path = os.path.join(self.dir, "mount.log")
        self.log = open(self.log_path, "w")
        self.proc = None
        self.expect = expect
        self.cmd = []

    @property
    def root(self):
        """Where the bucket's content appears."""
        return self.mp

    def logs(self, n=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def spawn(self, cmd, env):
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 60
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} mount exited ({self.proc.returncode}): "
                                   f"{' '.join(cmd)}\n{self.logs()}")
            if is_mounted(self.mp):
                try:
                    if self.expect in os.listdir(self.root):
                        return
                except OSError as e:
                    last = e
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} mount not ready in 60s ({last}): {' '.join(cmd)}\n"
                           f"{self.logs()}")

    def unmount(self):
        stop_proc(self.proc)
        force_unmount(self.mp)

    def stop(self):
        try:
            self.unmount()
        finally:
            self.log.close()
            if not is_mounted(self.mp):
                try:
                    os.rmdir(self.mp)
                except OSError:
                    pass
            shutil.rmtree(self.dir, ignore_errors=True)

    def ufs(self):
        """(bytes, operations) this tool read from the under store, when it can tell."""
        return None


class SluiceMount(Mount):
    name = "sluice"

    def __init__(self, store, cache_root, expect, args, extra_opts=()):
        super().__init__(store, cache_root, expect)
        self.cluster = None
        try:
            self.cluster = Cluster(args.workers, store.uri(), args.memory, args.cache_size,
                                   args.metadata_ttl, parent=self.dir)
            env = clean_env({"SLUICE_CLUSTER": self.cluster.cluster})
            cmd = [SLUICE, "mount", self.mp, "-f"]
            for o in list(args.sluice_opt) + list(extra_opts):
                cmd += ["-o", o]
            self.spawn(cmd, env)
        except BaseException:
            self.stop()
            raise

    @property
    def root(self):
        return os.path.join(self.mp, "data")

    def unmount(self):
        if self.proc is not None and self.proc.poll() is None and is_mounted(self.mp):
            # The documented way out; the foreground process then returns.
            subprocess.run([SLUICE, "umount", self.mp], capture_output=True, timeout=30)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        super().unmount()

    def stop(self):
        try:
            super().stop()
        finally:
            if self.cluster is not None:
                self.cluster.stop()
                self.cluster = None

    def ufs(self):
        return self.cluster.under_store()


class RcloneMount(Mount):
    name = "rclone"

    def __init__(self, store, cache_root, expect, args):
        super().__init__(store, cache_root, expect)
        try:
            cfg = os.path.join(self.dir, "rclone.conf")
            with open(cfg, "w") as f:
                f.write(f"[remote]\ntype = s3\nprovider = Other\nendpoint = {store.endpoint}\n"
                        "access_key_id = S3RVER\nsecret_access_key = S3RVER\n"
                        "region = us-east-1\n")
            cache = os.path.join(self.dir, "cache")
            os.makedirs(cache)
            cmd = ["rclone", "--config", cfg, "mount", f"remote:{BUCKET}", self.mp,
                   "--vfs-cache-mode", "full", "--cache-dir", cache] + args.rclone_arg
            self.spawn(cmd, clean_env())  # clean_env drops AWS_CA_BUNDLE (rclone 1.60 fails on it)
        except BaseException:
            self.stop()
            raise


class S3fsMount(Mount):
    name = "s3fs"

    def __init__(self, store, cache_root, expect, args):
        super().__init__(store, cache_root, expect)
        try:
            passwd = os.path.join(self.dir, "passwd")
            with open(passwd, "w") as f:
                f.write("S3RVER:S3RVER\n")
            os.chmod(passwd, 0o600)
            cache = os.path.join(self.dir, "cache")
            os.makedirs(cache)
            opts = [f"use_cache={cache}", "use_path_request_style", f"url={store.endpoint}",
                    f"passwd_file={passwd}"] + args.s3fs_opt
            cmd = ["s3fs", BUCKET, self.mp, "-f", "-o", ",".join(opts)]
            self.spawn(cmd, clean_env())
        except BaseException:
            self.stop()
            raise


MOUNTS = {"sluice": SluiceMount, "rclone": RcloneMount, "s3fs": S3fsMount}


def run_fio(args, path, mode, workdir):
    out = os.path.join(workdir, "fio.json")
    cmd = ["fio", "--name=" + mode, f"--filename={path}", "--readonly", "--ioengine=psync",
           "--direct=0", "--invalidate=0", "--numjobs=1", "--output-format=json",
           f"--output={out}"]
    if mode == "seq":
        cmd += ["--rw=read", "--bs=1M", f"--size={args.size}", f"--runtime={args.fio_cap}"]
    else:
        cmd += ["--rw=randread", "--bs=4k", f"--size={args.size}", f"--io_size={args.rand_io}",
                "--randrepeat=1", f"--runtime={args.fio_cap}"]
    start = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.fio_cap + 120)
    wall = time.time() - start
    if p.returncode != 0:
        raise RuntimeError(f"fio failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    with open(out) as f:
        doc = json.load(f)
    r = doc["jobs"][0]["read"]
    if r.get("io_bytes", 0) == 0 or doc["jobs"][0].get("error", 0):
        raise RuntimeError(f"fio read nothing: {' '.join(cmd)}\n{json.dumps(r)[:1000]}")
    expected = args.size if mode == "seq" else args.rand_io
    return {"mb_s": r["bw_bytes"] / 1e6, "iops": r["iops"], "io_bytes": r["io_bytes"],
            "runtime_s": r["runtime"] / 1000.0, "wall_s": wall,
            "complete": r["io_bytes"] >= expected}


def run_walk(root, objects, threads):
    """Lists root recursively (a listing error raises) and reads every file whole.
    Returns seconds, files read, files expected and files whose bytes differ."""
    bufsize = 1 << 20

    def read(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            parts = []
            while True:
                b = os.read(fd, bufsize)
                if not b:
                    break
                parts.append(b)
        finally:
            os.close(fd)
        return b"".join(parts)

    def fail(err):
        raise err

    got = {}
    start = time.perf_counter()
    if threads <= 1:
        for dirpath, _, names in os.walk(root, onerror=fail):
            for n in names:
                p = os.path.join(dirpath, n)
                got[p] = read(p)
    else:
        import concurrent.futures
        paths = [os.path.join(d, n) for d, _, names in os.walk(root, onerror=fail) for n in names]
        with concurrent.futures.ThreadPoolExecutor(threads) as ex:
            for p, data in zip(paths, ex.map(read, paths)):
                got[p] = data
    elapsed = time.perf_counter() - start
    # Checked after the clock stopped.
    base = os.path.dirname(root)
    bad = sum(objects.get(os.path.relpath(p, base)) != data for p, data in got.items())
    return {"seconds": elapsed, "files": len(got), "expected": len(objects), "bad": bad,
            "files_s": len(got) / elapsed if elapsed > 0 else 0.0,
            "complete": len(got) == len(objects) and bad == 0}


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(4 << 20)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(memoryview(buf)[:n])
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=parse_size, help="the fio file (1GiB; --quick 256MiB)")
    ap.add_argument("--files", type=int, help="small files for the walk (10000; --quick 1000)")
    ap.add_argument("--file-size", type=parse_size, default=16 << 10, help="(16KiB)")
    ap.add_argument("--rand-io", type=parse_size,
                    help="bytes of 4 KiB random reads per fio rand pass (64MiB; --quick 16MiB)")
    ap.add_argument("--fio-cap", type=int, default=180,
                    help="seconds after which a fio pass stops (reported as incomplete)")
    ap.add_argument("--rounds", type=int, help="hot passes of each kind, medians (3; --quick 2)")
    ap.add_argument("--walk-threads", type=int, default=1,
                    help="threads reading the walk's files (1: a plain os.walk loop)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="subset of sluice,rclone,s3fs")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="subset of seq,rand,walk")
    ap.add_argument("--no-dropped", action="store_true",
                    help="skip the 'hot, dropped' rounds (drop_caches before each)")
    ap.add_argument("--workers", type=int, default=3, help="sluice up --workers")
    ap.add_argument("--memory", default="1GiB", help="Sluice memory tier per worker")
    ap.add_argument("--cache-size", default="4GiB", help="Sluice disk tier per worker")
    ap.add_argument("--metadata-ttl", default="5m", help="Sluice workers' metadata TTL")
    ap.add_argument("--sluice-opt", action="append", default=[],
                    help="sluice mount -o OPT (every Sluice row)")
    ap.add_argument("--sluice-variant", action="append", default=[], metavar="OPTS",
                    help="one more Sluice row mounted with -o OPTS (e.g. cache=2GiB)")
    ap.add_argument("--rclone-arg", action="append", default=[], help="extra rclone mount arg")
    ap.add_argument("--s3fs-opt", action="append", default=[], help="extra s3fs -o option")
    ap.add_argument("--cache-root", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                    help="where every tool's cache lives (default /dev/shm, a tmpfs)")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the untimed sha256 of the fio file through each mount")
    ap.add_argument("--quick", action="store_true",
                    help="256 MiB, 1000 files, 16 MiB of random reads, 2 rounds: a sanity run "
                         "(explicit options still win)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': stdout)")
    args = ap.parse_args()
    full = {"size": 1 << 30, "files": 10000, "rand_io": 64 << 20, "rounds": 3}
    quick = {"size": 256 << 20, "files": 1000, "rand_io": 16 << 20, "rounds": 2}
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    tools = [t for t in args.tools.split(",") if t]
    workloads = [w for w in args.workloads.split(",") if w]
    if any(t not in TOOLS for t in tools) or any(w not in WORKLOADS for w in workloads):
        ap.error("--tools is a subset of sluice,rclone,s3fs; --workloads of seq,rand,walk")
    # Rows: (label, mount class, extra sluice -o options); variants right after "sluice".
    rows = []
    for t in tools:
        rows.append((t, MOUNTS[t], []))
        if t == "sluice":
            rows += [(f"sluice -o {v}", SluiceMount, [v]) for v in args.sluice_variant]
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if os.geteuid() != 0:
        ap.error("needs root (FUSE mounts and drop_caches)")
    args.rand_io = min(args.rand_io, args.size)

    def on_term(*_):
        raise KeyboardInterrupt("SIGTERM")
    signal.signal(signal.SIGTERM, on_term)

    work = tempfile.mkdtemp(prefix="fuse-bench-")
    store = mount = None
    results = {w: {} for w in workloads}
    notes = []
    t0 = time.time()
    load_start = os.getloadavg()
    try:
        store = S3rver(BUCKET)
        store_data = os.path.join(store.dir, "data")

        # The data set, straight into s3rver.
        source = os.path.join(work, BIG)
        with open(source, "wb") as f:
            left = args.size
            while left:
                n = min(left, 64 << 20)
                f.write(os.urandom(n))
                left -= n
        big_sha = sha256_of(source)
        timed([AWS, "--endpoint-url", store.endpoint, "s3", "cp", "--only-show-errors", source,
               f"s3://{BUCKET}/{BIG}"], clean_env(), f"upload of {BIG}")
        os.unlink(source)
        objects = {f"small/{i:05d}.bin": os.urandom(args.file_size) for i in range(args.files)}
        put_objects(store.endpoint, BUCKET, objects)
        setup_s = time.time() - t0
        log(f"data set ready in {setup_s:.1f}s: {fmt_size(args.size)} + {args.files} x "
            f"{fmt_size(args.file_size)}")

        def reset_kernel():
            drop_caches()
            warm_tree(store_data)

        def note(text):
            if text not in notes:
                notes.append(text)

        def measure(tool, w, m):
            if w == "walk":
                r = run_walk(os.path.join(m.root, "small"), objects, args.walk_threads)
                if r["files"] != r["expected"]:
                    note(f"{tool} walk: the listing gave {r['files']:,} of {r['expected']:,} "
                         "files (os.walk, no error); its rate (*) is over the files listed")
                if r["bad"]:
                    note(f"{tool} walk: {r['bad']:,} files read back with wrong bytes")
                return r
            r = run_fio(args, os.path.join(m.root, BIG), w, work)
            if not r["complete"]:
                note(f"{tool} {w}: fio stopped at --fio-cap {args.fio_cap}s after "
                     f"{r['io_bytes'] / 1e6:,.0f} MB")
            return r

        def headline(w, r):
            text = {"seq": f"{r.get('mb_s', 0):,.0f} MB/s", "rand": f"{r.get('iops', 0):,.0f} IOPS",
                    "walk": f"{r.get('files_s', 0):,.0f} files/s"}[w]
            return text if r.get("complete", True) else text + " (incomplete)"

        for tool, cls, extra in rows:
            for w in workloads:
                entry = {"cmd": "", "hot": [], "hot_dropped": []}
                results[w][tool] = entry
                try:
                    reset_kernel()
                    expect = BIG if w != "walk" else "small"
                    mount = (cls(store, args.cache_root, expect, args, extra) if extra
                             else cls(store, args.cache_root, expect, args))
                    entry["cmd"] = " ".join(mount.cmd)
                    reset_kernel()  # the mount's start-up listing aside, nothing cached
                    u0 = mount.ufs()
                    entry["cold"] = measure(tool, w, mount)
                    u1 = mount.ufs()
                    log(f"{tool} {w} cold: {headline(w, entry['cold'])}")
                    for _ in range(args.rounds):
                        entry["hot"].append(measure(tool, w, mount))
                        log(f"{tool} {w} hot: {headline(w, entry['hot'][-1])}")
                    if not args.no_dropped:
                        for _ in range(args.rounds):
                            reset_kernel()
                            entry["hot_dropped"].append(measure(tool, w, mount))
                            log(f"{tool} {w} hot, dropped: "
                                f"{headline(w, entry['hot_dropped'][-1])}")
                    u2 = mount.ufs()
                    if u0 is not None:
                        entry["ufs_cold_bytes"], entry["ufs_cold_ops"] = (u1[0] - u0[0],
                                                                          u1[1] - u0[1])
                        entry["ufs_hot_bytes"], entry["ufs_hot_ops"] = (u2[0] - u1[0],
                                                                        u2[1] - u1[1])
                    if w != "walk" and not args.no_verify:
                        got = sha256_of(os.path.join(mount.root, BIG))
                        entry["verified"] = got == big_sha
                        if got != big_sha:
                            note(f"{tool}: {BIG} read through the mount differs from the source "
                                 "(sha256)")
                except Exception as e:  # one tool failing does not end the comparison
                    entry["error"] = f"{type(e).__name__}: {e}"[:1500]
                    note(f"{tool} {w}: ERROR {entry['error']}")
                    log(f"{tool} {w}: ERROR {entry['error']}")
                finally:
                    if mount is not None:
                        m, mount = mount, None
                        m.stop()

        load_end = os.getloadavg()
        key = {"seq": "mb_s", "rand": "iops", "walk": "files_s"}
        unit = {"seq": "MB/s", "rand": "IOPS", "walk": "files/s"}
        label = {"seq": f"fio seq 1 MiB reads, 1 x {fmt_size(args.size)}",
                 "rand": f"fio rand 4 KiB reads, {fmt_size(args.rand_io)} of {fmt_size(args.size)}",
                 "walk": f"walk {args.files:,} x {fmt_size(args.file_size)}"
                         + (f" ({args.walk_threads} threads)" if args.walk_threads > 1 else "")}
        kinds = ("cold", "hot", "hot_dropped")
        for w in workloads:
            for tool, e in results[w].items():
                for k in kinds:
                    passes = e.get(k) or []
                    passes = [passes] if isinstance(passes, dict) else passes
                    if passes:
                        e[k + "_value"] = statistics.median(r[key[w]] for r in passes)
                        e[k + "_complete"] = all(r.get("complete", True) for r in passes)

        def cell(e, k):
            if k + "_value" not in e:
                return "error" if "error" in e else "-"
            return f"{e[k + '_value']:,.0f}" + ("" if e[k + "_complete"] else "*")

        def rounds(e, k, w):
            return ", ".join(f"{r[key[w]]:,.0f}" for r in e.get(k, []))

        print(f"\nSluice mount (`sluice up --workers {args.workers}`, --memory {args.memory}, "
              f"--cache-size {args.cache_size}, --metadata-ttl {args.metadata_ttl}; "
              f"`sluice mount -f`{''.join(' -o ' + o for o in args.sluice_opt)}) against "
              "`rclone mount --vfs-cache-mode full` and `s3fs -o use_cache` over one s3rver "
              f"bucket; caches under {args.cache_root}. Cold: fresh instance per workload, "
              "kernel caches dropped, s3rver's files warm. Hot: median of "
              f"{args.rounds} further passes, nothing dropped (fio --invalidate=0). "
              "Hot, dropped: drop_caches before each pass, so only the tool's own cache helps. "
              f"Load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at the end "
              "(2 shared cores: noisy). * = incomplete (see the notes).\n")
        print("| workload | tool | cold | hot | hot, dropped | hot rounds | hot, dropped rounds |")
        print("|---|---|---|---|---|---|---|")
        for w in workloads:
            for tool, e in results[w].items():
                print(f"| {label[w]} | {tool} | {cell(e, 'cold')} | {cell(e, 'hot')} | "
                      f"{cell(e, 'hot_dropped')} | {rounds(e, 'hot', w)} | "
                      f"{rounds(e, 'hot_dropped', w)} |")
        print(f"\n(units: seq {unit['seq']}, rand {unit['rand']}, walk {unit['walk']})")

        targets = [("walk", "rclone", 3.0), ("walk", "s3fs", 5.0), ("seq", "rclone", 1.5)]
        sluice_rows = [lbl for lbl, cls, _ in rows if cls is SluiceMount]
        peers = [t for t in ("rclone", "s3fs") if t in tools]
        ok = None  # targets judged on the plain "sluice" row (default mount options)

        def ratio(s_, p_, k):
            if k + "_value" not in s_ or k + "_value" not in p_ or not p_[k + "_value"]:
                return None, False
            return s_[k + "_value"] / p_[k + "_value"], s_[k + "_complete"] and p_[k + "_complete"]

        def fmt_ratio(r):
            return "-" if r[0] is None else f"{r[0]:.2f}" + ("" if r[1] else "*")

        if sluice_rows and peers:
            ok = True
            print("\n| workload | Sluice / peer | cold | hot | hot, dropped | target (hot) |")
            print("|---|---|---|---|---|---|")
            for w in workloads:
                for row in sluice_rows:
                    s = results[w][row]
                    for peer in peers:
                        p = results[w][peer]
                        rc, rh, rd = (ratio(s, p, k) for k in kinds)
                        tgt = next((t for tw, tp, t in targets if tw == w and tp == peer), None)
                        verdict = "-"
                        if tgt is not None:
                            met = rh[0] is not None and rh[1] and rh[0] >= tgt
                            if row == "sluice":
                                ok &= met
                            why = "" if rh[0] is not None and rh[1] else " (incomplete or failed)"
                            verdict = f">= {tgt:g}: {'met' if met else 'NOT met' + why}"
                            if rd[0] is not None:
                                verdict += (f" (dropped: "
                                            f"{'met' if rd[1] and rd[0] >= tgt else 'not met'})")
                        print(f"| {label[w]} | {row} / {peer} | {fmt_ratio(rc)} | "
                              f"{fmt_ratio(rh)} | {fmt_ratio(rd)} | {verdict} |")
                        s.setdefault("ratios", {})[peer] = {"cold": rc[0], "hot": rh[0],
                                                            "hot_dropped": rd[0]}
        for row in sluice_rows:
            print(f"\n{row}: under-store reads (the workers' /metrics): " + "; ".join(
                f"{w} cold {e['ufs_cold_bytes'] / 1e6:,.0f} MB / {e['ufs_cold_ops']:,.0f} ops, "
                f"all hot passes {e['ufs_hot_bytes'] / 1e6:,.0f} MB / {e['ufs_hot_ops']:,.0f} ops"
                for w, e in ((w, results[w][row]) for w in workloads) if "ufs_cold_bytes" in e))
        for n in notes:
            print(f"\nNote: {n}")
        print("\nCommands (paths vary per instance): " + "; ".join(
            f"`{results[workloads[0]][lbl]['cmd']}`" for lbl, _, _ in rows
            if results[workloads[0]][lbl]["cmd"]))
        print(f"\ndata set set-up {setup_s:.0f}s; whole run {time.time() - t0:.0f}s")
        if args.json:
            doc = {"config": {k: v for k, v in vars(args).items() if k != "json"},
                   "results": results, "targets_met": ok,
                   "notes": notes, "loadavg": [load_start, load_end]}
            write_json(doc, args.json)
    finally:
        if mount is not None:
            try:
                mount.stop()
            except Exception as e:  # keep cleaning up
                log(f"cleanup of the {mount.name} mount: {e}")
        if store is not None:
            store.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
