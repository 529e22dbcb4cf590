-- The oldest transaction still running (every transaction before it has committed or aborted),
-- and how many transaction ids have been assigned since %(horizon)s (a full 64-bit xid).
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
       pg_snapshot_xmax(pg_current_snapshot())::text::bigint - %(horizon)s::bigint
