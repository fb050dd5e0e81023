-- A transform's output is written once: in the message's day file, as the step's event (what
-- `messages show` lists), and the queue entry that sends it names that event (`events.seq` in
-- the message's day file) instead of holding a second copy. Before, every output was written
-- twice, and main.db's copy was written again when delivery cleared it. Entries queued before
-- this migration, and outputs that differ from the step's event (cut there when very large),
-- keep their bytes in `payload` as before.
--
-- `payload_check` is the output's length (high 32 bits) and CRC-32 (low 32 bits). A seq is
-- only unique while its row exists: if the day file lost its last rows (a power cut at
-- synchronous=NORMAL, a hand edit), a later event can take the same seq, and the check keeps
-- the entry from sending that event's text instead.
ALTER TABLE queue ADD COLUMN payload_event INTEGER;
ALTER TABLE queue ADD COLUMN payload_check INTEGER;
