-- The stored labels of an attachment's model version: every atom, or those in %(atoms)s (0-based).
-- Row-level security leaves out the labels of a table the role may not read.
SELECT idx, uses, mean_value, top_keys, top_values, top_texts
FROM compressae.atom_labels
WHERE attachment_id = %(attachment)s AND model_id = %(model)s
  AND (%(atoms)s::integer[] IS NULL OR idx = ANY (%(atoms)s::integer[]))
ORDER BY idx
