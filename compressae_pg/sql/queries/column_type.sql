-- Type name, element count (typmod) and NOT NULL of one column of a relation.
SELECT t.typname::text AS type, a.atttypmod AS typmod, a.attnotnull AS not_null
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = %(oid)s::oid AND a.attname = %(column)s AND a.attnum > 0 AND NOT a.attisdropped
