-- messages-YYYYMMDD.db: the messages received on one UTC day and their history.

CREATE TABLE messages (
  id                  INTEGER PRIMARY KEY,  -- global message id, allocated by the store
  channel             TEXT    NOT NULL,
  peer                TEXT    NOT NULL,
  received_at         INTEGER NOT NULL,     -- Unix epoch milliseconds
  message_type        TEXT    NOT NULL,
  trigger_event       TEXT    NOT NULL,
  control_id          TEXT    NOT NULL,
  patient_id          TEXT    NOT NULL,
  sending_application TEXT    NOT NULL,
  sending_facility    TEXT    NOT NULL,
  status              TEXT    NOT NULL,     -- received | rejected | filtered | routed | ...
  error               TEXT    NOT NULL,
  size_bytes          INTEGER NOT NULL,
  generation          INTEGER NOT NULL DEFAULT 0,
  raw                 BLOB    NOT NULL      -- last, so summaries never read overflow pages
);
-- Search keys. Each index ends in the rowid (id), so "key = ? AND id < ? ORDER BY id DESC"
-- walks the index backwards and stops after LIMIT rows.
CREATE INDEX messages_channel ON messages (channel);
CREATE INDEX messages_type ON messages (message_type);
CREATE INDEX messages_trigger ON messages (trigger_event);
CREATE INDEX messages_control ON messages (control_id);
CREATE INDEX messages_patient ON messages (patient_id);
CREATE INDEX messages_status ON messages (status);
CREATE INDEX messages_received ON messages (received_at);

-- Routing decisions, delivery attempts and reprocess marks, oldest first by seq.
CREATE TABLE events (
  seq        INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL,
  at         INTEGER NOT NULL,
  step       TEXT    NOT NULL,
  subject    TEXT    NOT NULL,
  outcome    TEXT    NOT NULL,
  detail     TEXT    NOT NULL
);
CREATE INDEX events_message ON events (message_id);
