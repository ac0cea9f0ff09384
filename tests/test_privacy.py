"""A user's data rights against a real server, Postgres and Redis: the export holds every
user-keyed table (computed here independently from information_schema) with the user's
rows after real activity and no secrets; deletion leaves no row, no Redis key or field,
no socket and no session of the user, and leaves another user's data as it was."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import orjson
import pytest
import redis.asyncio as aioredis

from game_server.interruption_repo import InterruptionRepo, InterruptionRow
from game_server.privacy_repo import json_safe
from game_server.progress_repo import ProgressRepo
from rooms.keys import KeySpace
from rooms.rules.progress import ProgressRules
from rooms.rules.streaks import StreakRules
from tests.client import Api, SioClient
from tests.conftest import RunningServer
from tests.test_game_e2e import Streamer

pytestmark = pytest.mark.services

PASSWORD = "correct horse battery"

USER_COLUMNS = """
SELECT kcu.table_name::text AS table_name, kcu.column_name::text AS column_name
FROM information_schema.referential_constraints rc
JOIN information_schema.key_column_usage kcu
  ON kcu.constraint_schema = rc.constraint_schema AND kcu.constraint_name = rc.constraint_name
JOIN information_schema.key_column_usage ref
  ON ref.constraint_schema = rc.unique_constraint_schema
 AND ref.constraint_name = rc.unique_constraint_name
 AND ref.ordinal_position = kcu.position_in_unique_constraint
WHERE ref.table_name = 'users' AND ref.column_name = 'id'"""


@pytest.fixture(autouse=True)
def privacy_settings(server_settings: dict[str, Any]) -> None:
    """Cheap argon2id, rate limits out of the way, second-long timer phases."""
    server_settings.update(
        argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1,
        register_per_ip_per_min=1000, login_per_ip_per_min=1000,
        login_per_username_per_min=1000, timer_focus_choices_min=(), timer_min_phase_s=0.2,
        attention={"calibration_ms": 300}, boss_rules={"hp_per_focus_s": 10.0},
        progress_rules={"xp_per_focused_min": 60.0})


async def user_columns(conn: asyncpg.Connection) -> dict[str, set[str]]:
    """table -> columns referencing users(id), from information_schema (plus users.id)."""
    out: dict[str, set[str]] = {"users": {"id"}}
    for row in await conn.fetch(USER_COLUMNS):
        out.setdefault(row["table_name"], set()).add(row["column_name"])
    return out


async def register(api: Api, username: str) -> dict[str, Any]:
    status, body = await api.call("POST", "/api/auth/register",
                                  {"username": username, "password": PASSWORD})
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def socket(server: RunningServer, token: str, made: list[SioClient],
                 room_id: str | None = None, role: str = "member") -> SioClient:
    client = SioClient()
    made.append(client)
    await client.connect(server.base_url, token)
    if room_id is not None:
        ack = await client.call("room_join", {"room_id": room_id, "role": role})
        assert ack["ok"], ack
    return client


async def export(api: Api, token: str) -> dict[str, Any]:
    status, body = await api.call("GET", "/api/me/export", None, token)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def redis_mentions(redis: aioredis.Redis, prefix: str, needle: str) -> list[str]:
    """Every place under ``prefix`` where ``needle`` appears: key names, hash fields and
    values, set/sorted-set members, string values."""
    found: list[str] = []
    async for raw in redis.scan_iter(match=f"{prefix}*", count=1000):
        key = raw.decode()
        if needle in key:
            found.append(f"key {key}")
        kind = (await redis.type(key)).decode()
        if kind == "hash":
            for field, value in (await redis.hgetall(key)).items():
                if needle in field.decode():
                    found.append(f"field {key} {field!r}")
                if needle in value.decode(errors="replace"):
                    found.append(f"value {key} {field!r}")
        elif kind == "zset":
            found += [f"member {key}" for m in await redis.zrange(key, 0, -1)
                      if needle in m.decode()]
        elif kind == "set":
            found += [f"member {key}" for m in await redis.smembers(key)
                      if needle in m.decode()]
        elif kind == "string" and needle in (await redis.get(key) or b"").decode("latin-1"):
            found.append(f"string {key}")
    return found


async def test_export_then_delete_everything(
        server: RunningServer, api: Api, sio_clients: list[SioClient], database_url: str,
        redis: aioredis.Redis, redis_prefix: str) -> None:
    keys = KeySpace(redis_prefix)
    ann_name, bob_name = f"ann_{uuid.uuid4().hex[:6]}", f"bob_{uuid.uuid4().hex[:6]}"
    ann_session = await register(api, ann_name)
    bob_session = await register(api, bob_name)
    ann, ann_id = ann_session["access_token"], ann_session["user"]["id"]
    bob, bob_id = bob_session["access_token"], bob_session["user"]["id"]
    status, login = await api.call("POST", "/api/auth/login",
                                   {"username": ann_name, "password": PASSWORD})
    assert status == 200, login  # a second session (and a per-username rate-limit key)
    carol, carol_id = await api.guest("Carol")

    room_a = await api.room(ann, name="Ann's room")
    room_b, room_c = await api.room(bob, name="Bob's room"), await api.room(bob, name="C")
    bob_sock = await socket(server, bob, sio_clients, room_b)
    ann_sock = await socket(server, ann, sio_clients, room_b)
    ann_watch = await socket(server, login["access_token"], sio_clients, room_c, "spectator")
    carol_sock = await socket(server, carol, sio_clients, room_a)

    # real activity: a focus phase in Bob's room with Ann streaming a real face
    with Streamer(ann_sock):
        await ann_sock.wait_for("member_state", lambda d: d["attention"] == "focused")
        ack = await bob_sock.call("timer_start", {"focus_min": 4 / 60, "break_min": 1 / 60,
                                                  "long_break_min": 1 / 60, "cycles": 1})
        assert ack["ok"], ack
        await ann_sock.wait_for("reward", timeout=15)
        await bob_sock.wait_for("reward", timeout=15)
        await bob_sock.wait_for("timer", lambda d: d["phase"] == "idle", timeout=10)

    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        # more rows through the repositories, and a table "added later" whose key to
        # users is ON DELETE SET NULL and which holds a secret and a binary column
        await InterruptionRepo(pool).insert(InterruptionRow(
            ann_id, room_b, "phone", "self", 1_763_800_000_000, 1_763_800_060_000))
        await InterruptionRepo(pool).insert(InterruptionRow(
            bob_id, room_b, "noise", "self", 1_763_800_000_000, 1_763_800_030_000))
        progress = ProgressRepo(pool, rules=ProgressRules(), streaks=StreakRules())
        credited = await progress.apply_boss_kill(
            room_id=room_b, set_t0_ms=1_763_800_000_000, level=1, name="Procrastinator",
            damage_by_user={ann_id: 30.0, bob_id: 12.5}, xp_bonus=5,
            killed_ms=1_763_800_100_000)
        assert sorted(credited) == sorted([ann_id, bob_id])
        async with pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE notes (id serial PRIMARY KEY, "
                "author_id uuid REFERENCES users (id) ON DELETE CASCADE, "
                "reviewer_id uuid REFERENCES users (id) ON DELETE SET NULL, "
                "body text, secret_answer text, attachment bytea, extra jsonb)")
            await conn.execute(
                "INSERT INTO notes (author_id, reviewer_id, body, secret_answer, attachment, "
                "extra) VALUES ($1, NULL, 'ann wrote', 'blue', '\\x00ff', '{\"k\": [1]}'), "
                "($2, $1, 'bob wrote, ann reviews', NULL, NULL, NULL), "
                "($2, NULL, 'bob alone', NULL, NULL, NULL)",
                uuid.UUID(ann_id), uuid.UUID(bob_id))
            await conn.execute(  # NO ACTION: would block deleting the user
                "CREATE TABLE bookmarks (user_id uuid NOT NULL REFERENCES users (id), "
                "url text NOT NULL)")
            await conn.execute("INSERT INTO bookmarks VALUES ($1, 'a'), ($2, 'b')",
                               uuid.UUID(ann_id), uuid.UUID(bob_id))
            columns = await user_columns(conn)
            if "chat_messages" in columns:
                await conn.execute(
                    "INSERT INTO chat_messages (id, room_id, user_id, text) "
                    "VALUES ($1, $2, $3, 'hello')", uuid.uuid4(), uuid.UUID(room_b),
                    uuid.UUID(ann_id))
            password_hash = await conn.fetchval(
                "SELECT password_hash FROM users WHERE id = $1", uuid.UUID(ann_id))
            token_hashes = [r["token_hash"] for r in await conn.fetch(
                "SELECT token_hash FROM refresh_tokens WHERE user_id = $1", uuid.UUID(ann_id))]
        assert len(token_hashes) == 2 and password_hash.startswith("$argon2id$")
        assert {"users", "refresh_tokens", "rooms", "focus_sessions", "interruptions",
                "progress", "daily_focus", "plants", "boss_contributions",
                "notes", "bookmarks"} <= set(columns)

        # -- export -------------------------------------------------------------------------
        status, body = await api.call("GET", "/api/me/export")
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        status, raw_body = await api.call("GET", "/api/me/export", None, ann)
        assert status == 200
        mine = await export(api, ann)
        assert set(mine) == {"exported_ms", "user_id", "tables"}
        assert mine["user_id"] == ann_id
        tables = mine["tables"]
        assert set(tables) == set(columns)
        for table, rows in tables.items():  # only the user's rows, each JSON-safe
            for row in rows:
                assert any(row.get(c) == ann_id for c in columns[table]), (table, row)
                assert row == json_safe(row)
        (user,) = tables["users"]
        assert user["id"] == ann_id and user["username"] == ann_name
        assert user["password_set"] is True and "password_hash" not in user
        assert len(tables["refresh_tokens"]) == 2
        assert all("token_hash" not in r and r["revoked_at"] is None
                   for r in tables["refresh_tokens"])
        assert [r["id"] for r in tables["rooms"]] == [room_a]
        assert [r["room_id"] for r in tables["focus_sessions"]] == [room_b]
        session = tables["focus_sessions"][0]
        assert session["focused_s"] >= 3 and session["completed"] is True
        assert isinstance(session["started_at"], str)
        (prog,) = tables["progress"]
        assert prog["xp"] == session["xp"] + 5
        assert len(tables["daily_focus"]) == 1
        assert isinstance(tables["daily_focus"][0]["day"], str)
        assert len(tables["plants"]) <= 1
        assert [r["kind"] for r in tables["interruptions"]] == ["phone"]
        assert [(r["user_id"], r["damage"]) for r in tables["boss_contributions"]] == [
            (ann_id, 30.0)]
        if "chat_messages" in tables:
            assert [r["text"] for r in tables["chat_messages"]] == ["hello"]
        notes = sorted(tables["notes"], key=lambda r: r["id"])
        assert [n["body"] for n in notes] == ["ann wrote", "bob wrote, ann reviews"]
        assert notes[0]["secret_answer_set"] is True and notes[1]["secret_answer_set"] is False
        assert all("secret_answer" not in n and "attachment" not in n for n in notes)
        assert notes[0]["extra"] == {"k": [1]}
        text = orjson.dumps(raw_body).decode()
        assert password_hash not in text and PASSWORD not in text
        for h in token_hashes:
            assert h.hex() not in text
        assert ann_session["refresh_token"] not in text
        assert [r["url"] for r in tables["bookmarks"]] == ["a"]
        # Bob appears only as the author of the note Ann reviewed
        assert bob_id not in orjson.dumps(
            {t: r for t, r in tables.items() if t != "notes"}).decode()

        bob_before = await export(api, bob)
        assert len(bob_before["tables"]["focus_sessions"]) == 1

        # the live state really mentions Ann before the deletion
        before = await redis_mentions(redis, redis_prefix, ann_id)
        assert any(m.startswith(f"field {keys.room(room_b).focus}") for m in before), before
        assert any(m.startswith(f"value {keys.room(room_c).spectators}") for m in before)
        assert await redis.exists(f"{redis_prefix}rl:login_user:{ann_name}")
        assert await redis.exists(keys.room(room_a).meta)

        # -- delete ---------------------------------------------------------------------------
        assert (await api.call("DELETE", "/api/me", {"confirm": "DELETE"}))[0] == 401
        for wrong in (None, {}, {"confirm": "delete"}, {"confirm": "DELETE", "x": 1}):
            status, body = await api.call("DELETE", "/api/me", wrong, ann)
            assert (status, body["error"]["code"]) == (400, "bad_request"), wrong
        assert (await export(api, ann))["tables"]["users"]  # nothing happened
        status, body = await api.call("DELETE", "/api/me", {"confirm": "DELETE"}, ann)
        assert status == 204, body

        # sockets: Ann's are closed, the room hears she left, Ann's room is gone
        for s in (ann_sock, ann_watch):
            await asyncio.wait_for(s.disconnected.wait(), 5)
        left = await bob_sock.wait_for("member_left", lambda d: d["user_id"] == ann_id)
        assert left["kind"] == "live" and left["display_name"] == ann_name
        await carol_sock.wait_for("error", lambda d: d["code"] == "not_found")
        await asyncio.wait_for(carol_sock.disconnected.wait(), 5)
        assert not bob_sock.disconnected.is_set()

        # Postgres: no row anywhere mentions Ann; Bob's own rows are all still there
        async with pool.acquire() as conn:
            after_columns = await user_columns(conn)
            assert after_columns == columns
            for table, cols in columns.items():
                for col in cols:
                    n = await conn.fetchval(
                        f'SELECT count(*) FROM "{table}" WHERE "{col}" = $1',
                        uuid.UUID(ann_id))
                    assert n == 0, (table, col)
            notes_left = await conn.fetch("SELECT body, reviewer_id FROM notes ORDER BY id")
            assert [(r["body"], r["reviewer_id"]) for r in notes_left] == [
                ("bob wrote, ann reviews", None), ("bob alone", None)]  # SET NULL: kept
            assert await conn.fetchval("SELECT count(*) FROM rooms WHERE id = $1",
                                       uuid.UUID(room_a)) == 0
            assert await conn.fetchval("SELECT count(*) FROM users WHERE id = $1",
                                       uuid.UUID(carol_id)) == 1

        # Redis: no key, field, member or value mentions Ann; her room's keys are gone
        assert await redis_mentions(redis, redis_prefix, ann_id) == []
        assert not await redis.exists(*keys.room(room_a).all())
        assert await redis.zscore(keys.timers_due(), room_a) is None
        assert not await redis.exists(f"{redis_prefix}rl:login_user:{ann_name}")
        assert await redis.hexists(keys.room(room_b).users, bob_id)

        # sessions: refresh and login fail, the access token names nobody
        for refresh in (ann_session["refresh_token"], login["refresh_token"]):
            status, body = await api.call("POST", "/api/auth/refresh",
                                          {"refresh_token": refresh})
            assert (status, body["error"]["code"]) == (401, "unauthorized")
        status, _ = await api.call("POST", "/api/auth/login",
                                   {"username": ann_name, "password": PASSWORD})
        assert status == 401
        status, body = await api.call("GET", "/api/me/export", None, ann)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        # a repeated deletion is harmless and finishes a cleanup left over (here: state
        # written by a straggler after the first call)
        await redis.hset(keys.room(room_b).focus, f"p:1:0:{ann_id}", 1000)
        await redis.set(f"{redis_prefix}rl:chat:{ann_id}", 1)
        assert (await api.call("DELETE", "/api/me", {"confirm": "DELETE"}, ann))[0] == 204
        assert await redis_mentions(redis, redis_prefix, ann_id) == []

        # Bob: data untouched, but for Ann's name going from the note she reviewed
        bob_after = await export(api, bob)
        assert set(bob_after["tables"]) == set(bob_before["tables"])
        for table in bob_before["tables"]:
            expected = [dict(r, reviewer_id=None) if r.get("reviewer_id") == ann_id else r
                        for r in bob_before["tables"][table]]
            assert sorted(map(orjson.dumps, bob_after["tables"][table])) == sorted(
                map(orjson.dumps, expected)), table
        status, room = await api.call("GET", f"/api/rooms/{room_b}")
        assert status == 200 and [m["user_id"] for m in room["members"]] == [bob_id]
    finally:
        await pool.close()


async def test_a_guest_without_activity(server: RunningServer, api: Api,
                                        sio_clients: list[SioClient],
                                        database_url: str) -> None:
    guest, guest_id = await api.guest("Quiet")
    other, other_id = await api.guest("Other")
    conn = await asyncpg.connect(database_url)
    try:
        columns = await user_columns(conn)
    finally:
        await conn.close()
    body = await export(api, guest)
    assert set(body["tables"]) == set(columns)
    (user,) = body["tables"]["users"]
    assert user["is_guest"] is True and user["username"] is None
    assert user["password_set"] is False and "password_hash" not in user
    # a guest signs in with a refresh token too (one family), and has done nothing else
    assert len(body["tables"]["refresh_tokens"]) == 1
    assert all(rows == [] for table, rows in body["tables"].items()
               if table not in ("users", "refresh_tokens"))

    sock = await socket(server, guest, sio_clients)
    status, _ = await api.call("DELETE", "/api/me", {"confirm": "DELETE"}, guest)
    assert status == 204
    await asyncio.wait_for(sock.disconnected.wait(), 5)
    status, body = await api.call("GET", "/api/me/export", None, guest)
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert (await export(api, other))["tables"]["users"][0]["id"] == other_id
