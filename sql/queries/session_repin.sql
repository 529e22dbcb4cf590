-- Back to the pinned search_path for the rest of the transaction (after session_unpin.sql).
SELECT set_config('search_path', 'pg_catalog, pg_temp', true)
