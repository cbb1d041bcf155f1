-- Whether a delivery's request is on the wire (docs/webhooks.md "Delivery guarantees"), SQLite
-- dialect. The other dialect's file of the same name has the same statement.
--
-- An erased session's deliveries are cancelled in the erase transaction, but a worker that had
-- already claimed one kept the rendered event in memory and could send it after the erase
-- returned. The worker now sets this column (epoch ms) in a transaction that requires the
-- delivery to be still `pending` and leased to it, right before it sends, and clears it with the
-- outcome. The erase therefore sees exactly the requests that are on the wire, and waits for
-- them; every other claimed delivery of the session finds itself cancelled and is not sent.
ALTER TABLE webhook_deliveries ADD COLUMN sending_since BIGINT;
