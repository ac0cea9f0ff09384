-- Room chat and the lobby (issue 4). Chat messages belong to a room and a user and go with
-- either. The text is stored as sent after the server's checks (stripped, no control
-- characters but newline); 4000 characters is the largest STUDYVERSE_CHAT_MAX_CHARS allows.
-- sent_at is the database clock at insert (microseconds), so messages from every node sort
-- on one clock; (room_id, sent_at, id) pages a room's history in both directions.
CREATE TABLE chat_messages (
    id       uuid PRIMARY KEY,
    room_id  uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text     text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 4000),
    sent_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX chat_messages_room_time_idx ON chat_messages (room_id, sent_at, id);
CREATE INDEX chat_messages_user_idx ON chat_messages (user_id);

-- The lobby pages public rooms newest first: (created_at, id) keyset over public rooms only.
CREATE INDEX rooms_public_created_idx ON rooms (created_at DESC, id DESC) WHERE is_public;
