-- What a role needs beyond owning its table to attach, detach, backfill, index and recompress:
-- write the attachments, the backfill checkpoints, (sync workers) the sync queue and its failures, and the labels of its atoms. (Models, atoms and attachments are readable
-- by PUBLIC, and the functions executable by PUBLIC, so any role can search a table it may read.)
-- SELECT, INSERT and UPDATE of each column, never table-level UPDATE or DELETE: those let a role LOCK a table in any
-- mode and stall every other role. A row is deleted by marking it (SET doomed = true; 0022).
GRANT SELECT, INSERT ON compressae.attachments, compressae.backfill_jobs, compressae.backfill_xids TO {role};
-- The run sequence: nextval alone (USAGE). UPDATE would be setval, with which one role ends every role's backfills;
-- a grant of an older release gave it, and running `db grant` again takes it back.
REVOKE UPDATE ON SEQUENCE compressae.backfill_runs FROM {role};
GRANT USAGE ON SEQUENCE compressae.backfill_runs TO {role};
GRANT SELECT, INSERT ON compressae.sync_queue, compressae.sync_failures TO {role};
GRANT INSERT ON compressae.atom_labels TO {role};
-- The salts of the advisory lock keys of the attachments it may work on (row security shows it no others), and the
-- turn it moves on when it lets a lock go (0025).
GRANT SELECT, UPDATE (turns) ON compressae.lock_salts TO {role};
SELECT compressae.grant_writes({grantee}::regrole, false);
