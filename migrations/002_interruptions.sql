-- Interruptions of a member's focus (issue 3): automatic ones from the distraction guard
-- (looked_away, eyes_closed, no_face) and, later, self-reported ones. The idempotency key
-- makes a retried write land once.
CREATE TABLE interruptions (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id          uuid REFERENCES rooms (id) ON DELETE SET NULL,
    kind             text NOT NULL CHECK (kind IN ('looked_away', 'eyes_closed', 'no_face',
                         'phone', 'family', 'noise', 'self', 'urgent_task', 'unknown')),
    source           text NOT NULL CHECK (source IN ('auto', 'self')),
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz NOT NULL CHECK (ended_at > started_at),
    description      text CHECK (char_length(description) <= 500),
    idempotency_key  text NOT NULL UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX interruptions_user_time_idx ON interruptions (user_id, started_at);
