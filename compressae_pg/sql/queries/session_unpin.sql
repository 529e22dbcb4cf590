-- For the rest of the transaction, the search_path a pinned session started with (session_pin.sql): the
-- application's own triggers, fired by the writes of codes, run as they would in its own sessions. No
-- row on a session that was not pinned, which keeps its path.
SELECT set_config('search_path', p.path, true)
FROM (SELECT current_setting('compressae.session_path', true) AS path) p
WHERE p.path <> ''
