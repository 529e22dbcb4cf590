-- Forget the backfill's own transactions older than a sweep horizon: no sweep looks at them again.
UPDATE compressae.backfill_xids SET doomed = true WHERE attachment_id = %(attachment)s AND xid < %(horizon)s::bigint::text::xid8
