-- Whether a queue attachment's workers look for rows by their NULL code: its pending index (the index's name, NULL
-- while it has none), and whether its row trigger stands without the UPDATE statement trigger (0024's row triggers
-- alone), so that no key is queued. Neither for a dropped table.
SELECT compressae.pending_index(%(attachment)s)::text,
       EXISTS (SELECT FROM pg_catalog.pg_trigger g
               WHERE g.tgrelid = %(table)s::pg_catalog.oid AND g.tgname = 'compressae_sync_' || %(attachment)s)
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                       WHERE g.tgrelid = %(table)s::pg_catalog.oid AND g.tgname = 'compressae_sync_' || %(attachment)s || '_update')
