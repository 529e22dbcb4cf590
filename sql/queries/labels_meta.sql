-- When and from what an attachment's stored labels were computed (one row, or none).
SELECT text_column, rows_read, computed_at
FROM compressae.atom_labels
WHERE attachment_id = %(attachment)s AND model_id = %(model)s
LIMIT 1
