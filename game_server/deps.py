"""The dependencies object: everything one app instance owns, under one typed AppKey."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
import socketio
from aiohttp import web

from game_server.accounts import AccountService
from game_server.auth import TokenIssuer
from game_server.config import Settings
from game_server.frame_bus import FrameBus
from game_server.game import GameService
from game_server.node_control import NodeControl
from game_server.progress_repo import ProgressRepo
from game_server.rate_limit import RateLimiter
from game_server.realtime import StudyNamespace
from game_server.relay import FrameRelay
from game_server.room_service import RoomService
from game_server.user_repo import UserRepo
from rooms.keys import KeySpace


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
    accounts: AccountService
    limiter: RateLimiter
    progress: ProgressRepo
    keys: KeySpace  # every Redis key name (rooms.keys)
    frame_bus: FrameBus  # cross-node frames (game_server.frame_bus)
    node_control: NodeControl  # a user's or a room's sockets closed on every node


DEPS = web.AppKey("deps", Deps)
