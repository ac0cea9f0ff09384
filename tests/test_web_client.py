"""The browser client (web_client/): its own test suites, its production build, and how the
server builds and serves it (game_server.web_build, game_server.app ``_serve_client``).

Runs ``npm ci`` first when node_modules does not match package-lock.json. Skipped, with the
reason, when ``node`` or ``npm`` is not on PATH.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl
from aiohttp import web

from game_server.config import REPO_ROOT
from game_server.web_build import (
    BUILD_STAMP,
    WebBuildError,
    build_needed,
    client_routes,
    ensure_built,
    ensure_installed,
    sources_digest,
)
from tests.conftest import RunningServer

WEB_DIR = REPO_ROOT / "web_client"
WASM_SOURCE = WEB_DIR / "node_modules" / "@mediapipe" / "tasks-vision" / "wasm"
CDN_HOSTS = re.compile(
    r"https?://(?:cdn\.jsdelivr\.net|unpkg\.com|storage\.googleapis\.com|cdnjs\.cloudflare\.com"
    r"|esm\.sh|cdn\.skypack\.dev|ga\.jspm\.io|fonts\.googleapis\.com|fonts\.gstatic\.com)")
EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
NODE_MISSING = shutil.which("node") is None or shutil.which("npm") is None

pytestmark = pytest.mark.skipif(
    NODE_MISSING, reason="node and npm are not on PATH: the web client needs Node.js >= 20.19")


def npm(*args: str, timeout: float = 300) -> str:
    """Run ``npm <args>`` in web_client/; return its output, failing the test on exit != 0."""
    done = subprocess.run(["npm", *args], cwd=WEB_DIR, capture_output=True, text=True,
                          timeout=timeout, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def installed() -> Path:
    ensure_installed(WEB_DIR)
    return WEB_DIR


@pytest.fixture(scope="module")
def built(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A production build in a private directory (the served web_client/dist is left alone)."""
    out = tmp_path_factory.mktemp("web-dist")
    npm("exec", "--", "vite", "build", "--outDir", str(out), "--emptyOutDir")
    return out


# --- the client's own checks --------------------------------------------------------------


def test_versions_are_pinned_exactly(installed: Path) -> None:
    package = json.loads((WEB_DIR / "package.json").read_text())
    lock = json.loads((WEB_DIR / "package-lock.json").read_text())
    pins = {**package["dependencies"], **package["devDependencies"]}
    assert {"vite", "typescript", "vitest", "three", "@mediapipe/tasks-vision",
            "socket.io-client", "socket.io-msgpack-parser"} <= pins.keys()
    for name, version in pins.items():
        assert EXACT_VERSION.match(version), f"{name} {version!r} is not an exact version"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
    assert pins["vite"].startswith("7.")
    assert pins["@mediapipe/tasks-vision"].startswith("0.10.")


def test_typescript_typechecks(installed: Path) -> None:
    npm("run", "typecheck")


def test_vitest_suite_passes(installed: Path, tmp_path: Path) -> None:
    report = tmp_path / "vitest.json"
    npm("exec", "--", "vitest", "run", "--reporter=json", f"--outputFile={report}")
    result = json.loads(report.read_text())
    assert result["numFailedTests"] == 0 and result["success"], result
    # the codec replays every shared vector: far more than a handful of tests ran
    assert result["numPassedTests"] >= 150, result["numPassedTests"]


def test_production_build_is_self_contained(built: Path) -> None:
    index = (built / "index.html").read_text()
    scripts = re.findall(r'(?:src|href)="(/assets/[^"]+)"', index)
    assert scripts, index
    for url in scripts:
        assert (built / url.lstrip("/")).is_file(), url
    assert not re.search(r'(?:src|href)="(?:https?:)?//', index), "external URL in index.html"
    # the MediaPipe runtime, byte for byte the pinned package's wasm/ directory
    copied = {p.name: p.read_bytes() for p in (built / "mediapipe" / "wasm").iterdir()}
    shipped = {p.name: p.read_bytes() for p in WASM_SOURCE.iterdir()}
    assert copied == shipped and "vision_wasm_internal.wasm" in copied
    for path in built.rglob("*"):
        if path.suffix in (".html", ".js", ".mjs", ".css", ".json"):
            found = CDN_HOSTS.search(path.read_text(errors="replace"))
            assert found is None, f"{path.relative_to(built)} loads {found.group(0)}"


# --- building at start (game_server.web_build) ---------------------------------------------


def copy_client(dest: Path) -> Path:
    """A copy of web_client/ sharing its installed node_modules."""
    shutil.copytree(WEB_DIR, dest, ignore=shutil.ignore_patterns(
        "node_modules", "dist", ".build.lock"))
    (dest / "node_modules").symlink_to(WEB_DIR / "node_modules", target_is_directory=True)
    return dest


def test_ensure_built_rebuilds_only_when_sources_change(
        installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    web_dir = copy_client(tmp_path / "web_client")
    assert build_needed(web_dir)
    dist = ensure_built(web_dir)
    assert (dist / "index.html").is_file()
    assert (dist / "mediapipe" / "wasm" / "vision_wasm_internal.wasm").is_file()
    assert (dist / BUILD_STAMP).read_text().strip() == sources_digest(web_dir)
    assert not build_needed(web_dir)

    (web_dir / "test" / "extra.test.ts").write_text("// tests are not part of the build\n")
    assert not build_needed(web_dir)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no npm from here on
    assert ensure_built(web_dir) == dist  # current: npm is not needed
    main = web_dir / "src" / "main.ts"
    main.write_text(main.read_text() + "\n// an edit\n")
    assert build_needed(web_dir)
    with pytest.raises(WebBuildError, match="npm is not on PATH"):
        ensure_built(web_dir)


def test_a_failing_build_says_why(installed: Path, tmp_path: Path) -> None:
    web_dir = copy_client(tmp_path / "web_client")
    (web_dir / "src" / "main.ts").write_text('import "./no-such-module";\n')
    with pytest.raises(WebBuildError, match="no-such-module"):
        ensure_built(web_dir)


# --- serving (client_routes, and the real server) -----------------------------------------


@pytest.fixture
async def client_site(built: Path, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A bare aiohttp site with only the client routes: (base URL, models directory)."""
    app = web.Application()
    app.router.add_routes(client_routes(built, tmp_path / "models"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", tmp_path / "models"
    finally:
        await runner.cleanup()


async def fetch(session: aiohttp.ClientSession, url: str,
                method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request with the URL sent as written (no client-side dot-segment cleanup)."""
    async with session.request(method, yarl.URL(url, encoded=True)) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_routes_serve_the_build_wasm_and_model(
        built: Path, client_site: tuple[str, Path]) -> None:
    base, models = client_site
    async with aiohttp.ClientSession() as s:
        status, headers, body = await fetch(s, base + "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert body == (built / "index.html").read_bytes()
        assert headers["Cache-Control"] == "no-cache"
        for url in re.findall(r'src="(/assets/[^"]+\.js)"', body.decode()):
            status, headers, asset = await fetch(s, base + url)
            assert status == 200 and headers["Content-Type"].startswith("text/javascript")
            assert "immutable" in headers["Cache-Control"]
            assert asset == (built / url.lstrip("/")).read_bytes()

        wasm = built / "mediapipe" / "wasm" / "vision_wasm_internal.wasm"
        status, headers, body = await fetch(s, base + "/mediapipe/wasm/" + wasm.name)
        assert (status, headers["Content-Type"]) == (200, "application/wasm")
        assert body[:4] == b"\0asm" and len(body) == wasm.stat().st_size
        status, headers, _ = await fetch(s, base + "/mediapipe/wasm/vision_wasm_internal.js")
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")

        for bad in ("/mediapipe/wasm/nope.wasm", "/assets/%2e%2e/index.html",
                    "/assets/..%2findex.html", "/mediapipe/wasm/../../index.html",
                    "/assets/", "/" + BUILD_STAMP, "/mediapipe/wasm/.hidden"):
            status, _, _ = await fetch(s, base + bad)
            assert status == 404, bad

        status, _, body = await fetch(s, base + "/models/face_landmarker.task")
        assert status == 404 and b"README" in body and b"models/" in body
        models.mkdir()
        (models / "face_landmarker.task").write_bytes(b"PK\x03\x04 model bytes")
        status, headers, body = await fetch(s, base + "/models/face_landmarker.task")
        assert status == 200 and body == b"PK\x03\x04 model bytes"
        assert headers["Content-Type"] == "application/octet-stream"
        status, _, _ = await fetch(s, base + "/models/face_landmarker.task", "HEAD")
        assert status == 200


async def test_root_says_when_the_client_is_not_built(tmp_path: Path) -> None:
    app = web.Application()
    app.router.add_routes(client_routes(tmp_path / "no-dist", tmp_path / "models"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as s:
            status, _, body = await fetch(s, f"http://{host}:{port}/")
        assert status == 503 and b"not built" in body and b"npm" in body
    finally:
        await runner.cleanup()


@pytest.fixture
def server_settings(server_settings: dict[str, Any], built: Path) -> dict[str, Any]:
    """The test server serves the private build and does not build at start."""
    server_settings.update(web_client_dir=built, web_client_build=False)
    return server_settings


async def test_the_slice_end_to_end_against_the_server(
        server: RunningServer, built: Path) -> None:
    """The real server serves the page; the client's own modules sign in, sync clocks,
    create and join a room, relay frames and show attention (web_client/test/live.test.ts,
    run in Node against this server)."""
    async with aiohttp.ClientSession() as s:
        status, _, body = await fetch(s, server.base_url + "/")
        assert status == 200 and body == (built / "index.html").read_bytes()
        status, _, _ = await fetch(s, server.base_url + "/models/face_landmarker.task")
        assert status == 404
    # the server runs on this loop: wait for the subprocess without blocking it
    proc = await asyncio.create_subprocess_exec(
        "npm", "exec", "--", "vitest", "run", "test/live.test.ts", cwd=WEB_DIR,
        env={**os.environ, "STUDYVERSE_LIVE_URL": server.base_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-4000:]
    assert re.search(r"Tests\s+.*1 passed", re.sub(r"\x1b\[[0-9;]*m", "", text)), text[-2000:]
