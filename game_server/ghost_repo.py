"""Postgres repository of ghost recordings (``ghost_recordings``, ``ghost_chunks``) and of
the two recording settings on ``users`` that migration 008 adds (``recording_enabled``,
``recording_visibility``): this module owns those columns.

A recording is one member's focus phase, keyed like a focus session by (user, room, set
start, phase index); its timeline is stored as the chunks ``avatars.timeline.ChunkWriter``
cuts. Times on the way in and out are epoch ms. Visibility: ``private`` (the owner only),
``link`` (any signed-in user who knows the id), ``room`` (also listed to the room's
people: its owner and anyone with a focus session or a recording in that room).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import asyncpg

from game_server.user_repo import epoch_ms

Visibility = Literal["private", "link", "room"]

SELECT_SETTINGS = "SELECT recording_enabled, recording_visibility FROM users WHERE id = $1"
UPDATE_SETTINGS = """
UPDATE users SET recording_enabled = $2, recording_visibility = $3 WHERE id = $1
RETURNING recording_enabled, recording_visibility"""

# a resumed member records the same phase again: keep one row (its totals add up at end)
START = """
INSERT INTO ghost_recordings (id, user_id, room_id, set_started_at, phase_index, started_at,
                              visibility)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (user_id, room_id, set_started_at, phase_index)
    DO UPDATE SET ended_at = NULL
RETURNING id"""

# of two takes covering one chunk (a drop and resume inside it) the fuller one is kept
PUT_CHUNK = """
INSERT INTO ghost_chunks (recording_id, idx, start_ms, samples, data)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (recording_id, idx) DO UPDATE
    SET start_ms = EXCLUDED.start_ms, samples = EXCLUDED.samples, data = EXCLUDED.data
    WHERE ghost_chunks.samples < EXCLUDED.samples"""
COUNT_CHUNKS = """
UPDATE ghost_recordings r SET chunk_count = c.n, bytes = c.b
FROM (SELECT count(*) AS n, coalesce(sum(octet_length(data)), 0) AS b
      FROM ghost_chunks WHERE recording_id = $1) c
WHERE r.id = $1"""
END = """
UPDATE ghost_recordings
SET ended_at = greatest($2, started_at), duration_ms = greatest($3, 0),
    focused_ms = focused_ms + $4, present_ms = present_ms + $5
WHERE id = $1"""

COLUMNS = """r.id, r.user_id, u.display_name, r.room_id, r.set_started_at, r.phase_index,
r.started_at, r.ended_at, r.duration_ms, r.visibility, r.focused_ms, r.present_ms,
r.chunk_count, r.bytes"""
# the rooms whose 'room' recordings a user sees: owned, or studied in (session or recording)
MY_ROOMS = """
SELECT id FROM rooms WHERE owner_id = $1
UNION SELECT room_id FROM focus_sessions WHERE user_id = $1 AND room_id IS NOT NULL
UNION SELECT room_id FROM ghost_recordings WHERE user_id = $1 AND room_id IS NOT NULL"""
SELECT_ONE = f"""
SELECT {COLUMNS} FROM ghost_recordings r JOIN users u ON u.id = r.user_id WHERE r.id = $1"""
SELECT_VISIBLE = f"""
SELECT {COLUMNS} FROM ghost_recordings r JOIN users u ON u.id = r.user_id
WHERE r.user_id = $1
   OR (r.visibility = 'room' AND r.room_id IN ({MY_ROOMS}))
ORDER BY r.started_at DESC, r.id
LIMIT $2"""
IN_MY_ROOMS = f"SELECT $2::uuid IN ({MY_ROOMS})"
SELECT_PHASE = f"""
SELECT {COLUMNS} FROM ghost_recordings r JOIN users u ON u.id = r.user_id
WHERE r.room_id = $1 AND r.set_started_at = $2 AND r.phase_index = $3
ORDER BY r.started_at, r.user_id"""
SELECT_CHUNK = "SELECT data FROM ghost_chunks WHERE recording_id = $1 AND idx = $2"
SELECT_CHUNKS = "SELECT data FROM ghost_chunks WHERE recording_id = $1 ORDER BY idx"
SET_VISIBILITY = "UPDATE ghost_recordings SET visibility = $2 WHERE id = $1"
SELECT_IDS_OF_USER = "SELECT id FROM ghost_recordings WHERE user_id = $1"
DELETE = "DELETE FROM ghost_recordings WHERE id = $1"  # chunks go by ON DELETE CASCADE


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """A member's choice: record at all, and the visibility new recordings get."""

    enabled: bool
    visibility: Visibility


@dataclass(frozen=True, slots=True)
class Recording:
    """A stored recording's metadata; times epoch ms (``ended_ms`` None while recording),
    ``duration_ms`` = phase start to end, ``focused_ms``/``present_ms`` as the recorder
    measured them (game_server.recorder), ``bytes`` = the chunks' total size."""

    id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    room_id: uuid.UUID | None
    set_started_ms: int
    phase_index: int
    started_ms: int
    ended_ms: int | None
    duration_ms: int
    visibility: Visibility
    focused_ms: int
    present_ms: int
    chunk_count: int
    bytes: int


def _recording(row: asyncpg.Record) -> Recording:
    ended = row["ended_at"]
    return Recording(
        row["id"], row["user_id"], row["display_name"], row["room_id"],
        epoch_ms(row["set_started_at"]), row["phase_index"], epoch_ms(row["started_at"]),
        None if ended is None else epoch_ms(ended), row["duration_ms"], row["visibility"],
        row["focused_ms"], row["present_ms"], row["chunk_count"], row["bytes"])


class GhostRepo:
    """Reads and writes recordings through one pool; every method raises asyncpg errors."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # -- settings ---------------------------------------------------------------------------
    async def settings(self, user_id: uuid.UUID) -> RecordingSettings | None:
        """The user's recording settings; None for an unknown user."""
        row = await self._pool.fetchrow(SELECT_SETTINGS, user_id)
        return None if row is None else RecordingSettings(*row)

    async def set_settings(self, user_id: uuid.UUID, enabled: bool,
                           visibility: Visibility) -> RecordingSettings | None:
        """Store the user's recording settings; None for an unknown user."""
        row = await self._pool.fetchrow(UPDATE_SETTINGS, user_id, enabled, visibility)
        return None if row is None else RecordingSettings(*row)

    # -- writes (game_server.recorder) ----------------------------------------------------
    async def start(self, *, recording_id: uuid.UUID, user_id: str, room_id: str,
                    set_started_ms: int, phase_index: int, started_ms: int,
                    visibility: Visibility) -> uuid.UUID:
        """Open the recording of one member's focus phase: the id of the row (an existing
        row of the same phase if the member recorded part of it already)."""
        got: uuid.UUID = await self._pool.fetchval(
            START, recording_id, uuid.UUID(user_id), uuid.UUID(room_id), _ts(set_started_ms),
            phase_index, _ts(started_ms), visibility)
        return got

    async def put_chunk(self, recording_id: uuid.UUID, idx: int, start_ms: int,
                        samples: int, data: bytes) -> None:
        """Store chunk ``idx`` (``start_ms`` from the phase start) and refresh the row's
        chunk count and bytes, in one transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(PUT_CHUNK, recording_id, idx, start_ms, samples, data)
            await conn.execute(COUNT_CHUNKS, recording_id)

    async def end(self, recording_id: uuid.UUID, *, ended_ms: int, duration_ms: int,
                  focused_ms: int, present_ms: int) -> None:
        """Close the recording: its end, length and the take's focused/present ms (added to
        what earlier takes of the same phase stored)."""
        await self._pool.execute(END, recording_id, _ts(ended_ms), duration_ms,
                                 max(0, focused_ms), max(0, present_ms))

    # -- reads and owner actions (game_server.api_ghosts) ------------------------------------
    async def get(self, recording_id: uuid.UUID) -> Recording | None:
        row = await self._pool.fetchrow(SELECT_ONE, recording_id)
        return None if row is None else _recording(row)

    async def visible_to(self, user_id: uuid.UUID, limit: int) -> list[Recording]:
        """The user's recordings and the ``room`` recordings of rooms the user owns or
        studied in, newest first, at most ``limit``."""
        return [_recording(r) for r in await self._pool.fetch(SELECT_VISIBLE, user_id, limit)]

    async def phase_recordings(self, rec: Recording) -> list[Recording]:
        """Every recording of ``rec``'s room focus phase (same room, set start and phase
        index; ``rec`` included), in start order; just ``[rec]`` without a room."""
        if rec.room_id is None:
            return [rec]
        rows = await self._pool.fetch(SELECT_PHASE, rec.room_id, _ts(rec.set_started_ms),
                                      rec.phase_index)
        return [_recording(r) for r in rows]

    async def can_see(self, user_id: uuid.UUID, rec: Recording) -> bool:
        """Whether ``user_id`` may read ``rec`` (module docstring)."""
        if rec.user_id == user_id or rec.visibility == "link":
            return True
        if rec.visibility != "room" or rec.room_id is None:
            return False
        return bool(await self._pool.fetchval(IN_MY_ROOMS, user_id, rec.room_id))

    async def chunk(self, recording_id: uuid.UUID, idx: int) -> bytes | None:
        data = await self._pool.fetchval(SELECT_CHUNK, recording_id, idx)
        return None if data is None else bytes(data)

    async def chunks(self, recording_id: uuid.UUID) -> list[bytes]:
        """Every stored chunk of the recording in timeline order, in one query (indices may
        skip: a latecomer's recording has no chunks before its arrival)."""
        return [bytes(r["data"]) for r in await self._pool.fetch(SELECT_CHUNKS, recording_id)]

    async def set_visibility(self, recording_id: uuid.UUID, visibility: Visibility) -> None:
        await self._pool.execute(SET_VISIBILITY, recording_id, visibility)

    async def ids_of(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        """Every recording id of the user (account deletion takes their ghosts out)."""
        return [r["id"] for r in await self._pool.fetch(SELECT_IDS_OF_USER, user_id)]

    async def delete(self, recording_id: uuid.UUID) -> bool:
        """Delete the recording and all its chunks; False if it was not there."""
        return bool(await self._pool.execute(DELETE, recording_id) == "DELETE 1")
