"""The scale-out benchmarks run end to end at a small size and their checks hold (the
figures themselves are measured by running them at full size: README)."""

from __future__ import annotations

import os
import subprocess
import sys

from game_server.config import REPO_ROOT


def run(*argv: str, services: bool = False) -> str:
    """Run ``python -m argv`` and return its stdout; fails on a non-zero exit. The tool gets
    the embedded engines unless ``services`` (then REDIS_URL/DATABASE_URL pass through)."""
    env = {k: v for k, v in os.environ.items()
           if services or k not in ("REDIS_URL", "DATABASE_URL")}
    done = subprocess.run([sys.executable, "-m", *argv], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_join_storm_small() -> None:
    out = run("loadtests.join_storm", "--clients", "40", "--seconds", "1", "--nodes", "2")
    assert "FAIL" not in out, out
    assert out.count("  ok   ") == 4, out
    assert "40 clients in 8 rooms of 5 on 2 node(s)" in out


def test_idle_memory_small() -> None:
    out = run("loadtests.idle_memory", "--clients", "40")
    assert "40 joined (idle members)" in out and "KB per idle client target" in out, out


def test_relay_bench_two_nodes_small() -> None:
    """Every room's members split over 2 nodes (private Redis prefix, so the environment's
    services are safe to share): everyone joins, frames arrive, and they crossed the nodes
    through the frame bus. Delivery and latency figures are not checked (not a timed test)."""
    out = run("loadtests.relay_bench", "--clients", "10", "--seconds", "3", "--warmup", "1",
              "--nodes", "2", services=True)
    assert "2 studyverse serve nodes" in out, out
    row = out.strip().splitlines()[-1]
    fields = row.split()
    assert fields[:2] == ["10", "2"] and "failed" not in row, out
    expected, delivered, drop = int(fields[2]), int(fields[3]), int(fields[11])
    assert expected > 0 and delivered > 0 and drop == 0, out
    received = int(row.split("bus frames ")[1].split()[1].removeprefix("received="))
    assert received > 0, out


def test_relay_bench_side_by_side_with_the_naive_relay() -> None:
    """--versus-naive: one row per relay per N, then the summary line with both figures."""
    out = run("loadtests.relay_bench", "--clients", "10", "--seconds", "2", "--warmup", "1",
              "--versus-naive")
    rows = [line.split() for line in out.splitlines() if line.startswith(("ours", "naive"))]
    assert [r[:3] for r in rows] == [["ours", "10", "2"], ["naive", "10", "2"]], out
    assert all(int(r[4]) > 0 and "failed" not in r for r in rows), out
    assert "largest N with >= 99 % delivered and p99 < 100 ms: studyverse" in out, out
