"""The dependencies object: everything one app instance owns, under one typed AppKey."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
import socketio
from aiohttp import web

from game_server.auth import TokenIssuer
from game_server.config import Settings
from game_server.game import GameService
from game_server.realtime import StudyNamespace
from game_server.relay import FrameRelay
from game_server.room_service import RoomService
from game_server.user_repo import UserRepo


@dataclass(slots=True)
class Deps:
    settings: Settings
    node_id: str
    redis: aioredis.Redis
    pool: asyncpg.Pool
    issuer: TokenIssuer
    users: UserRepo
    rooms: RoomService
    relay: FrameRelay
    sio: socketio.AsyncServer
    namespace: StudyNamespace
    game: GameService


DEPS = web.AppKey("deps", Deps)
