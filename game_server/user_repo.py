"""Postgres repository of the ``users`` table (the only module that writes it).

Guests have no username and no password; registering either inserts a full account or
converts a guest's row in place (same id, so its progress stays). Usernames arrive
lowercased (the CHECK in migration 003 refuses anything else), so the UNIQUE constraint is
case-insensitive.

Settings (``update_settings``): a daily-goal change applies from the user's next local day
(``rooms.rules.streaks.goal_for_day``): the row keeps the goal in force before the change
and the instant of the change (migration 007), and :func:`goal_min_for_day` says which of
the two judges a given day. A timezone or day-start change is stored as is; the streak
keeps the zone it was counted in (``progress_repo``) until its next count.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from rooms.rules import streaks as streak_rules

INSERT_GUEST = """
INSERT INTO users (id, display_name, is_guest) VALUES ($1, $2, true)
RETURNING id, display_name, is_guest, created_at"""
SELECT_USER = "SELECT id, display_name, is_guest, created_at FROM users WHERE id = $1"

ACCOUNT_COLUMNS = """id, username, display_name, is_guest, timezone, day_start_hour,
daily_goal_min, paper_mode, created_at"""
INSERT_ACCOUNT = f"""
INSERT INTO users (id, username, display_name, password_hash, timezone, is_guest)
VALUES ($1, $2, $3, $4, $5, false)
RETURNING {ACCOUNT_COLUMNS}"""
UPGRADE_GUEST = f"""
UPDATE users SET username = $2, display_name = coalesce($3, display_name),
       password_hash = $4, timezone = $5, is_guest = false
WHERE id = $1 AND is_guest
RETURNING {ACCOUNT_COLUMNS}"""
SELECT_ACCOUNT = f"SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = $1"
SELECT_CREDENTIALS = f"""
SELECT {ACCOUNT_COLUMNS}, password_hash FROM users WHERE username = $1 AND NOT is_guest"""
UPDATE_PASSWORD_HASH = "UPDATE users SET password_hash = $2 WHERE id = $1 AND NOT is_guest"

PROFILE_COLUMNS = f"""{ACCOUNT_COLUMNS}, daily_goal_prev_min, daily_goal_changed_at"""
SELECT_PROFILE = f"SELECT {PROFILE_COLUMNS} FROM users WHERE id = $1"
SELECT_PROFILE_FOR_UPDATE = f"SELECT {PROFILE_COLUMNS} FROM users WHERE id = $1 FOR UPDATE"
UPDATE_SETTINGS = f"""
UPDATE users SET display_name = $2, timezone = $3, day_start_hour = $4, daily_goal_min = $5,
       paper_mode = $6, daily_goal_prev_min = $7, daily_goal_changed_at = $8
WHERE id = $1
RETURNING {PROFILE_COLUMNS}"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(at: datetime) -> int:
    """``at`` (timezone-aware) as epoch ms, exactly (no float rounding)."""
    return (at - _EPOCH) // timedelta(milliseconds=1)


def goal_min_for_day(day: date, goal_min: int, prev_goal_min: int | None,
                     changed_at: datetime | None, timezone: str, day_start_hour: int) -> int:
    """The daily goal (min) that the user's local ``day`` (a date of ``timezone`` with
    ``day_start_hour``) is judged by: ``prev_goal_min`` up to and including the local day
    of the change instant ``changed_at`` in that same zone, ``goal_min`` after it
    (``streaks.goal_for_day``). Raises ``StreakError`` for an unknown zone."""
    changed_on = (None if changed_at is None else
                  streak_rules.local_day(epoch_ms(changed_at), timezone, day_start_hour))
    return streak_rules.goal_for_day(day, goal_min, previous_goal_min=prev_goal_min,
                                     changed_on=changed_on)


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    display_name: str
    is_guest: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Account:
    """A user with its account fields (username is None for a guest)."""

    id: uuid.UUID
    username: str | None
    display_name: str
    is_guest: bool
    timezone: str  # IANA name
    day_start_hour: int  # local hour (0..23) at which the user's day begins
    daily_goal_min: int  # focused minutes that make a day count for the streak
    paper_mode: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Profile:
    """A user's account fields and settings as stored. ``daily_goal_min`` is the goal last
    set; while ``daily_goal_prev_min`` is not None it applies only from the day after the
    local day of ``daily_goal_changed_at`` (see :meth:`goal_today` and :meth:`pending_goal`).
    """

    id: uuid.UUID
    username: str | None
    display_name: str
    is_guest: bool
    timezone: str  # IANA name
    day_start_hour: int  # 0..23
    daily_goal_min: int  # 1..1440, the goal last set
    paper_mode: bool
    created_at: datetime
    daily_goal_prev_min: int | None  # the goal before the last change, min
    daily_goal_changed_at: datetime | None  # instant of the last goal change

    def today(self, now_ms: int) -> date:
        """The user's local day at ``now_ms`` (epoch ms)."""
        return streak_rules.local_day(now_ms, self.timezone, self.day_start_hour)

    def goal_on(self, day: date) -> int:
        """The goal (min) that local ``day`` is judged by (:func:`goal_min_for_day`)."""
        return goal_min_for_day(day, self.daily_goal_min, self.daily_goal_prev_min,
                                self.daily_goal_changed_at, self.timezone, self.day_start_hour)

    def goal_today(self, now_ms: int) -> int:
        """The goal (min) in force on the local day of ``now_ms``."""
        return self.goal_on(self.today(now_ms))

    def pending_goal(self, now_ms: int) -> tuple[int, date] | None:
        """``(goal_min, first_day)`` of a set goal that does not apply yet at ``now_ms``
        (it starts on the local day ``first_day``), else None."""
        if self.daily_goal_changed_at is None or self.goal_today(now_ms) == self.daily_goal_min:
            return None
        changed_on = self.today(epoch_ms(self.daily_goal_changed_at))
        return self.daily_goal_min, changed_on + timedelta(days=1)


class UsernameTaken(Exception):
    """Another account already has this username."""


class UserRepo:
    """Reads and writes users through one pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_guest(self, display_name: str) -> User:
        row = await self._pool.fetchrow(INSERT_GUEST, uuid.uuid4(), display_name)
        return User(**dict(row))

    async def get(self, user_id: uuid.UUID) -> User | None:
        row = await self._pool.fetchrow(SELECT_USER, user_id)
        return User(**dict(row)) if row else None

    async def get_account(self, user_id: uuid.UUID) -> Account | None:
        row = await self._pool.fetchrow(SELECT_ACCOUNT, user_id)
        return Account(**dict(row)) if row else None

    async def create_account(self, username: str, display_name: str, password_hash: str,
                             timezone: str) -> Account:
        """A new full account; raises UsernameTaken."""
        try:
            row = await self._pool.fetchrow(INSERT_ACCOUNT, uuid.uuid4(), username,
                                            display_name, password_hash, timezone)
        except asyncpg.UniqueViolationError:
            raise UsernameTaken(username) from None
        return Account(**dict(row))

    async def upgrade_guest(self, user_id: uuid.UUID, username: str,
                            display_name: str | None, password_hash: str,
                            timezone: str) -> Account | None:
        """Turn guest ``user_id`` into a full account, keeping its id (and so its progress)
        and, when ``display_name`` is None, its display name. None when no such guest
        exists (unknown id or already registered); raises UsernameTaken."""
        try:
            row = await self._pool.fetchrow(UPGRADE_GUEST, user_id, username, display_name,
                                            password_hash, timezone)
        except asyncpg.UniqueViolationError:
            raise UsernameTaken(username) from None
        return Account(**dict(row)) if row else None

    async def credentials(self, username: str) -> tuple[Account, str] | None:
        """The account and its password hash for a lowercased username, if it exists."""
        row = await self._pool.fetchrow(SELECT_CREDENTIALS, username)
        if row is None:
            return None
        fields = dict(row)
        password_hash = fields.pop("password_hash")
        return Account(**fields), password_hash

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        """Replace the stored hash (a rehash with current parameters after a login)."""
        await self._pool.execute(UPDATE_PASSWORD_HASH, user_id, password_hash)

    async def get_profile(self, user_id: uuid.UUID) -> Profile | None:
        """The user's account fields and settings, None if there is no such user."""
        row = await self._pool.fetchrow(SELECT_PROFILE, user_id)
        return Profile(**dict(row)) if row else None

    async def update_settings(self, user_id: uuid.UUID, now_ms: int, *,
                              display_name: str | None = None, timezone: str | None = None,
                              day_start_hour: int | None = None,
                              daily_goal_min: int | None = None,
                              paper_mode: bool | None = None) -> Profile | None:
        """Change the given settings (None: keep) at epoch instant ``now_ms``; the updated
        profile, or None if there is no such user. Values arrive validated (the HTTP body
        model); the table's CHECKs refuse anything else (asyncpg errors).

        A new ``daily_goal_min`` applies from the next local day (judged in the settings
        before this change): the goal in force today is kept as the previous goal with
        ``now_ms`` as the change instant, so today keeps it; setting the goal back to the
        one in force today cancels a pending change. Zone and day start are stored as
        given: the streak re-expresses itself at its next count (``progress_repo``)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(SELECT_PROFILE_FOR_UPDATE, user_id)
            if row is None:
                return None
            old = Profile(**dict(row))
            prev, changed_at = old.daily_goal_prev_min, old.daily_goal_changed_at
            if daily_goal_min is not None and daily_goal_min != old.daily_goal_min:
                in_force = old.goal_today(now_ms)
                if daily_goal_min == in_force:
                    prev, changed_at = None, None
                else:
                    prev, changed_at = in_force, _EPOCH + timedelta(milliseconds=now_ms)
            new = await conn.fetchrow(
                UPDATE_SETTINGS, user_id,
                old.display_name if display_name is None else display_name,
                old.timezone if timezone is None else timezone,
                old.day_start_hour if day_start_hour is None else day_start_hour,
                old.daily_goal_min if daily_goal_min is None else daily_goal_min,
                old.paper_mode if paper_mode is None else paper_mode, prev, changed_at)
        return Profile(**dict(new))
