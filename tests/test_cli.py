"""The README run command: `studyverse serve` with embedded engines, then a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from game_server.config import REPO_ROOT
from tests.client import Api, SioClient

BIN = Path(sys.executable).parent / "studyverse"


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "PORT") and not k.startswith("STUDYVERSE_")}
    return env


async def read_until(stream: asyncio.StreamReader, pattern: str, timeout: float) -> str:
    seen = ""
    try:
        async with asyncio.timeout(timeout):
            while True:
                line = (await stream.readline()).decode()
                if not line:
                    raise AssertionError(f"process ended before {pattern!r}; output:\n{seen}")
                seen += line
                match = re.search(pattern, line)
                if match:
                    return match.group(1) if match.groups() else line
    except TimeoutError:
        raise AssertionError(f"no {pattern!r} within {timeout} s; output:\n{seen}") from None


def postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def kill_postmaster(pgdata: Path) -> None:
    """SIGKILL an embedded postmaster left running by a failed test."""
    if postmaster_running(pgdata):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int((pgdata / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)


async def test_migrate_then_serve_and_stop_cleanly() -> None:
    with tempfile.TemporaryDirectory(prefix="sv-cli-") as tmp:
        data = Path(tmp)
        migrate = subprocess.run([str(BIN), "migrate", "--data-dir", str(data)], env=clean_env(),
                                 capture_output=True, text=True, timeout=120,
                                 start_new_session=True)
        assert migrate.returncode == 0, migrate.stderr
        numbers = sorted(int(f.name.split("_")[0])
                         for f in (REPO_ROOT / "migrations").glob("*.sql"))
        assert f"applied {len(numbers)} migration(s): {numbers}" in migrate.stdout
        assert not postmaster_running(data / "pg")

        proc = await asyncio.create_subprocess_exec(
            str(BIN), "serve", "--port", "0", "--data-dir", str(data), env=clean_env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)  # its own process group: a failed test kills it all
        assert proc.stdout is not None
        try:
            base = await read_until(proc.stdout, r"serving on (http://\S+)", 60)
            assert postmaster_running(data / "pg") and (data / "redis" / "redis.sock").exists()
            api = Api(base)
            client = SioClient()
            try:
                status, ready = await api.call("GET", "/readyz")
                assert status == 200, ready
                token, _ = await api.guest("Cli")
                room_id = await api.room(token)
                await client.connect(base, token)
                assert (await client.call("room_join", {"room_id": room_id}))["ok"]
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(client.disconnected.wait(), 15)
                # drained: told to reconnect (elsewhere) before the socket closed
                [notice] = client.of("server_shutdown")
                assert notice["reason"] == "shutdown" and 0 <= notice["retry_in_ms"] < 1000
            finally:
                await client.close()
                await api.close()
            await read_until(proc.stdout, r"(studyverse: stopped)", 30)
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        finally:
            if proc.returncode is None:
                # SIGKILL the whole group: the server and the engines it started, which would
                # otherwise outlive it holding the output pipe open (and hang this wait)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await asyncio.wait_for(proc.wait(), 30)
                kill_postmaster(data / "pg")  # pg_ctl started it in a session of its own
        assert not postmaster_running(data / "pg")
        assert not (data / "redis" / "redis.sock").exists()
        assert (data / "jwt_secret").stat().st_mode & 0o077 == 0
