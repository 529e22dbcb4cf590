-- A new turn of an attachment's lock key of a purpose, if it is still at the one read (compare and swap): the key
-- its holder held, which pg_locks showed every role, leads to no lock anyone takes again. Random, so that a role that
-- once read the salt and turns (a worker since revoked) cannot compute the keys to come.
UPDATE compressae.lock_salts
SET turns = turns OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(%(purpose)s::text, compressae.new_lock_salt())
WHERE attachment_id = %(attachment)s
  AND coalesce((turns OPERATOR(pg_catalog.->>) %(purpose)s)::bigint, 0) = %(turn)s
