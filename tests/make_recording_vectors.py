"""Generate the recording-parser vectors for the browser's recording face source.

``python -m tests.make_recording_vectors`` (in .venv) writes
``web_client/test/vectors/recordings.json`` from ``avatars.recordings``: for the Live Link
Face CSV take and the decoded LLV CSV, a small excerpt of the file (header plus chosen rows,
kept verbatim) and what the Python loader makes of it; for every recording the loader's
summary of the whole file (frame count, fps, duration, has_pose) and a few sampled frames;
and the 72-byte frames ``avatars.recordings.frame_bytes`` encodes from some of them.
``web_client/test/sources.test.ts`` parses the same inputs with src/sources/recording.ts and
compares. ``tests/test_recordings_route.py`` fails when the file is stale.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from avatars.recordings import (
    RecordedFrame,
    Recording,
    face_data_dir,
    frame_bytes,
    load_recording,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
VECTORS_PATH = REPO_ROOT / "web_client" / "test" / "vectors" / "recordings.json"
EXCERPTS = {"livelinkface_alex_rom_3.csv": 400, "llv_dao_decoded.csv": 30}
"""Recording -> stride of the rows kept in its excerpt (plus its first 8 and last 2 rows)."""
WHOLE = ("livelinkface_alex_rom_3.csv", "llv_dao.gesichter", "llv_dao_decoded.csv",
         "mediapipe_single_frame_vsekai_blendshapes.json")
SAMPLES = 5


def frame_json(f: RecordedFrame) -> dict[str, Any]:
    return {"t_ms": f.t_ms, "scores": list(f.scores), "yaw_deg": f.yaw_deg,
            "pitch_deg": f.pitch_deg, "roll_deg": f.roll_deg}


def summary(rec: Recording) -> dict[str, Any]:
    return {"name": rec.name, "fps": rec.fps, "frames": len(rec.frames),
            "duration_ms": rec.duration_ms, "has_pose": rec.has_pose}


def excerpt(path: Path, stride: int) -> str:
    lines = path.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    keep = sorted({*range(8), *range(8, len(rows), stride), len(rows) - 2, len(rows) - 1})
    return "\n".join([header, *(rows[i] for i in keep)]) + "\n"


def build_vectors() -> dict[str, Any]:
    face = face_data_dir()
    excerpts = []
    for name, stride in EXCERPTS.items():
        text = excerpt(face / name, stride)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(text)
            rec = load_recording(path)
        excerpts.append({"file": name, "text": text, **summary(rec),
                         "decoded": [frame_json(f) for f in rec.frames]})
    whole = []
    for name in WHOLE:
        rec = load_recording(face / name)
        n = len(rec.frames)
        picks = sorted({(n - 1) * k // max(SAMPLES - 1, 1) for k in range(SAMPLES)})
        encoded = [{"index": i, "seq": 65_534 + j, "capture_ms": (2**32 - 20 + 17 * j) % 2**32,
                    "hex": frame_bytes(rec.frames[i], seq=65_534 + j,
                                       capture_ms=(2**32 - 20 + 17 * j) % 2**32,
                                       pose_valid=rec.has_pose).hex()}
                   for j, i in enumerate(picks)]
        whole.append({"file": name, **summary(rec),
                      "samples": [{"index": i, **frame_json(rec.frames[i])} for i in picks],
                      "encoded": encoded})
    return {"excerpts": excerpts, "whole": whole}


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1) + "\n"


def main() -> int:
    text = render(build_vectors())
    VECTORS_PATH.parent.mkdir(parents=True, exist_ok=True)
    VECTORS_PATH.write_text(text)
    print(f"wrote {VECTORS_PATH.relative_to(REPO_ROOT)} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
