-- Undo 0007: 0006's create_sync_trigger is replayed after this file (by the revision's downgrade());
-- then each queue attachment's queue function is written again with 0006's body, in place.
DROP FUNCTION compressae.write_sync_queue_function(bigint, boolean);
