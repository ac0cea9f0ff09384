"""Progress awards against real Postgres and Redis: exactly once under concurrency and
duplicates, queued through a Postgres outage, and delivered as ``reward`` end to end."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from game_server.awards import AwardOutbox
from game_server.progress_repo import PhaseAward, ProgressRepo
from rooms.keys import KeySpace
from rooms.rules.progress import ProgressRules
from rooms.rules.streaks import StreakRules
from tests.client import Api, SioClient
from tests.conftest import RunningServer
from tests.test_game_e2e import Streamer, owner_room

T0 = 1_763_800_000_000  # 2025-11-22 08:26:40 UTC


async def make_user(conn: asyncpg.Connection, name: str = "U") -> str:
    user_id = uuid.uuid4()
    await conn.execute("INSERT INTO users (id, display_name) VALUES ($1, $2)", user_id, name)
    return str(user_id)


async def make_room(conn: asyncpg.Connection, owner: str) -> str:
    room_id = uuid.uuid4()
    await conn.execute("INSERT INTO rooms (id, owner_id, name, capacity, invite_code) "
                       "VALUES ($1, $2, 'R', 5, $3)", room_id, uuid.UUID(owner),
                       uuid.uuid4().hex[:8])
    return str(room_id)


def phase(user: str, room: str, index: int = 0, *, focused_s: float = 1500.0,
          completed: bool = True, group: int = 1) -> PhaseAward:
    return PhaseAward(user_id=user, room_id=room, set_t0_ms=T0, phase_index=index, cycles=4,
                      started_ms=T0 + index * 900_000, ended_ms=T0 + index * 900_000 + 1_500_000,
                      planned_s=1500.0, present_s=1500.0, focused_s=focused_s,
                      group_size=group, completed=completed)


@pytest.fixture
async def pool(database_url: str) -> Any:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=25)
    try:
        yield p
    finally:
        await p.close()


async def test_the_same_award_fired_20_times_lands_once(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        user = await make_user(conn)
        room = await make_room(conn, user)
    repo = ProgressRepo(pool, rules=ProgressRules(), streaks=StreakRules())
    job = phase(user, room)
    results = await asyncio.gather(*(repo.apply_phase(job) for _ in range(20)))
    applied = [r for r in results if r is not None]
    assert len(applied) == 1
    (reward,) = applied
    assert reward.xp == 10 and reward.total_xp == 10 and reward.level == 0  # 25 min solo
    assert reward.plant == "epic"  # 100 % focused, but one phase is not a perfect set
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM focus_sessions") == 1
        assert await conn.fetchval("SELECT count(*) FROM plants") == 1
        assert await conn.fetchval("SELECT xp FROM progress WHERE user_id = $1",
                                   uuid.UUID(user)) == 10


async def test_a_perfect_four_phase_set_grows_a_legendary_plant(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        user = await make_user(conn)
        room = await make_room(conn, user)
    repo = ProgressRepo(pool, rules=ProgressRules(), streaks=StreakRules())
    plants = [(await repo.apply_phase(phase(user, room, i))) for i in (0, 2, 4, 6)]
    assert [p.plant for p in plants if p is not None] == ["epic", "epic", "epic", "legendary"]
    assert plants[-1] is not None and plants[-1].total_xp == 40
    # a set with one withered phase is not perfect
    other = await repo.apply_phase(phase(user, room, 8, focused_s=600))
    assert other is not None and other.plant == "withered"


async def test_boss_kill_bonus_credited_once(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        a, b = await make_user(conn, "A"), await make_user(conn, "B")
        room = await make_room(conn, a)
    repo = ProgressRepo(pool, rules=ProgressRules(), streaks=StreakRules())
    kill = {"room_id": room, "set_t0_ms": T0, "level": 2, "name": "Doomscroll Wyrm",
            "damage_by_user": {a: 100.0, b: 50.5}, "xp_bonus": 10, "killed_ms": T0 + 5000}
    credited = await asyncio.gather(*(repo.apply_boss_kill(**kill) for _ in range(5)))
    assert sorted(u for c in credited for u in c) == sorted([a, b])
    async with pool.acquire() as conn:
        xp = {str(r["user_id"]): r["xp"] for r in await conn.fetch("SELECT * FROM progress")}
    assert xp == {a: 10, b: 10}


async def test_awards_queue_through_a_postgres_outage(
        pool: asyncpg.Pool, database_url: str, pg_admin_url: str, redis: aioredis.Redis,
        redis_prefix: str) -> None:
    """The database refuses connections while a phase ends; the award waits in the Redis
    stream and lands exactly once when the database is back."""
    async with pool.acquire() as conn:
        user = await make_user(conn)
        room = await make_room(conn, user)
    name = urlsplit(database_url).path.lstrip("/")
    outage_pool = await asyncpg.create_pool(database_url, min_size=0, max_size=2)
    notified: list[tuple[str, str, Any]] = []

    async def notify(user_id: str, event: str, data: Any) -> None:
        notified.append((user_id, event, data))

    repo = ProgressRepo(outage_pool, rules=ProgressRules(), streaks=StreakRules())
    outbox = AwardOutbox(redis, KeySpace(redis_prefix), repo, notify, node_id="n1",
                         retry_s=0.2)
    admin = await asyncpg.connect(pg_admin_url)
    task = asyncio.create_task(outbox.run())
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        await outbox.enqueue_phases([phase(user, room)])
        await outbox.enqueue_phases([phase(user, room)])  # a duplicate, e.g. a retry
        async with asyncio.timeout(10):
            while outbox.stats["awards_retried"] < 2:
                await asyncio.sleep(0.05)
        assert not notified
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        async with asyncio.timeout(10):
            while outbox.stats["awards_applied"] + outbox.stats["awards_duplicate"] < 2:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        outage_pool.terminate()
    assert outbox.stats["awards_applied"] == 1 and outbox.stats["awards_duplicate"] == 1
    assert [(u, e) for u, e, _ in notified] == [(user, "reward")]
    assert await redis.xlen(KeySpace(redis_prefix).awards_stream()) == 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT xp FROM progress WHERE user_id = $1",
                                   uuid.UUID(user)) == 10


@pytest.fixture
def fast_progress(server_settings: dict[str, Any]) -> dict[str, Any]:
    """Second-long phases and 1 XP per focused second, for every node of the test."""
    server_settings.update(timer_focus_choices_min=(), timer_min_phase_s=0.2,
                           attention={"calibration_ms": 300},
                           boss_rules={"hp_per_focus_s": 10.0},  # no kill bonus here
                           progress_rules={"xp_per_focused_min": 60.0})
    return server_settings


async def test_reward_after_a_focus_phase_end_to_end(
        fast_progress: dict[str, Any], server: RunningServer, api: Api,
        sio_clients: list[SioClient], database_url: str) -> None:
    owner, _ = await owner_room(server.base_url, api, sio_clients)
    with Streamer(owner):
        await owner.wait_for("member_state", lambda d: d["attention"] == "focused")
        ack = await owner.call("timer_start", {"focus_min": 4 / 60, "break_min": 1 / 60,
                                               "long_break_min": 1 / 60, "cycles": 1})
        assert ack["ok"], ack
        reward = await owner.wait_for("reward", timeout=10)
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM focus_sessions")
    finally:
        await conn.close()
    # the ticks credit whole seconds: 3 or 4 of the 4 s phase, 1 XP each
    assert 3 <= row["focused_s"] <= 4 and reward["xp"] == row["focused_s"] == row["xp"]
    assert reward["total_xp"] == reward["xp"] and row["completed"]
    assert reward["plant"] in {None, "common", "uncommon", "rare", "epic"}
    assert reward["level"] == 0 and reward["streak"]["current"] == 0  # goal: 60 min/day
    await asyncio.sleep(0.5)
    assert len(owner.of("reward")) == 1


async def test_a_bad_award_entry_is_dropped_not_retried_forever(
        pool: asyncpg.Pool, redis: aioredis.Redis, redis_prefix: str) -> None:
    async with pool.acquire() as conn:
        user = await make_user(conn)
        room = await make_room(conn, user)
    repo = ProgressRepo(pool, rules=ProgressRules(), streaks=StreakRules())
    outbox = AwardOutbox(redis, KeySpace(redis_prefix), repo, _no_notify, node_id="n1")
    stream = KeySpace(redis_prefix).awards_stream()
    await redis.xadd(stream, {"kind": "phase", "data": b'{"user_id": 1}'})  # malformed
    ghost = phase(str(uuid.uuid4()), room)  # a user deleted before the award landed
    await outbox.enqueue_phases([ghost, phase(user, room)])
    task = asyncio.create_task(outbox.run())
    try:
        async with asyncio.timeout(10):
            while outbox.stats["awards_applied"] < 1:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert outbox.stats["awards_poison"] == 2
    assert await redis.xlen(stream) == 0


async def _no_notify(user_id: str, event: str, data: Any) -> None:
    return None
