"""Attaching a code column to a table, and detaching it, through compressae.attach/detach."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from psycopg import sql

from compressae_pg import CompresSAE, NotAttachedError, registry
from compressae_pg._catalog import resolve_table
from compressae_pg.columns import attachments

from ..support.tables import catalog, create_table

COLUMNS = "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position"


def test_attach_adds_a_sparsevec_column_and_detach_restores_the_table(conn):
    create_table(conn, "items", np.random.default_rng(0).standard_normal((5, 8)), type_="vector(8)")
    registry.save(conn, "m", CompresSAE(8, 64, 4, seed=0))
    before = conn.execute(COLUMNS, ("items",)).fetchall()
    att = attachments.attach("items", "embedding", "m", conn=conn)
    assert (att.code_column, att.model.ref, att.sync) == ("embedding_sae", "m@1", "none")
    typ = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'embedding_sae'").fetchone()
    assert typ == ("sparsevec(64)",)
    assert attachments.get(conn, "items", "embedding").id == att.id
    attachments.detach("items", "embedding_sae", conn=conn)
    assert conn.execute(COLUMNS, ("items",)).fetchall() == before
    with pytest.raises(NotAttachedError, match="attach"):
        attachments.get(conn, "items", "embedding")


def test_attach_refuses_what_cannot_work_and_changes_nothing(conn):
    create_table(conn, "items", np.ones((2, 8)), type_="vector(8)")
    conn.execute("CREATE TABLE small (id int PRIMARY KEY, e vector(3), label text)")
    registry.save(conn, "m", CompresSAE(8, 64, 4, seed=0))
    attachments.attach("items", "embedding", "m", conn=conn)
    with pytest.raises(psycopg.errors.DuplicateColumn, match="already exists"):
        attachments.attach("items", "embedding", "m", conn=conn)
    with pytest.raises(psycopg.errors.UndefinedObject, match="unknown model 'nope'"):
        attachments.attach("items", "embedding", "nope", code_column="c2", conn=conn)
    with pytest.raises(psycopg.errors.DatatypeMismatch, match="3-dimensional vectors but model m@1 expects 8"):
        attachments.attach("small", "e", "m", conn=conn)
    with pytest.raises(psycopg.errors.DatatypeMismatch, match="type text"):
        attachments.attach("small", "label", "m", conn=conn)
    with pytest.raises(psycopg.errors.UndefinedColumn):
        attachments.attach("small", "missing", "m", conn=conn)
    assert [a.code_column for a in attachments.list_attachments(conn)] == ["embedding_sae"]
    assert conn.execute(COLUMNS, ("small",)).fetchall() == [("id", "integer"), ("e", "USER-DEFINED"), ("label", "text")]


def test_model_versions_resolve_by_reference(conn):
    create_table(conn, "items", np.ones((2, 8)), type_="vector(8)")
    registry.save(conn, "m", CompresSAE(8, 64, 4, seed=0))
    registry.save(conn, "m", CompresSAE(8, 128, 4, seed=0))
    assert attachments.attach("items", "embedding", "m@1", code_column="v1", conn=conn).model.h == 64
    assert attachments.attach("items", "embedding", "m", code_column="latest", conn=conn).model.h == 128
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="name or name@version"):
        attachments.attach("items", "embedding", "m@x", code_column="bad", conn=conn)


@pytest.mark.parametrize("graph, indexed", [("sketch", "embedding_sae_sketch bit_hamming_ops"),
                                             ("sparse", "embedding_sae sparsevec_cosine_ops")])
def test_index_ddl_builds_an_hnsw_index_over_the_attachments_graph(conn, graph, indexed):
    conn.execute('CREATE TABLE "My Items" (id int PRIMARY KEY, embedding vector(8))')
    registry.save(conn, "m", CompresSAE(8, 64, 4, seed=0))
    att = attachments.attach("My Items", "embedding", "m", graph=graph, conn=conn)
    assert (att.graph, att.sketch_column) == (graph, "embedding_sae_sketch" if graph == "sketch" else None)
    columns = dict(conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                                " WHERE attrelid = '\"My Items\"'::regclass AND attnum > 0").fetchall())
    assert columns.get("embedding_sae_sketch") == ("bit(16)" if graph == "sketch" else None)  # 2 planes of 8
    (ddl,) = conn.execute("SELECT compressae.index_ddl(%s, true, 8, 32)", (att.id,)).fetchone()
    assert ddl.startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS")
    conn.execute(ddl)
    (indexdef,) = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (att.index_name,)).fetchone()
    assert f"USING hnsw ({indexed}) WITH (m='8', ef_construction='32')" in indexdef
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="HNSW needs"):
        conn.execute("SELECT compressae.index_ddl(%s, false, 1, 64)", (att.id,))


def test_sync_trigger_keeps_codes_fresh_with_the_attached_version(conn, real_vectors):
    x = real_vectors[:4]
    conn.execute('CREATE SCHEMA "App; Schema"')
    conn.execute('CREATE TABLE "App; Schema"."It""ems" (id int PRIMARY KEY, "Emb Vec" vector(384), label text)')
    table = '"App; Schema"."It""ems"'
    ident = sql.Identifier("App; Schema", 'It"ems')
    before = catalog(conn, table)
    model = "it's \"sae\"; 1"  # the trigger's body quotes the model name too
    registry.save(conn, model, CompresSAE(384, 256, 8, seed=0))
    att = attachments.attach(resolve_table(conn, 'It"ems', "App; Schema"), "Emb Vec", model, sync="trigger", conn=conn)
    assert att.sync == "trigger" and att.code_column == "Emb Vec_sae"
    registry.save(conn, model, CompresSAE(384, 256, 8, seed=1))  # a newer version must not change what the trigger uses

    ins = sql.SQL('INSERT INTO {} (id, "Emb Vec") VALUES (%s, %s)').format(ident)
    conn.execute(ins, (1, x[0]))
    conn.execute(ins, (2, None))
    check = sql.SQL("""SELECT id, "Emb Vec_sae" IS NULL, "Emb Vec_sae" = compressae.encode(%(v1)s, "Emb Vec"),
                       "Emb Vec_sae" = compressae.encode(%(newest)s, "Emb Vec") FROM {} ORDER BY id""").format(ident)
    refs = {"v1": model + "@1", "newest": model}
    assert conn.execute(check, refs).fetchall() == [(1, False, True, False), (2, True, None, None)]

    conn.execute(sql.SQL('UPDATE {} SET "Emb Vec" = %s WHERE id = 2').format(ident), (x[1],))
    conn.execute(sql.SQL('UPDATE {} SET "Emb Vec" = NULL WHERE id = 1').format(ident))
    assert conn.execute(check, refs).fetchall() == [(1, True, None, None), (2, False, True, False)]

    # an update that leaves the source column alone does not re-encode (a backfill writes codes this way)
    conn.execute(sql.SQL("""UPDATE {} SET "Emb Vec_sae" = '{{1:1}}/256', label = 'x' WHERE id = 2""").format(ident))
    assert conn.execute(sql.SQL('SELECT "Emb Vec_sae"::text FROM {} WHERE id = 2').format(ident)).fetchone() == ("{1:1}/256",)

    attachments.detach(att.table, att.code_column, conn=conn)
    assert catalog(conn, table) == before
    conn.execute(ins, (3, x[2]))  # no trigger left behind


def test_a_sync_trigger_failure_rolls_the_statement_back(conn, real_vectors):
    create_table(conn, "items", real_vectors[:2])
    conn.execute("ALTER TABLE items ALTER COLUMN embedding TYPE vector")  # no dimension: any vector gets in
    registry.save(conn, "m", CompresSAE(384, 256, 8, seed=0))
    attachments.attach("items", "embedding", "m", sync="trigger", conn=conn)
    with pytest.raises(psycopg.errors.DataException, match="expects 384-dimensional vectors, got 3"):
        conn.execute("INSERT INTO items (id, embedding) VALUES (10, '[1,2,3]')")
    with pytest.raises(psycopg.errors.DataException, match="all-zero vector"):
        conn.execute("UPDATE items SET embedding = %s WHERE id = 1", (np.zeros(384, dtype=np.float32),))
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (2,)
    assert conn.execute("SELECT count(*) FROM items WHERE embedding_sae IS NOT NULL").fetchone() == (0,)
