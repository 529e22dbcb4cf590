-- The attachments that use a model (they keep it from being dropped): table (its oid when it was dropped), code column,
-- and the role that owns the table (whom the model's owner asks when it is another role's).
SELECT coalesce(format('%%I.%%I', n.nspname, c.relname), 'table ' || a.table_oid::oid) || '.' || quote_ident(a.code_column)
       || coalesce(' (role ' || c.relowner::regrole::text || ')', '')
FROM compressae.attachments a
LEFT JOIN pg_class c ON c.oid = a.table_oid AND c.relkind IN ('r', 'p')
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.model_id = %(id)s ORDER BY 1
