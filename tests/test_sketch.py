"""The sketch column of the default graph: every writer of codes fills it with the source's sign bits
(numpy's ``x > 0``), NULL where the code is NULL; verify catches a wrong one; detach removes it."""

from __future__ import annotations

import numpy as np
from psycopg import sql

from compressae_pg import backfill, verify
from compressae_pg.columns import attachments

from .support.models import attach_model
from .support.tables import create_table


def sketches(conn, table: str = "items", sketch: str = "embedding_sae_sketch") -> dict:
    return dict(conn.execute(sql.SQL("SELECT id, {}::text FROM {} ORDER BY id").format(sql.Identifier(sketch), sql.Identifier(table))).fetchall())


def signs(v) -> str:
    return "".join("1" if x > 0 else "0" for x in np.asarray(v, dtype=np.float32))


def test_backfill_and_trigger_write_the_sign_bits_and_verify_checks_them(conn, dsn, real_vectors):
    vectors = [*real_vectors[:30], None, np.zeros(384, np.float32)]
    keys = create_table(conn, "items", vectors, key="wide bigint")
    att, _ = attach_model(conn)
    assert att.sketch_column == "embedding_sae_sketch"
    backfill("items", "embedding", dsn=dsn, progress=False)
    got = sketches(conn)
    assert [got[k] for k in keys[:30]] == [signs(v) for v in real_vectors[:30]]
    assert got[keys[30]] is None and got[keys[31]] is None  # NULL source, zero vector: no code, no sketch
    assert verify("items", "embedding", sample=None, dsn=dsn).ok
    # A wrong sketch is found and named; a second backfill mends it (the write compares the sketch too).
    conn.execute("UPDATE items SET embedding_sae_sketch = ~embedding_sae_sketch WHERE id = %s", (keys[3],))
    result = verify("items", "embedding", sample=None, dsn=dsn)
    assert (result.ok, result.mismatched) == (False, [{"key": str(keys[3]), "problem": "a sketch that is not the source's sign bits"}])
    assert backfill("items", "embedding", dsn=dsn, progress=False, mode="restart").rows_written == 1
    assert verify("items", "embedding", sample=None, dsn=dsn).ok


def test_the_sync_trigger_writes_the_sketch_and_detach_drops_it(conn, real_vectors):
    keys = create_table(conn, "items", real_vectors[:3], key="wide bigint")
    attach_model(conn, sync="trigger")
    conn.execute("INSERT INTO items (id, embedding) VALUES (100, %s), (101, NULL)", (real_vectors[10],))
    conn.execute("UPDATE items SET embedding = %s WHERE id = %s", (real_vectors[11], keys[0]))
    got = sketches(conn)
    assert (got[100], got[101], got[keys[0]]) == (signs(real_vectors[10]), None, signs(real_vectors[11]))
    attachments.remove(conn, "items", "embedding_sae")
    columns = [r[0] for r in conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'items'::regclass"
                                          " AND attnum > 0 AND NOT attisdropped ORDER BY attnum")]
    assert columns == ["id", "embedding"]
