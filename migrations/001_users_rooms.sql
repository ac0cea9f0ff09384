-- Users and rooms: the first durable schema (issue 2). UUID keys, timestamptz everywhere.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    display_name  text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 40),
    is_guest      boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rooms (
    id            uuid PRIMARY KEY,
    owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
    capacity      integer NOT NULL CHECK (capacity BETWEEN 1 AND 250),
    is_public     boolean NOT NULL DEFAULT true,
    invite_code   text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rooms_owner_idx ON rooms (owner_id);
