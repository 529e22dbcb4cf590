-- Undo 0004's schema: refused while an attachment uses the sketch graph (its sketch column and
-- index would be left behind, unknown to 0003's functions). Detach those columns first.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM compressae.attachments WHERE graph = 'sketch') THEN
        RAISE EXCEPTION 'cannot downgrade below 0004_index_path while code columns use the sketch graph'
            USING HINT = 'detach them (compressae-pg detach), or attach them again with --graph sparse, first';
    END IF;
END
$$;
DROP FUNCTION compressae.attach(regclass, name, text, name, text, text);
DROP FUNCTION compressae.fit_name(regclass, text, text, text, boolean);
DROP POLICY attachments_read ON compressae.attachments;
DROP POLICY attachments_insert ON compressae.attachments;
DROP POLICY attachments_update ON compressae.attachments;
DROP POLICY attachments_delete ON compressae.attachments;
ALTER TABLE compressae.attachments DISABLE ROW LEVEL SECURITY;
DROP FUNCTION compressae.owns_table(text, text);
ALTER TABLE compressae.attachments DROP CONSTRAINT attachments_graph_opclass;
ALTER TABLE compressae.attachments DROP COLUMN graph;
ALTER TABLE compressae.attachments DROP COLUMN sketch_column;
