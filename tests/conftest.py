"""Tests run against a real PostgreSQL + pgvector: a throwaway embedded server by default,
or the server named by ``COMPRESSAE_TEST_DSN`` (its role needs CREATEDB).

Each test that asks for ``dsn``/``conn`` gets a fresh database cloned from a template that already
has the ``compressae`` schema, so tests never see each other's tables.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from compressae_pg import schema
from compressae_pg.server import EmbeddedServer, connect

# Shipped in the package (compressae_pg/data/README.md says where it comes from; the demo uses it too),
# so a clean clone has it.
DATA = Path(__file__).resolve().parents[1] / "compressae_pg" / "data" / "pypi-minilm-6k.f16.npy"
TEMPLATE = "compressae_test_template"


def _with_db(dsn: str, dbname: str) -> str:
    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def server_dsn():
    """A server for the whole session: COMPRESSAE_TEST_DSN, or a fresh embedded one."""
    external = os.environ.get("COMPRESSAE_TEST_DSN")
    if external:
        yield external
        return
    root = Path(tempfile.mkdtemp(prefix="compressae-test-"))
    srv = EmbeddedServer(root / "pgdata")
    url = srv.start()
    os.environ["COMPRESSAE_PG_DATA"] = str(srv.pgdata)
    try:
        yield url
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def template_dsn(server_dsn):
    """A template database with the vector extension and the compressae schema at head."""
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    dsn = _with_db(server_dsn, TEMPLATE)
    schema.upgrade(dsn)
    return dsn


@contextmanager
def _database(server_dsn: str, template: str):
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    try:
        yield _with_db(server_dsn, name)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def dsn(server_dsn, template_dsn):
    """A fresh database for one test, dropped afterwards."""
    with _database(server_dsn, TEMPLATE) as url:
        yield url


@pytest.fixture
def empty_dsn(server_dsn):
    """A fresh database with neither the compressae schema nor the vector extension, dropped afterwards."""
    with _database(server_dsn, "template0") as url:
        yield url


@pytest.fixture
def conn(dsn):
    """An autocommit connection to the test's database, pgvector types registered."""
    with connect(dsn, autocommit=True) as c:
        yield c


@pytest.fixture(scope="session")
def real_vectors() -> np.ndarray:
    """The 6,000 real MiniLM embeddings shipped in compressae_pg/data (384-d, unit norm); missing is an error."""
    if not DATA.exists():
        raise FileNotFoundError(f"the test sample {DATA} is missing: it is part of the repository (compressae_pg/data/README.md)")
    return np.load(DATA)[:6000].astype(np.float32)


def make_table(conn: psycopg.Connection, name: str, vectors, *, type_: str = "vector", dim: int | None = None,
               schema_: str = "public", key: str = "bigint") -> None:
    """Create ``schema_.name (id <key> primary key, embedding <type_>(dim))`` holding ``vectors`` (None → NULL)."""
    ident = sql.Identifier(schema_, name)
    typ = sql.SQL(type_ if dim is None else f"{type_}({int(dim)})")
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema_)))
    conn.execute(sql.SQL("CREATE TABLE {} (id {} PRIMARY KEY, embedding {})").format(ident, sql.SQL(key), typ))
    with conn.cursor().copy(sql.SQL("COPY {} (id, embedding) FROM STDIN").format(ident)) as copy:
        for i, v in enumerate(vectors):
            text = None if v is None else "[" + ",".join(repr(float(a)) for a in np.asarray(v)) + "]"
            copy.write_row((i + 1, text))
    conn.execute(sql.SQL("ANALYZE {}").format(ident))


def catalog(conn, table: str) -> dict:
    """What a user can see of a table: columns, indexes, triggers, constraints, and the functions of its schema."""
    oid = conn.execute("SELECT %s::regclass::oid", (table,)).fetchone()[0]
    q = lambda text: conn.execute(text, {"oid": oid}).fetchall()  # noqa: E731
    return {
        "columns": q("SELECT attname, format_type(atttypid, atttypmod), attnotnull, attnum FROM pg_attribute"
                     " WHERE attrelid = %(oid)s AND attnum > 0 AND NOT attisdropped ORDER BY attnum"),
        "indexes": q("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %(oid)s ORDER BY 1"),
        "triggers": q("SELECT tgname FROM pg_trigger WHERE tgrelid = %(oid)s ORDER BY 1"),
        "constraints": q("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %(oid)s ORDER BY 1"),
        "functions": q("SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_class c ON c.relnamespace = p.pronamespace"
                       " WHERE c.oid = %(oid)s ORDER BY 1"),
    }

