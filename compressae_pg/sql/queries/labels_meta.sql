-- When, from what and with how many top rows an attachment's stored labels were computed (one row, or none):
-- every row of one run shares its text column, rows read and time; the most top rows any atom keeps is its --top
-- (fewer only when no atom has that many rows).
SELECT text_column, rows_read, computed_at, max(cardinality(top_keys))
FROM compressae.atom_labels
WHERE attachment_id = %(attachment)s AND model_id = %(model)s
GROUP BY text_column, rows_read, computed_at
LIMIT 1
