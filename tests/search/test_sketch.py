"""The sketch column of the default graph: every writer (backfill, sync trigger, queue worker, recompress)
fills it with the source's sketch in the attachment's planes, NULL where the code is NULL, as numpy computes
it here (independently of compressae_pg._codes); verify catches a wrong one; search probes it with the
query's; an attachment of 1 plane keeps bit(d) sign bits; detach removes it."""

from __future__ import annotations

import numpy as np
import pytest
from psycopg import sql

from compressae_pg import CompresSAE, CompressedColumn, backfill, build_index, recompress, registry, sync, verify
from compressae_pg.columns import attachments

from ..support.models import DIM, H, K, attach_model
from ..support.tables import create_table, insert_rows
from ..support.truth import numpy_sketch


def sketches(conn, table: str = "items", sketch: str = "embedding_sae_sketch") -> dict:
    return dict(conn.execute(sql.SQL("SELECT id, {}::text FROM {} ORDER BY id").format(sql.Identifier(sketch), sql.Identifier(table))).fetchall())


def sketch_text(v, planes: int = 2) -> str:
    """numpy's sketch (support.truth.numpy_sketch) as bit text."""
    return "".join("1" if b else "0" for b in numpy_sketch(v, planes))


def hamming(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def test_backfill_writes_the_two_plane_sketch_and_verify_checks_it(conn, dsn, real_vectors):
    vectors = [*real_vectors[:30], None, np.zeros(384, np.float32)]
    keys = create_table(conn, "items", vectors, key="wide bigint")
    att, _ = attach_model(conn)
    assert (att.sketch_column, att.sketch_planes) == ("embedding_sae_sketch", 2)
    assert conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'items'::regclass"
                        " AND attname = 'embedding_sae_sketch'").fetchone() == ("bit(768)",)
    backfill("items", "embedding", dsn=dsn, progress=False)
    got = sketches(conn)
    assert [got[k] for k in keys[:30]] == [sketch_text(v) for v in real_vectors[:30]]
    assert got[keys[30]] is None and got[keys[31]] is None  # NULL source, zero vector: no code, no sketch
    assert verify("items", "embedding", sample=None, dsn=dsn).ok
    # A wrong second plane is found and named; a second backfill mends it (the write compares the sketch too).
    conn.execute("UPDATE items SET embedding_sae_sketch = substring(embedding_sae_sketch from 1 for 384)"
                 " || ~substring(embedding_sae_sketch from 385) WHERE id = %s", (keys[3],))
    result = verify("items", "embedding", sample=None, dsn=dsn)
    assert (result.ok, result.mismatched) == (False, [{"key": str(keys[3]), "problem": "a sketch that is not the source's"}])
    assert backfill("items", "embedding", dsn=dsn, progress=False, mode="restart").rows_written == 1
    assert verify("items", "embedding", sample=None, dsn=dsn).ok


def test_one_plane_keeps_the_sign_bits_in_bit_d(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:20])
    att, _ = attach_model(conn, sketch_planes=1)
    assert att.sketch_planes == 1
    backfill("items", "embedding", dsn=dsn, progress=False)
    assert list(sketches(conn).values()) == [sketch_text(v, 1) for v in real_vectors[:20]]
    assert verify("items", "embedding", sample=None, dsn=dsn).ok
    with pytest.raises(Exception, match="sketch_planes must be 1 or 2"):
        attachments.attach("items", "embedding", "m", code_column="odd", sketch_planes=3, conn=conn)
    for planes in (None, 3):  # a sketch column's record always says its planes, 1 or 2
        with pytest.raises(Exception, match="attachments_sketch_planes_check"), conn.transaction():
            conn.execute("UPDATE compressae.attachments SET sketch_planes = %s", (planes,))


def test_the_sync_trigger_and_the_queue_worker_write_the_sketch_and_detach_drops_it(conn, dsn, real_vectors):
    keys = create_table(conn, "items", real_vectors[:3], key="wide bigint")
    attach_model(conn, sync="trigger")
    conn.execute("INSERT INTO items (id, embedding) VALUES (100, %s), (101, NULL)", (real_vectors[10],))
    conn.execute("UPDATE items SET embedding = %s WHERE id = %s", (real_vectors[11], keys[0]))
    got = sketches(conn)
    assert (got[100], got[101], got[keys[0]]) == (sketch_text(real_vectors[10]), None, sketch_text(real_vectors[11]))
    attachments.detach("items", "embedding_sae", conn=conn)
    columns = [r[0] for r in conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'items'::regclass"
                                          " AND attnum > 0 AND NOT attisdropped ORDER BY attnum")]
    assert columns == ["id", "embedding"]
    attach_model(conn, sync="queue")
    insert_rows(conn, [200, 201], [real_vectors[20], real_vectors[21]])
    conn.execute("UPDATE items SET embedding = %s WHERE id = 100", (real_vectors[22],))
    assert sketches(conn)[200] is None  # the queue trigger cleared it; the worker writes it
    sync("items", "embedding", dsn=dsn, progress=False)
    got = sketches(conn)
    assert (got[200], got[201], got[100]) == tuple(sketch_text(real_vectors[i]) for i in (20, 21, 22))


def test_a_halfvec_source_and_any_dimension_get_numpys_sketch(conn, real_vectors):
    half = real_vectors[:5].astype(np.float16)
    create_table(conn, "items", half, type_="halfvec(384)")
    got = [r[0] for r in conn.execute("SELECT compressae.sketch(embedding, 2)::text FROM items ORDER BY id")]
    assert got == [sketch_text(v.astype(np.float32)) for v in half]
    for d in (1, 2, 3, 4, 9, 17, 768):
        v = np.random.default_rng(d).standard_normal(d).astype(np.float32)
        (bits,) = conn.execute("SELECT compressae.sketch(%s::text::vector, 2)::text", (str(v.tolist()),)).fetchone()
        assert bits == sketch_text(v), d
    with pytest.raises(Exception, match="1 or 2 planes"):
        conn.execute("SELECT compressae.sketch('[1,2]'::vector, 3)")


def test_recompress_keeps_the_planes_and_writes_the_sketch(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:200])
    attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    registry.save(conn, "m", CompresSAE(DIM, H, K, seed=1).eval())
    assert recompress("items", "embedding", "m@2", dsn=dsn, batch_size=100, progress=False).swapped
    assert attachments.get(conn, "items", "embedding").sketch_planes == 2
    assert list(sketches(conn).values()) == [sketch_text(v) for v in real_vectors[:200]]


def test_search_through_the_index_finds_numpys_nearest_sketches(conn, dsn, real_vectors):
    """With ef_search above the table's rows, HNSW over 300 rows is exact: rerank 'none' lists the rows
    of least Hamming distance between numpy's sketches of the query and of each row."""
    rows = real_vectors[:300]
    create_table(conn, "items", rows)
    attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    build_index("items", "embedding", dsn=dsn)
    stored = [sketch_text(v) for v in rows]
    column = CompressedColumn(conn, "items", "embedding")
    for q in real_vectors[1000:1005]:
        distance = np.array([hamming(sketch_text(q), s) for s in stored])
        hits = column.search(q, k=10, candidates=400, rerank="none")
        tenth = np.sort(distance)[9]
        assert all(distance[h.key - 1] <= tenth for h in hits) and len(hits) == 10
        assert [round(h.score, 6) for h in hits] == [round(1 - 2 * distance[h.key - 1] / 768, 6) for h in hits]
        in_sql = conn.execute("SELECT key::bigint FROM compressae.search('items'::regclass, 'embedding', %s::text::vector,"
                              " k => 10, candidates => 400, rerank => 'none')", (str(q.tolist()),)).fetchall()
        assert all(distance[k - 1] <= tenth for (k,) in in_sql) and len(in_sql) == 10
