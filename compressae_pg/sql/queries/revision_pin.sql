-- The search_path of a session that runs the revisions: pgvector's schema (the revisions name its types unqualified,
-- as in 0001), pg_catalog and the session's temporary schema; nothing else a role may plant in. pg_catalog comes first
-- once pgvector is installed (a tie goes to the built-in); before, the schema does, where 0001 creates the extension.
SELECT pg_catalog.set_config('search_path', CASE WHEN %(installed)s::pg_catalog.bool
    THEN pg_catalog.concat_ws(', ', 'pg_catalog', pg_catalog.quote_ident(%(schema)s::pg_catalog.text), 'pg_temp')
    ELSE pg_catalog.concat_ws(', ', pg_catalog.quote_ident(%(schema)s::pg_catalog.text), 'pg_catalog', 'pg_temp') END, false)
