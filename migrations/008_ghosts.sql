-- Ghost recordings (issue 5, DESIGN.md section 5 "Ghosts"): one row per member per focus
-- phase (the same key as focus_sessions), its timeline stored as self-contained chunks
-- (avatars.timeline: 60 s each, column-major delta + zlib, msgpack events, CRC).
-- ended_at is NULL while the phase is being recorded. Each member chooses whether to be
-- recorded at all (recording off = nothing kept) and who sees new recordings.
ALTER TABLE users
    ADD COLUMN recording_enabled     boolean NOT NULL DEFAULT true,
    ADD COLUMN recording_visibility  text NOT NULL DEFAULT 'private'
        CHECK (recording_visibility IN ('private', 'link', 'room'));

CREATE TABLE ghost_recordings (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id         uuid REFERENCES rooms (id) ON DELETE SET NULL,
    set_started_at  timestamptz NOT NULL,
    phase_index     smallint NOT NULL CHECK (phase_index >= 0),
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz CHECK (ended_at >= started_at),
    duration_ms     integer NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    visibility      text NOT NULL DEFAULT 'private'
                        CHECK (visibility IN ('private', 'link', 'room')),
    focused_ms      integer NOT NULL DEFAULT 0 CHECK (focused_ms >= 0),
    present_ms      integer NOT NULL DEFAULT 0 CHECK (present_ms >= 0),
    chunk_count     integer NOT NULL DEFAULT 0 CHECK (chunk_count >= 0),
    bytes           bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, room_id, set_started_at, phase_index)
);
CREATE INDEX ghost_recordings_user_idx ON ghost_recordings (user_id, started_at DESC);
CREATE INDEX ghost_recordings_room_idx ON ghost_recordings (room_id, started_at DESC)
    WHERE visibility = 'room';

CREATE TABLE ghost_chunks (
    recording_id  uuid NOT NULL REFERENCES ghost_recordings (id) ON DELETE CASCADE,
    idx           integer NOT NULL CHECK (idx >= 0),
    start_ms      integer NOT NULL CHECK (start_ms >= 0),
    samples       integer NOT NULL CHECK (samples >= 0),
    data          bytea NOT NULL,
    PRIMARY KEY (recording_id, idx)
);
