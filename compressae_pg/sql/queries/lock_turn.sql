-- The next turn of an attachment's lock key of a purpose, if it is still at the one read (compare and swap): the key
-- its holder held, which pg_locks showed every role, leads to no lock anyone takes again.
UPDATE compressae.lock_salts
SET turns = turns OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(%(purpose)s::text, %(turn)s::bigint + 1)
WHERE attachment_id = %(attachment)s
  AND coalesce((turns OPERATOR(pg_catalog.->>) %(purpose)s)::bigint, 0) = %(turn)s
