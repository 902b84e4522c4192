-- Deleting a blob checks the queue's reference to it (queue.blob_id
-- REFERENCES blobs): without this index every delivery's blob release
-- scanned the whole queue table, a cost that grew with the square of the
-- queue (13-25 % of queued's CPU draining 2,000 messages).
CREATE INDEX queue_blob ON queue(blob_id);
