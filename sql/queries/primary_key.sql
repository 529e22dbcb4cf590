-- The primary key columns of a table with their SQL types, in key order.
SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
FROM pg_index i
JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %(oid)s::oid AND i.indisprimary
ORDER BY k.ord
