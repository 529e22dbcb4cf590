"""No role that `db grant` made can lock the package's tables against other roles (0022; the second review's M1):
it holds SELECT, INSERT and column-level UPDATE, so LOCK TABLE takes ROW EXCLUSIVE at most; its deletes are marks that
the schema owner's trigger carries out in the same statement, as row-level security allows them, and leave no row."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from compressae_pg import _migrate, backfill, registry, sync
from compressae_pg.columns import attachments
from compressae_pg.server import connect

from ..support.models import attach_model, queueing_keys
from ..support.roles import as_user, grant, role  # noqa: F401  (role is a fixture)
from ..support.tables import create_table

STALLING = ("SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE")  # each blocks other roles' writes
TABLES = "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace = 'compressae'::regnamespace AND c.relkind = 'r' ORDER BY 1"


def _lockable(dsn: str, user: str) -> list[tuple[str, str]]:
    """Each (table, mode) of STALLING in which ``user`` could lock a compressae table."""
    taken = []
    with connect(as_user(dsn, user)) as c:
        for (table,) in c.execute(TABLES).fetchall():
            for mode in STALLING:
                try:
                    c.execute(sql.SQL("LOCK TABLE {} IN {} MODE NOWAIT").format(sql.SQL(table), sql.SQL(mode)))
                    taken.append((table, mode))
                except psycopg.errors.InsufficientPrivilege:
                    pass
                c.rollback()
    return taken


def test_a_granted_role_cannot_lock_any_table_of_the_package_yet_attaches_syncs_detaches_and_drops(conn, dsn, role, capsys, real_vectors):
    x = real_vectors
    owner, trainer = role("owner"), role("trainer")
    grant(capsys, dsn, owner)
    grant(capsys, dsn, trainer, "--train")
    assert _lockable(dsn, owner) == [] and _lockable(dsn, trainer) == []
    with connect(as_user(dsn, trainer), autocommit=True) as tc:
        create_table(tc, "items", x[:20])
        with queueing_keys(tc, as_user(dsn, trainer)) as (att, model):
            backfill("items", "embedding", conn=tc, progress=False, index=False)
            tc.execute("INSERT INTO items (id, embedding) VALUES (21, %s), (22, %s)", (x[21], x[22]))
            tc.execute("UPDATE items SET embedding = %s WHERE id = 3", (x[30],))
    with connect(as_user(dsn, owner), autocommit=True) as oc:  # a granted role marks no other role's rows
        assert oc.execute("UPDATE compressae.sync_queue SET doomed = true").rowcount == 0
        assert oc.execute("UPDATE compressae.attachments SET doomed = true").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # without --train it marks no model at all
            oc.execute("UPDATE compressae.models SET doomed = true")
        for table in ("sync_queue", "attachments", "models"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                oc.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier("compressae", table)))
    assert conn.execute("SELECT count(*) FROM compressae.sync_queue").fetchone()[0] == 2
    result = sync("items", "embedding", dsn=as_user(dsn, trainer), progress=False)
    assert (result.rows_written, result.queue_left) == (3, 0)
    assert conn.execute("SELECT count(*) FROM compressae.sync_queue").fetchone()[0] == 0  # deleted, not left marked
    with connect(as_user(dsn, trainer), autocommit=True) as tc:
        attachments.detach("items", att.code_column, conn=tc)
        registry.drop_model(att.model.ref, conn=tc)
    for table in ("attachments", "models", "encoder_atoms", "decoder_atoms", "sync_queue", "backfill_xids"):
        assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("compressae", table))).fetchone()[0] == 0, table


def test_a_role_granted_before_0022_holds_no_table_level_update_or_delete_after_the_upgrade_and_again_after_the_downgrade(
        role, empty_dsn):
    plain, trainer, stray = role("plain"), role("trainer"), role("stray")  # made first, dropped last: after the database
    _migrate.upgrade(empty_dsn, "0021_default_candidates")
    with connect(empty_dsn, autocommit=True) as ec:
        ec.execute(sql.SQL("GRANT DELETE ON compressae.sync_failures TO {}").format(sql.Identifier(stray)))  # a DBA's, by hand
        # 0021's `db grant`, as its SQL was: table-level UPDATE and DELETE
        ec.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON compressae.attachments, compressae.backfill_jobs, "
                           "compressae.backfill_xids, compressae.sync_queue, compressae.sync_failures TO {0}, {1}; "
                           "GRANT INSERT, UPDATE, DELETE ON compressae.atom_labels TO {0}, {1}; "
                           "GRANT INSERT, DELETE ON compressae.models, compressae.encoder_atoms, compressae.decoder_atoms TO {1}; "
                           "GRANT UPDATE (stages) ON compressae.models TO {1}").format(
                               sql.Identifier(plain), sql.Identifier(trainer)))
    assert ("compressae.sync_queue", "SHARE") in _lockable(empty_dsn, plain)  # what the review reproduced
    _migrate.upgrade(empty_dsn)
    assert _lockable(empty_dsn, plain) == [] and _lockable(empty_dsn, trainer) == []
    with connect(empty_dsn) as ec:
        rights = ec.execute("SELECT has_column_privilege(%s, 'compressae.sync_queue', 'doomed', 'UPDATE'), "
                            "has_column_privilege(%s, 'compressae.models', 'doomed', 'UPDATE'), "
                            "has_column_privilege(%s, 'compressae.models', 'doomed', 'UPDATE'), "
                            "has_table_privilege(%s, 'compressae.models', 'INSERT')", (plain, plain, trainer, trainer)).fetchone()
    assert rights == (True, False, True, True)
    with connect(empty_dsn) as ec:  # the DBA's grant is the DBA's: not widened into `db grant`'s, and not taken back
        assert ec.execute("SELECT has_column_privilege(%s, 'compressae.attachments', 'doomed', 'UPDATE'), "
                          "has_table_privilege(%s, 'compressae.sync_failures', 'DELETE')", (stray, stray)).fetchone() == (False, True)
    _migrate.downgrade(empty_dsn, "0021_default_candidates")
    with connect(empty_dsn) as ec:
        again = ec.execute("SELECT has_table_privilege(%s, 'compressae.sync_queue', 'DELETE'), "
                           "has_table_privilege(%s, 'compressae.models', 'DELETE'), "
                           "has_table_privilege(%s, 'compressae.models', 'DELETE')", (plain, plain, trainer)).fetchone()
    assert again == (True, False, True)


def test_a_dropped_tables_record_may_be_marked_by_any_granted_role_but_never_taken_over(conn, dsn, role, capsys, real_vectors):
    x = real_vectors
    alice, mallory = role("alice"), role("mallory")
    grant(capsys, dsn, alice, "--train")
    grant(capsys, dsn, mallory, "--train")
    with connect(as_user(dsn, alice), autocommit=True) as ac:
        create_table(ac, "gone", x[:5])
        with queueing_keys(ac, as_user(dsn, alice), table="gone", name="alice_m") as (att, _):
            ac.execute("INSERT INTO gone (id, embedding) VALUES (6, %s)", (x[6],))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # no row is written marked, to be deleted by a later UPDATE
            ac.execute("INSERT INTO compressae.sync_queue (attachment_id, keys, doomed) VALUES (%s, ARRAY['7'], true)", (att.id,))
        ac.execute("DROP TABLE gone")  # without a detach: the record, and its queued key, stay
    assert conn.execute("SELECT count(*) FROM compressae.sync_queue WHERE attachment_id = %s", (att.id,)).fetchone()[0] == 1
    with connect(as_user(dsn, mallory), autocommit=True) as mc:
        create_table(mc, "mine", x[:5])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the record cannot be pointed at mallory's table
            mc.execute("UPDATE compressae.attachments SET table_oid = 'public.mine'::regclass WHERE id = %s", (att.id,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # nor changed, other than marked
            mc.execute("UPDATE compressae.attachments SET code_column = 'taken' WHERE id = %s", (att.id,))
        assert mc.execute("SELECT count(*) FROM compressae.sync_queue WHERE attachment_id = %s", (att.id,)).fetchone()[0] == 0
        with connect(as_user(dsn, alice)) as holder:  # a role that holds the record stalls no one's attach
            holder.execute("SELECT id FROM compressae.attachments WHERE id = %s FOR UPDATE", (att.id,))
            mc.execute("SET lock_timeout = '2s'")
            attach_model(mc, table="mine", name="mallory_m")
            assert conn.execute("SELECT count(*) FROM compressae.attachments WHERE id = %s", (att.id,)).fetchone()[0] == 1
        create_table(mc, "mine2", x[:5])
        attach_model(mc, table="mine2", name="mallory_m2")  # attach forgets every dropped table's record no one holds
    assert conn.execute("SELECT count(*) FROM compressae.attachments WHERE id = %s", (att.id,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM compressae.sync_queue WHERE attachment_id = %s", (att.id,)).fetchone()[0] == 0


def test_a_mark_deletes_the_rows_marked_and_no_row_a_later_change_moved_onto_their_keys(conn, dsn, role, capsys, real_vectors):
    alice = role("alice")
    grant(capsys, dsn, alice, "--train")
    with connect(as_user(dsn, alice), autocommit=True) as ac:
        create_table(ac, "items", real_vectors[:5])
        att, _ = attach_model(ac, name="alice_m")
        ac.execute("INSERT INTO compressae.sync_failures (attachment_id, key, reason) VALUES (%s, 'k1', 'r1'), (%s, 'k2', 'r2')",
                   (att.id, att.id))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a granted role moves no row onto another key
            ac.execute("UPDATE compressae.sync_failures SET key = 'k3' WHERE attachment_id = %s AND key = 'k2'", (att.id,))
    # the owner can: a function called later in the marking statement moves the marked row away, and another onto its key
    conn.execute(sql.SQL("""CREATE FUNCTION pg_temp.shuffle() RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN
        UPDATE compressae.sync_failures SET key = 'k1-moved', doomed = false WHERE attachment_id = {0} AND key = 'k1';
        UPDATE compressae.sync_failures SET key = 'k1' WHERE attachment_id = {0} AND key = 'k2'; RETURN 1; END $$""").format(
            sql.Literal(att.id)))
    conn.execute("WITH u AS (UPDATE compressae.sync_failures SET doomed = true WHERE attachment_id = %s AND key = 'k1' "
                 "RETURNING 1) SELECT pg_temp.shuffle() FROM u", (att.id,))
    left = conn.execute("SELECT key, reason, doomed FROM compressae.sync_failures WHERE attachment_id = %s ORDER BY key",
                        (att.id,)).fetchall()
    assert left == [("k1", "r2", False), ("k1-moved", "r1", False)]  # the mark was taken back; r2 was never marked
