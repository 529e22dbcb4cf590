-- Whether the current role may act for the table's owner (create an index on it, for one).
SELECT compressae.owns_table(%(table)s::bigint::oid::regclass)
