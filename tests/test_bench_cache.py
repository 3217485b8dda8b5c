"""`sluice bench cache` end to end: the read-through engine over a real s3rver."""
import json
import os
import tempfile

from conftest import run_sluice


def test_cold_then_warm_over_s3(s3rver, sluice_env):
    with tempfile.TemporaryDirectory() as cache:
        r = run_sluice(["bench", "cache", "--mount", f"ds={s3rver.uri('warm')}",
                        "--memory", "64MiB", "--cache-dir", f"{cache}:256MiB",
                        "--path", "/ds", "--generate", "200:16KiB", "--generate-large", "20MiB",
                        "--passes", "2", "--threads", "8", "--json"], sluice_env)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["objects"] == 201
        assert out["bytes"] == 200 * 16384 + 20 * 1024 * 1024
        assert out["consistent"] is True
        cold, warm = out["passes"]
        assert cold["errors"] == 0 and warm["errors"] == 0
        assert cold["ufs_reads"] > 0
        assert cold["bytes"] == warm["bytes"] == out["bytes"]
        # The second pass is served entirely from the cache.
        assert warm["ufs_reads"] == 0
        assert warm["hit_ratio"] == 1.0


def test_restart_serves_from_disk_cache(s3rver, sluice_env):
    with tempfile.TemporaryDirectory() as cache:
        args = ["bench", "cache", "--mount", f"ds={s3rver.uri('restart')}", "--memory", "0",
                "--cache-dir", f"{cache}:64MiB", "--path", "/ds", "--passes", "1", "--json"]
        first = run_sluice(args + ["--generate", "50:8KiB"], sluice_env)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["passes"][0]["ufs_reads"] > 0
        second = run_sluice(args, sluice_env)  # a new process over the same cache dir
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout)["passes"][0]["ufs_reads"] == 0


def test_missing_path_is_a_clear_error(s3rver, sluice_env):
    r = run_sluice(["bench", "cache", "--mount", f"ds={s3rver.uri('nothing-here')}",
                    "--path", "/ds"], sluice_env)
    assert r.returncode != 0
    assert "no objects under '/ds'" in r.stderr


def test_bad_flags_are_clear_errors(sluice_env):
    r = run_sluice(["bench", "cache", "--mount", "nouri", "--path", "/x"], sluice_env)
    assert r.returncode == 2
    assert "not NAME=URI" in r.stderr
    r = run_sluice(["bench", "cache", "--mount", "x=ftp://host/y", "--path", "/x"], sluice_env)
    assert r.returncode != 0
    assert "unsupported under-store URI" in r.stderr
    r = run_sluice(["bench", "cache", "--mount", "x=file:///tmp", "--memory", "lots",
                    "--path", "/x"], sluice_env)
    assert r.returncode == 2
    assert "lots" in r.stderr


def test_dead_store_is_reported_not_hung(sluice_env):
    # Nothing listens on this port: listing fails after retries with a clear error.
    r = run_sluice(["bench", "cache", "--mount",
                    "ds=s3://b?endpoint=http://127.0.0.1:9&region=us-east-1",
                    "--path", "/ds"], sluice_env, timeout=120)
    assert r.returncode != 0
    assert "sluice:" in r.stderr
