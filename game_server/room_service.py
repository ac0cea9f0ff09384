"""Room use cases over the durable repos (Postgres) and the live store (Redis): joins,
RoomState, the lobby, invite codes and room chat.

Postgres is the system of record for a room's existence; Redis holds it while it is live.
A room missing from Redis (first join, or Redis restarted) is loaded from Postgres and
mirrored before the join is retried.

The lobby (``lobby``) lists public rooms in two sections, each newest first (ties by id):
A, the rooms with at least one connected member among the ``LOBBY_RANK_WINDOW`` newest
public rooms; then B, every other public room. Occupancy is live (Redis) and read for all
rooms of a request in one pipelined round trip; there is no Redis index of occupied rooms,
so an occupied room older than the window is listed in section B (with its live counts).
A page ends at a ``LobbyCursor`` (section, created_at, id); paging is a keyset over that
order recomputed per request, so a room whose occupancy changes between two pages may be
skipped or shown twice.

Chat (``send_chat``): text is stripped, 1..max chars, no control characters but newline
(CRLF becomes LF); each user may send ``per_10s`` messages per fixed 10 s window, counted
in Redis across nodes (``game_server.rate_limit``, scope ``chat``).
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import redis.asyncio as aioredis

from game_server.chat_repo import EPOCH, ChatAuthorMissing, ChatMessage, ChatRepo
from game_server.rate_limit import RateLimiter
from game_server.room_repo import LobbyRoom, Room, RoomRepo
from rooms.keys import KeySpace
from rooms.rules import timer as timer_rules
from rooms.store import JoinResult, Member, RoomMeta, RoomNotFound, RoomStore, text

logger = logging.getLogger(__name__)

IDLE_TIMER: dict[str, Any] = {
    "phase": "idle", "cycle": 0, "cycles": 0, "phase_started_ms": None,
    "phase_ends_ms": None, "paused_at_ms": None, "durations": None,
}
LOBBY_RANK_WINDOW = 200
"""How many of the newest public rooms the lobby checks for people to rank them first."""
CHAT_WINDOW_MS = 10_000
"""The chat rate limit's fixed window (``Settings.chat_per_user_per_10s`` per window)."""


def room_meta(room: Room) -> RoomMeta:
    return RoomMeta(str(room.id), room.name, room.capacity, str(room.owner_id),
                    room.invite_code, int(room.created_at.timestamp() * 1000))


class ChatRejected(Exception):
    """A chat message refused before storage; ``code`` is the wire error code
    (``bad_request``, ``rate_limited``, ``not_found``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def clean_chat_text(raw: str, max_chars: int) -> str:
    """``raw`` as stored: CRLF -> LF, surrounding whitespace stripped; ChatRejected
    ``bad_request`` when empty, longer than ``max_chars`` characters (code points) or holding
    a control character (Unicode category Cc) other than newline."""
    value = raw.replace("\r\n", "\n").strip()
    if not value:
        raise ChatRejected("bad_request", "text: empty message")
    if len(value) > max_chars:
        raise ChatRejected("bad_request", f"text: at most {max_chars} characters")
    if any(c != "\n" and unicodedata.category(c) == "Cc" for c in value):
        raise ChatRejected("bad_request", "text: control characters are not allowed")
    return value


@dataclass(frozen=True, slots=True)
class Occupancy:
    """A room's live state as the lobby shows it: connected live members, spectators, and
    the timer phase with its end (epoch ms; None when idle) and pause instant."""

    members: int
    spectators: int
    phase: str
    phase_ends_ms: int | None
    paused_at_ms: int | None


_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class LobbyCursor:
    """A position in the lobby order: ``section`` 0 (rooms with people) or 1 (the rest),
    then the room's ``(created_at, id)``. Wire form: ``<section>.<created_us>.<id>``."""

    section: int
    created_at: datetime
    room_id: uuid.UUID

    def encode(self) -> str:
        created_us = (self.created_at - EPOCH) // _US
        return f"{self.section}.{created_us}.{self.room_id.hex}"

    @classmethod
    def decode(cls, raw: str) -> LobbyCursor:
        """Parse the wire form; ValueError when malformed."""
        section, created_us, room_id = raw.split(".")
        if section not in ("0", "1"):
            raise ValueError("bad section")
        return cls(int(section), EPOCH + int(created_us) * _US, uuid.UUID(room_id))

    def key(self) -> tuple[datetime, uuid.UUID]:
        return self.created_at, self.room_id




def _lobby_key(r: LobbyRoom) -> tuple[datetime, uuid.UUID]:
    return r.room.created_at, r.room.id


class RoomService:
    """Creates rooms, admits members and spectators, reads RoomState and the lobby, and
    carries room chat (``chat``: the ChatRepo)."""

    def __init__(self, repo: RoomRepo, store: RoomStore, chat: ChatRepo, *,
                 redis: aioredis.Redis, keys: KeySpace) -> None:
        self.repo = repo
        self.store = store
        self.chat = chat
        self._redis = redis
        self._keys = keys
        self.chat_limiter = RateLimiter(redis, keys.prefix, window_ms=CHAT_WINDOW_MS)

    async def create(self, owner_id: uuid.UUID, name: str, capacity: int,
                     is_public: bool) -> Room:
        room = await self.repo.create(owner_id, name, capacity, is_public)
        await self.store.ensure_room(room_meta(room))
        return room

    async def _make_live(self, room_id: str) -> None:
        room = await self.repo.get(uuid.UUID(room_id))
        if room is None:
            raise RoomNotFound("no such room")
        await self.store.ensure_room(room_meta(room))

    async def join_member(self, room_id: str, **kwargs: Any) -> JoinResult:
        """RoomStore.join_member, loading the room from Postgres if it is not live."""
        try:
            return await self.store.join_member(room_id, **kwargs)
        except RoomNotFound:
            await self._make_live(room_id)
            return await self.store.join_member(room_id, **kwargs)

    async def join_spectator(self, room_id: str, **kwargs: Any) -> None:
        try:
            await self.store.join_spectator(room_id, **kwargs)
        except RoomNotFound:
            await self._make_live(room_id)
            await self.store.join_spectator(room_id, **kwargs)

    async def state(self, room_id: str, now_ms: int) -> dict[str, Any]:
        """RoomState of DESIGN.md section 3; raises RoomNotFound."""
        meta, members, spectators = await self.store.snapshot(room_id)
        return {
            "room_id": room_id, "name": meta["name"], "capacity": int(meta["capacity"]),
            "owner_id": meta["owner_id"], "members": [m.public() for m in members],
            "spectators": spectators, "timer": IDLE_TIMER, "boss": None, "server_ms": now_ms,
        }

    async def live_members(self, room_id: str) -> list[Member]:
        return await self.store.members(room_id)

    # -- invite codes ---------------------------------------------------------------------
    async def rotate_invite(self, room_id: uuid.UUID) -> Room | None:
        """A fresh invite code for the room (Postgres, mirrored into the live meta hash);
        None when the room does not exist. The caller checks ownership."""
        room = await self.repo.rotate_invite_code(room_id)
        if room is not None:
            await self.store.ensure_room(room_meta(room))
        return room

    # -- lobby ----------------------------------------------------------------------------
    async def occupancy(self, room_ids: Sequence[uuid.UUID],
                        now_ms: int) -> dict[uuid.UUID, Occupancy]:
        """Live occupancy of each room in one pipelined Redis round trip (reads, read-only,
        the meta ``timer`` field, members and spectators hashes of rooms.store and
        rooms.game_store). A room not live in Redis is empty and idle."""
        if not room_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                k = self._keys.room(str(room_id))
                pipe.hget(k.meta, "timer")
                pipe.hvals(k.members)
                pipe.hlen(k.spectators)
            replies = await pipe.execute()
        out: dict[uuid.UUID, Occupancy] = {}
        for i, room_id in enumerate(room_ids):
            timer_raw, members_raw, spectators = replies[3 * i: 3 * i + 3]
            members = sum(1 for raw in members_raw
                          if (m := Member.from_json(raw)).kind == "live" and m.connected)
            phase, ends, paused = _phase(room_id, timer_raw, now_ms)
            out[room_id] = Occupancy(members, int(spectators), phase, ends, paused)
        return out

    async def lobby(self, limit: int, cursor: LobbyCursor | None, now_ms: int
                    ) -> tuple[list[tuple[LobbyRoom, Occupancy]], LobbyCursor | None]:
        """One lobby page of up to ``limit`` public rooms after ``cursor`` (module
        docstring for the order) and the cursor of the next page (None at the end)."""
        window = await self.repo.public_newest(LOBBY_RANK_WINDOW)
        occ = await self.occupancy([r.room.id for r in window], now_ms)
        busy = [r for r in window if occ[r.room.id].members > 0]
        page: list[tuple[int, LobbyRoom]] = []
        if cursor is None or cursor.section == 0:
            after = busy if cursor is None else [r for r in busy
                                                 if _lobby_key(r) < cursor.key()]
            page = [(0, r) for r in after[:limit + 1]]
        if len(page) <= limit:
            before = cursor.key() if cursor is not None and cursor.section == 1 else None
            rest = await self.repo.public_older(limit + 1 - len(page), before=before,
                                                exclude=[r.room.id for r in busy])
            page += [(1, r) for r in rest]
            occ |= await self.occupancy([r.room.id for r in rest if r.room.id not in occ],
                                        now_ms)
        following = None
        if len(page) > limit:
            page = page[:limit]
            section, last = page[-1]
            following = LobbyCursor(section, last.room.created_at, last.room.id)
        return [(r, occ[r.room.id]) for _, r in page], following

    # -- chat -----------------------------------------------------------------------------
    async def send_chat(self, room_id: str, user_id: str, raw_text: str, *, max_chars: int,
                        per_10s: int) -> ChatMessage:
        """Check, rate-limit and store one member's message (the caller checked that the
        user is a member and broadcasts it). Raises ChatRejected."""
        value = clean_chat_text(raw_text, max_chars)
        verdict = await self.chat_limiter.hit("chat", user_id, per_10s)
        if not verdict.allowed:
            raise ChatRejected("rate_limited", f"at most {per_10s} messages per 10 s; "
                               f"retry in {verdict.retry_after_s} s")
        try:
            return await self.chat.add(uuid.UUID(room_id), uuid.UUID(user_id), value)
        except ChatAuthorMissing as exc:
            raise ChatRejected("not_found", str(exc)) from None

    async def recent_chat(self, room_id: str, count: int) -> list[dict[str, Any]]:
        """The last ``count`` messages of the room, oldest first, as ``chat_message``
        payloads (RoomState ``messages``)."""
        return [m.wire() for m in await self.chat.latest(uuid.UUID(room_id), count)]

    async def may_read_chat(self, room: Room, user_id: uuid.UUID) -> bool:
        """Who may read a room's history: anyone for a public room; for a private one its
        owner and its current members (holding a slot, connected or in the resume window)."""
        if room.is_public or room.owner_id == user_id:
            return True
        uid = str(user_id)
        return any(m.user_id == uid and m.kind == "live"  # a ghost is not its user
                   for m in await self.store.members(str(room.id)))


def _phase(room_id: uuid.UUID, raw: bytes | str | None,
           now_ms: int) -> tuple[str, int | None, int | None]:
    """(phase, phase_ends_ms, paused_at_ms) of a stored timer record at ``now_ms``."""
    if not raw:  # no timer yet ('' after a stop)
        return "idle", None, None
    try:
        record = orjson.loads(text(raw))
        if not isinstance(record, dict):
            raise ValueError("not an object")
        state = timer_rules.from_record(record)
    except ValueError:  # orjson.JSONDecodeError and TimerError are ValueErrors
        logger.warning("unreadable timer record", extra={"room_id": str(room_id)})
        return "idle", None, None
    view = timer_rules.view(state, now_ms)
    return view.phase, view.ends_ms, view.paused_at_ms
