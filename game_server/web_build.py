"""The browser client (web_client/): build it when its build is stale, and serve it.

``ensure_built`` runs ``npm ci`` (when node_modules does not match package-lock.json) and
``npm run build`` (Vite, into ``web_client/dist``) when dist is missing or was built from
other sources. Freshness is a SHA-256 of the sources recorded in a stamp file beside the
build, not file times, so a checkout or a copy of the tree (which reset mtimes) does not
force a rebuild, and an edit always does. A file lock serialises concurrent starts on one
tree. ``studyverse serve`` calls it once at start (``Settings.web_client_build``).

``client_routes`` serves the build: ``/`` (index.html), ``/assets/*`` (hashed, cached for a
year), ``/mediapipe/wasm/*`` (the MediaPipe WASM runtime copied from the pinned npm package,
``application/wasm``) and ``/models/face_landmarker.task`` from the data directory (README
"Web client" says how to fetch it). Nothing is loaded from a CDN. ``/recordings/`` lists
the face recordings of ``avatars.recordings.face_data_dir()`` and ``/recordings/{name}``
serves one, for the client's recording face source (web_client/src/sources/).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from avatars.recordings import face_data_dir, load_recording

logger = logging.getLogger(__name__)

SOURCE_FILES: Final = ("index.html", "package.json", "package-lock.json", "tsconfig.json",
                       "tsconfig.node.json", "vite.config.ts")
SOURCE_DIRS: Final = ("src", "public")
"""What the build is made from (relative to the web_client directory); tests are not."""
BUILD_STAMP: Final = ".studyverse-build"
"""In dist/: the sources digest the build was made from."""
INSTALL_STAMP: Final = ".studyverse-install"
"""In node_modules/: the SHA-256 of the package-lock.json installed by ``npm ci``."""
LOCK_FILE: Final = ".build.lock"
NPM_TIMEOUT_S: Final = 600.0
OUTPUT_TAIL_LINES: Final = 40

MODEL_FILE: Final = "face_landmarker.task"
MODEL_URL_PATH: Final = f"/models/{MODEL_FILE}"
WASM_URL_PREFIX: Final = "/mediapipe/wasm"
_CONTENT_TYPES: Final = {
    ".wasm": "application/wasm", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8", ".json": "application/json",
    ".map": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
    ".task": "application/octet-stream", ".csv": "text/csv; charset=utf-8",
    ".gesichter": "application/gzip",
}
RECORDINGS_URL_PREFIX: Final = "/recordings"
RECORDING_SUFFIXES: Final = (".csv", ".gesichter", ".json")
"""Suffixes ``avatars.recordings.load_recording`` may accept; a file is listed only if it
also loads."""
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_IMMUTABLE: Final = "public, max-age=31536000, immutable"
_REVALIDATE: Final = "no-cache"


class WebBuildError(RuntimeError):
    """The client could not be built: npm missing, or ``npm ci`` / the build failed (the
    message carries the command's last output lines)."""


def dist_dir(web_dir: Path) -> Path:
    """Where the build goes: ``<web_dir>/dist``."""
    return web_dir / "dist"


def sources_digest(web_dir: Path) -> str:
    """SHA-256 (hex) over the relative path and content of every source file, in path order.
    Raises FileNotFoundError when ``web_dir`` has no package.json."""
    if not (web_dir / "package.json").is_file():
        raise FileNotFoundError(f"{web_dir} is not the web client (no package.json)")
    files = [web_dir / name for name in SOURCE_FILES if (web_dir / name).is_file()]
    for name in SOURCE_DIRS:
        files += [p for p in (web_dir / name).rglob("*") if p.is_file()]
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(web_dir).as_posix()):
        rel = path.relative_to(web_dir).as_posix().encode()
        body = path.read_bytes()
        digest.update(b"%d:%s%d:" % (len(rel), rel, len(body)))
        digest.update(body)
    return digest.hexdigest()


def _lock_digest(web_dir: Path) -> str:
    return hashlib.sha256((web_dir / "package-lock.json").read_bytes()).hexdigest()


def _stamp(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def install_needed(web_dir: Path) -> bool:
    """Whether node_modules is missing or was not installed from this package-lock.json."""
    return _stamp(web_dir / "node_modules" / INSTALL_STAMP) != _lock_digest(web_dir)


def build_needed(web_dir: Path) -> bool:
    """Whether dist is missing or was built from other sources."""
    dist = dist_dir(web_dir)
    if not (dist / "index.html").is_file():
        return True
    return _stamp(dist / BUILD_STAMP) != sources_digest(web_dir)


def npm_executable() -> str:
    """The npm on PATH. Raises WebBuildError when there is none."""
    npm = shutil.which("npm")
    if npm is None:
        raise WebBuildError(
            "npm is not on PATH: install Node.js >= 20.19 with npm to build the web client, "
            "or build it elsewhere (`npm ci && npm run build` in web_client/) and start with "
            "STUDYVERSE_WEB_CLIENT_BUILD=false")
    return npm


def _run(args: list[str], cwd: Path) -> None:
    started = time.monotonic()
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                              timeout=NPM_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise WebBuildError(
            f"`npm {' '.join(args[1:])}` took over {NPM_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-OUTPUT_TAIL_LINES:])
        raise WebBuildError(
            f"`npm {' '.join(args[1:])}` in {cwd} failed (exit {done.returncode}):\n{tail}")
    logger.info("web client: npm %s done in %.1f s", " ".join(args[1:]),
                time.monotonic() - started)


@contextlib.contextmanager
def _locked(web_dir: Path) -> Iterator[None]:
    with open(web_dir / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_installed(web_dir: Path) -> bool:
    """Run ``npm ci`` in ``web_dir`` unless node_modules matches package-lock.json; True if
    it ran. Blocking (seconds to minutes). Raises WebBuildError."""
    if not install_needed(web_dir):
        return False
    with _locked(web_dir):
        return _install_locked(web_dir)


def _install_locked(web_dir: Path) -> bool:
    if not install_needed(web_dir):
        return False
    npm = npm_executable()
    logger.info("web client: installing dependencies (npm ci)", extra={"web_dir": str(web_dir)})
    _run([npm, "ci", "--no-audit", "--no-fund"], web_dir)
    (web_dir / "node_modules" / INSTALL_STAMP).write_text(_lock_digest(web_dir) + "\n")
    return True


def ensure_built(web_dir: Path) -> Path:
    """Build the client in ``web_dir`` (npm ci if needed, then ``npm run build``) unless its
    dist was built from the current sources; return the dist directory.

    Blocking (measured here: 2 s for a build, 5 s more for ``npm ci``): call it once at
    start, in a thread. Raises WebBuildError when npm is absent and a build is needed, or a
    step fails; FileNotFoundError when ``web_dir`` is not the web client.
    """
    dist = dist_dir(web_dir)
    if not build_needed(web_dir):  # the common start: no lock, so a read-only tree works
        logger.info("web client: build is current", extra={"web_dir": str(web_dir)})
        return dist
    with _locked(web_dir):
        digest = sources_digest(web_dir)
        if (dist / "index.html").is_file() and _stamp(dist / BUILD_STAMP) == digest:
            return dist  # another process built it while this one waited
        npm = npm_executable()
        _install_locked(web_dir)
        logger.info("web client: building (vite build)", extra={"web_dir": str(web_dir)})
        _run([npm, "run", "build"], web_dir)
        if not (dist / "index.html").is_file():
            raise WebBuildError(f"the build left no {dist / 'index.html'}")
        (dist / BUILD_STAMP).write_text(digest + "\n")
    return dist


# --- serving -----------------------------------------------------------------------------


def _file_under(base: Path, rel: str) -> Path | None:
    """``base / rel`` if it names a file inside ``base`` (no dot segments, no escape)."""
    parts = rel.split("/")
    if not rel or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    path = (base / rel).resolve()
    root = base.resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def _file(path: Path, cache_control: str) -> web.FileResponse:
    content_type = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    return web.FileResponse(path, headers={"Content-Type": content_type,
                                           "Cache-Control": cache_control})


def client_routes(dist: Path, models_dir: Path) -> list[web.RouteDef]:
    """Routes serving the built client in ``dist`` and the face model in ``models_dir``.

    Files are looked up per request, so a build that finishes after the routes were added
    is served. ``/`` answers 503 (text) while there is no build; a missing file is 404; the
    model's 404 says how to install it. Includes :func:`recording_routes`.
    """
    index = dist / "index.html"

    async def root(request: web.Request) -> web.StreamResponse:
        if index.is_file():
            return _file(index, _REVALIDATE)
        return web.Response(
            status=503, content_type="text/plain",
            text="Studyverse server is running, but the web client is not built: run "
                 "`npm ci && npm run build` in web_client/, or start the server with "
                 "STUDYVERSE_WEB_CLIENT_BUILD=true (needs Node.js and npm).\n")

    def directory(base: Path, cache_control: str) -> _Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            path = _file_under(base, request.match_info["path"])
            if path is None:
                raise web.HTTPNotFound(text="not found\n")
            return _file(path, cache_control)
        return handler

    async def model(request: web.Request) -> web.StreamResponse:
        path = models_dir / MODEL_FILE
        if not path.is_file():
            raise web.HTTPNotFound(text=(
                f"face model not installed: the server operator puts {MODEL_FILE} in the "
                f"data directory's models/ folder (README.md, \"Web client\")\n"))
        return _file(path, _REVALIDATE)

    return [
        web.get("/", root),
        web.get("/index.html", root),
        web.get("/assets/{path:.+}", directory(dist / "assets", _IMMUTABLE)),
        web.get(WASM_URL_PREFIX + "/{path:.+}", directory(dist / "mediapipe" / "wasm",
                                                          _REVALIDATE)),
        web.get(MODEL_URL_PATH, model),
        *recording_routes(),
    ]


# --- face recordings ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """One servable recording: file name, format, frame count, duration in seconds."""

    name: str
    format: str  # "livelink_csv" | "llv_csv" | "llv_gesichter" | "mediapipe_json"
    frames: int
    duration_s: float


def _format_of(path: Path) -> str:
    if path.suffix == ".gesichter":
        return "llv_gesichter"
    if path.suffix == ".json":
        return "mediapipe_json"
    with open(path, newline="") as f:
        header = f.readline()
    return "livelink_csv" if "Timecode" in header.split(",") else "llv_csv"


class RecordingCatalog:
    """The recordings in a directory that ``avatars.recordings.load_recording`` loads,
    re-read when a file's size or mtime changes (the 3 MB Live Link take takes ~0.1 s to
    parse). Sync and blocking: call from a thread. Files that do not load are skipped."""

    def __init__(self, directory: Callable[[], Path] = face_data_dir) -> None:
        self._directory = directory
        self._cache: dict[Path, tuple[tuple[int, int], RecordingInfo | None]] = {}

    def scan(self) -> dict[str, tuple[Path, RecordingInfo]]:
        """File name -> (path, info) of every loadable recording, top level only.
        Raises FileNotFoundError when the directory is not found."""
        base = self._directory()
        found: dict[str, tuple[Path, RecordingInfo]] = {}
        for path in sorted(base.iterdir()):
            if path.name.startswith(".") or path.suffix not in RECORDING_SUFFIXES:
                continue
            if not path.is_file():
                continue
            stat = path.stat()
            key = (stat.st_size, stat.st_mtime_ns)
            cached = self._cache.get(path)
            if cached is None or cached[0] != key:
                cached = (key, self._load(path))
                self._cache[path] = cached
            if cached[1] is not None:
                found[path.name] = (path, cached[1])
        return found

    @staticmethod
    def _load(path: Path) -> RecordingInfo | None:
        try:
            recording = load_recording(path)
            fmt = _format_of(path)
        except (ValueError, KeyError, IndexError, TypeError, OSError):
            logger.info("recordings: skipping a file no loader reads", extra={"path": str(path)})
            return None
        return RecordingInfo(path.name, fmt, len(recording.frames),
                             round(recording.duration_ms / 1000.0, 3))


def recording_routes(catalog: RecordingCatalog | None = None) -> list[web.RouteDef]:
    """``GET /recordings/``: JSON ``{"recordings": [{name, format, frames, duration_s}]}``
    sorted by name; ``GET /recordings/{name}``: that file, only if it is listed (any other
    name, a dot segment or a slash is 404). 503 when the face data directory is missing."""
    cat = catalog if catalog is not None else RecordingCatalog()
    lock = asyncio.Lock()

    async def scan() -> dict[str, tuple[Path, RecordingInfo]]:
        async with lock:  # one scan at a time: the cache is not thread-safe
            try:
                return await asyncio.to_thread(cat.scan)
            except FileNotFoundError as exc:
                raise web.HTTPServiceUnavailable(text=f"{exc}\n") from exc

    async def listing(request: web.Request) -> web.StreamResponse:
        found = await scan()
        return web.json_response(
            {"recordings": [{"name": info.name, "format": info.format, "frames": info.frames,
                             "duration_s": info.duration_s}
                            for _, info in found.values()]},
            headers={"Cache-Control": _REVALIDATE})

    async def one(request: web.Request) -> web.StreamResponse:
        entry = (await scan()).get(request.match_info["name"])
        if entry is None:
            raise web.HTTPNotFound(text="no such recording\n")
        return _file(entry[0], _REVALIDATE)

    return [
        web.get(RECORDINGS_URL_PREFIX + "/", listing),
        web.get(RECORDINGS_URL_PREFIX + "/{name}", one),
    ]
