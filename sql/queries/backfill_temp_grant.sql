-- The table's owner, whom a batch's write runs as (write_role.sql), reads the batch's codes from the
-- session's own temporary table (no other session can reach it).
GRANT SELECT ON pg_temp.compressae_batch TO {role}
