"""Inbound payloads: one pydantic model per client event or HTTP body, validated at the edge.

``extra="forbid"`` and size caps everywhere; raw dicts never travel past the handlers.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Inbound(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _display_name(value: str) -> str:
    if any(ord(c) < 32 for c in value):
        raise ValueError("control characters are not allowed")
    return value


class GuestBody(Inbound):
    display_name: str = Field(min_length=1, max_length=40)
    _check = field_validator("display_name")(_display_name)


class CreateRoomBody(Inbound):
    name: str = Field(min_length=1, max_length=80)
    capacity: int | None = Field(None, ge=1, le=250)
    is_public: bool = True
    _check = field_validator("name")(_display_name)


class TimeSync(Inbound):
    client_ms: float = Field(ge=0, le=2**53)


class RoomJoin(Inbound):
    room_id: uuid.UUID
    role: Literal["member", "spectator"] = "member"
    resume_token: str | None = Field(None, max_length=64)
    paper_mode: bool = False  # looking down at paper counts as focused


class TimerStart(Inbound):
    """``timer_start``: phase lengths in minutes (fractions allowed where config permits)."""

    focus_min: float = Field(25, gt=0, le=24 * 60)
    break_min: float = Field(5, gt=0, le=24 * 60)
    long_break_min: float = Field(15, gt=0, le=24 * 60)
    cycles: int = Field(4, ge=1, le=100)


class Empty(Inbound):
    pass
