"""Other roles on a shared database (0009): no role can break an owner's --sync queue table, stall its
worker, plant a function that the package's functions or sessions run, or touch another role's model."""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from compressae_pg import (CompresSAE, CompressedColumn, DependentObjectsError, Encoding, ModelInUseError, ModelOwnerError, NotAttachedError,
                           OwnerCodeError, UnknownTableError, backfill, recompress, registry, sync)
from compressae_pg import _migrate
from compressae_pg import status as compressae_status
from compressae_pg.cli import main
from compressae_pg.columns import attachments
from compressae_pg.server import connect

from ..support.models import attach_model, queueing_keys
from ..support.partitions import create_partitioned
from ..support.roles import as_user, grant, role  # noqa: F401  (role is a fixture)
from ..support.tables import create_table, insert_rows, trigger_function
from ..support.truth import check_codes, check_residuals, cos


def test_only_the_owners_trigger_appends_to_the_queue_and_no_other_role_breaks_its_writes(conn, dsn, role, capsys, real_vectors, held):
    x = real_vectors
    owner, other, writer, nobody = role("owner"), role("other"), role("writer"), role("nobody")
    grant(capsys, dsn, owner, "--train")
    grant(capsys, dsn, other, "--train")
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        create_table(oc, "items", x[:10])
        att, model = held.enter_context(queueing_keys(oc, as_user(dsn, owner)))
        backfill("items", "embedding", conn=oc, progress=False)
        oc.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON items TO {}").format(sql.Identifier(writer)))
    with connect(as_user(dsn, other), autocommit=True) as c:
        create_table(c, "theirs", x[:3])
        attach_model(c, table="theirs", name="theirs", sync="queue")
    squat = ("INSERT INTO compressae.sync_queue (attachment_id, id, keys) OVERRIDING SYSTEM VALUE "
             "SELECT %s, g, '{1}' FROM generate_series(1, 50) AS g")
    for intruder in (nobody, other):  # no grant at all; and a `db grant` role, on another role's attachment
        with connect(as_user(dsn, intruder), autocommit=True) as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(squat, (att.id,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("INSERT INTO compressae.sync_queue (attachment_id, keys) VALUES (%s, '{1}')", (att.id,))
            if intruder == other:  # it may delete (mark) entries, of attachments it may write: none of the owner's
                assert c.execute("UPDATE compressae.sync_queue SET doomed = true WHERE attachment_id = %s", (att.id,)).rowcount == 0
    with connect(as_user(dsn, writer), autocommit=True) as wc:  # a role that may write the table, and nothing else
        wc.execute("INSERT INTO items (id, embedding) VALUES (11, %s), (12, %s)", (x[11], x[12]))
        insert_rows(wc, [13, 14], [x[13], x[14]])
        wc.execute("UPDATE items SET embedding = %s WHERE id = 2", (x[20],))
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        assert sorted(k for (k,) in oc.execute("SELECT unnest(keys) FROM compressae.sync_queue")) == ["11", "12", "13", "14", "2"]
    result = sync("items", "embedding", dsn=as_user(dsn, owner), progress=False)
    assert (result.rows_written, result.rows_failed, result.queue_left) == (5, 0, 0)
    assert check_codes(conn, model) == 14  # every code equal to numpy's
    trigger = sql.SQL("CREATE TRIGGER x AFTER INSERT ON {} REFERENCING NEW TABLE AS compressae_new "
                      "FOR EACH STATEMENT EXECUTE FUNCTION {}()")
    function = sql.SQL(trigger_function(conn, "items", f"compressae_sync_{att.id}_insert").removesuffix("()"))
    with connect(as_user(dsn, nobody), autocommit=True) as c:  # the owner's SECURITY DEFINER function, on a table of its own
        c.execute("CREATE TEMP TABLE mine (id int PRIMARY KEY, embedding vector(384), embedding_sae sparsevec)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(trigger.format(sql.Identifier("mine"), function))
    conn.execute("CREATE TABLE other (id int PRIMARY KEY, embedding vector(384), embedding_sae sparsevec)")
    conn.execute(trigger.format(sql.Identifier("other"), function))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"queue trigger of attachment {att.id} alone, not of public.other"):
        conn.execute("INSERT INTO other (id, embedding) VALUES (1, %s)", (x[1],))


def test_a_malformed_queue_entry_is_refused_and_one_queued_before_is_a_failure_not_a_stall(conn, dsn, real_vectors):
    x = real_vectors
    create_table(conn, "items", x[:10])
    att, model = attach_model(conn, sync="queue")
    backfill("items", "embedding", dsn=dsn, progress=False)
    for keys in ("{NULL}", "{{1,2},{3,4}}", "{}", "{1,NULL}"):
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO compressae.sync_queue (attachment_id, keys) VALUES (%s, %s)", (att.id, keys))
    # Entries queued before 0009's check (it is NOT VALID): the worker records them and goes on.
    conn.execute("ALTER TABLE compressae.sync_queue DROP CONSTRAINT sync_queue_keys_check")
    conn.execute("UPDATE items SET embedding = %s WHERE id = 1", (x[21],))
    for keys in ("{NULL}", "{{1,2},{3,4}}", "{}", "{2,NULL}"):
        conn.execute("INSERT INTO compressae.sync_queue (attachment_id, keys) VALUES (%s, %s)", (att.id, keys))
    conn.execute("UPDATE items SET embedding = %s WHERE id = 3", (x[23],))
    insert_rows(conn, [11], [x[11]])
    result = sync("items", "embedding", dsn=dsn, progress=False)
    assert (result.rows_written, result.queue_left) == (3, 0)
    assert conn.execute("SELECT count(*) FROM compressae.sync_queue").fetchone() == (0,)
    reasons = dict(conn.execute("SELECT key, reason FROM compressae.sync_failures").fetchall())
    assert len(reasons) == 4 and all(k.startswith("queue entry ") and "malformed" in r for k, r in reasons.items())
    assert check_codes(conn, model) == 11  # rows 1, 3 and 11 coded behind them, equal to numpy's


# Built-ins the package's functions call with a cast (a polymorphic or wider argument), each shadowed by an
# exact-type function in pgvector's schema that records its caller and then does what the built-in does.
PLANTS = {
    "array_fill(real, integer[])": ("real[]", "pg_catalog.array_fill($1, $2)"),
    "cardinality(integer[])": ("integer", "pg_catalog.cardinality($1)"),
    "unnest(integer[])": ("SETOF integer", "SELECT pg_catalog.unnest($1)"),
    "abs(real)": ("real", "pg_catalog.abs($1)"),
    "sqrt(real)": ("double precision", "pg_catalog.sqrt($1)"),
    "quote_ident(name)": ("text", "pg_catalog.quote_ident($1::text)"),
    "format(text, text, text)": ("text", "pg_catalog.format($1, $2, $3)"),
    "set_config(text, text, boolean)": ("text", "pg_catalog.set_config($1, $2, $3)"),
}


def plant(c: psycopg.Connection) -> None:
    c.execute("CREATE TABLE public.calls (caller name, what text)")
    c.execute("GRANT INSERT ON public.calls TO PUBLIC")
    for signature, (returns, body) in PLANTS.items():
        select = body if body.startswith("SELECT") else "SELECT " + body
        text = sql.SQL("INSERT INTO public.calls VALUES (current_user, {}); ").format(sql.Literal(signature)).as_string(c) + select
        c.execute(sql.SQL("CREATE FUNCTION public.{} RETURNS {} LANGUAGE sql AS {}").format(
            sql.SQL(signature), sql.SQL(returns), sql.Literal(text)))


def test_a_function_planted_in_pgvectors_schema_runs_in_no_function_and_no_session_of_the_package(conn, dsn, role, capsys, real_vectors):
    x = real_vectors
    owner, planter = role("owner"), role("planter")
    grant(capsys, dsn, owner, "--train")
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        create_table(oc, "items", x[:30])
        model = CompresSAE(384, 1024, 16, seed=0).eval()  # in the defaults' encoding: the paths that call most built-ins
        model.encoding = Encoding(refit=True, pursuit=8, stages=2)
        attach_model(oc, model=model, sync="trigger")
        backfill("items", "embedding", conn=oc, progress=False, m=8, ef_construction=32)
        oc.execute("INSERT INTO items (id, embedding) VALUES (31, %s)", (x[31],))  # the trigger's encode
    with connect(as_user(dsn, planter), autocommit=True) as pc:
        plant(pc)
        pc.execute("SELECT array_fill(0::real, ARRAY[2]), cardinality(ARRAY[1])")  # the plants do win a plain call
        assert pc.execute("SELECT count(*) FROM public.calls").fetchone() == (2,)
        pc.execute("TRUNCATE public.calls")
    q = x[40]
    for who in (None, owner):  # the test's superuser, and the table's owner
        with connect(dsn if who is None else as_user(dsn, who), autocommit=True) as c:
            c.execute("SELECT compressae.encode('m', %s), compressae.project('m', %s)", (q, q))
            c.execute("SELECT compressae.decode('m', embedding_sae), compressae.similarity('m', embedding_sae, embedding_sae) FROM items")
            for rerank in ("reconstructed", "symmetric", "dense", "none"):
                assert len(c.execute("SELECT * FROM compressae.search('items', 'embedding', %s, k => 5, rerank => %s)",
                                     (q, rerank)).fetchall()) == 5
            c.execute("UPDATE items SET embedding = %s WHERE id = 2", (x[41],))
    for command in (["status", "--exact"], ["verify", "--table", "items", "--column", "embedding"]):  # the owner's (a superuser reads no other role's table)
        assert main([*command, "--dsn", as_user(dsn, owner)]) == 0, capsys.readouterr().err
    assert conn.execute("SELECT caller, what FROM public.calls").fetchall() == []
    assert check_codes(conn, model) == 31


def test_a_model_name_and_its_atoms_belong_to_the_role_that_stored_it(conn, dsn, role, capsys):
    owner, other = role("owner"), role("other")
    grant(capsys, dsn, owner, "--train")
    grant(capsys, dsn, other, "--train")
    staged = CompresSAE(384, 256, 8, seed=0).eval()
    staged.encoding = Encoding(refit=True, pursuit=4, stages=2)  # the defaults' encoding: stored with its stages
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        mine = registry.save(oc, "m", staged)
        assert registry.load(oc, "m")[1].encoding == staged.encoding
    atoms = conn.execute("SELECT (SELECT count(*) FROM compressae.encoder_atoms WHERE model_id = %(id)s),"
                         " (SELECT count(*) FROM compressae.decoder_atoms WHERE model_id = %(id)s)", {"id": mine.id}).fetchone()
    assert atoms == (256, 256)
    with connect(as_user(dsn, other), autocommit=True) as c:
        with pytest.raises(ModelOwnerError, match=f"belongs to role {owner}"):
            registry.save(c, "m", CompresSAE(384, 256, 8, seed=1))
        with pytest.raises(ModelOwnerError):
            registry.drop_model("m", conn=c)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # past the package, by hand
            c.execute("INSERT INTO compressae.models (name, version, dim, h, k) VALUES ('m', 2, 384, 256, 8)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("INSERT INTO compressae.models (name, version, dim, h, k, owner) VALUES ('x', 1, 384, 256, 8, %s)", (owner,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("INSERT INTO compressae.decoder_atoms (model_id, idx, decoder) VALUES (%s, 9999, %s)",
                      (mine.id, np.ones(384, dtype=np.float32)))
        for atoms in ("decoder_atoms", "encoder_atoms"):  # atoms go with their model, never one by one (0022)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(sql.SQL("DELETE FROM {} WHERE model_id = %s").format(sql.Identifier("compressae", atoms)), (mine.id,))
        assert c.execute("UPDATE compressae.models SET stages = 1 WHERE id = %s", (mine.id,)).rowcount == 0
        assert c.execute("UPDATE compressae.models SET doomed = true WHERE name = 'm'").rowcount == 0
        theirs = registry.save(c, "theirs", staged)  # its own names are its own
        assert (theirs.version, registry.drop_model("theirs", conn=c)[0].id) == (1, theirs.id)
    assert conn.execute("SELECT count(*) FROM compressae.decoder_atoms WHERE model_id = %s", (mine.id,)).fetchone() == (256,)
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        assert registry.save(oc, "m", staged).version == 2
        create_table(oc, "items", np.zeros((0, 384), np.float32))
        oc.execute("SELECT compressae.attach('items'::regclass, 'embedding', 'm@2')")
        v2 = registry.get(oc, "m@2").id
        # a version in use keeps its atoms and stages, even for its owner: codes written with it must stay what it decodes
        assert oc.execute("UPDATE compressae.models SET doomed = true WHERE id = %s", (v2,)).rowcount == 0
        assert oc.execute("UPDATE compressae.models SET stages = 1 WHERE id = %s", (v2,)).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            oc.execute("INSERT INTO compressae.encoder_atoms (model_id, idx, bias, encoder) VALUES (%s, 9999, 0, %s)",
                       (v2, np.ones(384, dtype=np.float32)))
        assert [v.version for v in registry.drop_model("m@1", conn=oc)] == [1]


def test_a_renamed_table_keeps_its_attachment_and_a_table_of_the_old_name_takes_none_of_it(conn, dsn, role, capsys, real_vectors, held):
    """The review's F5: after the owner renames its table, another `db grant` role makes a table of the old name. It
    may not delete, change or take the owner's attachment or queue entries, and the owner's writes go on being queued
    and coded under the new name."""
    x = real_vectors
    owner, squatter = role("owner"), role("squatter")
    grant(capsys, dsn, owner, "--train")
    grant(capsys, dsn, squatter, "--train")
    mine = as_user(dsn, owner)
    with connect(mine, autocommit=True) as oc:
        create_table(oc, "items", x[:10])
        att, model = held.enter_context(queueing_keys(oc, mine))
        backfill("items", "embedding", conn=oc, progress=False)
        oc.execute("ALTER TABLE items RENAME TO renamed")
        oc.execute("UPDATE renamed SET embedding = %s WHERE id = 2", (x[20],))
        renamed = oc.execute("SELECT 'renamed'::regclass::oid").fetchone()[0]
    with connect(as_user(dsn, squatter), autocommit=True) as sc:
        create_table(sc, "items", x[:3])
        assert attachments.list_attachments(sc, "items") == []  # the old name's new table has no attachment
        assert sc.execute("UPDATE compressae.attachments SET doomed = true WHERE id = %s", (att.id,)).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a column no granted role updates
            sc.execute("UPDATE compressae.attachments SET model_id = model_id WHERE id = %s", (att.id,))
        assert sc.execute("UPDATE compressae.sync_queue SET doomed = true WHERE attachment_id = %s", (att.id,)).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # nor point a record of its own at the owner's table
            sc.execute("INSERT INTO compressae.attachments (table_oid, source_column, code_column, model_id, graph, opclass)"
                       " VALUES (%s, 'embedding', 'mine', %s, 'sparse', 'sparsevec_cosine_ops')", (renamed, att.model.id))
        theirs, _model = attach_model(sc, name="theirs", seed=1)  # the old name, the default code column: its own
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            sc.execute("UPDATE compressae.attachments SET table_oid = %s WHERE id = %s", (renamed, theirs.id))
    with connect(mine, autocommit=True) as oc:  # the owner's own writes, under the new name
        oc.execute("INSERT INTO renamed (id, embedding) VALUES (11, %s)", (x[11],))
        insert_rows(oc, [12], [x[12]], table="renamed")
        oc.execute("UPDATE renamed SET embedding = %s WHERE id = 3", (x[23],))
        assert sorted(k for (k,) in oc.execute("SELECT unnest(keys) FROM compressae.sync_queue WHERE attachment_id = %s",
                                               (att.id,))) == ["11", "12", "2", "3"]
    result = sync("renamed", "embedding", dsn=mine, progress=False)
    assert (result.rows_written, result.rows_failed, result.queue_left) == (4, 0, 0)
    assert check_codes(conn, model, table="renamed") == 12  # every code equal to numpy's
    shown = {(r["table"], r["model"]) for r in compressae_status(conn=conn)}
    assert shown == {("public.renamed", "m@1"), ("public.items", "theirs@1")}
    assert backfill("renamed", "embedding", dsn=mine, progress=False).rows_written == 0  # nothing left to code


def test_a_dropped_tables_record_applies_to_no_later_table_of_its_name_and_the_next_attach_forgets_it(
        conn, dsn, role, capsys, real_vectors, held):
    """Finding 14: in a shared schema, a table dropped without a detach left a record that the next table of its name
    took for its own. Now that table has no attachment, and attaching it works with the default code column."""
    x = real_vectors
    first, second = role("first"), role("second")
    grant(capsys, dsn, first, "--train")
    grant(capsys, dsn, second, "--train")
    with connect(as_user(dsn, first), autocommit=True) as fc:  # attached, queued, then dropped without a detach
        create_table(fc, "items", x[:5])
        left, _model = held.enter_context(queueing_keys(fc, as_user(dsn, first), name="firsts"))
        fc.execute("UPDATE items SET embedding = %s WHERE id = 1", (x[7],))
        fc.execute("DROP TABLE items")
    dead = [r for r in compressae_status(conn=conn)]
    assert len(dead) == 1 and dead[0]["model"] == "firsts@1" and dead[0]["table"].startswith("(dropped table, oid ")
    assert dead[0]["note"] == ("this attachment's table was dropped without a detach; the next attach forgets the record, "
                               f"or: UPDATE compressae.attachments SET doomed = true WHERE id = {left.id}")
    with connect(as_user(dsn, second), autocommit=True) as sc:
        create_table(sc, "items", x[:5])
        assert attachments.list_attachments(sc, "items") == []
        with pytest.raises(NotAttachedError, match="no compressed code column is attached to public.items.embedding"):
            backfill("items", "embedding", conn=sc, progress=False)
        with pytest.raises(psycopg.errors.UndefinedObject, match="no compressed code column is attached"):
            sc.execute("SELECT * FROM compressae.search('items', 'embedding', %s)", (x[1],))
        model = CompresSAE(384, 256, 8, seed=1).eval()
        registry.save(sc, "seconds", model)
        att = attachments.attach("items", "embedding", "seconds", conn=sc)
        assert (att.table.qualified, att.code_column, att.model.ref) == ("public.items", "embedding_sae", "seconds@1")
        assert backfill("items", "embedding", conn=sc, progress=False).rows_written == 5
    assert check_codes(conn, model) == 5
    assert [(r["table"], r["model"]) for r in compressae_status(conn=conn)] == [("public.items", "seconds@1")]
    assert conn.execute("SELECT count(*) FROM compressae.sync_queue WHERE attachment_id = %s", (left.id,)).fetchone() == (0,)


def test_a_view_in_an_attached_tables_place_runs_nothing_in_a_superusers_status_or_backfill(conn, dsn, role, capsys, real_vectors):
    owner = role("owner")
    grant(capsys, dsn, owner, "--train")
    conn.execute("CREATE TABLE spied (who name)")
    conn.execute("GRANT INSERT ON spied TO PUBLIC")
    with connect(as_user(dsn, owner), autocommit=True) as oc:  # the table goes, a view that records its reader comes
        create_table(oc, "items", real_vectors[:5])
        attach_model(oc, name="owned")
        oc.execute("DROP TABLE items")
        oc.execute("CREATE FUNCTION spy() RETURNS int LANGUAGE sql VOLATILE AS "
                   "$$ INSERT INTO public.spied VALUES (current_user); SELECT 1 $$")
        oc.execute("CREATE VIEW items AS SELECT g AS id, NULL::vector(384) AS embedding, NULL::sparsevec AS embedding_sae, "
                   "NULL::bit(384) AS embedding_sae_sketch, NULL::varbit AS embedding_sae_residual, spy() AS s "
                   "FROM generate_series(1, 3) g")
    rows = compressae_status(exact=True, conn=conn)
    assert len(rows) == 1 and "rows" not in rows[0] and rows[0]["rows_estimate"] is None
    assert rows[0]["table"].startswith("(dropped table, oid ") and rows[0]["note"].startswith("this attachment's table was dropped")
    assert main(["status", "--exact", "--dsn", dsn]) == 0
    assert "note: this attachment's table was dropped" in capsys.readouterr().out
    with pytest.raises(UnknownTableError, match=r"^public\.items \(a view, not a table\): attachments apply to tables"):
        backfill("items", "embedding", conn=conn, progress=False)
    with pytest.raises(psycopg.errors.UndefinedObject, match="no compressed code column is attached"):
        conn.execute("SELECT * FROM compressae.search('items', 'embedding', %s)", (real_vectors[1],))
    assert conn.execute("SELECT count(*) FROM spied").fetchone() == (0,)  # the view's function never ran
    (ran,) = conn.execute("SELECT count(*) FROM items").fetchone()  # while reading the view does run it:
    assert ran == 3 and conn.execute("SELECT count(*) FROM spied").fetchone() == (3,)


def test_a_superuser_never_writes_codes_to_another_roles_table_and_its_owner_does(conn, dsn, role, capsys, real_vectors):
    x = real_vectors
    owner = role("owner")
    grant(capsys, dsn, owner, "--train")
    mine = as_user(dsn, owner)
    with connect(mine, autocommit=True) as oc:  # a trigger of the owner's that takes back the session's own role
        create_table(oc, "items", x[:20])  # where it can (as after a SET ROLE) and records who fires it
        oc.execute("CREATE TABLE fired (who name, super boolean)")
        oc.execute("CREATE FUNCTION record_writer() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "BEGIN RESET ROLE; EXCEPTION WHEN insufficient_privilege THEN NULL; END; "
                   "INSERT INTO public.fired SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user; "
                   "RETURN NEW; END $$")
        oc.execute("CREATE TRIGGER record_writer BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION record_writer()")
        _att, model = attach_model(oc, sync="queue")
        registry.save(oc, "m", CompresSAE(384, 1024, 16, seed=1).eval())
    fired = "SELECT who, super, count(*) FROM fired GROUP BY 1, 2"
    columns = "SELECT count(*) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0 AND NOT attisdropped"
    (before,) = conn.execute(columns).fetchone()
    for run in (lambda: backfill("items", "embedding", dsn=dsn, progress=False),  # the test's role: a superuser
                lambda: sync("items", "embedding", dsn=dsn, progress=False),
                lambda: recompress("items", "embedding", "m@2", dsn=dsn, progress=False)):
        with pytest.raises(OwnerCodeError, match=f"belongs to {owner}.*run this command as {owner}"):
            run()
    assert conn.execute(fired).fetchall() == []  # the owner's code never ran in a superuser's command
    assert conn.execute(columns).fetchone() == (before,)  # recompress staged nothing
    assert conn.execute("SELECT count(*) FROM items WHERE embedding_sae IS NOT NULL").fetchone() == (0,)
    assert backfill("items", "embedding", dsn=mine, progress=False).rows_written == 20  # the owner's own commands
    conn.execute("UPDATE items SET embedding = %s WHERE id IN (2, 5)", (x[21],))  # the superuser's own write fires it as itself
    assert sync("items", "embedding", dsn=mine, progress=False).rows_written == 2
    assert sorted(conn.execute(fired).fetchall()) == sorted([(owner, False, 22), (conn.info.user, True, 2)])
    assert check_codes(conn, model) == 20  # every code equal to numpy's
    conn.execute("TRUNCATE fired")
    assert recompress("items", "embedding", "m@2", dsn=mine, progress=False).swapped
    assert conn.execute(fired).fetchall() == [(owner, False, 20)]
    assert check_codes(conn, registry.load(conn, "m@2")[1]) == 20


def test_a_deleted_attachments_queue_entries_and_failure_records_go_with_it_and_an_upgrade_forgets_older_ones(
        conn, dsn, role, capsys, real_vectors, held):
    x = real_vectors
    owner = role("owner")
    grant(capsys, dsn, owner, "--train")
    left = ("SELECT (SELECT count(*) FROM compressae.sync_queue WHERE attachment_id = %(id)s),"
            " (SELECT count(*) FROM compressae.sync_failures WHERE attachment_id = %(id)s)")
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        create_table(oc, "items", x[:5])
        att, _model = held.enter_context(queueing_keys(oc, as_user(dsn, owner)))
        oc.execute("UPDATE items SET embedding = %s WHERE id = 1", (np.zeros(384, np.float32),))
        assert sync("items", "embedding", dsn=as_user(dsn, owner), progress=False).rows_failed == 1  # the zero vector
        oc.execute("UPDATE items SET embedding = %s WHERE id IN (2, 3)", (x[7],))
        oc.execute("DROP TABLE items")  # without a detach: the record stays, with its entry and its failure
        assert conn.execute(left, {"id": att.id}).fetchone() == (1, 1)
        create_table(oc, "items", x[:5])  # the next table of that name is not the record's: it is forgotten, as status says
        assert oc.execute("UPDATE compressae.attachments SET doomed = true WHERE id = %s", (att.id,)).rowcount == 1
    assert conn.execute(left, {"id": att.id}).fetchone() == (0, 0)
    create_table(conn, "kept", x[:5])  # a live attachment's entry stays through the upgrade
    kept, _model = held.enter_context(queueing_keys(conn, dsn, table="kept", name="kept", sketch_planes=1))  # 0014 can hold it
    conn.execute("UPDATE kept SET embedding = %s WHERE id = 4", (x[8],))
    _migrate.downgrade(dsn, "0014_swap")  # a database of before: an entry left by an attachment deleted then
    conn.execute("INSERT INTO compressae.sync_queue (attachment_id, keys) VALUES (%s, '{1,2}')", (att.id,))
    _migrate.upgrade(dsn)
    assert conn.execute(left, {"id": att.id}).fetchone() == (0, 0)
    assert conn.execute("SELECT attachment_id, keys FROM compressae.sync_queue").fetchall() == [(kept.id, ["4"])]


def test_one_statements_queue_entries_cost_time_linear_in_its_keys(conn):
    conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(8))")
    registry.save(conn, "m", CompresSAE(8, 32, 4, seed=0).eval())
    with conn.transaction():  # no pending index (0024): the statement triggers queue every key
        att = attachments.attach("items", "embedding", "m@1", sync="queue", conn=conn)
    insert = "EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO items SELECT g, array_fill(1::real, ARRAY[8])::vector FROM generate_series(1, %s) g"

    def trigger_ms(n: int) -> float:
        """The queue's statement trigger's own time in an INSERT of ``n`` rows (as the server counts it), best of two."""
        times = []
        for _ in range(2):
            conn.execute("TRUNCATE items")
            conn.execute("DELETE FROM compressae.sync_queue")
            (plan,) = conn.execute(insert, (n,)).fetchone()
            times += [t["Time"] for t in plan[0]["Triggers"] if t["Trigger Name"] == f"compressae_sync_{att.id}_insert"]
        return min(times)

    small, large = trigger_ms(25_000), trigger_ms(400_000)
    entries = conn.execute("SELECT count(*), max(cardinality(keys)), count(DISTINCT k), min(k::bigint), max(k::bigint)"
                           " FROM compressae.sync_queue, unnest(keys) AS k").fetchone()
    assert entries[1:] == (1000, 400_000, 1, 400_000) and conn.execute("SELECT count(*) FROM compressae.sync_queue").fetchone() == (400,)
    assert large / small < 30, f"16x the keys took {large / small:.1f}x the time ({small:.0f} ms, {large:.0f} ms)"  # the square: ~50x


def test_sql_search_and_explain_run_no_cast_or_operator_that_the_tables_owner_planted(conn, dsn, role, capsys, real_vectors):
    """A superuser's ``compressae.search`` and ``compressae.explain`` on an owner's table keyed by the owner's enum read
    the keys through the type's own output and input functions, never a cast the owner made, and compare sketches with
    pgvector's ``<~>(bit, bit)`` only, whatever ``<~>`` the owner planted beside it (review 2: H6, H1)."""
    x = real_vectors
    owner = role("owner")
    grant(capsys, dsn, owner, "--train")
    labels = [f"k{i}" for i in range(30)]
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        oc.execute(sql.SQL("CREATE TYPE public.label AS ENUM ({})").format(sql.SQL(", ").join(map(sql.Literal, labels))))
        oc.execute("CREATE TABLE items (id public.label PRIMARY KEY, embedding vector(384))")
        insert_rows(oc, labels, x[:30])
        attach_model(oc)
        backfill("items", "embedding", conn=oc, progress=False, m=8, ef_construction=32)
        oc.execute("CREATE TABLE public.calls (caller name, rolsuper boolean)")
        oc.execute("GRANT INSERT ON public.calls TO PUBLIC")
        record = "INSERT INTO public.calls SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user; "
        oc.execute(sql.SQL("CREATE FUNCTION public.label_text(public.label) RETURNS text LANGUAGE sql AS $$ {}"
                           "SELECT 'planted' $$").format(sql.SQL(record)))
        oc.execute(sql.SQL("CREATE FUNCTION public.text_label(text) RETURNS public.label LANGUAGE sql AS $$ {}"
                           "SELECT 'k0'::public.label $$").format(sql.SQL(record)))
        oc.execute("CREATE CAST (public.label AS text) WITH FUNCTION public.label_text(public.label)")
        oc.execute("CREATE CAST (text AS public.label) WITH FUNCTION public.text_label(text)")
        for left, right in (("bit", "varbit"), ("varbit", "bit"), ("varbit", "varbit")):
            name = sql.Identifier(f"ham_{left}_{right}")
            oc.execute(sql.SQL("CREATE FUNCTION public.{}(a {}, b {}) RETURNS float8 LANGUAGE sql AS {}").format(
                name, sql.SQL(left), sql.SQL(right), sql.Literal(record + "SELECT 0::float8")))
            oc.execute(sql.SQL("CREATE OPERATOR public.<~> (LEFTARG = {}, RIGHTARG = {}, FUNCTION = public.{})").format(
                sql.SQL(left), sql.SQL(right), name))
        oc.execute("SELECT 'k3'::public.label::text")  # the plants do win a plain cast
        assert oc.execute("SELECT count(*) FROM public.calls").fetchone() == (1,)
        oc.execute("TRUNCATE public.calls")
    q = x[7]
    hits = conn.execute("SELECT key, score FROM compressae.search('items', 'embedding', %s, k => 5)", (q,)).fetchall()
    assert "k7" in {key for key, _ in hits} and len(hits) == 5 and {key for key, _ in hits} <= set(labels)
    for key, _score in hits:
        (atoms,) = conn.execute("SELECT count(*) FROM compressae.explain('items', 'embedding', %s, %s)", (q, key)).fetchone()
        assert atoms > 0
    assert conn.execute("SELECT * FROM public.calls").fetchall() == []


def plant_operator(c: psycopg.Connection, op: str, left: str, right: str, returns: str, body: str) -> None:
    """An operator ``op`` (``left``, ``right``) in public, an exact match where the package's statement compares those
    types, that records its caller in ``public.calls`` and then does what ``body`` (of $1, $2) computes."""
    c.execute("CREATE TABLE IF NOT EXISTS public.calls (caller name, what text)")
    c.execute("GRANT INSERT ON public.calls TO PUBLIC")
    name = sql.Identifier("public", f"planted_{uuid.uuid4().hex[:8]}")
    text = sql.SQL("INSERT INTO public.calls VALUES (current_user, {}); SELECT {}").format(sql.Literal(op), sql.SQL(body))
    c.execute(sql.SQL("CREATE FUNCTION {}({}, {}) RETURNS {} LANGUAGE sql AS {}").format(
        name, sql.SQL(left), sql.SQL(right), sql.SQL(returns), sql.Literal(text.as_string(c))))
    c.execute(sql.SQL("CREATE OPERATOR public.{} (LEFTARG = {}, RIGHTARG = {}, FUNCTION = {})").format(
        sql.SQL(op), sql.SQL(left), sql.SQL(right), name))


def test_an_operator_planted_for_bit_against_varbit_runs_in_no_write_of_codes(conn, dsn, role, capsys, real_vectors):
    x = real_vectors
    owner, planter = role("owner"), role("planter")
    grant(capsys, dsn, owner, "--train")
    mine = as_user(dsn, owner)
    with connect(mine, autocommit=True) as oc:
        create_table(oc, "items", x[:20])
        _att, model = attach_model(oc, residual_bits=2)
        assert backfill("items", "embedding", conn=oc, progress=False).rows_written == 20
        oc.execute("UPDATE items SET embedding_sae_residual = NULL WHERE id <= 5")  # coded, without a residual sketch
    with connect(as_user(dsn, planter), autocommit=True) as pc:
        for op, body in (("=", "$1::varbit = $2"), ("<>", "$1::varbit <> $2")):
            plant_operator(pc, op, "bit", "varbit", "boolean", body)
        pc.execute("SELECT B'1' = B'1'::varbit")  # the plant does win a plain comparison of those types
        assert pc.execute("SELECT count(*) FROM public.calls").fetchone() == (1,)
        pc.execute("TRUNCATE public.calls")
    assert backfill("items", "embedding", dsn=mine, progress=False).status == "done"  # fills the five sketches
    assert conn.execute("SELECT caller, what FROM public.calls").fetchall() == []
    assert check_codes(conn, model) == 20 and check_residuals(conn, model, planes=2) == 20


def test_an_operator_planted_for_bit_against_varbit_runs_in_no_search_of_the_sketch_graph(conn, dsn, role, capsys, real_vectors):
    x = real_vectors
    owner, planter = role("owner"), role("planter")
    grant(capsys, dsn, owner, "--train")
    mine = as_user(dsn, owner)
    with connect(mine, autocommit=True) as oc:
        create_table(oc, "items", x[:40])
        assert attach_model(oc)[0].sketch_column is not None  # the default: the sketch graph
        backfill("items", "embedding", conn=oc, progress=False)
    with connect(as_user(dsn, planter), autocommit=True) as pc:
        plant_operator(pc, "<~>", "bit", "varbit", "float8", "public.hamming_distance($1, $2)")
    q = x[45]
    top = [int(i) + 1 for i in np.argsort(-cos(q, x[:40]))[:5]]  # numpy's exact top 5 (ids are 1-based)
    with connect(mine, autocommit=True) as c:  # every row a candidate, reranked by the dense source: numpy's order
        assert [h.key for h in CompressedColumn(c, "items", "embedding").search(q, k=5, candidates=40, rerank="dense")] == top
    assert main(["search", "--table", "items", "--column", "embedding", "--key", "1", "--k", "2", "--dsn", mine]) == 0, capsys.readouterr().err
    assert conn.execute("SELECT caller, what FROM public.calls").fetchall() == []


def test_a_cast_an_owner_defines_on_its_key_type_runs_in_no_command_that_reads_keys(conn, dsn, role, capsys, real_vectors):
    x = real_vectors
    owner = role("owner")
    grant(capsys, dsn, owner, "--train")
    mine = as_user(dsn, owner)
    labels = [f"c{i}" for i in range(1, 31)]
    with connect(mine, autocommit=True) as oc:
        oc.execute(sql.SQL("CREATE TYPE color AS ENUM ({})").format(sql.SQL(", ").join(map(sql.Literal, labels))))
        oc.execute("CREATE TABLE items (id color PRIMARY KEY, embedding vector(384))")
        with oc.cursor().copy("COPY items (id, embedding) FROM STDIN") as copy:
            for label, v in zip(labels, x[:30]):
                copy.write_row((label, v))
        _att, model = attach_model(oc)
        oc.execute("CREATE TABLE public.calls (caller name, what text)")
        oc.execute("GRANT INSERT ON public.calls TO PUBLIC")
        oc.execute("CREATE FUNCTION color_text(c color) RETURNS text LANGUAGE sql AS "
                   "$$ INSERT INTO public.calls VALUES (current_user, 'color::text'); SELECT pg_catalog.format('%s', c) $$")
        oc.execute("CREATE CAST (color AS text) WITH FUNCTION color_text(color)")
        oc.execute("SELECT 'c1'::color::text")  # the cast does run in a plain cast
        assert oc.execute("SELECT count(*) FROM public.calls").fetchone() == (1,)
        oc.execute("TRUNCATE public.calls")
    assert backfill("items", "embedding", dsn=mine, progress=False, workers=2).rows_written == 30  # key ranges cut by quantiles
    for command in (["verify", "--table", "items", "--column", "embedding"], ["status", "--table", "items", "--drift", "30"],
                    ["search", "--table", "items", "--column", "embedding", "--key", "c1", "--k", "3"]):
        assert main([*command, "--dsn", mine]) == 0, capsys.readouterr().err
    with connect(mine, autocommit=True) as oc:
        hits = CompressedColumn(oc, "items", "embedding").search(x[45], k=5, candidates=30, rerank="dense")
    assert [h.key for h in hits] == [labels[i] for i in np.argsort(-cos(x[45], x[:30]))[:5]]  # numpy's exact top 5
    assert conn.execute("SELECT caller, what FROM public.calls").fetchall() == []
    assert check_codes(conn, model) == 30


def test_a_function_planted_for_the_ops_names_runs_in_no_attach_or_detach(conn, dsn, role, capsys, real_vectors):
    import sqlalchemy as sa
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy.pool import NullPool

    from compressae_pg import alembic as ops

    owner = role("owner")
    grant(capsys, dsn, owner, "--train")
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        create_table(oc, "items", x := real_vectors[:10])
        registry.save(oc, "m", CompresSAE(384, 1024, 16, seed=0).eval())
        oc.execute("CREATE TABLE public.calls (caller name, what text)")
        oc.execute("GRANT INSERT ON public.calls TO PUBLIC")
        oc.execute("CREATE FUNCTION public.concat_ws(s text, a text, b text) RETURNS text LANGUAGE sql AS "
                   "$$ INSERT INTO public.calls VALUES (current_user, 'concat_ws'); SELECT pg_catalog.concat_ws(s, a, b) $$")
        oc.execute("SELECT concat_ws('.', 'a'::text, 'b'::text)")  # the plant does win a plain call
        assert oc.execute("SELECT count(*) FROM public.calls").fetchone() == (1,)
        oc.execute("TRUNCATE public.calls")
    attached = "SELECT count(*) FROM compressae.attachments WHERE table_oid = 'items'::regclass"
    for command, after in ((["attach", "--table", "items", "--column", "embedding", "--model", "m", "--apply"], 1),
                           (["detach", "--table", "items", "--column", "embedding"], 0)):  # the superuser's CLI
        assert main([*command, "--dsn", dsn]) == 0, capsys.readouterr().err
        assert conn.execute(attached).fetchone() == (after,)
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=NullPool)
    try:  # an application's own migration, on its own search_path ("$user", public)
        for op in (ops.AddCompressedColumnOp("items", "embedding", model="m", index=False),
                   ops.DropCompressedColumnOp("items", "embedding")):
            with engine.connect() as connection:
                ctx = MigrationContext.configure(connection)
                with ctx.begin_transaction():
                    Operations(ctx).invoke(op)
    finally:
        engine.dispose()
    assert conn.execute(attached).fetchone() == (0,)
    assert conn.execute("SELECT caller, what FROM public.calls").fetchall() == []
    with connect(as_user(dsn, owner), autocommit=True) as oc:  # the owner's attach still codes as numpy does
        _att, model = attach_model(oc)
        backfill("items", "embedding", conn=oc, progress=False)
    assert check_codes(conn, model) == len(x)
FILTERED = "SELECT key FROM compressae.search('items', 'embedding', %s, k => 5, candidates => 50, filter => %s)"


def test_a_filter_compares_by_its_types_own_equality_never_an_operator_another_role_put_in_a_schema(conn, dsn, role, real_vectors):
    x = real_vectors
    create_table(conn, "items", x[:60], category="category")
    conn.execute("ALTER TABLE items ALTER COLUMN category TYPE varchar(20), ADD COLUMN note text, ADD COLUMN doc json")
    conn.execute("UPDATE items SET note = 'note-' || id")
    attach_model(conn)
    backfill("items", "embedding", conn=conn, progress=False)
    other = role("other")
    conn.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(conn.info.dbname), sql.Identifier(other)))
    conn.execute("CREATE TABLE public.calls (caller name)")
    conn.execute("GRANT INSERT ON public.calls TO PUBLIC")
    q = x[5000]
    rare = Jsonb({"category": "rare"})
    note = Jsonb({"note": ["note-7", "note-8"]})
    truth = {int(k) for (k,) in conn.execute("SELECT id FROM items WHERE category = 'rare'")}
    before = conn.execute(FILTERED, (q, rare)).fetchall()
    assert len(before) == 5 and {int(k) for (k,) in before} <= truth
    with connect(as_user(dsn, other), autocommit=True) as c:  # pg_catalog has no =(varchar, varchar): one in public, one in its own schema
        c.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(other)))
        for schema, typ in (("public", "varchar"), (other, "varchar"), (other, "text")):
            c.execute(sql.SQL("CREATE FUNCTION {}(a {t}, b {t}) RETURNS boolean LANGUAGE sql AS "
                              "$$ INSERT INTO public.calls VALUES (current_user) RETURNING a::text = b::text $$").format(
                sql.Identifier(schema, "eq_" + typ), t=sql.SQL(typ)))
            c.execute(sql.SQL("CREATE OPERATOR {}.= (LEFTARG = {t}, RIGHTARG = {t}, FUNCTION = {})").format(
                sql.Identifier(schema), sql.Identifier(schema, "eq_" + typ), t=sql.SQL(typ)))
    assert conn.execute(FILTERED, (q, rare)).fetchall() == before
    assert {int(k) for (k,) in conn.execute(FILTERED, (q, note))} == {7, 8}  # no second = (text, text) breaks a text column
    assert conn.execute("SELECT count(*) FROM public.calls").fetchone() == (0,)  # and none of the planted ones ran
    with pytest.raises(psycopg.errors.UndefinedFunction, match="filter cannot compare type json: it has no default btree"):
        conn.execute(FILTERED, (q, Jsonb({"doc": "{}"})))
    assert len(conn.execute(FILTERED, (q, Jsonb({"doc": None}))).fetchall()) == 5  # IS NULL needs no equality


def test_an_id_an_insert_names_is_replaced_so_no_role_takes_the_ids_anothers_rows_get_next(conn, dsn, role, capsys, real_vectors):
    x = real_vectors
    owner, other = role("owner"), role("other")
    grant(capsys, dsn, owner, "--train")
    grant(capsys, dsn, other, "--train")
    with connect(as_user(dsn, other), autocommit=True) as c:
        create_table(c, "theirs", x[:3])
        theirs, _ = attach_model(c, table="theirs", name="theirs", sync="queue")
        backfill("theirs", "embedding", conn=c, progress=False)
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        create_table(oc, "items", x[:10])
        create_table(oc, "more", x[:10])
    nxt = lambda seq: conn.execute("SELECT last_value + is_called::int FROM " + seq).fetchone()[0]  # noqa: E731
    squats = {  # the next 30 ids of each table, on rows the squatter's own attachment and model allow it (the
        # queue's key is (attachment_id, id): its ids are the squatter's own, no trigger needed)
        "attachments": ("INSERT INTO compressae.attachments (id, table_oid, source_column, code_column, model_id, sketch_column, "
                        "sketch_planes, opclass) OVERRIDING SYSTEM VALUE SELECT g, 'theirs'::regclass, 'embedding', 'c' || g, "
                        "%(model)s, 's' || g, 1, 'bit_hamming_ops' FROM generate_series(%(lo)s, %(lo)s + 29) g"),
        "backfill_jobs": ("INSERT INTO compressae.backfill_jobs (id, attachment_id, model_id, run, horizon) OVERRIDING SYSTEM VALUE "
                          "SELECT g, %(att)s, %(model)s, 1, '1'::xid8 FROM generate_series(%(lo)s, %(lo)s + 29) g"),
        "sync_queue": ("INSERT INTO compressae.sync_queue (id, attachment_id, keys) OVERRIDING SYSTEM VALUE "
                       "SELECT g, %(att)s, '{1}' FROM generate_series(%(lo)s, %(lo)s + 29) g"),
        "models": ("INSERT INTO compressae.models (id, name, version, dim, h, k, refit, pursuit, params, metrics, weights, owner) "
                   "OVERRIDING SYSTEM VALUE SELECT g, name, version + g, dim, h, k, refit, pursuit, params, metrics, weights, owner "
                   "FROM compressae.models, generate_series(%(lo)s, %(lo)s + 29) g WHERE id = %(model)s"),
    }
    with connect(as_user(dsn, other), autocommit=True) as c:
        for table, squat in squats.items():
            lo = nxt(f"compressae.{table}_id_seq")
            got = c.execute(squat + " RETURNING id", {"model": theirs.model.id, "att": theirs.id, "lo": lo}).fetchall()
            assert len(got) == 30 and min(i for (i,) in got) >= lo  # stored, each under an id the sequence gave it
    with connect(as_user(dsn, owner), autocommit=True) as oc:  # the owner's train, attach, queued writes and backfill
        att, model = attach_model(oc, sync="queue")
        attach_model(oc, table="more", name="more")
        insert_rows(oc, [11], [x[11]])
        result = backfill("items", "embedding", conn=oc, progress=False)
        assert result.rows_written == 11
    assert check_codes(conn, model) == 11


def test_no_queue_failure_or_job_shows_keys_of_rows_the_tables_row_security_hides(conn, dsn, role, capsys, real_vectors, held):
    x = real_vectors
    owner, worker, reader = role("owner"), role("worker"), role("reader")
    grant(capsys, dsn, owner, "--train")
    grant(capsys, dsn, worker)
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        create_table(oc, "secret", x[:10])
        oc.execute("ALTER TABLE secret ENABLE ROW LEVEL SECURITY")
        oc.execute("CREATE POLICY own_row ON secret FOR SELECT USING (id = 1)")  # the others see row 1 alone
        oc.execute(sql.SQL("GRANT SELECT, UPDATE ON secret TO {}, {}").format(sql.Identifier(worker), sql.Identifier(reader)))
        att, _ = held.enter_context(queueing_keys(oc, as_user(dsn, owner), table="secret"))
        backfill("secret", "embedding", conn=oc, progress=False)
        insert_rows(oc, [20, 21], [np.zeros_like(x[0])] * 2, table="secret")  # zero vectors: sync fails them
        sync("secret", "embedding", conn=oc, progress=False)
        insert_rows(oc, [22], [x[22]], table="secret")  # queued, not yet synced
    rows = {"sync_failures": "SELECT key FROM compressae.sync_failures WHERE attachment_id = %s",
            "sync_queue": "SELECT unnest(keys) FROM compressae.sync_queue WHERE attachment_id = %s",
            "backfill_jobs": "SELECT last_key FROM compressae.backfill_jobs WHERE attachment_id = %s"}
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        seen = {table: oc.execute(q, (att.id,)).fetchall() for table, q in rows.items()}
    assert sorted(k for (k,) in seen["sync_failures"]) == ["20", "21"] and seen["sync_queue"] == [("22",)] and seen["backfill_jobs"]
    for who in (reader, worker):  # PUBLIC reads sync_failures; a `db grant` role the queue and the jobs
        with connect(as_user(dsn, who), autocommit=True) as c:
            assert c.execute("SELECT count(*) FROM secret").fetchone() == (1,)
            for table, q in rows.items():
                if who == worker or table == "sync_failures":
                    assert c.execute(q, (att.id,)).fetchall() == [], (who, table)
    conn.execute("ALTER TABLE secret DISABLE ROW LEVEL SECURITY")  # without row security they may read every row and its keys
    with connect(as_user(dsn, worker), autocommit=True) as c:
        assert {table: c.execute(q, (att.id,)).fetchall() for table, q in rows.items()} == seen


def test_a_models_huge_metrics_and_source_are_left_out_of_every_roles_listing_and_kept_whole(conn, dsn, role, capsys):
    """Review 2, L3: a --train role stored a model with metrics of many MB, and every role's `models list` read them."""
    other = role("other")
    grant(capsys, dsn, other, "--train")
    rng = np.random.default_rng(0)
    huge = {"val_cosine": 0.5, "junk": [rng.bytes(1 << 20).hex() for _ in range(8)]}  # 16 MB of text that does not compress
    small = CompresSAE(384, 64, 4, seed=0)
    with connect(as_user(dsn, other), autocommit=True) as c:
        registry.save(c, "bloated", small, source="s" * 5000, params={"p": 1}, metrics=huge)
        registry.save(c, "plain", small, source="table items", metrics={"val_cosine": 0.9})
    (size,) = conn.execute("SELECT pg_column_size(metrics) FROM compressae.models WHERE name = 'bloated'").fetchone()
    assert size > 16_000_000  # stored whole
    listed = {m.name: m for m in registry.list_models(conn=conn)}
    assert listed["plain"].metrics == {"val_cosine": 0.9} and listed["plain"].source == "table items"
    assert set(listed["bloated"].metrics) == {"omitted"} and "64 KiB" in listed["bloated"].metrics["omitted"]
    assert listed["bloated"].params == {"p": 1} and listed["bloated"].source == "s" * 1000 + " …"
    assert main(["models", "list", "--json", "--dsn", dsn]) == 0
    assert len(capsys.readouterr().out) < 100_000
    full = registry.get(conn, "bloated")  # the model named: in full
    assert full.metrics == huge and full.source == "s" * 5000


@pytest.mark.parametrize("mode", ["trigger", "queue", "keys"])  # keys: the queue before its pending index (0024)
def test_functions_another_role_made_under_the_next_sync_names_stop_no_attach_and_never_run(conn, dsn, role, capsys, real_vectors, mode, held):
    x = real_vectors
    owner, squatter = role("owner"), role("squatter")  # each with CREATE on public, as a shared schema gives
    grant(capsys, dsn, owner, "--train")
    nxt = conn.execute("SELECT last_value + is_called::int FROM compressae.attachments_id_seq").fetchone()[0]
    with connect(as_user(dsn, squatter), autocommit=True) as sc:  # 0022 named them compressae_sync_<id>[_queue]()
        sc.execute("CREATE TABLE ran (id int)")
        sc.execute("GRANT INSERT ON ran TO PUBLIC")
        for name in [f"compressae_sync_{i}{end}" for i in range(nxt, nxt + 3) for end in ("", "_queue")]:
            sc.execute(sql.SQL("CREATE FUNCTION public.{}() RETURNS trigger LANGUAGE plpgsql AS "
                               "'BEGIN INSERT INTO public.ran VALUES (1); RETURN NEW; END'").format(sql.Identifier(name)))
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        create_table(oc, "items", x[:10])
        att, model = held.enter_context(queueing_keys(oc, as_user(dsn, owner))) if mode == "keys" else attach_model(oc, sync=mode)
        backfill("items", "embedding", conn=oc, progress=False)
        insert_rows(oc, [11, 12], [x[11], x[12]])
        oc.execute("UPDATE items SET embedding = %s WHERE id = 1", (x[20],))
        if mode != "trigger":
            assert sync("items", "embedding", conn=oc, progress=False).rows_written == 3
        functions = {trigger_function(oc, "items", t[0]) for t in oc.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal")}
        owners = {r for (r,) in oc.execute("SELECT proowner::regrole::text FROM pg_proc WHERE oid = ANY(%s::regprocedure[])",
                                           (list(functions),))}
        assert att.id >= nxt and len(functions) == (2 if mode == "keys" else 1) and owners == {owner}
        assert not functions & {f"public.compressae_sync_{att.id}{end}()" for end in ("", "_queue")}
    assert check_codes(conn, model) == 12  # every row coded as numpy codes it, through the owner's own functions
    assert conn.execute("SELECT count(*) FROM ran").fetchone() == (0,)
    assert main(["detach", "--table", "items", "--column", "embedding", "--dsn", as_user(dsn, owner)]) == 0, capsys.readouterr().err
    left = {f for (f,) in conn.execute("SELECT proname FROM pg_proc WHERE proname LIKE 'compressae\\_sync\\_%%'")}
    assert left == {f"compressae_sync_{i}{end}" for i in range(nxt, nxt + 3) for end in ("", "_queue")}  # the squatter's, only


@pytest.mark.parametrize("mode", ["trigger", "queue"])
def test_no_other_roles_trigger_can_call_an_attachments_sync_functions_and_so_stop_its_detach(conn, dsn, role, capsys, real_vectors, mode):
    x = real_vectors
    owner, nobody, writer = role("owner"), role("nobody"), role("writer")
    grant(capsys, dsn, owner, "--train")
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        create_table(oc, "items", x[:10])
        att, model = attach_model(oc, sync=mode)
        backfill("items", "embedding", conn=oc, progress=False)
        oc.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON items TO {}").format(sql.Identifier(writer)))
        functions = [trigger_function(oc, "items", t) for t in [f"compressae_sync_{att.id}", f"compressae_sync_{att.id}_insert"]]
    with connect(as_user(dsn, nobody), autocommit=True) as c:  # a temporary table needs no grant; its trigger would pin them
        c.execute("CREATE TEMP TABLE mine (id int PRIMARY KEY, embedding vector(384), embedding_sae sparsevec, "
                  "embedding_sae_sketch bit(768), embedding_sae_residual bit(768))")
        for f in set(functions):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(sql.SQL("CREATE TRIGGER pin BEFORE INSERT ON mine FOR EACH ROW EXECUTE FUNCTION {}()").format(
                    sql.SQL(f.removesuffix("()"))))
        with connect(as_user(dsn, writer), autocommit=True) as wc:  # the owner's triggers still fire for a role it let write
            insert_rows(wc, [11], [x[11]])
            wc.execute("UPDATE items SET embedding = %s WHERE id = 1", (x[21],))
        if mode == "queue":
            assert sync("items", "embedding", dsn=as_user(dsn, owner), progress=False).rows_written == 2
        assert check_codes(conn, model) == 11  # row 1 re-coded and row 11 coded, each as numpy codes it
        assert main(["detach", "--table", "items", "--column", "embedding", "--dsn", as_user(dsn, owner)]) == 0, capsys.readouterr().err
    assert conn.execute("SELECT count(*) FROM pg_proc WHERE proname LIKE 'compressae\\_sync\\_%%'").fetchone() == (0,)


def test_an_attach_refuses_a_table_that_has_a_trigger_of_its_sync_names_and_leaves_it(conn, real_vectors):
    create_table(conn, "items", real_vectors[:3])
    nxt = conn.execute("SELECT last_value + is_called::int FROM compressae.attachments_id_seq").fetchone()[0]
    conn.execute("CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'")
    conn.execute(sql.SQL("CREATE TRIGGER {} AFTER UPDATE ON items FOR EACH ROW EXECUTE FUNCTION audit()").format(
        sql.Identifier(f"compressae_sync_{nxt}_update")))
    with pytest.raises(psycopg.errors.DuplicateObject, match=f"already has a trigger named compressae_sync_{nxt}, "):
        attach_model(conn, sync="queue")
    assert trigger_function(conn, "items", f"compressae_sync_{nxt}_update") == "public.audit()"


def test_a_model_another_role_attached_is_kept_and_the_refusal_names_that_role(conn, dsn, role, capsys, real_vectors):
    owner, other = role("owner"), role("other")
    grant(capsys, dsn, owner, "--train")
    grant(capsys, dsn, other)
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        registry.save(oc, "m", CompresSAE(384, 256, 8, seed=0).eval())
    with connect(as_user(dsn, other), autocommit=True) as c:
        create_table(c, "theirs", real_vectors[:3])
        attachments.attach("theirs", "embedding", "m@1", conn=c)
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        with pytest.raises(ModelInUseError) as caught:
            registry.drop_model("m", conn=oc)
        assert str(caught.value) == (f"model m@1 is used by public.theirs.embedding_sae (role {other}); drop those compressed "
                                     "columns first (their tables' owners can)")
        assert [v.ref for v in registry.list_models("m", conn=oc)] == ["m@1"]


def test_an_index_predicate_the_owner_planted_runs_in_no_other_roles_status_or_downgrade(conn, dsn, role, capsys, real_vectors):
    """The review of 0024: planning any query on a table evaluates its owner's IMMUTABLE index predicates with the
    planning role's rights (which no SET ROLE contains). Plain `status` counts a queue's pending rows in the owner's
    session alone, a superuser's `status --exact` skips it, and the downgrade to 0023 reads only tables its role owns."""
    x = real_vectors
    owner, other = role("owner"), role("other")
    grant(capsys, dsn, owner, "--train")
    grant(capsys, dsn, other)
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        create_table(oc, "items", x[:5])
        attach_model(oc, sync="queue")
        oc.execute("CREATE TABLE ran (who name)")
        oc.execute("GRANT INSERT ON ran TO PUBLIC")
        oc.execute("CREATE FUNCTION note_caller() RETURNS void LANGUAGE sql AS $$ INSERT INTO public.ran VALUES (current_user) $$")
        oc.execute("CREATE FUNCTION bait() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM public.note_caller(); RETURN true; END$$")
        oc.execute("CREATE INDEX items_bait ON items (id) WHERE bait()")
        oc.execute("GRANT SELECT ON items TO PUBLIC")
        oc.execute("TRUNCATE ran")
        (mine,) = compressae_status("items", conn=oc)
        assert mine["queue"]["pending"] == 5 and mine["queue"]["depth"] == 5  # the owner's own code, as the owner
        oc.execute("SELECT count(*) FROM items WHERE id > 0")  # what planting does: a plain query runs it
        assert oc.execute("SELECT count(*) FROM ran").fetchone()[0] > 0
        oc.execute("TRUNCATE ran")
    with connect(as_user(dsn, other), autocommit=True) as c:
        for session in (conn, c):  # a superuser's status, another granted role's
            (row,) = compressae_status("items", conn=session)
            assert (row["queue"]["pending"], row["queue"]["depth"]) == (None, 0)
    (row,) = compressae_status("items", conn=conn, exact=True)  # a superuser's --exact skips it (it did read it before)
    assert "rows_coded" not in row and row["note"].startswith(f"not read: public.items belongs to {owner}")
    assert conn.execute("SELECT who FROM ran").fetchall() == []
    _migrate.downgrade(dsn, "0023_unguessable_sync_functions")  # as the superuser, who owns none of it
    assert conn.execute("SELECT who FROM ran").fetchall() == [] and conn.execute("SELECT count(*) FROM compressae.sync_queue").fetchone() == (0,)
    _migrate.upgrade(dsn)


def test_a_view_another_role_keeps_on_a_code_column_stops_a_recompress_before_its_backfill(conn, dsn, role, real_vectors):
    """The third review's L2: a temporary view of a role with no right on the table (or any role's view) on a code
    column makes the swap's DROP COLUMN fail, after the whole staged backfill. The re-compression refuses first,
    naming the view and its role, and stages nothing."""
    create_table(conn, "items", real_vectors[:20])
    attach_model(conn)
    backfill("items", "embedding", conn=conn, progress=False)
    registry.save(conn, "m", CompresSAE(384, 256, 8, seed=1).eval())
    nobody = role("nobody")
    with connect(as_user(dsn, nobody), autocommit=True) as c:
        assert c.execute("SELECT has_table_privilege('items', 'SELECT')").fetchone() == (False,)
        c.execute("CREATE TEMP VIEW pin AS SELECT embedding_sae_residual FROM public.items")
        with pytest.raises(DependentObjectsError, match=rf"pg_temp_\d+\.pin \(role {nobody}\) on embedding_sae_residual"):
            recompress("items", "embedding", "m@2", dsn=dsn, progress=False)
        assert [a.code_column for a in attachments.list_attachments(conn, "items")] == ["embedding_sae"]  # nothing staged
    assert recompress("items", "embedding", "m@2", dsn=dsn, progress=False).swapped  # the view gone with its session


def test_a_dropped_roles_model_name_is_no_other_roles_to_take(conn, dsn, role, capsys):
    """The third review's L3: once the role that owned a model name was dropped, any `--train` role stored the next
    version of it, which another owner's `attach --model NAME` (the newest version) then took. The name now stays
    its dropped owner's until a superuser gives it to a role."""
    team, other = f"team_{uuid.uuid4().hex[:8]}", role("other")  # not the fixture's: this test drops it
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(team)))
    grant(capsys, dsn, team, "--train")
    grant(capsys, dsn, other, "--train")
    with connect(as_user(dsn, team), autocommit=True) as tc:
        registry.save(tc, "team's model", CompresSAE(384, 64, 4, seed=0).eval())
    conn.execute(sql.SQL("DROP OWNED BY {0}; DROP ROLE {0}").format(sql.Identifier(team)))
    with connect(as_user(dsn, other), autocommit=True) as oc:
        with pytest.raises(ModelOwnerError, match=r"belongs to role \d+ \(dropped\): only it may add a version to it; .*"
                                                  r"WHERE name = 'team''s model'"):
            registry.save(oc, "team's model", CompresSAE(384, 64, 4, seed=1).eval())
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # row security holds it too, past the package's check
            oc.execute("INSERT INTO compressae.models (name, version, dim, h, k, weights, owner) "
                       "VALUES ('team''s model', 2, 384, 64, 4, '', current_user::regrole)")
    conn.execute("UPDATE compressae.models SET owner = %s::regrole WHERE name = 'team''s model'", (other,))
    with connect(as_user(dsn, other), autocommit=True) as oc:
        assert registry.save(oc, "team's model", CompresSAE(384, 64, 4, seed=1).eval()).version == 2


def test_a_view_on_a_partitions_code_column_stops_a_recompress_before_its_backfill(conn, dsn, real_vectors):
    """The review of the change (F7): the check looked at the parent's columns alone; a DROP COLUMN on the parent also
    fails on a view of a leaf's."""
    create_partitioned(conn, "range", real_vectors[:300])
    attach_model(conn)
    registry.save(conn, "m", CompresSAE(384, 256, 8, seed=1).eval())
    conn.execute("CREATE VIEW leaf_codes AS SELECT id, embedding_sae FROM items_mid")
    with pytest.raises(DependentObjectsError, match=r"leaf_codes \(role \w+\) on embedding_sae"):
        recompress("items", "embedding", "m@2", dsn=dsn, progress=False)
    assert [a.code_column for a in attachments.list_attachments(conn, "items")] == ["embedding_sae"]


def test_an_operator_planted_for_the_atom_browsers_compare_runs_in_no_python_call_on_a_handed_in_connection(conn, dsn, role, capsys, real_vectors):
    """The final review: `atom_rows` compared a double precision with an integer (no exact operator in pg_catalog) and
    `label_atoms` called format unqualified, so on a connection with the default search_path an operator or function a
    role planted in public ran as the caller. Every function and operator of those statements is named by schema."""
    create_table(conn, "items", real_vectors[:40])
    attach_model(conn)
    backfill("items", "embedding", conn=conn, progress=False)
    with connect(as_user(dsn, role("planter")), autocommit=True) as pc:
        plant_operator(pc, "<>", "double precision", "integer", "boolean", "$1 <> $2::float8")
        pc.execute("CREATE FUNCTION public.format(text, bigint) RETURNS text LANGUAGE sql AS "
                   "$$ INSERT INTO public.calls VALUES (current_user, 'format'); SELECT pg_catalog.format($1, $2) $$")
        pc.execute("SELECT 1::float8 <> 1, format('%1$s', 1::bigint)")  # the plants do win a plain call
        assert pc.execute("SELECT count(*) FROM public.calls").fetchone() == (2,)
        pc.execute("TRUNCATE public.calls")
    from compressae_pg import atom_rows, evaluate_column, label_atoms

    assert atom_rows("items", "embedding", 0, conn=conn, top=2) is not None
    assert label_atoms("items", "embedding", conn=conn) is not None
    assert evaluate_column("items", "embedding", conn=conn, queries=3) is not None
    assert conn.execute("SELECT caller, what FROM public.calls").fetchall() == []
