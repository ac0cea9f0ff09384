"""Cross-node control (issue 7): logout, account deletion and room deletion reach every node.

Clients connect to any node, so a user's sockets, or a room's, may sit on several nodes.
The node serving the HTTP request acts on its own sockets at once, then publishes one
message on the ``nodes:control`` channel (rooms.keys) that every node subscribes to
(:meth:`NodeControl.run_listener`); every other node acts on its own sockets on receipt
and answers ``done`` with how many it closed. A node ignores its own messages.

Messages are msgpack maps (every one carries ``node_id``, the sender, and ``id``, 16 hex
characters naming the request):

- ``{op: "disconnect_user", user_id, reason}``: close every socket of the user
  (``reason``: ``logout`` or ``account_deleted``; logged only -- the socket gets a plain
  server-side disconnect, as on the node that served the request).
- ``{op: "close_room", room_id}``: tell every socket in the room ``error {code:
  "not_found", message: "this room was deleted"}`` and close it.
- ``{op: "done", to, closed}``: the answer to request ``id``, for node ``to``: ``closed``
  sockets were closed there.

The requester waits for the answers of the nodes that got the request (PUBLISH's receiver
count, minus itself) for at most ``ack_timeout_s``, so the HTTP call returns after the
other nodes acted (account deletion erases the user's rows only after its sockets are gone
everywhere) and can count their sockets. Redis pub/sub delivers at most once: a node whose
subscription is down (Redis restarting; the listener reconnects within
:data:`RETRY_DELAYS_S`) misses what was published meanwhile, and its sockets stay open
until they drop (a logged-out user's access token stays valid for at most 15 min anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgpack
import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from game_server.realtime import StudyNamespace
from game_server.task_guard import stop_if_cancelled
from rooms.keys import KeySpace

logger = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.1, 0.5, 1.0, 2.0)
"""Seconds before each listener reconnect after a Redis error; the last repeats."""
LISTEN_POLL_S = 1.0  # the listener's read timeout: how often it checks for a lost cancel
ROOM_DELETED = {"code": "not_found", "message": "this room was deleted"}
Reason = Literal["logout", "account_deleted"]


def retry_delays() -> Iterator[float]:
    """0.1, 0.5, 1.0, 2.0, 2.0, ... (s): waits between listener reconnects."""
    yield from RETRY_DELAYS_S
    while True:
        yield RETRY_DELAYS_S[-1]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # newer nodes may add fields

    node_id: str = Field(max_length=255)
    id: str = Field(max_length=64)


class DisconnectUser(_Message):
    """Close every socket of ``user_id`` (``reason`` is logged)."""

    op: Literal["disconnect_user"]
    user_id: str = Field(max_length=64)
    reason: str = Field(max_length=64)


class CloseRoom(_Message):
    """Tell every socket of ``room_id`` the room was deleted and close it."""

    op: Literal["close_room"]
    room_id: str = Field(max_length=64)


class Done(_Message):
    """Node ``node_id`` handled request ``id`` of node ``to`` and closed ``closed`` sockets."""

    op: Literal["done"]
    to: str = Field(max_length=255)
    closed: int = Field(ge=0)


Message = Annotated[DisconnectUser | CloseRoom | Done, Field(discriminator="op")]
MESSAGE: TypeAdapter[DisconnectUser | CloseRoom | Done] = TypeAdapter(Message)


def encode(message: _Message) -> bytes:
    """A channel message (module docstring)."""
    return msgpack.packb(message.model_dump(), use_bin_type=True)  # type: ignore[no-any-return]


def decode(data: bytes) -> DisconnectUser | CloseRoom | Done:
    """Parse a channel message; raises ValueError (pydantic's ValidationError is one) on a
    malformed one."""
    try:
        raw = msgpack.unpackb(data, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ValueError("not msgpack") from exc
    return MESSAGE.validate_python(raw)


@dataclass(slots=True)
class _Wait:
    """The answers to one request so far; ``expected`` is known once PUBLISH returns."""

    acks: int = 0
    closed: int = 0
    expected: int | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        if self.expected is not None and self.acks >= self.expected:
            self.done.set()


class NodeControl:
    """This node's end of the control channel (module docstring): the cluster-wide
    :meth:`disconnect_user` and :meth:`close_room`, and the listener acting on the other
    nodes' requests. ``ack_timeout_s``: the longest a request waits for the other nodes."""

    def __init__(self, redis: aioredis.Redis, keys: KeySpace, namespace: StudyNamespace, *,
                 node_id: str, ack_timeout_s: float = 2.0) -> None:
        self._redis, self._ns = redis, namespace
        self.channel = keys.nodes_control()
        self.node_id = node_id
        self.ack_timeout_s = ack_timeout_s
        self.listening = asyncio.Event()  # set while the channel is subscribed
        self.client_id: int | None = None  # Redis CLIENT ID of the subscription (logged)
        self._waits: dict[str, _Wait] = {}
        self.stats: Counter[str] = Counter()

    # -- cluster-wide operations (HTTP handlers call them) -----------------------------------
    async def disconnect_user(self, user_id: str, reason: Reason = "logout") -> int:
        """Close every socket of ``user_id`` on every node; returns how many closed: this
        node's, plus those the other nodes reported within ``ack_timeout_s`` (a node that
        did not answer in time is not counted). Never raises for Redis: a failed publish is
        logged and counted (``control_publish_errors``), this node's sockets are closed."""
        closed = await self.local_disconnect_user(user_id, reason)
        return closed + await self._request(DisconnectUser(
            op="disconnect_user", node_id=self.node_id, id=secrets.token_hex(8),
            user_id=user_id, reason=reason))

    async def close_room(self, room_id: str) -> int:
        """Tell every socket of ``room_id`` on every node that the room was deleted
        (``error {code: "not_found"}``) and close it; returns how many closed (counted as
        in :meth:`disconnect_user`). The room's Redis keys are the caller's to delete."""
        closed = await self.local_close_room(room_id)
        return closed + await self._request(CloseRoom(
            op="close_room", node_id=self.node_id, id=secrets.token_hex(8), room_id=room_id))

    # -- local actions (identical on every node) ---------------------------------------------
    async def local_disconnect_user(self, user_id: str, reason: str) -> int:
        """Close this node's sockets of ``user_id``; returns how many."""
        sids = [sid for sid, c in self._ns.connections.items() if c.user_id == user_id]
        for sid in sids:
            await self._ns.disconnect(sid)
        if sids:
            logger.info("user disconnected", extra={
                "node_id": self.node_id, "user_id": user_id, "reason": reason,
                "sockets": len(sids)})
        self.stats["control_user_sockets_closed"] += len(sids)
        return len(sids)

    async def local_close_room(self, room_id: str) -> int:
        """Send ``error`` not_found to this node's sockets in ``room_id`` (members and
        spectators) and close them; returns how many. The error goes to each socket from
        here (not as one room-wide emit through Socket.IO's Redis channel), so it is queued
        ahead of the disconnect on every node."""
        sids = [sid for sid, c in self._ns.connections.items() if c.room_id == room_id]
        for sid in sids:
            with contextlib.suppress(Exception):  # a socket closing meanwhile
                await self._ns.emit("error", ROOM_DELETED, to=sid, ignore_queue=True)
            await self._ns.disconnect(sid)
        self.stats["control_room_sockets_closed"] += len(sids)
        return len(sids)

    # -- the channel --------------------------------------------------------------------------
    async def wait_listening(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the subscription; whether it is up."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), timeout_s)
        return self.listening.is_set()

    async def run_listener(self) -> None:
        """Subscribe and act on the other nodes' requests; cancelled on shutdown. A Redis
        error is logged and the subscription retried after :data:`RETRY_DELAYS_S`; a bad
        message or a failing action is logged and skipped."""
        delays = retry_delays()
        while True:
            stop_if_cancelled()  # a cancel swallowed by a library still stops the loop
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.connect()  # type: ignore[no-untyped-call]
                connection: Any = pubsub.connection
                await connection.send_command("CLIENT", "ID")
                self.client_id = int(await connection.read_response())
                await pubsub.subscribe(self.channel)
                # Redis answers in order: once the PING's pong is back, the subscription is
                # active and every later publish reaches this node (redis-py 8 on RESP3 does
                # not hand out the subscribe confirmation itself)
                await pubsub.ping()
                while True:
                    stop_if_cancelled()
                    msg = await pubsub.get_message(ignore_subscribe_messages=True,
                                                   timeout=LISTEN_POLL_S)
                    kind = None if msg is None else msg.get("type")
                    if kind == "message":
                        await self._receive(msg["data"])
                    elif kind == "pong" and not self.listening.is_set():
                        self.listening.set()
                        delays = retry_delays()
                        logger.info("node control subscribed", extra={
                            "node_id": self.node_id, "redis_client_id": self.client_id})
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                self.listening.clear()
                self.stats["control_listener_errors"] += 1
                logger.exception("node control listener failed; resubscribing",
                                 extra={"node_id": self.node_id})
                await asyncio.sleep(next(delays))
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):  # closing a broken connection may fail
                    await asyncio.wait_for(pubsub.aclose(), 2)  # type: ignore[no-untyped-call]

    async def _request(self, message: DisconnectUser | CloseRoom) -> int:
        """Publish ``message`` and wait for the other nodes' ``done``; their sockets closed."""
        wait = self._waits[message.id] = _Wait()
        try:
            try:
                receivers = int(await self._redis.publish(self.channel, encode(message)))
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                self.stats["control_publish_errors"] += 1
                logger.exception("node control publish failed", extra={
                    "node_id": self.node_id, "op": message.op})
                return 0
            self.stats["control_requests_sent"] += 1
            # our own subscription got it too, unless it is down right now
            wait.expected = max(0, receivers - (1 if self.listening.is_set() else 0))
            wait.check()
            try:
                await asyncio.wait_for(wait.done.wait(), self.ack_timeout_s)
            except TimeoutError:
                self.stats["control_ack_timeouts"] += 1
                logger.warning("node control: not every node answered", extra={
                    "node_id": self.node_id, "op": message.op, "expected": wait.expected,
                    "answered": wait.acks})
            return wait.closed
        finally:
            del self._waits[message.id]

    async def _receive(self, data: Any) -> None:
        try:
            message = decode(data if isinstance(data, bytes) else str(data).encode())
        except (ValueError, ValidationError):
            self.stats["control_bad_messages"] += 1
            return
        if message.node_id == self.node_id:
            return
        if isinstance(message, Done):
            wait = self._waits.get(message.id) if message.to == self.node_id else None
            if wait is not None:
                wait.acks += 1
                wait.closed += message.closed
                wait.check()
            return
        self.stats["control_requests_received"] += 1
        closed = 0
        try:
            if isinstance(message, DisconnectUser):
                closed = await self.local_disconnect_user(message.user_id, message.reason)
            else:
                closed = await self.local_close_room(message.room_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            stop_if_cancelled()
            self.stats["control_action_errors"] += 1
            logger.exception("node control action failed", extra={
                "node_id": self.node_id, "op": message.op, "from_node": message.node_id})
        await self._redis.publish(self.channel, encode(Done(
            op="done", node_id=self.node_id, id=message.id, to=message.node_id,
            closed=closed)))
