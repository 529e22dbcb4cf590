-- Whether the attachment's table has row-level security on: its labels would show every role that may read
-- the table the top rows of all its rows, those its policies hide from that role included
-- (compressae.labels_table, which the labels' policies read, names no table then).
SELECT c.relrowsecurity
FROM pg_catalog.pg_class c
WHERE c.oid = %(table)s
