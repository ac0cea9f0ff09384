-- Progress (issue 4): one focus session per member per focus phase, XP and levels,
-- daily focus, streaks, the garden and boss kills. Every award is keyed so that a
-- retried or duplicated award lands once: focus_sessions by (user, room, set, phase),
-- plants by session, boss_contributions by (room, set, level, user).
CREATE TABLE focus_sessions (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id          uuid REFERENCES rooms (id) ON DELETE SET NULL,
    set_started_at   timestamptz NOT NULL,
    phase_index      smallint NOT NULL CHECK (phase_index >= 0),
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz NOT NULL CHECK (ended_at >= started_at),
    planned_s        integer NOT NULL CHECK (planned_s > 0),
    present_s        integer NOT NULL CHECK (present_s >= 0),
    focused_s        integer NOT NULL CHECK (focused_s >= 0),
    group_size       smallint NOT NULL CHECK (group_size >= 1),
    completed        boolean NOT NULL,
    focus_score      smallint NOT NULL CHECK (focus_score BETWEEN 0 AND 100),
    xp               integer NOT NULL CHECK (xp >= 0),
    context          text CHECK (char_length(context) <= 200),
    UNIQUE (user_id, room_id, set_started_at, phase_index)
);
CREATE INDEX focus_sessions_user_time_idx ON focus_sessions (user_id, started_at);

CREATE TABLE progress (
    user_id            uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    xp                 bigint NOT NULL DEFAULT 0 CHECK (xp >= 0),
    level              integer NOT NULL DEFAULT 0 CHECK (level >= 0),
    streak_current     integer NOT NULL DEFAULT 0,
    streak_best        integer NOT NULL DEFAULT 0,
    streak_freezes     smallint NOT NULL DEFAULT 0,
    streak_last_day    date,
    streak_run         integer NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE daily_focus (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day         date NOT NULL,
    focused_s   integer NOT NULL DEFAULT 0 CHECK (focused_s >= 0),
    counted     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (user_id, day)
);

CREATE TABLE plants (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id   uuid NOT NULL UNIQUE REFERENCES focus_sessions (id) ON DELETE CASCADE,
    rarity       text NOT NULL CHECK (rarity IN ('withered', 'common', 'uncommon', 'rare',
                                                 'epic', 'legendary')),
    planted_at   timestamptz NOT NULL
);
CREATE INDEX plants_user_idx ON plants (user_id, planted_at);

CREATE TABLE boss_contributions (
    room_id          uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    set_started_at   timestamptz NOT NULL,
    level            integer NOT NULL CHECK (level >= 1),
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    boss_name        text NOT NULL,
    damage           real NOT NULL CHECK (damage >= 0),
    xp_bonus         integer NOT NULL CHECK (xp_bonus >= 0),
    killed_at        timestamptz NOT NULL,
    PRIMARY KEY (room_id, set_started_at, level, user_id)
);
