"""``studyverse`` command line: serve, migrate, bots.

``studyverse serve`` with no configuration starts embedded Redis and PostgreSQL under
``./.studyverse/``, applies migrations and serves Socket.IO + HTTP until SIGINT/SIGTERM,
then shuts down in order (game_server.app) and stops the engines.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web
from pythonjsonlogger.json import JsonFormatter

from game_server.config import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def _setup_logging(level: str, log_format: str = "json") -> None:
    """Root logging to stderr: one JSON object per line (python-json-logger; the context a
    call passes in ``extra`` -- room_id, slot, sid, node_id -- becomes fields), or plain
    text with ``log_format="text"``."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for noisy in ("aiohttp.access", "pgserver", "socketio", "engineio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; returns after a complete shutdown."""
    from game_server.app import create_app

    app = create_app(settings)
    runner = web.AppRunner(app, shutdown_timeout=settings.shutdown_timeout_s,
                           access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    for address in runner.addresses:
        print(f"studyverse: serving on http://{address[0]}:{address[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        print("studyverse: shutting down", flush=True)
        await runner.cleanup()
        print("studyverse: stopped", flush=True)


async def migrate(settings: Settings) -> list[int]:
    """Apply pending migrations (starting embedded Postgres if no DATABASE_URL)."""
    import asyncpg

    from game_server.engines import EmbeddedPostgres
    from game_server.migrate import apply_migrations

    engine = None
    url = settings.database_url
    if url is None:
        engine = EmbeddedPostgres(Path(settings.data_dir) / "pg")
        url = await asyncio.to_thread(engine.start)
    try:
        conn = await asyncpg.connect(url)
        try:
            return await apply_migrations(conn, settings.migrations_dir)
        finally:
            await conn.close()
    finally:
        if engine is not None:
            await asyncio.to_thread(engine.stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="studyverse", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the server")
    p_serve.add_argument("--host")
    p_serve.add_argument("--port", type=int)
    p_serve.add_argument("--data-dir", type=Path)
    p_migrate = sub.add_parser("migrate", help="apply pending SQL migrations")
    p_migrate.add_argument("--data-dir", type=Path)
    p_bots = sub.add_parser("bots", help="bot members streaming real face recordings",
                            add_help=False)
    p_bots.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "bots":
        from loadtests.bots import main as bots_main

        return bots_main(args.rest)
    settings = _settings(args)
    _setup_logging(settings.log_level, settings.log_format)
    if args.command == "serve":
        asyncio.run(serve(settings))
        return 0
    applied = asyncio.run(migrate(settings))
    print(f"studyverse: applied {len(applied)} migration(s): {applied}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
