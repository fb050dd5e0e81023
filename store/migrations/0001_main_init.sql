-- main.db: the partition catalog, the routing inbox, the destination queues and the id counter.
-- Messages and their events live in the day partition files (see 0001_partition_init.sql).

-- One row per day partition file messages-YYYYMMDD.db. min_id/max_id bound the message ids it
-- holds, so get(id) and the queue can find a message's file without opening every file.
CREATE TABLE partitions (
  day    INTEGER PRIMARY KEY,  -- YYYYMMDD, UTC day of received_at
  file   TEXT    NOT NULL,
  min_id INTEGER NOT NULL,
  max_id INTEGER NOT NULL
);

-- Counters shared by every process that writes the data directory (next_message_id).
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('next_message_id', 1);

-- Messages waiting for the router (status received). Kept here rather than found through the
-- partitions' status index so the router never has to open old partitions to find work.
CREATE TABLE to_route (
  message_id INTEGER PRIMARY KEY,
  generation INTEGER NOT NULL
);

-- Destination queues. FIFO per destination by queue_id (the rowid): a new entry gets
-- max(queue_id) + 1, so appends, including dead letters re-queued by reprocessDeadLetters, always
-- land at the tail. Only retention deletes rows, and never pending ones, so no id held by a
-- sender is reused (no AUTOINCREMENT needed, which would cost a sqlite_sequence write per row).
CREATE TABLE queue (
  queue_id        INTEGER PRIMARY KEY,
  message_id      INTEGER NOT NULL,
  destination     TEXT    NOT NULL,
  generation      INTEGER NOT NULL,
  status          TEXT    NOT NULL,  -- pending | delivered | dead
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT    NOT NULL DEFAULT '',
  payload         BLOB               -- NULL: send the raw inbound message
);
-- Makes routing idempotent: recording the same outcome twice yields one entry.
CREATE UNIQUE INDEX queue_identity ON queue (message_id, destination, generation);
-- pendingDeliveries and queueStats; rows within one key are in queue_id (rowid) order.
CREATE INDEX queue_destination ON queue (destination, status);
