"""Inbound payloads: one pydantic model per client event or HTTP body, validated at the edge.

``extra="forbid"`` and size caps everywhere; raw dicts never travel past the handlers.
"""

from __future__ import annotations

import functools
import re
import uuid
import zoneinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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
    paper_mode: bool | None = None  # looking down at paper counts; None: the user's setting


class TimerStart(Inbound):
    """``timer_start``: phase lengths in minutes (fractions allowed where config permits)."""

    focus_min: float = Field(25, gt=0, le=24 * 60)
    break_min: float = Field(5, gt=0, le=24 * 60)
    long_break_min: float = Field(15, gt=0, le=24 * 60)
    cycles: int = Field(4, ge=1, le=100)


class Empty(Inbound):
    pass


SELF_REPORTED_KINDS = ("phone", "family", "noise", "self", "urgent_task", "unknown")
"""Self-reported interruption types (PulsePlan's taxonomy, DESIGN.md section 1)."""


class InterruptionLog(Inbound):
    """``interruption_log``: a self-reported interruption, epoch ms; the server computes
    the duration and checks the span lies in the member's focus phase."""

    type: Literal["phone", "family", "noise", "self", "urgent_task", "unknown"]
    description: str | None = Field(None, max_length=500)
    started_ms: int = Field(ge=0, le=2**53)
    ended_ms: int = Field(ge=0, le=2**53)
    _check = field_validator("description")(lambda v: None if v is None else _free_text(v))

    @model_validator(mode="after")
    def _ordered(self) -> InterruptionLog:
        if self.ended_ms <= self.started_ms:
            raise ValueError("ended_ms must be after started_ms")
        return self


def _free_text(value: str) -> str | None:
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise ValueError("control characters are not allowed")
    return value or None


# -- accounts ------------------------------------------------------------------------------
# Passwords are taken byte for byte, so these bodies do not strip whitespace globally; the
# other text fields strip their own.

USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,32}$")


@functools.lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class AuthInbound(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


def _username(value: str) -> str:
    value = value.strip().lower()
    if not USERNAME_RE.match(value):
        raise ValueError("3 to 32 characters of a-z, 0-9, '_', '.' and '-'")
    return value


def _timezone(value: str) -> str:
    value = value.strip()
    if value not in _timezones():
        raise ValueError("not an IANA timezone name (e.g. Europe/Berlin)")
    return value


def _strip_display_name(value: str | None) -> str | None:
    if value is None:
        return None
    value = _display_name(value.strip())
    if not 1 <= len(value) <= 40:
        raise ValueError("1 to 40 characters")
    return value


class RegisterBody(AuthInbound):
    """``POST /api/auth/register``; display_name defaults to the guest's (upgrade) or the
    username."""

    username: str = Field(max_length=64)
    password: str = Field(min_length=10, max_length=128)
    display_name: str | None = Field(None, max_length=80)
    timezone: str = Field("UTC", max_length=64)
    _check_username = field_validator("username")(_username)
    _check_timezone = field_validator("timezone")(_timezone)
    _check_display_name = field_validator("display_name")(_strip_display_name)


class LoginBody(AuthInbound):
    """``POST /api/auth/login``: no format rules beyond size, so a malformed username is
    answered like a wrong one (401)."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)

    @field_validator("username")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class RefreshBody(AuthInbound):
    """``POST /api/auth/refresh`` and ``POST /api/auth/logout``."""

    refresh_token: str = Field(min_length=1, max_length=256)


class ChatSend(Inbound):
    """``chat_send``: one room chat message. Length (``Settings.chat_max_chars``) and
    control characters are checked by the handler after stripping (room_service)."""

    text: str = Field(max_length=4000)


class GhostAdd(Inbound):
    """``ghost_add`` / ``ghost_remove``: the recording (``GET /api/ghosts``) to replay as a
    ghost member of the caller's room, or to take out of it."""

    recording_id: uuid.UUID


class ReplayWatch(Inbound):
    """``replay_watch``: watch a finished recording outside a live room
    (game_server.replay_watch); ``speed`` = recorded ms per wall ms, 0.5..8; ``whole_room``:
    with every other recording of its room's focus phase."""

    recording_id: uuid.UUID
    speed: float = Field(1.0, ge=0.5, le=8.0)
    whole_room: bool = False


class ReplayControl(Inbound):
    """``replay_control``: change the running replay; every field optional. ``seek_ms``: ms
    from the recording's start (clamped to its duration)."""

    paused: bool | None = None
    speed: float | None = Field(None, ge=0.5, le=8.0)
    seek_ms: int | None = Field(None, ge=0, le=2**31 - 1)
