"""Migration runner against real Postgres: once each, in order, under a lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from game_server.config import REPO_ROOT
from game_server.migrate import MigrationError, apply_migrations, load_migrations


async def test_applied_once_and_recorded(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        # the template already holds every migration: nothing is pending
        assert await apply_migrations(conn, REPO_ROOT / "migrations") == []
        versions = [r["version"] for r in
                    await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [m.version for m in load_migrations(REPO_ROOT / "migrations")]
        tables = {r["table_name"] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public'")}
        assert {"users", "rooms", "schema_migrations"} <= tables
    finally:
        await conn.close()


async def test_concurrent_runs_apply_each_file_once(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("CREATE TABLE mig_a (id int);")
    (tmp_path / "002_b.sql").write_text(
        "CREATE TABLE mig_b (id int); INSERT INTO mig_b VALUES (1);")
    conns = [await asyncpg.connect(database_url) for _ in range(4)]
    try:
        await conns[0].execute("DROP TABLE schema_migrations")
        results = await asyncio.gather(*(apply_migrations(c, tmp_path) for c in conns))
        assert sorted(v for r in results for v in r) == [1, 2]
        assert await conns[0].fetchval("SELECT count(*) FROM mig_b") == 1
    finally:
        for c in conns:
            await c.close()


async def test_edited_or_misnamed_files_are_refused(database_url: str, tmp_path: Path) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DROP TABLE schema_migrations")
        (tmp_path / "001_a.sql").write_text("CREATE TABLE mig_c (id int);")
        assert await apply_migrations(conn, tmp_path) == [1]
        (tmp_path / "001_a.sql").write_text("CREATE TABLE mig_c (id bigint);")
        with pytest.raises(MigrationError, match="edited"):
            await apply_migrations(conn, tmp_path)
        (tmp_path / "001_a.sql").write_text("CREATE TABLE mig_c (id int);")
        (tmp_path / "2_bad name.sql").write_text("SELECT 1;")
        with pytest.raises(MigrationError, match="NNN_name"):
            await apply_migrations(conn, tmp_path)
        # a failing file rolls back whole and is not recorded
        (tmp_path / "2_bad name.sql").unlink()
        (tmp_path / "002_broken.sql").write_text("CREATE TABLE mig_d (id int); SELEC 1;")
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await apply_migrations(conn, tmp_path)
        assert await conn.fetchval("SELECT to_regclass('mig_d')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == 1
    finally:
        await conn.close()
