"""The scale-out benchmarks run end to end at a small size and their checks hold (the
figures themselves are measured by running them at full size: README)."""

from __future__ import annotations

import os
import subprocess
import sys

from game_server.config import REPO_ROOT


def run(*argv: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
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
