-- Once the pending index is valid: the row triggers alone (compressae.use_pending_index).
SELECT compressae.use_pending_index(%(attachment)s)
