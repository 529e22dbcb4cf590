"""Helpers for backfill tests: a table of real vectors under any key type, and an exact check of its codes."""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
from psycopg import sql

from compressae_pg import CompresSAE, attachments, registry

KEY_TYPES = {
    "integer": lambda i: i + 1,
    "bigint": lambda i: 10_000_000_000 + 7 * i,
    "uuid": lambda i: uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128)),
    "text": lambda i: f"key {i % 97:02d}/{i}é'\\",  # quotes, backslashes, non-ASCII
}
DIM, H, K = 384, 512, 16


def create_items(conn: psycopg.Connection, vectors, *, table: str = "items", column: str = "embedding",
                 key: str = "bigint", type_: str = "vector(384)") -> list:
    """``table (id <key> PRIMARY KEY, column <type_>)`` holding ``vectors`` (None → NULL); returns the keys."""
    keys = [KEY_TYPES[key](i) for i in range(len(vectors))]
    ident = sql.Identifier(table)
    conn.execute(sql.SQL("CREATE TABLE {} (id {} PRIMARY KEY, {} {})").format(ident, sql.SQL(key), sql.Identifier(column), sql.SQL(type_)))
    insert_rows(conn, keys, vectors, table=table, column=column)
    conn.execute(sql.SQL("ANALYZE {}").format(ident))
    return keys


def insert_rows(conn: psycopg.Connection, keys, vectors, *, table: str = "items", column: str = "embedding") -> None:
    with conn.cursor().copy(sql.SQL("COPY {} (id, {}) FROM STDIN").format(sql.Identifier(table), sql.Identifier(column))) as copy:
        for k, v in zip(keys, vectors):
            copy.write_row((k, None if v is None else "[" + ",".join(repr(float(a)) for a in np.asarray(v)) + "]"))


def attach_model(conn: psycopg.Connection, *, table: str = "items", column: str = "embedding", seed: int = 0,
                 name: str = "m", **kwargs) -> tuple[attachments.Attachment, CompresSAE]:
    """Store a (small, untrained) model and attach a code column for it."""
    model = CompresSAE(DIM, H, K, seed=seed).eval()
    registry.save(conn, name, model)
    ref = registry.list_models(conn, name)[-1].ref
    return attachments.attach(conn, table, column, ref, **kwargs), model


def codes_by_key(conn: psycopg.Connection, *, table: str = "items", column: str = "embedding",
                 code: str = "embedding_sae") -> dict:
    query = sql.SQL("SELECT id, {}, {} FROM {}").format(sql.Identifier(column), sql.Identifier(code), sql.Identifier(table))
    return {k: (src, c) for k, src, c in conn.execute(query).fetchall()}


def check_codes(conn: psycopg.Connection, model: CompresSAE, **names) -> int:
    """Assert that every row's code is exactly ``model.compress(source)`` (NULL for NULL or unencodable
    sources); return the number of rows checked."""
    rows = codes_by_key(conn, **names)
    encodable = {k: s.to_numpy() for k, (s, _c) in rows.items()
                 if s is not None and len(s.to_numpy()) == model.dim and np.any(s.to_numpy())}
    keys = list(encodable)
    want = model.compress(np.stack([encodable[k] for k in keys])) if keys else None
    for i, k in enumerate(keys):
        got = rows[k][1]
        assert got is not None, f"row {k!r} has no code"
        assert got.indices() == want.indices[i].tolist(), f"row {k!r} has the wrong atoms"
        np.testing.assert_allclose(got.values(), want.values[i], rtol=0, atol=1e-6, err_msg=f"row {k!r}")
    for k, (_s, c) in rows.items():
        if k not in encodable:
            assert c is None, f"row {k!r} has a code but its source cannot be encoded"
    return len(rows)


def row_versions(conn: psycopg.Connection, table: str = "items") -> dict:
    """Each row's (ctid, xmin): unchanged iff nothing rewrote the row."""
    query = sql.SQL("SELECT id, ctid::text, xmin::text FROM {}").format(sql.Identifier(table))
    return {k: (ctid, xmin) for k, ctid, xmin in conn.execute(query).fetchall()}
