"""Accounts against a real server, Postgres and Redis: register (and guest upgrade), login,
refresh-token rotation with reuse detection, logout closing sockets, rate limits, argon2id
storage, and the access-token rules of auth.py."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from game_server.auth import AuthError, Identity, TokenIssuer, load_signing_key
from game_server.config import Settings
from game_server.passwords import PasswordBusy, PasswordService
from tests.client import Api, SioClient
from tests.conftest import RunningServer, start_server

PASSWORD = "correct horse battery"

# Cheap argon2id for tests (production defaults: t=3, 64 MiB, p=4), and rate limits out of
# the way except where a test lowers one.
TEST_SETTINGS = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1,
                 "register_per_ip_per_min": 1000, "login_per_ip_per_min": 1000,
                 "login_per_username_per_min": 1000}


@pytest.fixture(autouse=True)
def account_settings(server_settings: dict[str, Any]) -> None:
    server_settings.update(TEST_SETTINGS)


async def register(api: Api, username: str, password: str = PASSWORD,
                   token: str | None = None, **extra: Any) -> tuple[int, Any]:
    return await api.call("POST", "/api/auth/register",
                          {"username": username, "password": password, **extra}, token)


async def login(api: Api, username: str, password: str = PASSWORD) -> tuple[int, Any]:
    return await api.call("POST", "/api/auth/login",
                          {"username": username, "password": password})


async def refresh(api: Api, token: str) -> tuple[int, Any]:
    return await api.call("POST", "/api/auth/refresh", {"refresh_token": token})


def assert_session(server: RunningServer, body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert set(body["user"]) == {"id", "username", "display_name", "is_guest", "timezone"}
    assert len(body["refresh_token"]) >= 43  # 256 bits, URL-safe base64
    claims: dict[str, Any] = jwt.decode(
        body["access_token"], server.settings.jwt_secret.get_secret_value(),  # type: ignore[union-attr]
        algorithms=["HS256"])
    assert claims["sub"] == body["user"]["id"]
    return claims


async def test_register_login_refresh_logout(server: RunningServer, api: Api) -> None:
    status, body = await register(api, "Ada.Lovelace", display_name=" Ada ",
                                  timezone="Europe/London")
    assert status == 201, body
    assert_session(server, body)
    assert body["user"] == {"id": body["user"]["id"], "username": "ada.lovelace",
                            "display_name": "Ada", "is_guest": False,
                            "timezone": "Europe/London"}
    user_id = body["user"]["id"]
    assert (await api.call("POST", "/api/rooms", {"name": "R"}, body["access_token"]))[0] == 201

    status, logged = await login(api, "ADA.lovelace")
    assert status == 200, logged
    assert assert_session(server, logged)["name"] == "Ada"
    assert logged["user"]["id"] == user_id and logged["refresh_token"] != body["refresh_token"]

    status, renewed = await refresh(api, logged["refresh_token"])
    assert status == 200, renewed
    assert_session(server, renewed)
    assert renewed["user"]["id"] == user_id
    assert renewed["refresh_token"] != logged["refresh_token"]

    status, answer = await api.call("POST", "/api/auth/logout",
                                    {"refresh_token": renewed["refresh_token"]},
                                    renewed["access_token"])
    assert status == 204, answer
    status, answer = await refresh(api, renewed["refresh_token"])
    assert status == 401 and answer["error"]["code"] == "unauthorized"
    # the registration's own session is another family: logout left it alone
    assert (await refresh(api, body["refresh_token"]))[0] == 200


async def test_register_defaults(server: RunningServer, api: Api) -> None:
    status, body = await register(api, "grace")
    assert status == 201, body
    assert body["user"]["display_name"] == "grace" and body["user"]["timezone"] == "UTC"


async def test_duplicate_username_is_case_insensitive(server: RunningServer, api: Api) -> None:
    assert (await register(api, "Turing"))[0] == 201
    for name in ("turing", "TURING", " Turing "):
        status, body = await register(api, name)
        assert status == 409 and body["error"] == {"code": "conflict",
                                                   "message": "username is taken"}


async def test_register_validation(server: RunningServer, api: Api) -> None:
    cases = [
        ({"username": "okname", "password": "short"}, "password:"),
        ({"username": "okname", "password": "x" * 129}, "password:"),
        ({"username": "okname", "password": PASSWORD, "timezone": "Mars/Olympus"}, "timezone:"),
        ({"username": "okname", "password": PASSWORD, "timezone": "../etc/passwd"},
         "timezone:"),
        ({"username": "ab", "password": PASSWORD}, "username:"),
        ({"username": "x" * 33, "password": PASSWORD}, "username:"),
        ({"username": "bad name", "password": PASSWORD}, "username:"),
        ({"username": "émile", "password": PASSWORD}, "username:"),
        ({"username": "okname", "password": PASSWORD, "display_name": "a\nb"},
         "display_name:"),
        ({"username": "okname", "password": PASSWORD, "admin": True}, "admin:"),
        ({"password": PASSWORD}, "username:"),
    ]
    for body, field in cases:
        status, answer = await api.call("POST", "/api/auth/register", body)
        assert status == 400 and answer["error"]["code"] == "bad_request", (body, answer)
        assert answer["error"]["message"].startswith(field), (body, answer)


async def test_password_is_not_stripped(server: RunningServer, api: Api) -> None:
    spaced = "  " + PASSWORD + "  "
    assert (await register(api, "spacey", spaced))[0] == 201
    assert (await login(api, "spacey", spaced))[0] == 200
    assert (await login(api, "spacey", PASSWORD))[0] == 401


async def test_wrong_password_and_unknown_user(server: RunningServer, api: Api) -> None:
    assert (await register(api, "hopper"))[0] == 201
    answers = [await login(api, "hopper", "wrong password!"), await login(api, "nobody"),
               await login(api, "x y z")]
    for status, body in answers:
        assert status == 401, body
        assert body["error"] == {"code": "unauthorized",
                                 "message": "wrong username or password"}


async def test_guest_upgrade_keeps_the_user(server: RunningServer, api: Api) -> None:
    guest_token, guest_id = await api.guest("Guesty")
    room_id = await api.room(guest_token)
    status, body = await register(api, "former_guest", token=guest_token,
                                  timezone="Asia/Tokyo")
    assert status == 201, body
    assert body["user"] == {"id": guest_id, "username": "former_guest",
                            "display_name": "Guesty", "is_guest": False,
                            "timezone": "Asia/Tokyo"}
    status, room = await api.call("GET", f"/api/rooms/{room_id}")
    assert status == 200 and room["owner_id"] == guest_id
    status, logged = await login(api, "former_guest")
    assert status == 200 and logged["user"]["id"] == guest_id
    # a full account cannot be registered again, and a bad bearer token is refused
    status, again = await register(api, "another_name", token=logged["access_token"])
    assert status == 409 and again["error"]["code"] == "conflict"
    status, bad = await register(api, "another_name", token="garbage")
    assert status == 401 and bad["error"]["code"] == "unauthorized"


async def test_guest_upgrade_to_taken_name(server: RunningServer, api: Api) -> None:
    assert (await register(api, "taken"))[0] == 201
    guest_token, guest_id = await api.guest("G")
    status, body = await register(api, "Taken", token=guest_token)
    assert status == 409 and body["error"]["code"] == "conflict"
    status, body = await register(api, "free_name", token=guest_token)
    assert status == 201 and body["user"]["id"] == guest_id


async def test_refresh_rotation(server: RunningServer, api: Api) -> None:
    _, body = await register(api, "rotor")
    first = body["refresh_token"]
    status, second = await refresh(api, first)
    assert status == 200
    status, third = await refresh(api, second["refresh_token"])
    assert status == 200
    assert len({first, second["refresh_token"], third["refresh_token"]}) == 3
    for bad in ("", "not-a-token", "x" * 257):
        status, answer = await refresh(api, bad)
        assert status in (400, 401) and answer["error"]["code"] in ("bad_request",
                                                                    "unauthorized")
    status, answer = await api.call("POST", "/api/auth/refresh", {})
    assert status == 400 and answer["error"]["message"].startswith("refresh_token:")


async def test_reuse_revokes_the_family(server: RunningServer, api: Api,
                                        database_url: str) -> None:
    _, body = await register(api, "victim")
    _, other_session = await login(api, "victim")  # another family (another device)
    first = body["refresh_token"]
    _, second = await refresh(api, first)
    _, third = await refresh(api, second["refresh_token"])
    newest = third["refresh_token"]

    status, answer = await refresh(api, first)  # replayed by a thief: reuse
    assert status == 401 and answer["error"] == {"code": "unauthorized",
                                                 "message": "invalid refresh token"}
    status, _ = await refresh(api, newest)  # the legitimate holder is logged out too
    assert status == 401
    assert (await refresh(api, second["refresh_token"]))[0] == 401
    assert (await refresh(api, other_session["refresh_token"]))[0] == 200

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT family_id, used_at, revoked_at, replaced_by FROM refresh_tokens "
            "WHERE token_hash = ANY($1::bytea[])",
            [hashlib.sha256(t.encode()).digest() for t in (first, second["refresh_token"],
                                                           newest)])
    finally:
        await conn.close()
    assert len(rows) == 3 and len({r["family_id"] for r in rows}) == 1
    assert all(r["revoked_at"] is not None for r in rows)
    assert sum(r["replaced_by"] is not None for r in rows) == 2


async def test_concurrent_refresh_with_one_token(server: RunningServer, api: Api) -> None:
    """Two refreshes racing with one token: one wins, the other is reuse, and reuse
    revokes the family (including the winner's new token)."""
    _, body = await register(api, "racer")
    answers = await asyncio.gather(refresh(api, body["refresh_token"]),
                                   refresh(api, body["refresh_token"]))
    assert sorted(status for status, _ in answers) == [200, 401]
    winner = next(b for s, b in answers if s == 200)
    assert (await refresh(api, winner["refresh_token"]))[0] == 401


async def test_expired_refresh_token(server_settings: dict[str, Any], redis: aioredis.Redis
                                     ) -> None:
    server = await start_server(Settings(**{**server_settings, "refresh_token_ttl_s": 1}))
    api = Api(server.base_url)
    try:
        _, body = await register(api, "shortlived")
        await asyncio.sleep(1.2)  # the lifetime itself is under test
        status, answer = await refresh(api, body["refresh_token"])
        assert status == 401 and answer["error"]["code"] == "unauthorized"
    finally:
        await api.close()
        await server.stop()


async def test_logout_closes_the_users_sockets(server: RunningServer, api: Api,
                                               sio_clients: list[SioClient]) -> None:
    _, body = await register(api, "leaver")
    _, other = await register(api, "stayer")
    phone, laptop, bystander = SioClient(), SioClient(), SioClient()
    sio_clients.extend([phone, laptop, bystander])
    await phone.connect(server.base_url, body["access_token"])
    await laptop.connect(server.base_url, body["access_token"])
    await bystander.connect(server.base_url, other["access_token"])

    status, answer = await api.call("POST", "/api/auth/logout", {"refresh_token": "x"})
    assert status == 401 and answer["error"]["code"] == "unauthorized"
    status, _ = await api.call("POST", "/api/auth/logout",
                               {"refresh_token": body["refresh_token"]}, body["access_token"])
    assert status == 204
    async with asyncio.timeout(5):
        await phone.disconnected.wait()
        await laptop.disconnected.wait()
    assert bystander.sio.connected and not bystander.disconnected.is_set()
    assert (await refresh(api, body["refresh_token"]))[0] == 401


async def test_logout_with_someone_elses_token(server: RunningServer, api: Api) -> None:
    _, mine = await register(api, "mallory")
    _, theirs = await register(api, "alice")
    status, _ = await api.call("POST", "/api/auth/logout",
                               {"refresh_token": theirs["refresh_token"]},
                               mine["access_token"])
    assert status == 204
    assert (await refresh(api, theirs["refresh_token"]))[0] == 200


async def raw_post(api: Api, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
    async with api.session.post(api.base_url + path, json=body) as resp:
        return resp.status, await resp.json(content_type=None), dict(resp.headers)


@pytest.mark.parametrize("limits", [{"login_per_ip_per_min": 3}])
async def test_login_rate_limit_per_ip(server_settings: dict[str, Any], limits: dict[str, int],
                                       redis: aioredis.Redis) -> None:
    server = await start_server(Settings(**{**server_settings, **limits}))
    api = Api(server.base_url)
    try:
        assert (await register(api, "limited"))[0] == 201
        for name in ("limited", "other1", "other2"):
            assert (await login(api, name, "wrong password"))[0] == 401
        status, body, headers = await raw_post(api, "/api/auth/login",
                                               {"username": "limited", "password": PASSWORD})
        assert status == 429 and body["error"]["code"] == "rate_limited"
        assert 1 <= int(headers["Retry-After"]) <= 60
        prefix = server.settings.redis_prefix
        assert await redis.get(f"{prefix}rl:login_ip:127.0.0.1") == b"4"
        assert 0 < await redis.pttl(f"{prefix}rl:login_ip:127.0.0.1") <= 60_000
    finally:
        await api.close()
        await server.stop()


async def test_login_rate_limit_per_username(server_settings: dict[str, Any],
                                             redis: aioredis.Redis) -> None:
    server = await start_server(Settings(**{**server_settings,
                                            "login_per_username_per_min": 2}))
    api = Api(server.base_url)
    try:
        assert (await register(api, "target"))[0] == 201
        assert (await login(api, "target", "guess number 1"))[0] == 401
        assert (await login(api, "TARGET", "guess number 2"))[0] == 401
        status, body, headers = await raw_post(api, "/api/auth/login",
                                               {"username": "target", "password": PASSWORD})
        assert status == 429 and "Retry-After" in headers, body
        assert (await login(api, "someone_else"))[0] == 401  # other accounts unaffected
    finally:
        await api.close()
        await server.stop()


async def test_register_rate_limit(server_settings: dict[str, Any],
                                   redis: aioredis.Redis) -> None:
    server = await start_server(Settings(**{**server_settings, "register_per_ip_per_min": 2}))
    api = Api(server.base_url)
    try:
        assert (await register(api, "first"))[0] == 201
        assert (await register(api, "x"))[0] == 400  # bad requests count too
        status, body, headers = await raw_post(api, "/api/auth/register",
                                               {"username": "third", "password": PASSWORD})
        assert status == 429 and body["error"]["code"] == "rate_limited"
        assert int(headers["Retry-After"]) >= 1
    finally:
        await api.close()
        await server.stop()


async def test_stored_secrets(server: RunningServer, api: Api, database_url: str) -> None:
    _, body = await register(api, "secretive")
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1",
                                     uuid.UUID(body["user"]["id"]))
        hashes = await conn.fetch("SELECT token_hash FROM refresh_tokens")
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$v=19$m=64,t=1,p=1$") and PASSWORD not in stored
    assert [bytes(r["token_hash"]) for r in hashes] == [
        hashlib.sha256(body["refresh_token"].encode()).digest()]


async def test_login_rehashes_with_new_parameters(server: RunningServer, api: Api,
                                                  server_settings: dict[str, Any],
                                                  database_url: str) -> None:
    _, body = await register(api, "rehash_me")
    stronger = await start_server(Settings(**{**server_settings, "argon2_time_cost": 2}))
    api2 = Api(stronger.base_url)
    try:
        assert (await login(api2, "rehash_me"))[0] == 200
    finally:
        await api2.close()
        await stronger.stop()
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE username = $1",
                                     "rehash_me")
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$v=19$m=64,t=2,p=1$")
    assert (await login(api, "rehash_me"))[0] == 200  # the new hash verifies anywhere


async def test_password_service_bounds() -> None:
    service = PasswordService(time_cost=1, memory_kib=64, parallelism=1, concurrency=1,
                              queue_max=1)
    hashed = await service.hash(PASSWORD)
    assert await service.verify(hashed, PASSWORD)
    assert not await service.verify(hashed, PASSWORD + "!")
    assert not await service.verify("not a hash", PASSWORD)
    assert not service.needs_rehash(hashed) and service.needs_rehash("not a hash")
    results = await asyncio.gather(*(service.hash(PASSWORD) for _ in range(3)),
                                   return_exceptions=True)
    assert sum(isinstance(r, PasswordBusy) for r in results) == 1
    assert sum(isinstance(r, str) for r in results) == 2
    assert service.pending == 0
    await service.verify_dummy(PASSWORD)
    assert service.pending == 0


def test_settings_refuse_weak_values(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="jwt_secret"):
        Settings(jwt_secret="x" * 31)
    with pytest.raises(ValidationError, match="argon2_memory_kib"):
        Settings(argon2_memory_kib=8, argon2_parallelism=4)
    with pytest.raises(ValueError, match="256 bits"):
        TokenIssuer(b"k" * 31, 900)
    (tmp_path / "jwt_secret").write_text("too short")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        load_signing_key(Settings(data_dir=tmp_path))
    assert Settings(jwt_secret="x" * 32).refresh_token_ttl_s == 7 * 86400


def test_access_tokens_pin_hs256_and_require_claims() -> None:
    key = b"k" * 64  # long enough that PyJWT signs HS512 with it without a warning
    issuer = TokenIssuer(key, 900)
    now = int(time.time())
    user_id = uuid.uuid4()
    assert issuer.verify(issuer.issue(Identity(user_id, "A"), now)).user_id == user_id
    full = {"sub": str(user_id), "iat": now, "exp": now + 60, "jti": "abc"}
    forged = [
        jwt.encode(full, key, algorithm="HS512"),
        jwt.encode(full, None, algorithm="none"),
        jwt.encode(full, b"o" * 32, algorithm="HS256"),
        jwt.encode({**full, "exp": now - 1}, key, algorithm="HS256"),
        *(jwt.encode({k: v for k, v in full.items() if k != claim}, key, algorithm="HS256")
          for claim in ("sub", "iat", "exp", "jti")),
    ]
    for token in forged:
        with pytest.raises(AuthError):
            issuer.verify(token)


@pytest.mark.parametrize("trust", [True, False])
async def test_forwarded_for_only_when_trusted(server_settings: dict[str, Any], trust: bool,
                                               redis: aioredis.Redis) -> None:
    server = await start_server(Settings(**{**server_settings, "trust_forwarded_for": trust,
                                            "login_per_ip_per_min": 1}))
    api = Api(server.base_url)
    try:
        statuses = []
        for client in ("203.0.113.7", "203.0.113.8"):
            async with api.session.post(
                    api.base_url + "/api/auth/login", json={"username": "u", "password": "p"},
                    headers={"X-Forwarded-For": f"10.9.9.9, {client}"}) as resp:
                statuses.append(resp.status)
        assert statuses == ([401, 401] if trust else [401, 429])
        key = server.settings.redis_prefix + "rl:login_ip:"
        assert await redis.exists(key + ("203.0.113.8" if trust else "127.0.0.1"))
    finally:
        await api.close()
        await server.stop()


async def test_a_guest_refreshes_and_stays_the_same_user(server: RunningServer,
                                                         api: Api) -> None:
    status, body = await api.call("POST", "/api/auth/guest", {"display_name": "Gus"})
    assert status == 201
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "user"}
    assert body["user"]["is_guest"] is True and body["user"]["username"] is None
    status, renewed = await refresh(api, body["refresh_token"])
    assert status == 200 and renewed["user"]["id"] == body["user"]["id"]
    assert renewed["user"]["is_guest"] is True
    assert renewed["refresh_token"] != body["refresh_token"]
    status, _ = await api.call("GET", "/api/me", token=renewed["access_token"])
    assert status == 200
    # reuse of the spent token revokes the family, as for accounts
    assert (await refresh(api, body["refresh_token"]))[0] == 401
    assert (await refresh(api, renewed["refresh_token"]))[0] == 401
