"""op.add_compressed_column / op.drop_compressed_column through psycopg 3 and psycopg2 connections."""

from __future__ import annotations

import importlib
import io

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from psycopg import sql
from sqlalchemy.pool import NullPool

from compressae_pg import CompresSAE, NotAttachedError, backfill, registry
from compressae_pg.alembic import AddCompressedColumnOp, DropCompressedColumnOp, render_add, render_drop
from compressae_pg.errors import CompressaeError

from ..support.tables import catalog
from ..support.truth import numpy_sketch

SCHEMA, TABLE, COLUMN = 'Shop "Data"', "It%ems; x", "Emb Vec"
QUALIFIED = '"Shop ""Data"""."It%ems; x"'
IDENT = sql.Identifier(SCHEMA, TABLE)


@pytest.fixture(params=["psycopg", "psycopg2"])
def migrate(request, dsn):
    """Run operations as a migration does: Operations on a MigrationContext, inside its transaction."""
    driver = importlib.import_module(request.param)
    engine = sa.create_engine(f"postgresql+{request.param}://", creator=lambda: driver.connect(dsn), poolclass=NullPool)

    def run(*steps) -> None:
        with engine.connect() as connection:
            ctx = MigrationContext.configure(connection)
            with ctx.begin_transaction():
                op = Operations(ctx)
                for step in steps:
                    step(op)

    yield run
    engine.dispose()


def insert(conn, key: int, vector) -> None:
    """One row into the hostile table (no bind parameters: psycopg would read the '%' of its name as one)."""
    text = None if vector is None else "[" + ",".join(map(str, vector)) + "]"
    conn.execute(sql.SQL('INSERT INTO {} (id, "Emb Vec") VALUES ({}, {}::vector)').format(IDENT, key, text))


@pytest.fixture
def shop(conn, real_vectors):
    """A hostile schema and table name, a vector(384) column, two rows, and model ``m``."""
    conn.execute('CREATE SCHEMA "Shop ""Data"""')
    conn.execute(sql.SQL("""CREATE TABLE {} (id int PRIMARY KEY, "Emb Vec" vector(384), note text DEFAULT '%')""").format(IDENT))
    insert(conn, 1, real_vectors[0])
    insert(conn, 2, None)
    registry.save(conn, "m", CompresSAE(384, 256, 8, seed=0))
    return catalog(conn, QUALIFIED)


def hnsw_indexes(conn) -> list[str]:
    return [i for (i,) in catalog(conn, QUALIFIED)["indexes"] if "hnsw" in i]


def test_add_then_drop_leaves_the_table_as_it_was(conn, migrate, shop, real_vectors):
    migrate(lambda op: op.add_compressed_column(TABLE, COLUMN, model="m", schema=SCHEMA, sync="trigger", m=8, ef_construction=32))
    after = catalog(conn, QUALIFIED)
    assert ("Emb Vec_sae", "sparsevec(256)", False, 4) in after["columns"]
    assert hnsw_indexes(conn) == []  # the table has rows: the index waits for the backfill (the fast flow)
    assert after["triggers"] == [("compressae_sync_1",), ("compressae_sync_1_insert",)]  # 0012: INSERT, and UPDATE of the source
    insert(conn, 3, real_vectors[1])
    same = conn.execute(sql.SQL("""SELECT bool_and("Emb Vec_sae" = compressae.encode('m@1', "Emb Vec")) FROM {} WHERE id = 3""").format(IDENT))
    assert same.fetchone() == (True,)

    migrate(lambda op: op.drop_compressed_column(TABLE, COLUMN, schema=SCHEMA))
    assert catalog(conn, QUALIFIED) == shop
    assert conn.execute("SELECT count(*) FROM compressae.attachments").fetchone() == (0,)


def test_sketch_planes_1_and_2_on_a_hostile_table_sync_numpys_sketches(conn, migrate, shop, real_vectors):
    migrate(lambda op: op.add_compressed_column(TABLE, COLUMN, model="m", sync="trigger", sketch_planes=1, schema=SCHEMA),
            lambda op: op.add_compressed_column(TABLE, COLUMN, model="m", sync="trigger", code_column="two %s", schema=SCHEMA))
    insert(conn, 3, real_vectors[7])
    planes = dict(conn.execute("SELECT code_column, sketch_planes FROM compressae.attachments").fetchall())
    assert planes == {"Emb Vec_sae": 1, "two %s": 2}
    got = conn.execute(sql.SQL('SELECT {}::text, {}::text FROM {} WHERE id = 3').format(
        sql.Identifier("Emb Vec_sae_sketch"), sql.Identifier("two %s_sketch"), IDENT)).fetchone()
    assert got == tuple("".join("1" if b else "0" for b in numpy_sketch(real_vectors[7], p)) for p in (1, 2))
    with pytest.raises(CompressaeError, match="sketch_planes must be one of 1, 2"):
        AddCompressedColumnOp(TABLE, COLUMN, model="m", sketch_planes=3)

def test_the_deferred_index_is_built_concurrently_by_the_finished_backfill(conn, dsn, migrate, shop):
    migrate(lambda op: op.add_compressed_column(TABLE, COLUMN, model="m", schema=SCHEMA))
    assert hnsw_indexes(conn) == []
    result = backfill(f"{SCHEMA}.{TABLE}", COLUMN, dsn=dsn, progress=False, m=8, ef_construction=32)
    assert (result.status, result.rows_written, result.index["built"], result.index["concurrently"]) == ("done", 1, True, True)
    (index,) = hnsw_indexes(conn)
    assert 'USING hnsw ("Emb Vec_sae_sketch" bit_hamming_ops) WITH (m=\'8\', ef_construction=\'32\')' in index
    assert conn.execute("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = %s::regclass", (QUALIFIED,)).fetchone() == (True,)
    again = backfill(f"{SCHEMA}.{TABLE}", COLUMN, dsn=dsn, progress=False)
    assert (again.mode, again.index) == ("sweep", None)  # a valid index is left alone
    assert not any("already has an index" in n for n in again.notes)  # and a sweep behind it is not warned about


@pytest.mark.parametrize("rows", ["empty", "populated"])
def test_an_empty_table_is_indexed_at_once_and_index_true_forces_it(conn, dsn, migrate, shop, rows):
    if rows == "empty":
        conn.execute(sql.SQL("TRUNCATE {}").format(IDENT))  # no page: the catalog says empty (a DELETE leaves its pages)
    force = {} if rows == "empty" else {"index": True}
    migrate(lambda op: op.add_compressed_column(TABLE, COLUMN, model="m", schema=SCHEMA, m=8, ef_construction=32, **force))
    (index,) = hnsw_indexes(conn)
    assert 'USING hnsw ("Emb Vec_sae_sketch" bit_hamming_ops) WITH (m=\'8\', ef_construction=\'32\')' in index
    filled = backfill(f"{SCHEMA}.{TABLE}", COLUMN, dsn=dsn, progress=False)
    assert filled.index is None  # the index there is kept
    assert any("already has an index" in n for n in filled.notes)  # and a full pass behind it is pointed out


def test_concurrent_index_build_runs_in_an_autocommit_block(conn, migrate, shop):
    conn.execute(sql.SQL("TRUNCATE {}").format(IDENT))  # a new application's empty table: indexed at once
    migrate(lambda op: op.add_compressed_column(TABLE, COLUMN, model="m@1", schema=SCHEMA, code_column="c%1", concurrently=True))
    (valid,) = conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = %s::regclass AND c.relname = 'It%%ems; x_c%%1_hnsw'", (QUALIFIED,)).fetchone()
    assert valid
    migrate(lambda op: op.drop_compressed_column(TABLE, COLUMN, schema=SCHEMA, code_column="c%1"))
    assert catalog(conn, QUALIFIED) == shop


def test_a_failed_operation_writes_nothing(conn, migrate, shop):
    with pytest.raises(sa.exc.DBAPIError, match="HNSW needs"):
        migrate(lambda op: op.add_compressed_column(TABLE, COLUMN, model="m", schema=SCHEMA, sync="trigger", m=1))
    with pytest.raises(sa.exc.DBAPIError, match="unknown model 'nope'"):
        migrate(lambda op: op.add_compressed_column(TABLE, COLUMN, model="nope", schema=SCHEMA))
    with pytest.raises(sa.exc.DBAPIError, match="does not exist"):
        migrate(lambda op: op.add_compressed_column("missing", COLUMN, model="m"))
    with pytest.raises(CompressaeError, match="sync must be one of none, trigger"):
        migrate(lambda op: op.add_compressed_column(TABLE, COLUMN, model="m", schema=SCHEMA, sync="always"))
    assert catalog(conn, QUALIFIED) == shop
    assert conn.execute("SELECT count(*) FROM compressae.attachments").fetchone() == (0,)


def test_drop_names_what_is_missing_or_ambiguous(conn, migrate, shop):
    with pytest.raises(NotAttachedError, match="no compressed code column is attached to .*Emb Vec"):
        migrate(lambda op: op.drop_compressed_column(TABLE, COLUMN, schema=SCHEMA))
    migrate(lambda op: op.add_compressed_column(TABLE, COLUMN, model="m", schema=SCHEMA, index=False),
            lambda op: op.add_compressed_column(TABLE, COLUMN, model="m", schema=SCHEMA, code_column="v2", index=False))
    with pytest.raises(NotAttachedError, match=r"several code columns \(Emb Vec_sae, v2\)"):
        migrate(lambda op: op.drop_compressed_column(TABLE, COLUMN, schema=SCHEMA))
    with pytest.raises(NotAttachedError, match="no code column 'v3'"):
        migrate(lambda op: op.drop_compressed_column(TABLE, COLUMN, schema=SCHEMA, code_column="v3"))
    migrate(lambda op: op.drop_compressed_column(TABLE, COLUMN, schema=SCHEMA, code_column="v2"),
            lambda op: op.drop_compressed_column(TABLE, COLUMN, schema=SCHEMA))
    assert catalog(conn, QUALIFIED) == shop


def test_offline_mode_is_refused_clearly():
    ctx = MigrationContext.configure(dialect_name="postgresql", opts={"as_sql": True, "output_buffer": io.StringIO()})
    with pytest.raises(CompressaeError, match="offline"):
        Operations(ctx).add_compressed_column("items", "embedding", model="m")


def test_operations_render_as_python_that_reads_back():
    up = AddCompressedColumnOp(TABLE, COLUMN, model="it's@2", sync="trigger", concurrently=True, schema=SCHEMA)
    text = render_add(None, up)
    assert text == ("op.add_compressed_column('It%ems; x', 'Emb Vec', model=\"it's@2\", sync='trigger', "
                    "concurrently=True, schema='Shop \"Data\"')")
    assert render_drop(None, up.reverse()) == "op.drop_compressed_column('It%ems; x', 'Emb Vec', schema='Shop \"Data\"')"
    calls = []
    fake = type("Op", (), {"add_compressed_column": lambda self, *a, **k: calls.append((a, k))})()
    eval(text, {"op": fake})
    assert calls == [((TABLE, COLUMN), {"model": "it's@2", "sync": "trigger", "concurrently": True, "schema": SCHEMA})]
    assert isinstance(up.reverse(), DropCompressedColumnOp)
