-- The attachments that use a model (they keep it from being dropped).
SELECT format('%%I.%%I.%%I', table_schema, table_name, code_column)
FROM compressae.attachments WHERE model_id = %(id)s ORDER BY 1
