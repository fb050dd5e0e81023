-- A transform's output is written once: in the message's day file, as the step's event (what
-- `messages show` lists), and the queue entry that sends it names that event (`events.seq` in
-- the message's day file) instead of holding a second copy. Before, every output was written
-- twice, and main.db's copy was written again when delivery cleared it. Entries queued before
-- this migration, and outputs that differ from the step's event (cut there when very large),
-- keep their bytes in `payload` as before.
ALTER TABLE queue ADD COLUMN payload_event INTEGER;
