"""HTTP routes of ghost recordings (``/api/ghosts...``) and the member's recording settings
(``/api/me/recording``). Recording itself happens on the socket's node
(``game_server.recorder``); replay is on the socket (``game_server.replay_watch``,
``game_server.ghost_replay``).

Who sees a recording (``game_server.ghost_repo``): its owner always; ``link``: any signed-in
user who knows its id; ``room``: also the room's people, i.e. its owner and anyone with a
focus session or a recording in that room (membership lives in Redis only while connected,
so having studied there is the lasting test). A recording the caller may not see is 403
``forbidden`` (issue 5: someone else's private recording is forbidden, not hidden; ids are
random UUIDs, so this tells nothing guessable); one that does not exist is 404. Changing
or deleting one is the owner's: 403 ``forbidden`` for anyone else.

- ``GET /api/ghosts?limit=``: the caller's recordings and the ``room`` recordings shared
  with them, newest first (``link`` recordings of others are not listed: they are found by
  id only).
- ``GET /api/ghosts/{id}``: metadata (who, when, length, focus share, chunks, bytes).
- ``GET /api/ghosts/{id}/phase``: the recordings of its room focus phase (one per member)
  and whether the caller can watch the whole phase (all visible and finished).
- ``GET /api/ghosts/{id}/chunks/{idx}``: one stored chunk, ``application/octet-stream``
  (``avatars.timeline.decode_chunk`` reads it); 404 for a chunk not stored.
- ``PATCH /api/ghosts/{id}`` ``{visibility}``; ``DELETE /api/ghosts/{id}`` (204; the chunks
  go with it).
- ``GET``/``PUT /api/me/recording`` ``{enabled, visibility}``: the member's choice, read
  when joining a room; ``visibility`` is what new recordings get. Off = nothing recorded.
"""

from __future__ import annotations

import uuid

from aiohttp import web
from pydantic import BaseModel, Field

from game_server.deps import DEPS
from game_server.ghost_repo import GhostRepo, Recording, Visibility
from game_server.http_common import (
    ApiRouter,
    HttpError,
    authenticate,
    model_response,
    parse,
    parse_query,
    path_uuid,
)
from game_server.schemas import Inbound

router = ApiRouter("ghosts")


class GhostOut(BaseModel):
    """A recording's metadata. Times epoch ms; ``ended_ms`` null while recording;
    ``duration_ms`` from the phase start to its end; ``present_ms`` the member's time in
    the phase, ``focused_ms`` the part of it focused; ``focus_share`` = focused_ms /
    present_ms (null when present_ms is 0)."""

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
    focus_share: float | None
    chunk_count: int
    bytes: int
    mine: bool


class GhostsOut(BaseModel):
    ghosts: list[GhostOut]


class PhaseMember(BaseModel):
    """One recording of a room's focus phase: the recording's id and whether the caller
    may see it; who and whether it is finished only when visible (null otherwise)."""

    recording_id: uuid.UUID
    visible: bool
    user_id: uuid.UUID | None
    display_name: str | None
    ended: bool | None


class PhaseOut(BaseModel):
    """The recordings of a recording's room focus phase (``replay_watch`` with
    ``whole_room``), in start order; ``whole_room``: all visible to the caller and finished,
    so the whole phase can be watched."""

    recordings: list[PhaseMember]
    whole_room: bool


class GhostsQuery(Inbound):
    limit: int = Field(50, ge=1, le=200, description="recordings to return")


class GhostPatchBody(Inbound):
    visibility: Visibility


class RecordingSettingsBody(Inbound):
    enabled: bool
    visibility: Visibility = "private"


class RecordingSettingsOut(BaseModel):
    enabled: bool
    visibility: Visibility


def _out(rec: Recording, caller: uuid.UUID) -> GhostOut:
    share = None if rec.present_ms <= 0 else min(1.0, rec.focused_ms / rec.present_ms)
    return GhostOut(
        id=rec.id, user_id=rec.user_id, display_name=rec.display_name, room_id=rec.room_id,
        set_started_ms=rec.set_started_ms, phase_index=rec.phase_index,
        started_ms=rec.started_ms, ended_ms=rec.ended_ms, duration_ms=rec.duration_ms,
        visibility=rec.visibility, focused_ms=rec.focused_ms, present_ms=rec.present_ms,
        focus_share=share, chunk_count=rec.chunk_count, bytes=rec.bytes,
        mine=rec.user_id == caller)


async def _visible(request: web.Request) -> tuple[GhostRepo, uuid.UUID, Recording]:
    """(repo, caller, recording) for a recording the caller may see; 404 if it does not
    exist, 403 if the caller may not see it."""
    deps = request.app[DEPS]
    caller = authenticate(request, deps).user_id
    ghost_id = path_uuid(request, "ghost_id", "recording")
    repo = GhostRepo(deps.pool)
    rec = await repo.get(ghost_id)
    if rec is None:
        raise HttpError(404, "not_found", "no such recording")
    if not await repo.can_see(caller, rec):
        raise HttpError(403, "forbidden", "this recording is not shared with you")
    return repo, caller, rec


async def _owned(request: web.Request) -> tuple[GhostRepo, uuid.UUID, Recording]:
    """(repo, caller, recording) for the recording's owner; 404 if it does not exist,
    403 for anyone else."""
    deps = request.app[DEPS]
    caller = authenticate(request, deps).user_id
    ghost_id = path_uuid(request, "ghost_id", "recording")
    repo = GhostRepo(deps.pool)
    rec = await repo.get(ghost_id)
    if rec is None:
        raise HttpError(404, "not_found", "no such recording")
    if rec.user_id != caller:
        raise HttpError(403, "forbidden", "only the recording's owner may change it")
    return repo, caller, rec


@router.route("GET", "/api/ghosts", query=GhostsQuery, response=GhostsOut)
async def list_ghosts(request: web.Request) -> web.Response:
    """My recordings and the room recordings shared with me, newest first."""
    deps = request.app[DEPS]
    caller = authenticate(request, deps).user_id
    q = parse_query(request, GhostsQuery)
    recs = await GhostRepo(deps.pool).visible_to(caller, q.limit)
    return model_response(GhostsOut(ghosts=[_out(r, caller) for r in recs]))


@router.route("GET", "/api/ghosts/{ghost_id}", response=GhostOut, errors=(403, 404))
async def get_ghost(request: web.Request) -> web.Response:
    """One recording's metadata (403 when the caller may not see it)."""
    _, caller, rec = await _visible(request)
    return model_response(_out(rec, caller))


@router.route("GET", "/api/ghosts/{ghost_id}/phase", response=PhaseOut, errors=(403, 404))
async def get_phase(request: web.Request) -> web.Response:
    """The recordings of this recording's room focus phase and whether the whole phase can
    be replayed by the caller (``replay_watch {whole_room: true}``)."""
    repo, caller, rec = await _visible(request)
    members = []
    for r in await repo.phase_recordings(rec):
        seen = await repo.can_see(caller, r)
        members.append(PhaseMember(
            recording_id=r.id, visible=seen, user_id=r.user_id if seen else None,
            display_name=r.display_name if seen else None,
            ended=(r.ended_ms is not None) if seen else None))
    return model_response(PhaseOut(recordings=members, whole_room=all(
        m.visible and m.ended for m in members)))


@router.route("GET", "/api/ghosts/{ghost_id}/chunks/{idx}", errors=(403, 404))
async def get_chunk(request: web.Request) -> web.Response:
    """One stored timeline chunk as application/octet-stream (avatars.timeline layout)."""
    repo, _, rec = await _visible(request)
    try:
        idx = int(request.match_info["idx"])
    except ValueError:
        raise HttpError(404, "not_found", "no such chunk") from None
    data = None if not 0 <= idx < 2**31 else await repo.chunk(rec.id, idx)
    if data is None:
        raise HttpError(404, "not_found", "no such chunk")
    return web.Response(body=data, content_type="application/octet-stream")


@router.route("PATCH", "/api/ghosts/{ghost_id}", body=GhostPatchBody, response=GhostOut,
              errors=(403, 404))
async def patch_ghost(request: web.Request) -> web.Response:
    """Change who sees a recording (owner only)."""
    repo, caller, rec = await _owned(request)
    body = await parse(request, GhostPatchBody)
    await repo.set_visibility(rec.id, body.visibility)
    got = await repo.get(rec.id)
    if got is None:
        raise HttpError(404, "not_found", "no such recording")
    return model_response(_out(got, caller))


@router.route("DELETE", "/api/ghosts/{ghost_id}", status=204, errors=(403, 404))
async def delete_ghost(request: web.Request) -> web.Response:
    """Delete a recording and all its chunks (owner only); its ghost leaves every room it
    is replaying in."""
    repo, _, rec = await _owned(request)
    await repo.delete(rec.id)
    await request.app[DEPS].namespace.replay.recording_deleted(rec.id)  # its ghosts leave
    return web.Response(status=204)


@router.route("GET", "/api/me/recording", response=RecordingSettingsOut)
async def get_recording_settings(request: web.Request) -> web.Response:
    """My recording settings."""
    deps = request.app[DEPS]
    caller = authenticate(request, deps).user_id
    got = await GhostRepo(deps.pool).settings(caller)
    if got is None:
        raise HttpError(401, "unauthorized", "unknown user")
    return model_response(RecordingSettingsOut(enabled=got.enabled, visibility=got.visibility))


@router.route("PUT", "/api/me/recording", body=RecordingSettingsBody,
              response=RecordingSettingsOut)
async def put_recording_settings(request: web.Request) -> web.Response:
    """Turn my recording on or off and choose new recordings' visibility (applies from my
    next room join)."""
    deps = request.app[DEPS]
    caller = authenticate(request, deps).user_id
    body = await parse(request, RecordingSettingsBody)
    got = await GhostRepo(deps.pool).set_settings(caller, body.enabled, body.visibility)
    if got is None:
        raise HttpError(401, "unauthorized", "unknown user")
    return model_response(RecordingSettingsOut(enabled=got.enabled, visibility=got.visibility))
