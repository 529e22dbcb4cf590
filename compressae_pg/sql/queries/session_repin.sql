-- Back to the pinned search_path for the rest of the transaction (after session_unpin.sql). It runs on the
-- application's path: set_config is named by schema.
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)
