"""HTTP routes of a user's data rights: export everything (``GET /api/me/export``) and
delete everything (``DELETE /api/me``).

Postgres rows are found and removed by ``privacy_repo`` (every table with a foreign key
to users(id), discovered at run time). Live state in Redis is erased here, family by
family (rooms.keys, game_server.rate_limit):

- ``room:{id}:*`` of rooms the user owns: the room's sockets, on every node, are told
  (``error`` not_found) and closed (game_server.node_control); every key of the room is
  deleted and the room leaves ``timers:due``.
- ``room:{id}:users`` / ``:members``: the user's slot is freed as a leave would
  (``leave_member``), its relay slot cleared, and the room gets ``member_left``.
- ``room:{id}:spectators``: entries whose record names the user are removed.
- ``room:{id}:focus``: fields ending in the user id (per-phase focus accounting) removed.
- ``room:{id}:meta`` boss record: kept; the per-user damage of a running fight is inside a
  JSON value the game owns and rewrites every tick, and leaves with the fight.
- ``awards`` stream: the user's pending phase awards are acknowledged and deleted; kill
  awards credit other members too and stay.
- ``rl:login_user:<username>``: deleted (the username is the user's).
- Any other key: deleted when its name contains the user id; hash fields and set or
  sorted-set members containing it are removed.

Resume tokens live inside member records, so they go with the slot. Order: the user's
sockets are closed first, on every node (no new frames, attention or interruptions; the
other nodes close theirs on the control channel's request, waited for up to
``NodeControl.ack_timeout_s``), this node's queued interruptions are flushed, Postgres is
erased, then Redis. Repeating the call finishes a
cleanup an error interrupted: with the user already gone from Postgres it still clears
Redis and answers 204.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import Counter
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel

from game_server.awards import GROUP
from game_server.deps import DEPS, Deps
from game_server.ghost_repo import GhostRepo
from game_server.http_common import ApiRouter, HttpError, authenticate, json_response, parse
from game_server.privacy_repo import PrivacyRepo
from game_server.realtime import sio_room
from game_server.schemas import Inbound
from rooms.store import text

logger = logging.getLogger(__name__)

router = ApiRouter("privacy")

SCAN_COUNT = 1000
LEAVE_RETRIES = 3


class ExportOut(BaseModel):
    """Every row about the caller: ``tables`` maps each table with a column referencing
    users(id) (and ``users`` itself) to the caller's rows; ``exported_ms`` is epoch ms."""

    exported_ms: int
    user_id: uuid.UUID
    tables: dict[str, list[dict[str, Any]]]


class DeleteMeBody(Inbound):
    """``{"confirm": "DELETE"}``: the literal word, so no request deletes by accident."""

    confirm: Literal["DELETE"]


@router.route("GET", "/api/me/export", response=ExportOut)
async def export_me(request: web.Request) -> web.Response:
    """Everything stored about the caller, as JSON.

    One entry per table holding rows about users (found from the database catalog, so new
    tables are included automatically), each with the caller's rows. Binary columns and
    secrets are left out: ``users.password_hash`` appears as ``password_set``, refresh
    tokens as metadata only."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    tables = await PrivacyRepo(deps.pool).export(identity.user_id)
    if tables is None:
        raise HttpError(401, "unauthorized", "unknown user")
    return json_response({"exported_ms": int(time.time() * 1000),
                          "user_id": str(identity.user_id), "tables": tables})


@router.route("DELETE", "/api/me", body=DeleteMeBody, status=204)
async def delete_me(request: web.Request) -> web.Response:
    """Delete the caller's account and everything about it.

    Requires ``{"confirm": "DELETE"}``. Removes every row about the user in Postgres
    (refresh tokens included, so no session can be refreshed), the rooms the user owns,
    the user's slots, spectator entries and other live state in Redis, and closes the
    user's sockets. Access tokens already issued stay valid until they expire (at most
    15 min) but name a user that no longer exists."""
    deps = request.app[DEPS]
    identity = authenticate(request, deps)
    await parse(request, DeleteMeBody)
    user_id = str(identity.user_id)
    stats: Counter[str] = Counter()
    # every node's sockets of the user (those of nodes answering in time are counted)
    stats["sockets_closed"] = await deps.node_control.disconnect_user(
        user_id, "account_deleted")
    await deps.namespace.interruptions.drain(timeout_s=2)
    recordings = await GhostRepo(deps.pool).ids_of(identity.user_id)
    erased = await PrivacyRepo(deps.pool).erase(identity.user_id)
    for recording_id in recordings:  # their ghosts leave the rooms they replay in
        stats["ghosts_removed"] += await deps.namespace.replay.recording_deleted(recording_id)
    owned = [] if erased is None else [str(r) for r in erased.owned_rooms]
    stats.update(await erase_live_state(deps, user_id, owned,
                                        None if erased is None else erased.username))
    logger.info("user erased", extra={
        "user_id": user_id, "found": erased is not None,
        "rows": 0 if erased is None else sum(erased.rows.values()), **stats})
    return web.Response(status=204)


def glob_escape(value: str) -> str:
    """``value`` as a literal inside a Redis SCAN/HSCAN MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in value)


def room_of(key: str, prefix: str) -> str | None:
    """The room id of a ``<prefix>room:{<id>}:<part>`` key, else None."""
    head = f"{prefix}room:{{"
    if not key.startswith(head):
        return None
    room_id, sep, _ = key[len(head):].partition("}")
    return room_id if sep else None


async def erase_live_state(deps: Deps, user_id: str, owned_rooms: list[str],
                           username: str | None) -> Counter[str]:
    """Remove the user from Redis (module docstring, family by family); returns counts
    of what was removed, for the log."""
    redis, keys, prefix = deps.redis, deps.keys, deps.keys.prefix
    stats: Counter[str] = Counter()
    names = [text(k) async for k in redis.scan_iter(match=glob_escape(prefix) + "*",
                                                    count=SCAN_COUNT)]
    owned = set(owned_rooms)
    for key in names:  # rooms owned per Redis too: a repeated call finds them there
        room_id = room_of(key, prefix)
        if (room_id is not None and key == keys.room(room_id).meta
                and text(await redis.hget(key, "owner_id") or b"") == user_id):
            owned.add(room_id)
    for room_id in sorted(owned):
        stats["sockets_closed"] += await close_room(deps, room_id)
        stats["rooms_deleted"] += 1
    gone = {k for r in owned for k in keys.room(r).all()}
    for key in names:
        room_id = room_of(key, prefix)
        if key in gone:
            continue
        if room_id is not None and key == keys.room(room_id).users:
            if await redis.hexists(key, user_id):
                stats["slots_freed"] += await free_slot(deps, room_id, user_id)
        elif room_id is not None and key == keys.room(room_id).spectators:
            stats["spectators_removed"] += await drop_spectator(deps, key, user_id)
        elif key == keys.awards_stream():
            stats["awards_dropped"] += await drop_awards(deps, key, user_id)
    if username is not None:
        stats["keys_deleted"] += int(await redis.delete(
            deps.limiter.key("login_user", username)))
    kept = [key for key in names if key not in gone]
    for i in range(0, len(kept), SCAN_COUNT):
        batch = kept[i:i + SCAN_COUNT]
        async with redis.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.type(key)
            kinds = [text(t) for t in await pipe.execute()]
        for key, kind in zip(batch, kinds, strict=True):
            stats.update(await scrub_key(deps, key, kind, user_id))
    return stats


async def close_room(deps: Deps, room_id: str) -> int:
    """Delete a live room: its sockets on every node get ``error`` not_found and are closed
    (``NodeControl.close_room``), then every key of the room is deleted; returns the sockets
    closed (this node's, and the other nodes' that answered in time)."""
    closed = await deps.node_control.close_room(room_id)
    k = deps.keys.room(room_id)
    await deps.redis.delete(*k.all())
    await deps.redis.zrem(deps.keys.timers_due(), room_id)
    return closed


async def free_slot(deps: Deps, room_id: str, user_id: str) -> int:
    """Free the user's member slot in one room as a leave would and announce
    ``member_left``; 1 if a slot was freed."""
    store = deps.rooms.store
    for _ in range(LEAVE_RETRIES):  # the slot may change hands (a rejoin) between reads
        member = next((m for m in await store.members(room_id)
                       if m.user_id == user_id and m.kind == "live"), None)
        if member is None:
            return 0
        before = await store.leave_member(room_id, user_id=user_id, sid=member.sid,
                                          now_ms=int(time.time() * 1000), keep_slot=False)
        if before is not None:
            deps.relay.clear_slot(room_id, before.slot)
            await deps.namespace.emit("member_left", {
                "slot": before.slot, "user_id": before.user_id,
                "display_name": before.display_name, "kind": before.kind},
                room=sio_room(room_id))
            return 1
    return 0


async def drop_spectator(deps: Deps, key: str, user_id: str) -> int:
    """Remove the spectator entries (sid -> record) naming the user."""
    doomed = []
    for sid, raw in (await deps.redis.hgetall(key)).items():
        with contextlib.suppress(ValueError):
            if orjson.loads(raw).get("user_id") == user_id:
                doomed.append(sid)
    return int(await deps.redis.hdel(key, *doomed)) if doomed else 0


async def drop_awards(deps: Deps, key: str, user_id: str) -> int:
    """Acknowledge and delete the user's pending phase awards (they could only fail now
    that the user is gone); kill awards credit other members too and stay."""
    doomed: list[Any] = []
    start = "-"
    while True:
        entries: list[Any] = await deps.redis.xrange(key, min=start, count=SCAN_COUNT) or []
        for entry_id, fields in entries:
            if not fields:
                continue
            kind = fields.get(b"kind", fields.get("kind"))
            with contextlib.suppress(ValueError, AttributeError):
                data = orjson.loads(fields.get(b"data", fields.get("data")) or b"null")
                if kind in (b"phase", "phase") and data.get("user_id") == user_id:
                    doomed.append(entry_id)
        if len(entries) < SCAN_COUNT:
            break
        start = "(" + text(entries[-1][0])
    if doomed:
        async with deps.redis.pipeline(transaction=True) as pipe:
            pipe.xack(key, GROUP, *doomed)
            pipe.xdel(key, *doomed)
            await pipe.execute()
    return len(doomed)


async def scrub_key(deps: Deps, key: str, kind: str, user_id: str) -> Counter[str]:
    """Any key: deleted when its name holds the user id; otherwise hash fields and set or
    sorted-set members holding it are removed (e.g. focus accounting fields)."""
    redis, stats = deps.redis, Counter[str]()
    if user_id in key:
        stats["keys_deleted"] += int(await redis.delete(key))
        return stats
    match = f"*{glob_escape(user_id)}*"
    if kind == "hash":
        fields = [f async for f, _ in redis.hscan_iter(key, match=match, count=SCAN_COUNT)]
        if fields:
            stats["fields_deleted"] += int(await redis.hdel(key, *fields))
    elif kind == "zset":
        members = [m async for m, _ in redis.zscan_iter(key, match=match, count=SCAN_COUNT)]
        if members:
            stats["members_deleted"] += int(await redis.zrem(key, *members))
    elif kind == "set":
        members = [m async for m in redis.sscan_iter(key, match=match, count=SCAN_COUNT)]
        if members:
            stats["members_deleted"] += int(await redis.srem(key, *members))
    return stats

