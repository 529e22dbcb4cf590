-- The salt of an attachment's advisory lock keys (0025), for the keys that hash it alone (a sync worker's batches):
-- no row for a role that may not work on the attachment.
SELECT s.salt FROM compressae.lock_salts s WHERE s.attachment_id = %(attachment)s
