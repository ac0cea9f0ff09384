"""The face-recording routes (game_server.web_build ``recording_routes``): ``GET /recordings/``
lists what ``avatars.recordings`` loads from the face data directory, ``GET /recordings/{name}``
serves exactly those files and nothing else (no traversal, no unknown files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
import pytest

from avatars.recordings import FACE_DATA_ENV, face_data_dir, load_recording
from game_server.web_build import RecordingCatalog
from tests.client import Api
from tests.conftest import RunningServer

FACE_DIR = face_data_dir()
LOADABLE = {"livelinkface_alex_rom_3.csv", "llv_dao.gesichter", "llv_dao_decoded.csv",
            "mediapipe_single_frame_vsekai_blendshapes.json"}


async def test_listing_names_every_loadable_recording(server: RunningServer, api: Api) -> None:
    status, body = await api.call("GET", "/recordings/")
    assert status == 200, body
    listed = {r["name"]: r for r in body["recordings"]}
    assert set(listed) == LOADABLE  # not SOURCES.md, the name map or licenses/
    assert [r["name"] for r in body["recordings"]] == sorted(listed)
    alex = listed["livelinkface_alex_rom_3.csv"]
    recording = load_recording(FACE_DIR / "livelinkface_alex_rom_3.csv")
    assert alex["format"] == "livelink_csv"
    assert alex["frames"] == len(recording.frames) == 4030
    assert alex["duration_s"] == pytest.approx(recording.duration_ms / 1000, abs=1e-3)
    assert 134 < alex["duration_s"] < 135
    assert listed["llv_dao.gesichter"]["format"] == "llv_gesichter"
    assert listed["llv_dao.gesichter"]["frames"] == 180
    assert listed["llv_dao_decoded.csv"]["format"] == "llv_csv"
    single = listed["mediapipe_single_frame_vsekai_blendshapes.json"]
    assert (single["format"], single["frames"], single["duration_s"]) == ("mediapipe_json", 1, 0)


async def test_a_listed_file_is_served_byte_for_byte(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        for name in ("livelinkface_alex_rom_3.csv", "llv_dao.gesichter"):
            async with http.get(f"{server.base_url}/recordings/{name}") as resp:
                assert resp.status == 200
                assert await resp.read() == (FACE_DIR / name).read_bytes()
        async with http.get(f"{server.base_url}/recordings/livelinkface_alex_rom_3.csv") as resp:
            assert resp.headers["Content-Type"].startswith("text/csv")


@pytest.mark.parametrize("path", [
    "SOURCES.md", "blendshape_name_map.json", "licenses", "nothing.csv",
    "..%2FSOURCES.md", "%2E%2E/face/SOURCES.md", "../face/livelinkface_alex_rom_3.csv",
    "licenses/..%2Fllv_dao.gesichter", ".hidden.csv",
])
async def test_other_paths_are_not_found(server: RunningServer, path: str) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{server.base_url}/recordings/{path}"
        async with http.get(url) as resp:
            assert resp.status == 404, (path, resp.status)
            assert "livelink" not in (await resp.text()).lower()


def test_catalog_skips_files_no_loader_reads_and_notices_changes(tmp_path: Path) -> None:
    shutil.copy(FACE_DIR / "llv_dao_decoded.csv", tmp_path / "take.csv")
    (tmp_path / "broken.csv").write_text("a,b\n1,2\n")
    (tmp_path / "notes.json").write_text('{"x": 1}')
    (tmp_path / "readme.md").write_text("hi")
    catalog = RecordingCatalog(lambda: tmp_path)
    found = catalog.scan()
    assert list(found) == ["take.csv"]
    assert found["take.csv"][1].frames == 180
    shutil.copy(FACE_DIR / "mediapipe_single_frame_vsekai_blendshapes.json",
                tmp_path / "notes.json")
    assert sorted(catalog.scan()) == ["notes.json", "take.csv"]


async def test_missing_face_directory_is_503(server_settings: dict[str, object],
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from game_server.config import Settings
    from tests.conftest import start_server

    monkeypatch.setenv(FACE_DATA_ENV, str(tmp_path / "absent"))
    running = await start_server(Settings(**server_settings))  # type: ignore[arg-type]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{running.base_url}/recordings/") as resp:
                assert resp.status == 503
                assert FACE_DATA_ENV in await resp.text()
    finally:
        await running.stop()


def test_recording_vectors_are_current() -> None:
    """web_client/test/vectors/recordings.json is what tests/make_recording_vectors.py makes
    from avatars.recordings now (web_client/test/sources.test.ts replays it)."""
    from tests.make_recording_vectors import VECTORS_PATH, build_vectors, render

    assert VECTORS_PATH.read_text() == render(build_vectors()), (
        "run `.venv/bin/python -m tests.make_recording_vectors` and commit the file")
