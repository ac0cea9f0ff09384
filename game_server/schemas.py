"""Inbound payloads: one pydantic model per client event or HTTP body, validated at the edge.

``extra="forbid"`` and size caps everywhere; raw dicts never travel past the handlers.
"""

from __future__ import annotations

import functools
import re
import uuid
import zoneinfo
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
