-- The raw bytes move out of the messages row into a table of their own. Routing and delivery
-- update a message's status twice; with the raw bytes in the row, each update rewrote the whole
-- ~1.5 KB row (and its page, holding two or three messages) in the WAL and again at the
-- checkpoint. Summary rows are now ~150 bytes, so a batch of status updates touches a few pages,
-- and the bodies are written once and never again.
CREATE TABLE bodies (
  id  INTEGER PRIMARY KEY,  -- messages.id
  raw BLOB    NOT NULL
);
INSERT INTO bodies (id, raw) SELECT id, raw FROM messages;
ALTER TABLE messages DROP COLUMN raw;
