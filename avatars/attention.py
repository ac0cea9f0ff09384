"""Per-member attention classifier (DESIGN.md section 5): 72-byte frames in, attention out.

Pure: no I/O, no wall clock, no randomness; every call takes the server's receive time in ms,
and an earlier time than one already seen counts as that latest time (never raises).

Raw condition: each frame sets one, held until the next frame, by priority: no face (face
bit 0, or a frozen feed) > eyes closed > looking away (yaw beyond the neutral +- limit, or
gaze) > head down (not in paper mode) > focused; frames without the pose bit skip both pose
checks. Gaze rule: away when both eyes agree on a side or up, i.e. eyeLookOutLeft and
eyeLookInRight, or eyeLookInLeft and eyeLookOutRight, or eyeLookUpLeft and eyeLookUpRight,
both > ``gaze_away``; looking down is reading, never away. A closure (both eyeBlink >
``eyes_closed_threshold``) keeps the previous condition until it outlasts ``blink_max_ms`` (so
a blink resets no timer), then counts as eyes closed from its first frame. No frame for
``no_face_after_ms`` counts as no face from the last frame (cause "no_frames").

Published state: from focused, a condition publishes once it has held for its threshold, at
that exact ms (head down publishes "looking_away", cause "head_down"), and starts an
off-focus stretch at the condition's start. Within a stretch other conditions publish the
same way; ``distracted_after_ms`` after its start it is "distracted"; it ends only with
``recover_after_ms`` of focus ("recovered", confirmed by a frame at or after that ms), so
shorter focus does not reset it. A distracted stretch yields an :class:`Interruption` when it
ends: started = stretch start, ended = start of the recovering focus (or ``close``), kind =
the one that dominated it (most ms; a tie goes to the kind that started it), so a glance that
turns into leaving the desk reads "no_face". Events apply in time order: for non-decreasing
times, how often ``poll`` runs changes no outcome.
"""

from __future__ import annotations

import statistics
import struct
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from avatars.blendshapes import SHAPE_INDEX

Attention: TypeAlias = Literal[
    "focused", "looking_away", "eyes_closed", "no_face", "distracted", "idle"
]
InterruptionKind: TypeAlias = Literal["looked_away", "eyes_closed", "no_face"]


@dataclass(frozen=True, slots=True)
class AttentionConfig:
    """Attention thresholds (DESIGN.md section 5); times in ms, angles in degrees, scores are
    blend-shape scores 0..1 (compared as wire bytes: ``byte / 255 > score``). Sources: Euro
    NCAP driver-state monitoring (a glance away >= 3 s is distraction), NHTSA visual-manual
    guidelines (glances up to 2 s are normal driving), Convex's 15 s guard; blink duration
    100..400 ms is the textbook figure; the other values are engineering choices stated here.
    Raises ValueError for a negative value, a score above 1 or blink_min_ms > blink_max_ms."""

    calibration_ms: int = 3000  # neutral yaw/pitch: median over the first 3 s of pose frames
    yaw_away_deg: float = 30.0  # |yaw - neutral| beyond -> looking away (DESIGN)
    gaze_away: float = 0.6  # gaze rule (module doc) beyond -> looking away (DESIGN)
    pitch_down_deg: float = 20.0  # pitch - neutral beyond -> head down (DESIGN)
    away_after_ms: int = 3000  # looking away published after 3 s (Euro NCAP; NHTSA 2 s)
    head_down_after_ms: int = 5000  # head down published after 5 s, not in paper mode
    eyes_closed_threshold: float = 0.6  # both eyeBlink beyond -> eyes closed (DESIGN)
    eyes_closed_after_ms: int = 1500  # eyes closed published after 1.5 s (DESIGN)
    no_face_after_ms: int = 5000  # face-absent frames, or no frames at all (DESIGN)
    distracted_after_ms: int = 15000  # an off-focus stretch this long -> distracted (Convex)
    recover_after_ms: int = 2000  # focus that ends a stretch (hysteresis, DESIGN)
    blink_threshold: float = 0.5  # a blink: both eyeBlink beyond, from the first such frame
    blink_min_ms: int = 50  # to the first frame without (any frame), lasting 50..500 ms:
    blink_max_ms: int = 500  # shorter is tracker noise, longer a closure (blinks 100..400)
    blink_window_ms: int = 60000  # blink rate per minute over the last 60 s
    load_threshold: float = 0.35  # both browDown beyond (a frown: mental effort) ...
    load_after_ms: int = 3000  # ... for 3 s: the whole stretch counts as cognitive load
    frozen_after_ms: int = 10000  # identical pose + shape bytes this long -> frozen feed
    max_plausible_fps: float = 75.0  # more frames in a 1 s window (clients send 30) -> flag

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value < 0 or (name in _SCORES and value > 1):
                raise ValueError(f"AttentionConfig.{name} = {value!r} out of range")
        if self.blink_min_ms > self.blink_max_ms:
            raise ValueError("AttentionConfig.blink_min_ms > blink_max_ms")


_SCORES: Final = ("gaze_away", "eyes_closed_threshold", "blink_threshold", "load_threshold")


@dataclass(frozen=True, slots=True)
class AttentionChange:
    """The published state changed to ``attention`` at ``since_ms`` (the exact crossing ms,
    which may precede the call's ``now_ms``) from ``previous``. ``cause``: "first_face",
    "looking_away", "head_down", "eyes_closed", "no_face", "no_frames", "frozen" or
    "recovered" (for "distracted": the cause of the stretch's latest published state)."""

    attention: Attention
    since_ms: int
    previous: Attention
    cause: str


@dataclass(frozen=True, slots=True)
class Interruption:
    """A finished distracted stretch: off focus from ``started_ms`` (the condition's start,
    not the moment it became distracted) to ``ended_ms``; ``kind`` as in the module doc."""

    kind: InterruptionKind
    started_ms: int
    ended_ms: int


@dataclass(frozen=True, slots=True)
class AttentionStats:
    """Counters at ``now_ms``: blinks (total), blink rate per minute over the last window (or
    since the first face, if shorter), load_ms (total cognitive-load ms; an open stretch up to
    the last frame), frozen (feed frozen now), implausible (sticky: some 1 s window had too
    many frames), focused_ms / off_ms (ms published focused / anything else, incl. idle, since
    creation) and frames (total observed)."""

    blinks: int
    blink_rate_per_min: float
    load_ms: int
    frozen: bool
    implausible: bool
    focused_ms: int
    off_ms: int
    frames: int


_F, _HD, _LA, _EC, _NF, _HOLD = 0, 1, 2, 3, 4, -1  # raw conditions, by priority
_PUBLISHED: Final[tuple[Attention, ...]] = (
    "focused", "looking_away", "looking_away", "eyes_closed", "no_face"
)  # fmt: skip
_GROUP: Final = (0, 0, 0, 1, 2)  # raw condition -> index in _KINDS
_KINDS: Final[tuple[InterruptionKind, ...]] = ("looked_away", "eyes_closed", "no_face")
_NEVER: Final = 1 << 62
_NO_STILL: Final = bytes(73)  # longer than a frame: matches no frame's tail
_unpack_pose: Final = struct.Struct("<hh").unpack_from  # yaw, pitch centidegrees
_POSE_AT, _SHAPES_AT = 8, 21


def _at(name: str) -> int:
    return _SHAPES_AT + SHAPE_INDEX[name]


_BROW_L, _BROW_R = _at("browDownLeft"), _at("browDownRight")
_BLINK_L, _BLINK_R = _at("eyeBlinkLeft"), _at("eyeBlinkRight")
_IN_L, _IN_R = _at("eyeLookInLeft"), _at("eyeLookInRight")
_OUT_L, _OUT_R = _at("eyeLookOutLeft"), _at("eyeLookOutRight")
_UP_L, _UP_R = _at("eyeLookUpLeft"), _at("eyeLookUpRight")


def _byte_threshold(score: float) -> int:
    """The largest wire byte b with b / 255 <= score, so ``byte > result`` means score >."""
    return sum(1 for b in range(256) if b / 255.0 <= score) - 1


class AttentionTracker:
    """One member's attention state; feed it every validated frame (:meth:`observe`) and
    call :meth:`poll` ~4 Hz. A small mutable object with ``__slots__`` rather than the frozen
    dataclasses of the game rules: it runs once per inbound frame (~30/s per member, thousands
    of members per core), where allocating a new state per frame would cost more than the
    classification. ``attention`` / ``since_ms`` are the published state; ``paper_mode`` may
    be set at any time (takes effect from the next frame). Never raises on a 72-byte frame."""

    __slots__ = (
        "attention", "since_ms", "paper_mode", "_c", "_yaw_lo", "_yaw_hi", "_pitch_hi", "_gaze",
        "_ec", "_blink", "_load", "_thr", "_now", "_last_frame", "_next_ms", "_raw",
        "_raw_since", "_raw_at", "_raw_cause", "_cause", "_stretch", "_kind0", "_acc",
        "_acc_from", "_done", "_cal_start", "_cal", "_nyaw", "_npitch", "_calibrated",
        "_still", "_still_tail", "_still_since", "_closed_since", "_blink_since",
        "_blink_ends", "_blinks", "_load_since", "_load_ms", "_rate_start",
        "_implausible", "_frames", "_first_face", "_focused_ms", "_off_ms", "_nf_after",
        "_frozen_after", "_blink_max", "_rate_limit", "_rate_first",
    )  # fmt: skip

    def __init__(self, config: AttentionConfig, *, paper_mode: bool = False, now_ms: int) -> None:
        c = self._c = config
        self.attention: Attention = "idle"
        self.since_ms = self._now = self._last_frame = self._rate_start = now_ms
        self.paper_mode = paper_mode
        self._nf_after, self._frozen_after = c.no_face_after_ms, c.frozen_after_ms
        self._blink_max, self._rate_limit = c.blink_max_ms, c.max_plausible_fps - 1.0
        self._rate_first = 1
        self._set_neutral(0.0, 0.0)
        self._gaze = _byte_threshold(c.gaze_away)  # scores as wire bytes: `byte > threshold`
        self._ec = _byte_threshold(c.eyes_closed_threshold)
        self._blink = _byte_threshold(c.blink_threshold)
        self._load = _byte_threshold(c.load_threshold)
        after = (c.head_down_after_ms, c.away_after_ms, c.eyes_closed_after_ms, c.no_face_after_ms)
        self._thr = (0, *after)  # publish threshold per raw condition
        self._next_ms, self._raw, self._raw_since, self._raw_at = _NEVER, _F, now_ms, now_ms
        self._raw_cause = self._cause = "first_face"
        self._stretch, self._kind0, self._acc, self._acc_from = -1, 0, [0, 0, 0], now_ms
        self._done: list[Interruption] = []
        self._cal: tuple[list[int], list[int]] = ([], [])
        self._cal_start, self._calibrated = -1, False
        self._still, self._still_tail, self._still_since = _NO_STILL, _NO_STILL, -1
        self._closed_since = self._blink_since = self._load_since = self._first_face = -1
        self._blink_ends: list[int] = []  # a list: an empty deque costs ~600 B per member
        self._blinks = self._load_ms = self._frames = 0
        self._focused_ms = self._off_ms = 0
        self._implausible = False

    @property
    def calibrated(self) -> bool:
        """Whether the neutral head pose has been measured (until then it is 0/0)."""
        return self._calibrated

    @property
    def neutral_yaw_deg(self) -> float:
        """Neutral yaw in degrees (median of the calibration frames; 0 before)."""
        return self._nyaw / 100.0

    @property
    def neutral_pitch_deg(self) -> float:
        """Neutral pitch in degrees (> 0 = looking down; 0 before calibration)."""
        return self._npitch / 100.0

    def observe(self, frame: bytes, now_ms: int) -> AttentionChange | None:
        """Classify one validated 72-byte frame (``avatars.frame.check_frame``) received at
        ``now_ms`` (server ms). Returns the change of the published state this call made, or
        None; several changes in one call (after a long gap) collapse into one whose
        ``previous`` is the state before the call (None if it ends where it began)."""
        t = now_ms if now_ms > self._now else self._now
        self._now = t
        n = self._frames = self._frames + 1
        if t - self._rate_start >= 1000:  # a new 1 s window: frame n is its first
            self._rate_start, self._rate_first = t, n
        elif n - self._rate_first > self._rate_limit:
            self._implausible = True
        prev = self.attention
        if t >= self._next_ms or t - self._last_frame >= self._nf_after:
            self._advance(t, t)
        self._last_frame = t
        flags = frame[1]
        closed = False
        if flags & 5 == 5:  # face and blend shapes: blink and brow runs
            bl, br = frame[_BLINK_L], frame[_BLINK_R]
            if bl > self._blink and br > self._blink:
                if self._blink_since < 0:
                    self._blink_since = t
            elif self._blink_since >= 0:
                self._end_blink(t)
            closed = bl > self._ec and br > self._ec
            if frame[_BROW_L] > self._load and frame[_BROW_R] > self._load:
                if self._load_since < 0:
                    self._load_since = t
            elif self._load_since >= 0:
                self._end_load(t)
        elif self._blink_since >= 0 or self._load_since >= 0:
            self._end_runs(t)
        kind, since, cause = _F, t, "no_face"
        if not flags & 1:
            kind, self._still_tail, self._closed_since = _NF, _NO_STILL, -1
        elif (tail := frame[_SHAPES_AT:]) == self._still_tail and frame[8:20] == self._still[8:20]:
            if t - self._still_since >= self._frozen_after:
                kind, since, cause = _NF, self._still_since, "frozen"
        else:
            self._still, self._still_tail, self._still_since = frame, tail, t
        if kind == _F:
            if closed:
                if self._closed_since < 0:
                    self._closed_since = t
                if t - self._closed_since > self._blink_max:
                    kind, since, cause = _EC, self._closed_since, "eyes_closed"
                else:
                    kind = _HOLD
                if flags & 2 and not self._calibrated:
                    yaw, pitch = _unpack_pose(frame, _POSE_AT)
                    self._calibrate(yaw, pitch, t)
            else:
                if self._closed_since >= 0:
                    self._closed_since = -1
                if flags & 2:
                    yaw, pitch = _unpack_pose(frame, _POSE_AT)
                    if not self._calibrated:
                        self._calibrate(yaw, pitch, t)
                    if not self._yaw_lo <= yaw <= self._yaw_hi:
                        kind, cause = _LA, "looking_away"
                    elif pitch > self._pitch_hi and not self.paper_mode:
                        kind, cause = _HD, "head_down"
                g = self._gaze
                if kind != _LA and flags & 4 and (
                    (frame[_OUT_L] > g and frame[_IN_R] > g)
                    or (frame[_IN_L] > g and frame[_OUT_R] > g)
                    or (frame[_UP_L] > g and frame[_UP_R] > g)
                ):
                    kind, cause = _LA, "looking_away"
        if prev == "idle":
            if kind == _NF:
                return None
            self._raw, self._raw_since, self._raw_at = max(kind, _F), t, t
            self._raw_cause, self._first_face = cause, t
            self._publish("focused", t, "first_face")
            self._run(t, t)
        elif kind != self._raw and kind != _HOLD:
            self._set_raw(kind, since, t, cause)
            self._run(t, t)
        if self.attention == prev:
            return None
        return AttentionChange(self.attention, self.since_ms, prev, self._cause)

    def poll(self, now_ms: int) -> AttentionChange | None:
        """Advance timers to ``now_ms`` without a frame (call ~4 Hz): publishes thresholds
        crossed by the held condition, and no_face after ``no_face_after_ms`` without frames
        (a recovery waits for a frame). Returns the change, as :meth:`observe` does."""
        t = now_ms if now_ms > self._now else self._now
        self._now = t
        if t < self._next_ms and t - self._last_frame < self._nf_after:
            return None
        prev = self.attention
        self._advance(t, self._last_frame)
        if self.attention == prev:
            return None
        return AttentionChange(self.attention, self.since_ms, prev, self._cause)

    def take_interruptions(self) -> list[Interruption]:
        """Interruptions finished since the last call, oldest first (the list is drained)."""
        done, self._done = self._done, []
        return done

    def close(self, now_ms: int) -> list[Interruption]:
        """The member left at ``now_ms``: advance to it, end an open distracted stretch there
        (and an open brow stretch at the last frame), return every undrained interruption,
        oldest first, and go back to "idle"."""
        t = now_ms if now_ms > self._now else self._now
        self._now = t
        self._advance(t, self._last_frame)
        if self.attention == "distracted":
            self._end_stretch(t)
        self._stretch = -1
        self._publish("idle", t, "closed")
        if self._load_since >= 0:
            self._end_load(self._last_frame)
        self._closed_since = self._blink_since = -1
        self._next_ms = _NEVER
        return self.take_interruptions()

    def stats(self, now_ms: int) -> AttentionStats:
        """Counters as of ``now_ms`` (read-only: advances nothing; see AttentionStats)."""
        c, t = self._c, max(now_ms, self._now)
        recent = sum(1 for end in self._blink_ends if t - end < c.blink_window_ms)
        span = min(c.blink_window_ms, t - self._first_face) if self._first_face >= 0 else 0
        load = self._load_ms
        if self._load_since >= 0 and self._last_frame - self._load_since >= c.load_after_ms:
            load += self._last_frame - self._load_since
        spent = t - self.since_ms
        focused = self.attention == "focused"
        return AttentionStats(
            blinks=self._blinks,
            blink_rate_per_min=recent * 60000.0 / span if span > 0 else 0.0,
            load_ms=load,
            frozen=self._still_tail is not _NO_STILL
            and self._last_frame - self._still_since >= c.frozen_after_ms,
            implausible=self._implausible,
            focused_ms=self._focused_ms + (spent if focused else 0),
            off_ms=self._off_ms + (0 if focused else spent),
            frames=self._frames,
        )

    # --- internals ----------------------------------------------------------------------

    def _calibrate(self, yaw: int, pitch: int, t: int) -> None:
        if self._cal_start < 0:
            self._cal_start = t
        yaws, pitches = self._cal
        if t - self._cal_start < self._c.calibration_ms:
            if len(yaws) < 1024:  # bounded even at implausible frame rates
                yaws.append(yaw)
                pitches.append(pitch)
            return
        if yaws:
            self._set_neutral(statistics.median(yaws), statistics.median(pitches))
        self._calibrated, self._cal = True, ([], [])

    def _set_neutral(self, yaw: float, pitch: float) -> None:
        """Neutral pose (centidegrees) and the bounds the hot path compares against."""
        c = self._c
        self._nyaw, self._npitch = yaw, pitch
        self._yaw_lo, self._yaw_hi = yaw - c.yaw_away_deg * 100.0, yaw + c.yaw_away_deg * 100.0
        self._pitch_hi = pitch + c.pitch_down_deg * 100.0

    def _end_blink(self, t: int) -> None:
        c, ends = self._c, self._blink_ends
        if c.blink_min_ms <= t - self._blink_since <= c.blink_max_ms:
            self._blinks += 1
            old = 0
            while old < len(ends) and t - ends[old] >= c.blink_window_ms:
                old += 1
            del ends[:old]
            ends.append(t)  # at most one blink per 2 frames: bounded by the frame rate
        self._blink_since = -1

    def _end_runs(self, t: int) -> None:
        if self._blink_since >= 0:
            self._end_blink(t)
        if self._load_since >= 0:
            self._end_load(t)

    def _end_load(self, t: int) -> None:
        if t - self._load_since >= self._c.load_after_ms:
            self._load_ms += t - self._load_since
        self._load_since = -1

    def _advance(self, t: int, seen: int) -> None:
        """Run events up to ``t``; ``seen``: the latest frame time (confirms held focus)."""
        if self.attention == "idle":
            return
        last = self._last_frame
        gap = last + self._c.no_face_after_ms
        if t >= gap:
            seen = last
        if t >= gap and self._raw != _NF:
            self._run(gap, last)
            self._blink_since = self._closed_since = -1
            self._still_tail = _NO_STILL
            if self._load_since >= 0:
                self._end_load(last)
            self._set_raw(_NF, last, gap, "no_frames")
        self._run(t, seen)

    def _set_raw(self, kind: int, since: int, at: int, cause: str) -> None:
        since = max(since, self._raw_since)  # a run never starts before the one it replaces
        if self._stretch >= 0 and self._raw != _F:
            self._acc[_GROUP[self._raw]] += max(0, since - self._acc_from)
        self._acc_from = max(since, self._acc_from)
        self._raw, self._raw_since, self._raw_at, self._raw_cause = kind, since, at, cause

    def _run(self, u: int, seen: int) -> None:
        """Apply, in time order, every event due by ``u`` under the held raw condition. A
        recovery needs a frame at or after its crossing (``seen``): until one arrives within
        ``no_face_after_ms``, the focus may turn out to be "no frames" from the last one."""
        while True:
            state, raw, best, event = self.attention, self._raw, _NEVER, 0
            if raw != _F and (
                state == "focused" or (state != "distracted" and _PUBLISHED[raw] != state)
            ):
                best, event = max(self._raw_since + self._thr[raw], self._raw_at), 1
            if self._stretch >= 0:
                if state != "distracted" and self._stretch + self._c.distracted_after_ms < best:
                    best, event = self._stretch + self._c.distracted_after_ms, 2
                if raw == _F and self._raw_since + self._c.recover_after_ms <= best:
                    best, event = self._raw_since + self._c.recover_after_ms, 3
            if best > u or (event == 3 and best > seen):
                self._next_ms = best
                return
            at = max(best, self.since_ms)
            if event == 1:
                if state == "focused":
                    self._stretch = self._acc_from = max(self._raw_since, self.since_ms)
                    self._kind0, self._acc = _GROUP[raw], [0, 0, 0]
                self._publish(_PUBLISHED[raw], at, self._raw_cause)
            elif event == 2:
                self._publish("distracted", at, self._cause)
            else:
                if state == "distracted":
                    self._end_stretch(max(self._raw_since, self._stretch))
                self._stretch = -1
                self._publish("focused", at, "recovered")

    def _end_stretch(self, ended: int) -> None:
        acc = self._acc
        if self._raw != _F:
            acc[_GROUP[self._raw]] += max(0, ended - self._acc_from)
        kind = self._kind0
        for g in range(3):
            if acc[g] > acc[kind]:
                kind = g
        self._done.append(Interruption(_KINDS[kind], self._stretch, max(ended, self._stretch)))

    def _publish(self, state: Attention, at: int, cause: str) -> None:
        if self.attention == "focused":
            self._focused_ms += at - self.since_ms
        else:
            self._off_ms += at - self.since_ms
        self.attention, self.since_ms, self._cause = state, at, cause
