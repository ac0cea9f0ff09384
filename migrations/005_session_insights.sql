-- Session insights (issue 4): what a focus session measured besides focused time, so the
-- analytics can be computed in SQL. distracted_s: seconds the member was `distracted`
-- (asleep avatar, own clock paused); load_s: seconds of sustained furrowed brow (cognitive
-- load, avatars.attention); blinks: blinks counted while present; interruptions: automatic
-- interruptions that ended inside the phase (self-reported ones live in `interruptions`
-- with source 'self' and are matched by time).
ALTER TABLE focus_sessions
    ADD COLUMN distracted_s   integer NOT NULL DEFAULT 0 CHECK (distracted_s >= 0),
    ADD COLUMN load_s         integer NOT NULL DEFAULT 0 CHECK (load_s >= 0),
    ADD COLUMN blinks         integer NOT NULL DEFAULT 0 CHECK (blinks >= 0),
    ADD COLUMN interruptions  integer NOT NULL DEFAULT 0 CHECK (interruptions >= 0);

-- A self-reported interruption names the session it happened in when that session is
-- known (the active one is only written at phase end, so this is matched on write when
-- the session already exists, else by time in the analytics).
ALTER TABLE interruptions
    ADD COLUMN session_id uuid REFERENCES focus_sessions (id) ON DELETE SET NULL;
CREATE INDEX interruptions_session_idx ON interruptions (session_id);
