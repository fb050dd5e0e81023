-- Retention keeps a partition while any of its messages has a pending queue entry. This partial
-- index holds only pending entries, so that check reads a small index instead of the queue.
CREATE INDEX queue_pending ON queue (message_id) WHERE status = 'pending';
