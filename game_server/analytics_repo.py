"""Read-only SQL of the session analytics and the leaderboards (``api_stats``): every figure
is computed by Postgres over ``focus_sessions``, ``interruptions``, ``progress`` and
``boss_contributions`` (written by ``progress_repo`` and ``interruption_repo``); nothing
here writes.

Clock: every function takes ``now`` (the handler passes the wall clock), so results are a
pure function of the data and ``now``.

Window (``range``): ``7d``/``30d`` are the last 7/30 local days of the user, today
included: from ``day_start_hour`` of the local day ``today - (N - 1)`` in the user's IANA
zone up to ``now``; ``all`` has no lower bound. The local day of an instant ``t`` is
``((t AT TIME ZONE tz) - day_start_hour h)::date`` (as in ``rooms.rules.streaks``). A
session or an interruption belongs to the window of its ``started_at`` (``lo <= started_at
< now``). A zone Postgres does not know is read as UTC.

Attribution (productive hours, weekly pattern, peak distraction time, profile peaks):
time is split where it fell. Each span is cut into the 15-minute UTC slices it overlaps;
every local hour boundary of every real zone (offsets and DST shifts are multiples of
15 min) falls on such a slice boundary, so each slice lies in one local hour and one local
day, DST days included. A session credits ``focused_s * overlap / (ended_at - started_at)``
to each slice (all of it to the slice of ``started_at`` if it lasted 0 s); lost time
credits the overlap itself. Counts and averages (sessions, focus score) go to the local day
of the session's start. Hours are local clock hours (0..23); weekdays are ISO (1 = Monday)
of the local day, so with ``day_start_hour`` 4 a session at 01:00 on a Tuesday counts for
Monday.

Lost time is the union of the interruption intervals (``range_agg``), so an automatic and a
self-reported interruption over the same minutes count once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

RANGE_DAYS: dict[str, int | None] = {"7d": 7, "30d": 30, "all": None}

SELECT_WINDOW = """
SELECT COALESCE($4::text, u.timezone) AS tz, u.day_start_hour AS dsh,
       $2::timestamptz AT TIME ZONE COALESCE($4::text, u.timezone) AS local_now,  -- checks tz
       CASE WHEN $3::int IS NULL THEN NULL ELSE
           ((((($2::timestamptz AT TIME ZONE COALESCE($4::text, u.timezone))
                - make_interval(hours => u.day_start_hour))::date - ($3::int - 1))
             + make_interval(hours => u.day_start_hour))
            AT TIME ZONE COALESCE($4::text, u.timezone)) END AS lo
FROM users u WHERE u.id = $1"""

# Shared CTEs; parameters of every query below: $1 user, $2 tz, $3 day_start_hour,
# $4 lo (NULL: no lower bound), $5 hi (now).
BASE = """
WITH p AS (SELECT $2::text AS tz, $3::int AS dsh,
                  COALESCE($4::timestamptz, '-infinity') AS lo, $5::timestamptz AS hi),
fs AS (SELECT f.started_at AS s, f.ended_at AS e, f.focused_s, f.focus_score, f.completed,
              f.planned_s
       FROM focus_sessions f, p
       WHERE f.user_id = $1 AND f.started_at >= p.lo AND f.started_at < p.hi),
i AS (SELECT n.kind, n.source, n.started_at AS s, n.ended_at AS e
      FROM interruptions n, p
      WHERE n.user_id = $1 AND n.started_at >= p.lo AND n.started_at < p.hi),
lost AS (SELECT lower(r) AS s, upper(r) AS e
         FROM unnest((SELECT range_agg(tstzrange(s, e)) FROM i)) AS r)"""
GRID = BASE + """,
spans AS (SELECT 'focus' AS what, s, e, focused_s::float8 AS total FROM fs
          UNION ALL
          SELECT 'lost', s, e, extract(epoch FROM e - s)::float8 FROM lost),
slices AS (
    SELECT sp.what, t,
           CASE WHEN sp.e > sp.s THEN sp.total
                    * extract(epoch FROM least(sp.e, t + interval '15 min') - greatest(sp.s, t))
                    / extract(epoch FROM sp.e - sp.s)
                ELSE sp.total END::float8 AS secs
    FROM spans sp,
         generate_series(date_trunc('hour', sp.s AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', sp.e,
                         interval '15 min') AS t
    WHERE (sp.e > sp.s AND t < sp.e AND t + interval '15 min' > sp.s)
       OR (sp.e = sp.s AND sp.s >= t AND sp.s < t + interval '15 min')),
cells AS (
    SELECT extract(isodow FROM (t AT TIME ZONE p.tz) - make_interval(hours => p.dsh))::int
               AS dow,
           extract(hour FROM t AT TIME ZONE p.tz)::int AS hour,
           COALESCE(sum(secs) FILTER (WHERE what = 'focus'), 0) AS focused_s,
           COALESCE(sum(secs) FILTER (WHERE what = 'lost'), 0) AS lost_s
    FROM slices, p GROUP BY 1, 2)"""

SUMMARY = BASE + """,
x AS (SELECT (SELECT count(*) FROM fs) AS sessions,
             (SELECT count(*) FROM i) AS interruptions,
             (SELECT COALESCE(sum(extract(epoch FROM e - s)), 0) FROM fs)::float8 AS worked_s,
             (SELECT COALESCE(sum(extract(epoch FROM e - s)), 0) FROM lost)::float8 AS lost_s,
             (SELECT avg(extract(epoch FROM e - s)) FROM i)::float8 AS avg_interruption_s,
             (SELECT COALESCE(sum(focused_s), 0) FROM fs)::float8 AS focused_s,
             (SELECT avg(focus_score) FROM fs)::float8 AS avg_focus_score)
SELECT x.*, greatest(worked_s - lost_s, 0) AS effective_s,
       CASE WHEN worked_s > 0 THEN interruptions * 3600.0 / worked_s END::float8
           AS interruptions_per_hour
FROM x"""

INTERRUPTION_TYPES = BASE + """,
k AS (SELECT kind, source, count(*) AS count,
             (SELECT COALESCE(sum(extract(epoch FROM upper(r) - lower(r))), 0)
              FROM unnest(range_agg(tstzrange(s, e))) AS r)::float8 AS seconds
      FROM i GROUP BY kind, source)
SELECT kind, source, count, seconds,
       COALESCE(seconds / NULLIF(sum(seconds) OVER (), 0), 0)::float8 AS share
FROM k ORDER BY seconds DESC, kind, source"""

PRODUCTIVE_HOURS = GRID + """
SELECT h AS hour, COALESCE(sum(c.focused_s), 0)::float8 AS focused_s,
       COALESCE(sum(c.lost_s), 0)::float8 AS lost_s
FROM generate_series(0, 23) AS h LEFT JOIN cells c ON c.hour = h
GROUP BY h ORDER BY h"""

# GROUPING(dow, hour): 0 for a (weekday, hour) cell, 1 for a weekday, 2 for an hour.
PEAK_DISTRACTION = GRID + """,
g AS (SELECT GROUPING(dow, hour) AS level, dow, hour, sum(lost_s) AS lost_s FROM cells
      GROUP BY GROUPING SETS ((dow, hour), (dow), (hour)))
SELECT DISTINCT ON (level) level, dow, hour, lost_s::float8 AS lost_s FROM g
WHERE lost_s > 0.0005 ORDER BY level, round(lost_s::numeric, 3) DESC, dow, hour"""

WEEKLY_PATTERN = GRID + """,
starts AS (SELECT extract(isodow FROM (fs.s AT TIME ZONE p.tz)
                          - make_interval(hours => p.dsh))::int AS dow,
                  count(*) AS sessions, avg(focus_score)::float8 AS avg_focus_score
           FROM fs, p GROUP BY 1),
days AS (SELECT dow, sum(focused_s) AS focused_s, sum(lost_s) AS lost_s
         FROM cells GROUP BY dow)
SELECT d AS weekday, COALESCE(st.sessions, 0) AS sessions,
       COALESCE(days.focused_s, 0)::float8 AS focused_s,
       COALESCE(days.lost_s, 0)::float8 AS lost_s, st.avg_focus_score
FROM generate_series(1, 7) AS d LEFT JOIN starts st ON st.dow = d
     LEFT JOIN days ON days.dow = d
ORDER BY d"""

PROFILE = BASE + """
SELECT count(*) AS sessions, avg(extract(epoch FROM e - s))::float8 AS avg_session_s,
       avg(completed::int)::float8 AS completion_ratio,
       COALESCE(sum(planned_s), 0)::float8 AS planned_s,
       COALESCE(sum(extract(epoch FROM e - s)), 0)::float8 AS actual_s,
       (sum(extract(epoch FROM e - s)) / NULLIF(sum(planned_s), 0))::float8 AS actual_ratio
FROM fs"""

# level 1: a weekday (hour rolled up), 2: an hour; the 3 with most focused time of each.
PROFILE_PEAKS = GRID + """,
g AS (SELECT GROUPING(dow, hour) AS level, dow, hour, sum(focused_s) AS focused_s FROM cells
      GROUP BY GROUPING SETS ((dow), (hour))),
r AS (SELECT g.*, row_number() OVER (PARTITION BY level
                                     ORDER BY round(focused_s::numeric, 3) DESC, dow, hour) AS n
      FROM g WHERE focused_s > 0.0005)
SELECT level, dow, hour, focused_s::float8 AS focused_s FROM r WHERE n <= 3 ORDER BY level, n"""

# Leaderboards: $1 room (NULL: global), $2 since (NULL: all time), $3 caller, $4 limit.
# Sessions and kill bonuses count in the period they were awarded (ended_at, killed_at).
SESSION_FILTER = """($1::uuid IS NULL OR room_id = $1) AND
                    ($2::timestamptz IS NULL OR ended_at >= $2)"""
LEADER_VALUES = {
    "sessions": f"""SELECT user_id, count(*) AS value FROM focus_sessions
                    WHERE {SESSION_FILTER} GROUP BY user_id""",
    "focus_time": f"""SELECT user_id, sum(focused_s) AS value FROM focus_sessions
                      WHERE {SESSION_FILTER} GROUP BY user_id""",
    "xp": f"""SELECT user_id, sum(xp) AS value FROM (
                  SELECT user_id, xp FROM focus_sessions WHERE {SESSION_FILTER}
                  UNION ALL
                  SELECT user_id, xp_bonus FROM boss_contributions
                  WHERE ($1::uuid IS NULL OR room_id = $1)
                    AND ($2::timestamptz IS NULL OR killed_at >= $2)) AS earned
              GROUP BY user_id""",
    "xp_total": """SELECT user_id, xp AS value FROM progress
                   WHERE $1::uuid IS NULL AND $2::timestamptz IS NULL""",
}
LEADERBOARD = """
WITH v AS ({values}),
ranked AS (SELECT v.user_id, u.display_name, v.value::bigint AS value,
                  rank() OVER (ORDER BY v.value DESC) AS rank,
                  row_number() OVER (ORDER BY v.value DESC, u.display_name, v.user_id) AS n
           FROM v JOIN users u ON u.id = v.user_id WHERE v.value > 0)
SELECT rank, n, user_id, display_name, value FROM ranked WHERE n <= $4 OR user_id = $3
ORDER BY n"""
ROOM_EXISTS = "SELECT EXISTS (SELECT 1 FROM rooms WHERE id = $1)"


class UnknownUser(Exception):
    """The caller has no users row (deleted)."""


class UnknownRoom(Exception):
    """A room-scoped leaderboard names no room."""


@dataclass(frozen=True, slots=True)
class Window:
    """The analysed span: ``[lo, hi)`` (``lo`` None: unbounded), the zone it was read in."""

    range: str
    timezone: str
    day_start_hour: int
    lo: datetime | None
    hi: datetime


@dataclass(frozen=True, slots=True)
class Peak:
    """A peak: ``weekday`` ISO 1..7 and/or ``hour`` 0..23 (None when rolled up), seconds."""

    weekday: int | None
    hour: int | None
    seconds: float


@dataclass(frozen=True, slots=True)
class LeaderRow:
    rank: int
    user_id: uuid.UUID
    display_name: str
    value: int


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """Ranked ``rows`` (at most ``limit``), the caller's row or None, the period start."""

    rows: list[LeaderRow]
    me: LeaderRow | None
    since: datetime | None


def iso_week_start_utc(now: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week (in UTC) holding ``now``: the leaderboards' week."""
    day = now.astimezone(UTC).date() - timedelta(days=now.astimezone(UTC).weekday())
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class AnalyticsRepo:
    """Read-only analytics and leaderboards through one pool (see the module docstring for
    the window and attribution rules). Methods raise UnknownUser for a caller without a
    users row and asyncpg errors otherwise."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def window(self, user_id: uuid.UUID, range_: str, now: datetime) -> Window:
        """The user's window for ``range_`` (a key of RANGE_DAYS) ending at ``now``."""
        days = RANGE_DAYS[range_]
        try:
            row = await self._pool.fetchrow(SELECT_WINDOW, user_id, now, days, None)
        except asyncpg.InvalidParameterValueError:  # a zone Postgres does not know
            row = await self._pool.fetchrow(SELECT_WINDOW, user_id, now, days, "UTC")
        if row is None:
            raise UnknownUser(str(user_id))
        return Window(range_, row["tz"], row["dsh"], row["lo"], now)

    async def _fetch(self, sql: str, user_id: uuid.UUID, w: Window) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._pool.fetch(
            sql, user_id, w.timezone, w.day_start_hour, w.lo, w.hi)
        return rows

    async def summary(self, user_id: uuid.UUID, w: Window) -> dict[str, Any]:
        """Keys: sessions, interruptions (count), worked_s (sum of ended_at - started_at),
        lost_s (union of interruption intervals), effective_s = max(worked_s - lost_s, 0),
        avg_interruption_s (mean single duration; None without interruptions),
        interruptions_per_hour = interruptions / (worked_s / 3600) (None at 0 s worked),
        focused_s (sum), avg_focus_score (mean 0..100; None without sessions)."""
        (row,) = await self._fetch(SUMMARY, user_id, w)
        return dict(row)

    async def interruption_types(self, user_id: uuid.UUID, w: Window) -> list[dict[str, Any]]:
        """Per (kind, source), most seconds first: count, seconds (union of that kind's
        intervals), share = seconds / sum of every kind's seconds (0..1; the shares sum to 1
        unless there is no time at all)."""
        return [dict(r) for r in await self._fetch(INTERRUPTION_TYPES, user_id, w)]

    async def productive_hours(self, user_id: uuid.UUID, w: Window) -> list[dict[str, Any]]:
        """24 rows, local hours 0..23: focused_s and lost_s split over the hours."""
        return [dict(r) for r in await self._fetch(PRODUCTIVE_HOURS, user_id, w)]

    async def peak_distraction(self, user_id: uuid.UUID, w: Window
                               ) -> tuple[Peak | None, Peak | None, Peak | None]:
        """(the (weekday, hour) cell, the hour of day, the weekday) with the most lost time;
        None each when no time was lost. Ties go to the earliest weekday, then hour."""
        found: dict[int, Peak] = {
            r["level"]: Peak(r["dow"], r["hour"], r["lost_s"])
            for r in await self._fetch(PEAK_DISTRACTION, user_id, w)}
        return found.get(0), found.get(2), found.get(1)

    async def weekly_pattern(self, user_id: uuid.UUID, w: Window) -> list[dict[str, Any]]:
        """7 rows, ISO weekday 1 (Monday)..7 of the local day: sessions (by start),
        focused_s and lost_s (split where they fell), avg_focus_score (None: no session)."""
        return [dict(r) for r in await self._fetch(WEEKLY_PATTERN, user_id, w)]

    async def profile(self, user_id: uuid.UUID, w: Window
                      ) -> tuple[dict[str, Any], list[Peak], list[Peak]]:
        """(figures, peak hours, peak weekdays). Figures: sessions, avg_session_s (mean of
        ended_at - started_at), completion_ratio (completed / sessions), planned_s (sum of
        planned_s), actual_s (sum of ended_at - started_at), actual_ratio = actual_s /
        planned_s; the ratios and the mean are None without sessions. Peaks: the 3 local
        hours and the 3 weekdays with the most focused time (``seconds``), most first."""
        (row,) = await self._fetch(PROFILE, user_id, w)
        peaks = await self._fetch(PROFILE_PEAKS, user_id, w)
        hours = [Peak(None, r["hour"], r["focused_s"]) for r in peaks if r["level"] == 2]
        days = [Peak(r["dow"], None, r["focused_s"]) for r in peaks if r["level"] == 1]
        return dict(row), hours, days

    async def leaderboard(self, *, metric: str, room_id: uuid.UUID | None, weekly: bool,
                          me: uuid.UUID, limit: int, now: datetime) -> Leaderboard:
        """Users ranked by ``metric`` (most first; ``rank()``: ties share a rank and the next
        rank skips, 1, 1, 3; equal values are listed by display name). Values: ``sessions``
        (count), ``focus_time`` (sum of focused_s, s), ``xp`` (all time, global:
        progress.xp; otherwise focus_sessions.xp + boss_contributions.xp_bonus of the
        period and room). The week is the ISO week in UTC (``iso_week_start_utc``); a
        room scope counts only that room's sessions and kills. Users with value 0 are not
        ranked. Raises UnknownRoom for a room id with no room."""
        if room_id is not None and not await self._pool.fetchval(ROOM_EXISTS, room_id):
            raise UnknownRoom(str(room_id))
        since = iso_week_start_utc(now) if weekly else None
        key = "xp_total" if metric == "xp" and room_id is None and since is None else metric
        records = await self._pool.fetch(LEADERBOARD.format(values=LEADER_VALUES[key]),
                                         room_id, since, me, limit)
        rows = [LeaderRow(r["rank"], r["user_id"], r["display_name"], r["value"])
                for r in records]
        mine = next((r for r in rows if r.user_id == me), None)
        return Leaderboard([r for r, rec in zip(rows, records, strict=True) if rec["n"] <= limit],
                           mine, since)
