-- 0004, the attachments table: which candidate graph a code column is searched through, the
-- sketch column that graph is built over, an opclass that can only name a known operator class,
-- and rows that only the owner of their table may change.
--
-- graph 'sketch' (the default from 0004 on): the HNSW index is over `sketch_column bit(d)`, the sign
-- bits of each row's source vector (binary_quantize), with bit_hamming_ops; candidates are reranked
-- by the asymmetric score. graph 'sparse': the paper's path, HNSW over the code column itself with
-- a sparsevec opclass; attachments made before 0004 are 'sparse' and keep working as they did.
ALTER TABLE compressae.attachments ADD COLUMN sketch_column text;
ALTER TABLE compressae.attachments ADD COLUMN graph text NOT NULL DEFAULT 'sparse';
ALTER TABLE compressae.attachments ALTER COLUMN graph SET DEFAULT 'sketch';
COMMENT ON COLUMN compressae.attachments.graph IS 'sketch: HNSW over sketch_column (bit_hamming_ops); sparse: HNSW over code_column (opclass)';
COMMENT ON COLUMN compressae.attachments.sketch_column IS 'bit(d) column holding binary_quantize(source) of every coded row, NULL where the code is NULL';

-- opclass was free text that index_ddl spliced into CREATE INDEX: a role granted UPDATE on this
-- table could plant SQL there. A value that is not an operator class is reset before the check.
UPDATE compressae.attachments
SET opclass = 'sparsevec_cosine_ops'
WHERE opclass NOT IN ('sparsevec_cosine_ops', 'sparsevec_ip_ops', 'sparsevec_l2_ops');
ALTER TABLE compressae.attachments ADD CONSTRAINT attachments_graph_opclass CHECK (
    (graph = 'sketch' AND sketch_column IS NOT NULL AND opclass = 'bit_hamming_ops')
    OR (graph = 'sparse' AND opclass IN ('sparsevec_cosine_ops', 'sparsevec_ip_ops', 'sparsevec_l2_ops'))
);

-- Whether the current role may act for the owner of schema.table (false for a table that is gone).
CREATE FUNCTION compressae.owns_table(table_schema text, table_name text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE')
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = owns_table.table_schema AND c.relname = owns_table.table_name), false)
$$;

-- Everyone reads every attachment (search needs it); a role granted write access (`db grant`) may
-- only add, change or remove the attachments of tables it owns. The owner of this table (the
-- schema's owner) and superusers are not bound by the policies.
ALTER TABLE compressae.attachments ENABLE ROW LEVEL SECURITY;
CREATE POLICY attachments_read ON compressae.attachments FOR SELECT USING (true);
CREATE POLICY attachments_insert ON compressae.attachments FOR INSERT
    WITH CHECK (compressae.owns_table(table_schema, table_name));
CREATE POLICY attachments_update ON compressae.attachments FOR UPDATE
    USING (compressae.owns_table(table_schema, table_name))
    WITH CHECK (compressae.owns_table(table_schema, table_name));
CREATE POLICY attachments_delete ON compressae.attachments FOR DELETE
    USING (compressae.owns_table(table_schema, table_name));
