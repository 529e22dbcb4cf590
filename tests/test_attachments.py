"""Attaching a code column to a table, and detaching it, through compressae.attach/detach."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from compressae_pg import CompresSAE, NotAttachedError, attachments, registry

from .conftest import make_table

COLUMNS = "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position"


def test_attach_adds_a_sparsevec_column_and_detach_restores_the_table(conn):
    make_table(conn, "items", np.random.default_rng(0).standard_normal((5, 8)), dim=8)
    registry.save(conn, "m", CompresSAE(8, 64, 4, seed=0))
    before = conn.execute(COLUMNS, ("items",)).fetchall()
    att = attachments.attach(conn, "items", "embedding", "m")
    assert (att.code_column, att.model.ref, att.sync) == ("embedding_sae", "m@1", "none")
    typ = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'embedding_sae'").fetchone()
    assert typ == ("sparsevec(64)",)
    assert attachments.get(conn, "items", "embedding").id == att.id
    attachments.detach(conn, "items", "embedding_sae")
    assert conn.execute(COLUMNS, ("items",)).fetchall() == before
    with pytest.raises(NotAttachedError, match="attach"):
        attachments.get(conn, "items", "embedding")


def test_attach_refuses_what_cannot_work_and_changes_nothing(conn):
    make_table(conn, "items", np.ones((2, 8)), dim=8)
    conn.execute("CREATE TABLE small (id int PRIMARY KEY, e vector(3), label text)")
    registry.save(conn, "m", CompresSAE(8, 64, 4, seed=0))
    attachments.attach(conn, "items", "embedding", "m")
    with pytest.raises(psycopg.errors.DuplicateColumn, match="already exists"):
        attachments.attach(conn, "items", "embedding", "m")
    with pytest.raises(psycopg.errors.UndefinedObject, match="unknown model 'nope'"):
        attachments.attach(conn, "items", "embedding", "nope", code_column="c2")
    with pytest.raises(psycopg.errors.DatatypeMismatch, match="3-dimensional vectors but model m@1 expects 8"):
        attachments.attach(conn, "small", "e", "m")
    with pytest.raises(psycopg.errors.DatatypeMismatch, match="type text"):
        attachments.attach(conn, "small", "label", "m")
    with pytest.raises(psycopg.errors.UndefinedColumn):
        attachments.attach(conn, "small", "missing", "m")
    assert [a.code_column for a in attachments.list_attachments(conn)] == ["embedding_sae"]
    assert conn.execute(COLUMNS, ("small",)).fetchall() == [("id", "integer"), ("e", "USER-DEFINED"), ("label", "text")]


def test_model_versions_resolve_by_reference(conn):
    make_table(conn, "items", np.ones((2, 8)), dim=8)
    registry.save(conn, "m", CompresSAE(8, 64, 4, seed=0))
    registry.save(conn, "m", CompresSAE(8, 128, 4, seed=0))
    assert attachments.attach(conn, "items", "embedding", "m@1", code_column="v1").model.h == 64
    assert attachments.attach(conn, "items", "embedding", "m", code_column="latest").model.h == 128
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="name or name@version"):
        attachments.attach(conn, "items", "embedding", "m@x", code_column="bad")


def test_index_ddl_builds_an_hnsw_index_on_the_code_column(conn):
    conn.execute('CREATE TABLE "My Items" (id int PRIMARY KEY, embedding vector(8))')
    registry.save(conn, "m", CompresSAE(8, 64, 4, seed=0))
    att = attachments.attach(conn, "My Items", "embedding", "m")
    (ddl,) = conn.execute("SELECT compressae.index_ddl(%s, true, 8, 32)", (att.id,)).fetchone()
    assert ddl.startswith("CREATE INDEX CONCURRENTLY IF NOT EXISTS")
    conn.execute(ddl)
    (indexdef,) = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (att.index_name,)).fetchone()
    assert "USING hnsw (embedding_sae sparsevec_cosine_ops) WITH (m='8', ef_construction='32')" in indexdef
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="HNSW needs"):
        conn.execute("SELECT compressae.index_ddl(%s, false, 1, 64)", (att.id,))
