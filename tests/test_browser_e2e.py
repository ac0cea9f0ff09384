"""The browser client end to end in a real browser (issue 6, "Tests (real browser)").

A real test server serves the production build of the current web_client/ sources with
short attention thresholds; ``web_client/e2e/room.mjs`` (playwright-core) drives the system
Chromium, headless with software GL, through two pages: one creates a room and plays a real
face recording from ``/recordings/`` instead of a camera, the other joins by invite code and
sees that face move (morph weights and screenshots), the owner's timer agree within 1 s,
and the face's absence turn into ``distracted`` after the configured time. The script's
output is the failure message.

Skipped, with the reason, when node/npm or Chromium (``chromium`` on PATH, or
``$STUDYVERSE_CHROMIUM``) is not installed: ``apt-get install -y chromium`` on Debian.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any, Final

import pytest

from game_server.config import REPO_ROOT
from game_server.web_build import ensure_built
from tests.conftest import RunningServer

WEB_DIR: Final = REPO_ROOT / "web_client"
SCRIPT: Final = WEB_DIR / "e2e" / "room.mjs"
CHROMIUM: Final = os.environ.get("STUDYVERSE_CHROMIUM") or shutil.which("chromium") or ""
DISTRACTED_AFTER_MS: Final = 2000
"""The test server's attention.distracted_after_ms; the script checks B waits at least this."""
ATTENTION: Final = {"calibration_ms": 300, "no_face_after_ms": 500,
                    "distracted_after_ms": DISTRACTED_AFTER_MS, "recover_after_ms": 300}
"""Thresholds short enough for seconds, not 15 s; eyes-closed and looking-away keep their
defaults, so the recording (llv_dao.gesichter, focused throughout) stays focused."""
SCRIPT_TIMEOUT_S: Final = 120.0

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                       reason="node and npm are not on PATH: the web client needs Node.js"),
    pytest.mark.skipif(not CHROMIUM or not Path(CHROMIUM).is_file(),
                       reason="Chromium is not installed (apt-get install -y chromium, or set "
                              "STUDYVERSE_CHROMIUM to a Chromium binary)"),
]


@pytest.fixture(scope="module")
def built() -> Path:
    """web_client/dist built from the current sources, as ``studyverse serve`` makes it
    (game_server.web_build.ensure_built: ``npm ci`` when node_modules is stale, a build
    only when the sources changed since the last one, under the build lock)."""
    return ensure_built(WEB_DIR)


@pytest.fixture
def server_settings(server_settings: dict[str, Any], built: Path) -> dict[str, Any]:
    """The test server serves that build, with short attention thresholds."""
    server_settings.update(web_client_dir=built, web_client_build=False, attention=ATTENTION)
    return server_settings


async def test_two_pages_in_a_real_browser(server: RunningServer, tmp_path: Path) -> None:
    """Two Chromium pages in one room: recorded face, avatar motion, timer, distracted
    (the scenario is spelled out in web_client/e2e/room.mjs)."""
    started = time.monotonic()
    # the server runs on this loop: wait for the subprocess without blocking it
    proc = await asyncio.create_subprocess_exec(
        "node", str(SCRIPT), cwd=WEB_DIR,
        env={**os.environ, "STUDYVERSE_E2E_URL": server.base_url,
             "STUDYVERSE_CHROMIUM": CHROMIUM,
             "STUDYVERSE_E2E_DISTRACTED_AFTER_MS": str(DISTRACTED_AFTER_MS),
             "STUDYVERSE_E2E_OUT": str(tmp_path / "e2e")},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), SCRIPT_TIMEOUT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = output.decode(errors="replace")
    assert proc.returncode == 0, (
        f"web_client/e2e/room.mjs failed (screenshots in {tmp_path / 'e2e'}):\n{text[-6000:]}")
    assert "e2e: " in text and "checks passed" in text, text[-3000:]
    print(text)
    print(f"browser run: {time.monotonic() - started:.1f} s")
