-- 0013: atom labels. Every atom of a model is a direction learned from the rows of a table; it is named
-- by the rows that use it most. `compressae-pg atoms` streams an attachment's code column and stores, per
-- atom of the attachment's model: how many rows use it, their mean value, and the rows with the largest
-- values (keys as text, in key order on ties; and the text column's values when one was given).
--
-- Labels belong to the attachment (the table they were computed from) and to the model version that made
-- the codes, so one version's labels never describe another's atoms. A recompress swaps in a new attachment
-- for the new version: the old codes and their attachment go, and the labels that described them with it
-- (`compressae-pg recompress` labels the new version's atoms, as the old one's were, after the swap).
--
-- Who may see and change them follows the attachment's table, as its backfill jobs and sync queue do
-- (0009): the top rows are the table's own keys and texts, so only a role that may read the table reads
-- them (models and atoms stay readable by all: they hold no rows), and only one that may both read it and
-- write its codes (its owner, or a role with SELECT and UPDATE on it) writes them. PUBLIC reads through the
-- policy, writes nothing. Attachments are kept by name (0001); each label also records the oid of the
-- table it was computed from, and is seen only while that table still has the attachment's name: a table
-- dropped without a detach takes its labels out of sight of whoever creates the next table of that name.
CREATE FUNCTION compressae.labels_table(attachment_id bigint)
RETURNS oid
LANGUAGE sql STABLE SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid
    FROM compressae.attachments a
    JOIN pg_namespace n ON n.nspname = a.table_schema
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = a.table_name
    WHERE a.id = labels_table.attachment_id AND NOT c.relrowsecurity
$$;
COMMENT ON FUNCTION compressae.labels_table(bigint) IS 'The oid of the table an attachment names now (NULL when there is none, when it has row-level security, whose policies its labels would bypass, or when the role cannot see the attachment)';

CREATE TABLE compressae.atom_labels (
    attachment_id bigint NOT NULL REFERENCES compressae.attachments (id) ON DELETE CASCADE,
    table_oid     oid NOT NULL,
    model_id      bigint NOT NULL REFERENCES compressae.models (id) ON DELETE CASCADE,
    idx           integer NOT NULL CHECK (idx >= 0),
    uses          bigint NOT NULL CHECK (uses >= 0),
    mean_value    real CHECK ((uses = 0) = (mean_value IS NULL)),
    top_keys      text[] NOT NULL,
    top_values    real[] NOT NULL,
    top_texts     text[],
    text_column   text,
    rows_read     bigint NOT NULL CHECK (rows_read >= uses),
    computed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (attachment_id, model_id, idx),
    CHECK (cardinality(top_keys) = cardinality(top_values) AND cardinality(top_keys) <= uses
           AND (top_texts IS NULL) = (text_column IS NULL)
           AND (top_texts IS NULL OR cardinality(top_texts) = cardinality(top_keys)))
);
CREATE INDEX atom_labels_model_id ON compressae.atom_labels (model_id);
COMMENT ON TABLE compressae.atom_labels IS 'Per attachment and model version, per atom (0-based idx): rows using it, their mean value, the rows with its largest values (compressae-pg atoms)';

ALTER TABLE compressae.atom_labels ENABLE ROW LEVEL SECURITY;
CREATE POLICY atom_labels_read ON compressae.atom_labels FOR SELECT
    USING (compressae.may_work_on(attachment_id, 'SELECT') AND table_oid = compressae.labels_table(attachment_id));
-- Labels are written for the model the attachment uses now (its codes are what they describe), and for the table it names now.
CREATE POLICY atom_labels_insert ON compressae.atom_labels FOR INSERT
    WITH CHECK (compressae.may_work_on(attachment_id, 'SELECT') AND compressae.may_work_on(attachment_id, 'UPDATE')
                AND table_oid = compressae.labels_table(attachment_id)
                AND EXISTS (SELECT 1 FROM compressae.attachments a WHERE a.id = attachment_id AND a.model_id = atom_labels.model_id));
CREATE POLICY atom_labels_update ON compressae.atom_labels FOR UPDATE
    USING (compressae.may_work_on(attachment_id, 'SELECT') AND compressae.may_work_on(attachment_id, 'UPDATE'))
    WITH CHECK (compressae.may_work_on(attachment_id, 'SELECT') AND compressae.may_work_on(attachment_id, 'UPDATE')
                AND table_oid = compressae.labels_table(attachment_id)
                AND EXISTS (SELECT 1 FROM compressae.attachments a WHERE a.id = attachment_id AND a.model_id = atom_labels.model_id));
CREATE POLICY atom_labels_delete ON compressae.atom_labels FOR DELETE
    USING (compressae.may_work_on(attachment_id, 'SELECT') AND compressae.may_work_on(attachment_id, 'UPDATE'));

GRANT SELECT ON compressae.atom_labels TO PUBLIC;
-- The roles `db grant` made operators before this revision may write labels too (grant_operate does it from now on).
DO $$
DECLARE
    r regrole;
BEGIN
    FOR r IN SELECT DISTINCT quote_ident(g.grantee)::regrole FROM information_schema.role_table_grants g  -- quoted: a name like "Bob Smith"
             WHERE g.table_schema = 'compressae' AND g.table_name = 'attachments' AND g.privilege_type = 'INSERT'
               AND CASE WHEN g.grantee = 'PUBLIC' THEN false
                        ELSE NOT pg_has_role(g.grantee, (SELECT relowner FROM pg_class WHERE oid = 'compressae.attachments'::regclass), 'USAGE') END
    LOOP
        EXECUTE format('GRANT INSERT, UPDATE, DELETE ON compressae.atom_labels TO %s', r);
    END LOOP;
END
$$;
