-- A transform may split one message into several outputs for the same destination (one
-- LabResult per OBX, one Charge per FT1). Each output is a queue entry of its own, numbered by
-- `part` in the order the transform produced it; recording the same routing twice still adds
-- nothing, because (message, destination, generation, part) stays unique.
ALTER TABLE queue ADD COLUMN part INTEGER NOT NULL DEFAULT 0;
DROP INDEX queue_identity;
CREATE UNIQUE INDEX queue_identity ON queue (message_id, destination, generation, part);
