-- Undo 0008: refused while a model has more than one pursuit stage (0002's encode knows one); then
-- 0002's encode.sql is replayed by the revision's downgrade().
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM compressae.models WHERE stages > 1) THEN
        RAISE EXCEPTION 'cannot downgrade below 0008_pursuit_stages while models encode in several pursuit stages'
            USING HINT = 'drop those models (compressae-pg models drop) first';
    END IF;
END
$$;
ALTER TABLE compressae.models DROP COLUMN stages;
