"""Processes for benchmarks: a server subprocess pinned to a core, and /proc figures.

``ServerProcess`` starts a server command in its own session, waits for ``/healthz``, pins
every thread to the given CPUs (children it starts afterwards inherit that), and always
stops: SIGTERM, then SIGKILL after a grace period, then any embedded engine still running
under its data directory (pgserver's postmaster is re-parented away from the server, so
killing the server alone can leave it behind). Only processes whose command line names
this run's private data directory are touched. ``NodeCluster`` runs several such servers
on one shared Redis + Postgres. Linux only (/proc).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import redis

from game_server.engines import EmbeddedPostgres, EmbeddedRedis

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def pin(pid: int, cpus: set[int]) -> None:
    """Restrict every thread of ``pid`` to ``cpus``."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(pid: int, grace_s: float) -> None:
    """SIGTERM ``pid`` (not a child of ours: a child would linger as a zombie), SIGKILL it if
    still alive after ``grace_s`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def processes_under(directory: Path) -> list[int]:
    """Pids (not ours) whose command line mentions ``directory``."""
    needle = str(directory).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


class ServerProcess:
    """A server subprocess on ``127.0.0.1:port``; use as a context manager."""

    def __init__(self, argv: list[str], *, port: int, data_dir: Path, log_path: Path,
                 cpus: set[int] | None, env: dict[str, str] | None = None) -> None:
        self.argv, self.port, self.data_dir = argv, port, data_dir
        self.log_path, self.cpus, self.env = log_path, cpus, env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout_s: float = 90.0) -> None:
        """Start, wait until ``/healthz`` answers 200, pin. Raises RuntimeError (with the
        log's tail) if the process exits or does not answer in time."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not healthy after {timeout_s:.0f} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.2)
        if self.cpus:
            pin(self.proc.pid, self.cpus)

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, grace_s: float = 20.0) -> None:
        """Stop the server and any engine left under its data directory (idempotent)."""
        if self.proc is not None and self.proc.poll() is None:
            # our child: wait() reaps it (kill(pid, 0) would see the zombie as alive)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        pg_pid = self.data_dir / "pg" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pg_pid.read_text().split()[0])
            if str(self.data_dir).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                _terminate(pid, 10.0)
        for pid in processes_under(self.data_dir):
            _terminate(pid, 5.0)

    def __enter__(self) -> ServerProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class NodeCluster:
    """``nodes`` ``studyverse serve`` processes on one Redis and one Postgres; a context
    manager. The engines are ``REDIS_URL``/``DATABASE_URL`` from the environment, or embedded
    ones started here under ``directory`` (they inherit this process's CPU affinity, as a
    single server's own embedded engines do). Every node gets the same JWT key (a token
    from one node is valid on all), a Redis key prefix private to this run, and is pinned to
    ``cpus``; the run's keys are deleted from an external Redis at ``stop``. ``servers``: the
    nodes in start order; ``redis_pid``: the embedded Redis process, None with an external
    one. ``start`` raises RuntimeError (engine or node failed
    to start, with the node's log tail); ``stop`` is idempotent and stops everything."""

    def __init__(self, nodes: int, directory: Path, cpus: set[int] | None) -> None:
        self.nodes, self.directory, self.cpus = nodes, directory, cpus
        self.servers: list[ServerProcess] = []
        self.redis_pid: int | None = None
        self._redis: EmbeddedRedis | None = None
        self._pg: EmbeddedPostgres | None = None
        self._redis_url: str | None = None  # set by start
        self._prefix = ""

    def start(self) -> None:
        redis_url, database_url = os.environ.get("REDIS_URL"), os.environ.get("DATABASE_URL")
        try:
            if redis_url is None:
                self._redis = EmbeddedRedis(self.directory / "redis")
                redis_url = self._redis.start()
                self.redis_pid = next(iter(processes_under(self.directory / "redis")), None)
            if database_url is None:
                self._pg = EmbeddedPostgres(self.directory / "pg")
                database_url = self._pg.start()
        except RuntimeError as exc:  # EngineError
            raise RuntimeError(f"engines: {exc}") from exc
        self._redis_url, self._prefix = redis_url, f"bench{os.getpid()}x{time.monotonic_ns()}:"
        env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": database_url,
               "STUDYVERSE_REDIS_PREFIX": self._prefix,
               "STUDYVERSE_JWT_SECRET": "bench-" + "x" * 40,
               "STUDYVERSE_WEB_CLIENT_BUILD": "false"}
        studyverse = str(Path(sys.executable).with_name("studyverse"))
        for n in range(self.nodes):
            port, data = free_port(), self.directory / f"node{n}"
            server = ServerProcess([studyverse, "serve", "--port", str(port), "--data-dir",
                                    str(data)], port=port, data_dir=data,
                                   log_path=self.directory / f"node{n}.log", cpus=self.cpus,
                                   env=env)
            self.servers.append(server)
            server.start()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        url, self._redis_url = self._redis_url, None
        if url is not None and self._redis is None:  # a shared Redis: leave no keys behind
            with contextlib.suppress(redis.RedisError, OSError):
                client = redis.Redis.from_url(url)
                keys = list(client.scan_iter(match=f"{self._prefix}*", count=1000))
                for i in range(0, len(keys), 1000):
                    client.unlink(*keys[i:i + 1000])
                client.close()
        pg, self._pg = self._pg, None
        if pg is not None:
            pg.stop()
        engine, self._redis = self._redis, None
        if engine is not None:
            engine.stop()

    def __enter__(self) -> NodeCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
