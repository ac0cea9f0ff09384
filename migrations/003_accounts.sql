-- Accounts (issue 4): usernames and argon2id password hashes on users, the user's
-- day settings (timezone, day start, daily goal, paper mode), and rotating refresh tokens.
-- A guest has neither username nor password; registering converts the same row (same id,
-- same progress). Usernames are stored lowercased, so UNIQUE is case-insensitive.
ALTER TABLE users
    ADD COLUMN username        text UNIQUE CHECK (username ~ '^[a-z0-9_.-]{3,32}$'),
    ADD COLUMN password_hash   text CHECK (char_length(password_hash) BETWEEN 1 AND 512),
    ADD COLUMN timezone        text NOT NULL DEFAULT 'UTC'
                                   CHECK (char_length(timezone) BETWEEN 1 AND 64),
    ADD COLUMN day_start_hour  smallint NOT NULL DEFAULT 4 CHECK (day_start_hour BETWEEN 0 AND 23),
    ADD COLUMN daily_goal_min  integer NOT NULL DEFAULT 60
                                   CHECK (daily_goal_min BETWEEN 1 AND 1440),
    ADD COLUMN paper_mode      boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT users_account_check CHECK (
        (is_guest AND username IS NULL AND password_hash IS NULL)
        OR (NOT is_guest AND username IS NOT NULL AND password_hash IS NOT NULL));

-- Refresh tokens (RFC 9700 section 4.14): opaque random strings, stored only as SHA-256
-- hashes. Every login starts a family; each refresh marks the presented token used and
-- issues its successor in the same family (replaced_by). Presenting a used token again
-- revokes the whole family.
CREATE TABLE refresh_tokens (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id    uuid NOT NULL,
    token_hash   bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL CHECK (expires_at > issued_at),
    used_at      timestamptz,
    revoked_at   timestamptz,
    replaced_by  uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id, expires_at);
