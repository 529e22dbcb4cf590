-- Forget the backfill's own transactions older than a sweep horizon: no sweep looks at them again.
DELETE FROM compressae.backfill_xids WHERE attachment_id = %(attachment)s AND xid < %(horizon)s::bigint::text::xid8
