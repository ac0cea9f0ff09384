"""Room command handlers of StudyNamespace: the shared timer (room owner only), chat and
self-reported interruptions (members only)."""

from __future__ import annotations

from typing import Any, Literal

from game_server.realtime_base import CommandError, Connection, NamespaceBase, ok, sio_room
from game_server.room_service import ChatRejected
from game_server.schemas import ChatSend, Empty, InterruptionLog, TimerStart
from rooms.rules.timer import MS_PER_MINUTE, TimerError, TimerPlan

CLOCK_SKEW_MS = 5_000
"""Slack for a client clock ahead of the server's when checking an interruption's span."""


class GameMixin(NamespaceBase):
    """Timer, chat and interruption commands of a room's members."""

    # -- timer (room owner only) -----------------------------------------------------------
    async def on_timer_start(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def run(conn: Connection, p: TimerStart) -> dict[str, Any]:
            choices = self.settings.timer_focus_choices_min
            if choices and p.focus_min not in choices:
                raise CommandError("bad_request", "focus_min must be one of "
                                   + ", ".join(f"{c:g}" for c in choices))
            focus, short, long_ = (round(m * MS_PER_MINUTE) for m in
                                   (p.focus_min, p.break_min, p.long_break_min))
            try:
                plan = TimerPlan(focus, short, long_, p.cycles)
            except TimerError as exc:
                raise CommandError(exc.code, str(exc)) from None
            room_id = self._room_of(conn)
            timer = await self.game.timer_command(room_id, conn.user_id, "start", plan)
            self.replay.poke(room_id)  # waiting ghosts start with the phase
            return ok(timer=timer)
        return await self._command(sid, data, TimerStart, run)

    async def on_timer_pause(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._timer(sid, data, "pause")

    async def on_timer_resume(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._timer(sid, data, "resume")

    async def on_timer_skip(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._timer(sid, data, "skip")

    async def on_timer_stop(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._timer(sid, data, "stop")

    async def _timer(self, sid: str, data: Any,
                     action: Literal["pause", "resume", "skip", "stop"]) -> dict[str, Any]:
        async def run(conn: Connection, p: Empty) -> dict[str, Any]:
            room_id = self._room_of(conn)
            timer = await self.game.timer_command(room_id, conn.user_id, action)
            self.replay.poke(room_id)  # ghosts hold or leave at once
            return ok(timer=timer)
        return await self._command(sid, data, Empty, run)

    # -- chat (members only) ----------------------------------------------------------------
    async def on_chat_send(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``chat_send {text}`` -> ack ``{ok, message}``; the room (but the sender's socket)
        gets ``chat_message {id, user_id, display_name, text, sent_ms}``. Members only
        (``forbidden`` for spectators and sockets outside a room); ``bad_request`` for an
        empty, too long or control-character text; ``rate_limited`` past
        ``chat_per_user_per_10s`` messages per user per 10 s window."""
        async def run(conn: Connection, p: ChatSend) -> dict[str, Any]:
            room_id = conn.room_id
            if room_id is None or conn.slot is None:
                raise CommandError("forbidden", "only a room's members can chat")
            s = self.settings
            try:
                message = await self.rooms.send_chat(
                    room_id, conn.user_id, p.text, max_chars=s.chat_max_chars,
                    per_10s=s.chat_per_user_per_10s)
            except ChatRejected as exc:
                raise CommandError(exc.code, str(exc)) from None
            payload = message.wire()
            await self.emit("chat_message", payload, room=sio_room(room_id), skip_sid=conn.sid)
            return ok(message=payload)
        return await self._command(sid, data, ChatSend, run)

    # -- self-reported interruptions (members only) --------------------------------------
    async def on_interruption_log(self, sid: str, data: Any = None) -> dict[str, Any]:
        """``interruption_log {type, description?, started_ms, ended_ms}`` -> ack
        ``{ok, interruption: {id, type, description, started_ms, ended_ms, duration_s,
        session_id}}``. The span must lie in the member's focus phase: the running one (up
        to now, plus ``CLOCK_SKEW_MS`` for the client's clock) or, during a break, the one
        just before it. Errors: ``forbidden`` (not a member), ``conflict`` (no focus phase
        to log against), ``bad_request`` (type, order, span outside the phase)."""
        async def run(conn: Connection, p: InterruptionLog) -> dict[str, Any]:
            room_id = conn.room_id
            if room_id is None or conn.slot is None:
                raise CommandError("forbidden", "only a room's members log interruptions")
            window = await self.game.focus_window(room_id)
            if window is None:
                raise CommandError("conflict", "no focus phase to log an interruption in")
            start, end = window
            if p.started_ms < start - CLOCK_SKEW_MS or p.ended_ms > end + CLOCK_SKEW_MS:
                raise CommandError("bad_request", "the interruption must lie within the focus "
                                   f"phase ({start}..{end} ms)")
            logged = await self.interruptions.repo.log_self_reported(
                user_id=conn.user_id, room_id=room_id, kind=p.type,
                description=p.description, started_ms=max(p.started_ms, start),
                ended_ms=min(p.ended_ms, end))
            return ok(interruption=logged.to_wire())
        return await self._command(sid, data, InterruptionLog, run)
