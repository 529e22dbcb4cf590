-- The attachment record that claims the code column an attach would add although the table has no such
-- column: a dropped table's, since records name their table by schema and name (one json array: table,
-- code column, attachment id, model name, version, model owner), or NULL. Always one row.
-- {table} is a literal of the quoted (optionally qualified) table name, {column} and {code_column} text literals.
SELECT (
    SELECT json_build_array(n.nspname || '.' || c.relname, a.code_column, a.id, m.name, m.version, m.owner::text)
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN compressae.attachments a ON a.table_schema = n.nspname AND a.table_name = c.relname
    JOIN compressae.models m ON m.id = a.model_id
    WHERE c.oid = {table}::text::regclass
      AND a.code_column = coalesce({code_column}::name, left({column} || '_sae', 63)::name)
      AND NOT EXISTS (SELECT 1 FROM pg_attribute t
                      WHERE t.attrelid = c.oid AND t.attname = a.code_column AND t.attnum > 0 AND NOT t.attisdropped)
)
