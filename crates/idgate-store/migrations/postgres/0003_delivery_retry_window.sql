-- The retry window of a delivery (webhooks.md: retries for at most 3 days), PostgreSQL dialect. The
-- other dialect's file of the same name has the same statement.
--
-- The window counted from created_at, so a delivery retried by hand after it had failed, or
-- released days after it began to wait for a key, had its window used up before its first new
-- attempt and failed on the first error. It now counts from this column when set: the manual
-- retry or the key release that last made the delivery due. NULL: from created_at.
ALTER TABLE webhook_deliveries ADD COLUMN retry_window_start BIGINT;
