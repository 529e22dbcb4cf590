-- Store an attachment's labels for one model version, every atom at once (a JSON array of one object
-- per atom): a second run replaces the first's rows in place. The table's oid is the one the attachment names now.
INSERT INTO compressae.atom_labels AS l
    (attachment_id, table_oid, model_id, idx, uses, mean_value, top_keys, top_values, top_texts, text_column, rows_read, computed_at)
SELECT %(attachment)s, compressae.labels_table(%(attachment)s), %(model)s, r.idx, r.uses, r.mean_value, r.top_keys, r.top_values, r.top_texts,
       %(text_column)s, %(rows)s, now()
FROM jsonb_to_recordset(%(labels)s::jsonb)
     AS r (idx integer, uses bigint, mean_value real, top_keys text[], top_values real[], top_texts text[])
ON CONFLICT (attachment_id, model_id, idx) DO UPDATE
SET table_oid = excluded.table_oid, uses = excluded.uses, mean_value = excluded.mean_value, top_keys = excluded.top_keys,
    top_values = excluded.top_values, top_texts = excluded.top_texts, text_column = excluded.text_column,
    rows_read = excluded.rows_read, computed_at = excluded.computed_at
