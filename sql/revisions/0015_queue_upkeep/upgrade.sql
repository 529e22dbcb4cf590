-- 0015: the sync queue's upkeep (issue 26, finding 12).
-- The queue entries of an attachment go with it. The queue has no foreign key (0006: an RI check per entry
-- would lock the attachment's row in every application write); a row trigger on compressae.attachments
-- deletes a deleted attachment's entries instead, whoever deletes it: detach (which deleted them already),
-- or the table's owner forgetting the leftover record of a table dropped without a detach. Its failure
-- records already go with it (a foreign key ON DELETE CASCADE, 0006).
-- The trigger's function is SECURITY DEFINER, owned by the schema's owner, because row-level security
-- (0009) keys an entry on its attachment's table, which a deleted attachment no longer names: its entries
-- are out of every granted role's sight. PUBLIC may not EXECUTE it (no role can put it on a table of its
-- own), and it refuses to run for any table but compressae.attachments.
CREATE FUNCTION compressae.forget_queue()
RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_RELID <> 'compressae.attachments'::regclass THEN
        RAISE EXCEPTION 'compressae.forget_queue is the trigger of compressae.attachments alone'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM compressae.sync_queue WHERE attachment_id = OLD.id;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION compressae.forget_queue() FROM PUBLIC;
COMMENT ON FUNCTION compressae.forget_queue() IS 'compressae: deletes a deleted attachment''s sync queue entries';
CREATE TRIGGER forget_queue AFTER DELETE ON compressae.attachments
    FOR EACH ROW EXECUTE FUNCTION compressae.forget_queue();

-- The entries of attachments deleted before.
DELETE FROM compressae.sync_queue q
WHERE NOT EXISTS (SELECT 1 FROM compressae.attachments a WHERE a.id = q.attachment_id);
