"""Migration runner: numbered plain-SQL files applied once each, in order.

Files are ``migrations/NNN_name.sql``. Each runs in its own transaction under a session
advisory lock, so concurrent ``studyverse migrate`` runs (several nodes starting at once)
apply each file exactly once. Applied files are recorded in ``schema_migrations`` with a
SHA-256 of their text; editing an applied file is refused (``MigrationError``), write a new
numbered file instead.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

logger = logging.getLogger(__name__)

# pg_advisory_lock key: first 8 bytes of sha256("studyverse:migrations") as a signed bigint.
ADVISORY_LOCK_KEY = 0x5D3B_7A1C_42E0_9F11

_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    sha256      text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""
SELECT_APPLIED = "SELECT version, name, sha256 FROM schema_migrations ORDER BY version"
INSERT_APPLIED = "INSERT INTO schema_migrations (version, name, sha256) VALUES ($1, $2, $3)"


class MigrationError(RuntimeError):
    """The migrations folder and the database disagree (edited, missing or misnamed file)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path) -> list[Migration]:
    """Read ``NNN_name.sql`` files in version order; raises MigrationError on a bad name
    or a duplicate version."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file name must be NNN_name.sql: {path.name}")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"duplicate migration version {version}")
        found[version] = Migration(version, match.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


async def apply_migrations(conn: asyncpg.Connection, directory: Path) -> list[int]:
    """Apply pending migrations on ``conn``; returns the versions applied by this call."""
    migrations = load_migrations(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(CREATE_TABLE)
        applied = {r["version"]: r for r in await conn.fetch(SELECT_APPLIED)}
        done: list[int] = []
        for migration in migrations:
            row = applied.get(migration.version)
            if row is not None:
                if row["sha256"] != migration.sha256:
                    raise MigrationError(
                        f"migration {migration.version}_{migration.name} was edited after "
                        "it was applied; add a new numbered file instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(INSERT_APPLIED, migration.version, migration.name,
                                   migration.sha256)
            logger.info("migration applied", extra={"version": migration.version,
                                                    "migration": migration.name})
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
