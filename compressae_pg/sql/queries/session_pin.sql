-- A package session's search_path: pg_catalog and the session's own temporary schema, nothing a role can
-- plant functions in. The path it started with is kept: its schemas, to look up the tables a user names
-- (resolve_table.sql), and its text, for the statements that fire the application's triggers (session_unpin.sql).
SELECT set_config('compressae.lookup_path', current_schemas(false)::text, false),
       set_config('compressae.session_path', current_setting('search_path'), false);
SELECT set_config('search_path', 'pg_catalog, pg_temp', false)
