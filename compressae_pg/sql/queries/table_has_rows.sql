-- Whether a table has any row visible to this transaction: it stops at the first.
SELECT EXISTS (SELECT 1 FROM {table})
