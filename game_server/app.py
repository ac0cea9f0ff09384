"""The app factory: ``create_app(settings)`` wires every concrete class, nothing else does.

Startup and teardown run as aiohttp ``cleanup_ctx`` stages, torn down in reverse:
engines -> Redis client -> Postgres pool (+ migrations) -> services, Socket.IO and
background tasks. Shutdown order (fits a 30 s kill window): close every socket (members
keep their slots for the resume window), cancel background tasks, stop the Socket.IO
Redis listener, close Redis, close the pool (with a timeout, then terminate), stop the
embedded engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
import socketio
from aiohttp import web

from game_server.accounts import AccountService
from game_server.auth import TokenIssuer, load_signing_key
from game_server.awards import AwardOutbox
from game_server.chat_repo import ChatRepo
from game_server.config import Settings
from game_server.deps import DEPS, Deps
from game_server.engines import EmbeddedPostgres, EmbeddedRedis
from game_server.fastpath import BrowserMsgPackPacket, FrameSender, make_server
from game_server.frame_bus import FrameBus
from game_server.game import GameService
from game_server.ghost_replay import GhostReplay
from game_server.ghost_repo import GhostRepo
from game_server.http_api import add_routes, errors_middleware
from game_server.interruption_repo import InterruptionRepo, InterruptionWriter
from game_server.metrics import REGISTRY, MetricSources, make_registry, metrics
from game_server.migrate import apply_migrations
from game_server.node_control import NodeControl
from game_server.node_presence import NodePresence
from game_server.passwords import PasswordService
from game_server.progress_repo import ProgressRepo
from game_server.rate_limit import RateLimiter
from game_server.realtime import StudyNamespace, sio_room, user_room
from game_server.recorder import Recorder
from game_server.relay import FrameRelay
from game_server.room_repo import RoomRepo
from game_server.room_service import RoomService
from game_server.sio_manager import CappedRedisManager
from game_server.sweeper import DropSweeper
from game_server.token_repo import RefreshTokenRepo
from game_server.user_repo import UserRepo
from rooms.game_store import GameStore
from rooms.keys import KeySpace
from rooms.rules.streaks import StreakRules
from rooms.store import RoomStore

logger = logging.getLogger(__name__)

URLS = web.AppKey("urls", dict)


async def open_pool(database_url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=10,
                                     command_timeout=10)
    assert pool is not None
    return pool


async def close_pool(pool: asyncpg.Pool, timeout_s: float = 5.0) -> None:
    """Close gracefully, and terminate if connections are not released in time."""
    try:
        await asyncio.wait_for(pool.close(), timeout_s)
    except TimeoutError:
        pool.terminate()


async def cancel(task: asyncio.Task[object], timeout_s: float = 2.0) -> None:
    """Cancel ``task`` and wait up to ``timeout_s`` for it to end. A task still running
    then is logged with its stack and left behind, so one stuck call (seen: redis-py
    cancelled inside a blocking XREADGROUP on a unix socket, ~30 s) cannot stall the
    shutdown past its kill window (STYLE.md habit 11)."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        frames = "".join(f"\n  {f.f_code.co_filename}:{f.f_lineno} {f.f_code.co_name}"
                         for f in task.get_stack(limit=12))
        logger.warning("task still running %.1f s after cancel: %s%s", timeout_s,
                       task.get_name(), frames)
        return
    if not task.cancelled() and task.exception() is not None:
        logger.error("task failed before shutdown: %s", task.get_name(),
                     exc_info=task.exception())


def create_app(settings: Settings) -> web.Application:
    """Build the aiohttp app; engines start and stop with the app's lifecycle."""
    app = web.Application(middlewares=[errors_middleware], client_max_size=64 * 1024)
    data_dir = Path(settings.data_dir)
    app[URLS] = {
        "redis": settings.redis_url or EmbeddedRedis(data_dir / "redis").url,
        "database": settings.database_url,
    }
    # The router freezes at startup, so Socket.IO attaches now; its namespace (which needs
    # the Redis client and the pool) is registered when those exist.
    manager = CappedRedisManager(app[URLS]["redis"],
                                 channel=f"{settings.redis_prefix}socketio")
    sio = make_server(
        client_manager=manager, serializer=BrowserMsgPackPacket, async_mode="aiohttp",
        transports=["websocket"], cors_allowed_origins="*", async_handlers=False,
        max_http_buffer_size=64 * 1024, ping_interval=20, ping_timeout=20)
    sio.attach(app)
    app.cleanup_ctx.append(lambda a: _engines(a, settings))
    app.cleanup_ctx.append(lambda a: _services(a, settings, sio))
    app.on_shutdown.append(_disconnect_clients)
    add_routes(app)
    app.router.add_get("/metrics", metrics)
    _serve_client(app, settings)
    return app


async def _engines(app: web.Application, settings: Settings) -> AsyncIterator[None]:
    data_dir = Path(settings.data_dir)
    redis_engine = pg_engine = None
    urls = app[URLS]
    try:
        if settings.redis_url is None:
            redis_engine = EmbeddedRedis(data_dir / "redis")
            await asyncio.to_thread(redis_engine.start)
        if settings.database_url is None:
            pg_engine = EmbeddedPostgres(data_dir / "pg")
            urls["database"] = await asyncio.to_thread(pg_engine.start)
        yield
    finally:
        started = loop_time()
        if pg_engine is not None:
            await asyncio.to_thread(pg_engine.stop)
        if redis_engine is not None:
            await asyncio.to_thread(redis_engine.stop)
        _stage("embedded engines stopped", started)


async def _services(app: web.Application, settings: Settings,
                    sio: socketio.AsyncServer) -> AsyncIterator[None]:
    urls = app[URLS]
    node_id = settings.node_id or secrets.token_hex(4)
    redis = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
        urls["redis"], max_connections=settings.redis_max_connections, timeout=5))
    pool = await open_pool(urls["database"])
    tasks: list[asyncio.Task[object]] = []
    bus: FrameBus | None = None
    presence: NodePresence | None = None
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn, settings.migrations_dir)
        store = RoomStore(redis, KeySpace(settings.redis_prefix),
                          resume_window_ms=settings.resume_window_s * 1000,
                          spectators_max=settings.spectators_max)
        rooms = RoomService(RoomRepo(pool), store, ChatRepo(pool), redis=redis,
                            keys=KeySpace(settings.redis_prefix))

        sender = FrameSender(sio)
        relay = FrameRelay(sender.send, tick_hz=settings.relay_tick_hz)
        bus = frame_bus = FrameBus(
            redis, KeySpace(settings.redis_prefix), relay, node_id=node_id,
            tick_hz=settings.relay_tick_hz, stale_ms=settings.frame_stale_ms,
            presence_ttl_ms=int(settings.frame_presence_ttl_s * 1000))
        namespace: StudyNamespace | None = None

        async def sweep_room(room_id: str) -> None:
            assert namespace is not None
            await namespace.sweep_room(room_id)

        sweeper = DropSweeper(sweep_room)

        async def broadcast(room_id: str, event: str, data: object) -> None:
            await sio.emit(event, data, room=sio_room(room_id))

        async def notify_user(user_id: str, event: str, data: object) -> None:
            await sio.emit(event, data, room=user_room(user_id))

        progress = ProgressRepo(pool, rules=settings.progress(),
                                streaks=StreakRules())
        awards = AwardOutbox(redis, KeySpace(settings.redis_prefix), progress, notify_user,
                             node_id=node_id)
        game = GameService(GameStore(redis, KeySpace(settings.redis_prefix),
                                     lease_ttl_ms=settings.lease_ttl_ms),
                           broadcast, node_id=node_id, timer_rules_=settings.timer(),
                           boss_rules_=settings.boss(), awards=awards)
        interruptions = InterruptionWriter(InterruptionRepo(pool))
        users = UserRepo(pool)
        recorder = Recorder(GhostRepo(pool), game, chunk_ms=settings.ghost_chunk_ms,
                            pass_s=settings.ghost_pass_s)
        replay = GhostReplay(GhostRepo(pool), store, game, relay, broadcast, node_id=node_id,
                             sync_s=settings.ghost_sync_s, race_s=settings.ghost_race_s)
        namespace = StudyNamespace(settings=settings, issuer=TokenIssuer(
            load_signing_key(settings), settings.access_token_ttl_s), rooms=rooms,
            relay=relay, sweeper=sweeper, game=game, interruptions=interruptions,
            users=users, recorder=recorder, replay=replay, node_id=node_id)
        sio.register_namespace(namespace)
        sio.on_frame_fast("/", namespace.take_frame)  # frame events skip generic dispatch
        # Start the Redis listener now rather than on the first connect (python-socketio's
        # lazy default), so /readyz and cross-node events work from the start.
        sio.manager_initialized = True
        sio.manager.initialize()
        accounts = AccountService(
            users, RefreshTokenRepo(pool, settings.refresh_token_ttl_s), PasswordService(
                time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
                concurrency=settings.password_hash_concurrency,
                queue_max=settings.password_hash_queue_max), namespace.issuer)

        node_control = NodeControl(redis, KeySpace(settings.redis_prefix), namespace,
                                   node_id=node_id)
        app[DEPS] = Deps(settings, node_id, redis, pool, namespace.issuer, users,
                         rooms, relay, sio, namespace, game, accounts=accounts,
                         limiter=RateLimiter(redis, settings.redis_prefix),
                         progress=progress,
                         keys=KeySpace(settings.redis_prefix), frame_bus=frame_bus,
                         node_control=node_control)
        app[REGISTRY] = make_registry(MetricSources(node_id, counters={
            "relay": lambda: relay.stats, "realtime": lambda: namespace.stats
            if namespace is not None else {}, "game": lambda: game.stats,
            "awards": lambda: awards.stats, "interruptions": lambda: interruptions.stats,
            "ghosts": lambda: recorder.stats, "replay": lambda: replay.stats,
            "frame_bus": lambda: frame_bus.stats, "frame_sender": lambda: sender.stats,
            "nodes": lambda: node_presence.stats, "node_control": lambda: node_control.stats,
        }, gauges={
            "connected_clients": ("Socket.IO connections on this node",
                                  lambda: len(namespace.connections) if namespace else 0),
            "rooms_local": ("rooms with members on this node", lambda: game.local_rooms),
            "leases_held": ("rooms this node ticks (tick leases held)",
                            lambda: game.leases_held),
            "ghosts_replaying": ("ghost members this node replays", lambda: replay.ghosts),
            "frame_bus_rooms": ("rooms whose frame channel this node subscribes to",
                                lambda: frame_bus.open_rooms),
        }, histograms={
            "frame_relay_latency_seconds": (
                "s from a frame's arrival on this node to the relay tick that sends it",
                relay.latency),
            "room_tick_duration_seconds": ("s per room ticker pass (all local rooms)",
                                           game.tick_duration),
        }))
        presence = node_presence = NodePresence(
            redis, KeySpace(settings.redis_prefix), store, relay, namespace.members_dropped,
            node_id=node_id, on_reaped=partial(namespace.disconnect_all, "node_reaped"),
            heartbeat_s=settings.node_heartbeat_s, ttl_s=settings.node_ttl_s,
            reap_s=settings.node_reap_s)
        await node_presence.beat()  # alive before the first client arrives
        tasks = [asyncio.create_task(relay.run(), name="relay-tick"),
                 asyncio.create_task(node_presence.run_heartbeat(), name="node-heartbeat"),
                 asyncio.create_task(node_presence.run_reaper(), name="node-reaper"),
                 asyncio.create_task(frame_bus.run_listener(), name="frame-bus-listener"),
                 asyncio.create_task(frame_bus.run_publisher(), name="frame-bus-publisher"),
                 asyncio.create_task(frame_bus.run_presence(), name="frame-bus-presence"),
                 asyncio.create_task(sweeper.run(), name="drop-sweeper"),
                 asyncio.create_task(game.run_scheduler(), name="phase-scheduler"),
                 asyncio.create_task(game.run_ticker(), name="room-ticker"),
                 asyncio.create_task(namespace.run_attention_poll(), name="attention-poll"),
                 asyncio.create_task(namespace.run_attention_publisher(),
                                     name="attention-publisher"),
                 asyncio.create_task(interruptions.run(), name="interruption-writer"),
                 asyncio.create_task(namespace.run_insights_flush(), name="insights-flush"),
                 asyncio.create_task(namespace.run_drop_retries(), name="drop-retries"),
                 asyncio.create_task(awards.run(), name="award-outbox"),
                 asyncio.create_task(recorder.run(), name="ghost-recorder"),
                 asyncio.create_task(recorder.run_writer(), name="ghost-writer"),
                 asyncio.create_task(replay.run_frames(), name="ghost-replay-frames"),
                 asyncio.create_task(replay.run_control(), name="ghost-replay-control"),
                 asyncio.create_task(node_control.run_listener(), name="node-control")]
        # subscribed before the first client arrives, so no logout elsewhere misses it
        if not await node_control.wait_listening(5):
            logger.warning("node control channel not subscribed yet; still retrying",
                           extra={"node_id": node_id})
        logger.info("node started", extra={"node_id": node_id})
        yield
    finally:
        started = loop_time()
        for task in reversed(tasks):
            await cancel(task)
        _stage("background tasks cancelled", started)
        deps = app.get(DEPS)
        if deps is not None:
            await deps.namespace.watcher.stop_all()  # replay watching tasks
        if deps is not None:  # hand this node's rooms to another node at once
            with contextlib.suppress(Exception):
                await asyncio.wait_for(deps.game.release_all(), 2)
            if bus is not None:  # other nodes stop publishing to this one
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(bus.close(), 2)
            if presence is not None:  # a clean exit: nothing for a reaper to do
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(presence.close(), 2)
            await deps.namespace.interruptions.drain(timeout_s=2)
            await deps.namespace.recorder.drain(timeout_s=2)
            _stage("leases released, queues drained", started)
        await sio.shutdown()
        listener = getattr(sio.manager, "thread", None)
        if listener is not None:
            await cancel(listener)
        await redis.aclose()
        await close_pool(pool)
        _stage("Redis and Postgres clients closed", started)


def loop_time() -> float:
    return asyncio.get_running_loop().time()


def _stage(what: str, started: float) -> None:
    """Log one shutdown stage with the s since shutdown began (a slow stop names itself)."""
    logger.info("shutdown: %s after %.3f s", what, loop_time() - started)


async def _disconnect_clients(app: web.Application) -> None:
    """First shutdown step: close every socket, so aiohttp's graceful wait does not sit
    on open websockets (members keep their slots for the resume window)."""
    deps = app.get(DEPS)
    if deps is not None:
        await deps.namespace.disconnect_all()


def _serve_client(app: web.Application, settings: Settings) -> None:
    """Serve the browser client (game_server.web_build). With ``web_client_build`` it is
    built first, once per start, before the engines start: a failed build leaves nothing
    running, and a start with a current build only hashes the sources."""
    from game_server.web_build import client_routes, dist_dir, ensure_built

    if settings.web_client_build:
        source = Path(settings.web_client_src_dir)
        if dist_dir(source).resolve() != Path(settings.web_client_dir).resolve():
            logger.warning("web_client_dir is not web_client_src_dir/dist: the client built "
                           "at start is not the one served")

        async def build(app: web.Application) -> None:
            await asyncio.to_thread(ensure_built, source)

        app.on_startup.insert(0, build)  # ahead of cleanup_ctx (engines, services)
    app.router.add_routes(client_routes(Path(settings.web_client_dir),
                                        Path(settings.data_dir) / "models"))
