"""The residual sketch (0010): every writer writes numpy's, search scores with it, and an attachment made before it
upgrades without a rewrite, its rows falling back to the codes' score until a backfill fills them."""

from __future__ import annotations

import numpy as np
import pytest

from compressae_pg import CompressedColumn, Hit, _migrate, backfill, registry, status, sync, verify
from compressae_pg.columns import attachments
from compressae_pg.server import connect

from ..support.models import attach_model, stored
from ..support.tables import create_table, insert_rows
from ..support.truth import assert_top, brute_force, check_codes, check_residuals, residual_truth, sql_query_levels

SEARCH = "SELECT key, score FROM compressae.search(%s::regclass, %s, %s, k => %s, candidates => %s, rerank => %s)"


@pytest.mark.parametrize("planes", [1, 2])
def test_the_backfill_and_the_queue_worker_write_numpys_residual_sketch(conn, dsn, model, real_vectors, planes):
    create_table(conn, "items", real_vectors[:200])
    att, _ = attach_model(conn, model=model, sync="queue", residual_bits=planes)
    assert (att.residual_column, att.residual_planes) == ("embedding_sae_residual", planes)
    backfill("items", "embedding", dsn=dsn, progress=False)
    assert check_codes(conn, model) == 200 and check_residuals(conn, model, planes=planes) == 200
    insert_rows(conn, [201, 202], [real_vectors[201], real_vectors[202]])
    conn.execute("UPDATE items SET embedding = %s WHERE id = 3", (real_vectors[203],))
    assert conn.execute("SELECT count(*) FROM items WHERE embedding_sae_residual IS NULL").fetchone() == (3,)  # cleared with the code
    sync("items", "embedding", dsn=dsn, progress=False)
    assert check_residuals(conn, model, planes=planes) == 202
    assert verify("items", "embedding", sample=None, dsn=dsn).ok


def test_the_sync_trigger_and_compressae_residual_compute_it_in_sql(conn, dsn, model, real_vectors):
    create_table(conn, "items", real_vectors[:0])
    attach_model(conn, model=model, sync="trigger")
    insert_rows(conn, list(range(1, 61)), real_vectors[:60])
    conn.execute("UPDATE items SET embedding = %s WHERE id = 5", (real_vectors[70],))
    assert check_residuals(conn, model, flips=4) == 60  # float8 in SQL: a near-tie may fall the other way
    assert verify("items", "embedding", sample=None, dsn=dsn).ok
    row = conn.execute("SELECT compressae.residual('m', embedding, embedding_sae, 1)::text, embedding, embedding_sae FROM items "
                       "WHERE id = 7").fetchone()
    dense = np.zeros(model.h)
    dense[row[2].indices()] = row[2].values()
    levels, c, _a = residual_truth(row[1].to_numpy(), dense @ model.decoder.detach().double().numpy(), 1)
    assert len(row[0]) == model.dim + 32 and sum((b == "1") != (lv > 0) for b, lv in zip(row[0], levels)) <= 4
    assert abs(int(row[0][model.dim : model.dim + 16], 2) - round(c * 65535)) <= 1
    with pytest.raises(Exception, match="1 or 2 planes"):
        conn.execute("SELECT compressae.residual('m', embedding, embedding_sae, 3) FROM items LIMIT 1")


def test_residual_bits_0_and_the_sparse_graph_keep_the_codes_alone(conn, model, real_vectors):
    create_table(conn, "items", real_vectors[:10])
    none, _ = attach_model(conn, model=model, residual_bits=0)
    sparse = attachments.attach("items", "embedding", "m", code_column="paper", graph="sparse", conn=conn)
    assert (none.residual_column, sparse.residual_column, sparse.residual_planes) == (None, None, 0)
    with pytest.raises(Exception, match="residual_planes must be 0, 1 or 2"):
        attachments.attach("items", "embedding", "m", code_column="odd", residual_bits=3, conn=conn)


def test_search_scores_with_the_residual_sketch_in_python_and_sql(conn, dsn, model, real_vectors):
    create_table(conn, "items", real_vectors[:300])
    attach_model(conn, model=model)
    backfill("items", "embedding", dsn=dsn, progress=False, m=8, ef_construction=32)
    keys, codes, sources = stored(conn)
    column = CompressedColumn(conn, "items", "embedding")
    for q in real_vectors[5000:5003]:
        assert_top(column.search(q, k=10, candidates=300), keys, brute_force(model, None, q, codes, sources, "reconstructed"), 10)
        rows = conn.execute(SEARCH, ("items", "embedding", q, 10, 300, "reconstructed")).fetchall()
        want = brute_force(model, None, q, codes, sources, "reconstructed", residual_query=sql_query_levels(q))
        assert_top([Hit(int(k), s) for k, s in rows], keys, want, 10)


def test_an_attachment_of_0009_upgrades_without_a_rewrite_and_a_backfill_fills_it(empty_dsn, model, real_vectors):
    _migrate.upgrade(empty_dsn, "0009_trust")
    with connect(empty_dsn, autocommit=True) as c:
        create_table(c, "items", real_vectors[:150])
        registry.save(c, "m", model)
        c.execute("SELECT compressae.attach('items'::regclass, 'embedding', 'm', sync => 'trigger')")
        filenode = c.execute("SELECT pg_relation_filenode('items')").fetchone()
    backfill_at_0009(empty_dsn)
    finished_run_at_0009(empty_dsn)
    _migrate.upgrade(empty_dsn)
    with connect(empty_dsn, autocommit=True) as c:
        assert c.execute("SELECT pg_relation_filenode('items')").fetchone() == filenode  # no rewrite
        assert c.execute("SELECT count(*) FROM items WHERE embedding_sae_residual IS NULL").fetchone() == (150,)
        assert status("items", exact=True, conn=c)[0]["rows_without_residual"] == 150
        keys, codes, sources = stored(c)
        q = real_vectors[5000]
        codes_only = brute_force(model, None, q, codes, sources, "reconstructed", planes=0)
        assert_top(CompressedColumn(c, "items", "embedding").search(q, k=5, candidates=150), keys, codes_only, 5)
        rows = c.execute(SEARCH, ("items", "embedding", q, 5, 150, "reconstructed")).fetchall()
        np.testing.assert_allclose([s for _k, s in rows], np.sort(codes_only)[::-1][:5], atol=1e-5)
        assert verify("items", "embedding", sample=None, conn=c).missing == 150
        c.execute("INSERT INTO items (id, embedding) VALUES (151, %s)", (real_vectors[151],))  # the rewritten trigger writes it
        assert c.execute("SELECT embedding_sae_residual IS NOT NULL FROM items WHERE id = 151").fetchone() == (True,)
    result = backfill("items", "embedding", dsn=empty_dsn, progress=False)
    assert result.mode == "full" and any("no residual sketch" in note for note in result.notes)
    assert result.rows_written in (150, 151)  # the 150 without one; row 151 too where SQL's float8 rounding left another last bit
    with connect(empty_dsn, autocommit=True) as c:
        assert check_residuals(c, model, flips=4) == 151 and verify("items", "embedding", sample=None, conn=c).ok


def backfill_at_0009(dsn: str) -> None:
    """Codes (and sketches) as a 0009 database holds them, written by SQL: the package itself wants the head."""
    with connect(dsn, autocommit=True) as c:
        c.execute("UPDATE items SET embedding_sae = compressae.encode('m', embedding), "
                  "embedding_sae_sketch = binary_quantize(embedding)")


def finished_run_at_0009(dsn: str) -> None:
    """The record of a backfill that finished at 0009 after every row was coded: without a full pass, the next
    backfill would see nothing to do (a trigger keeps the codes fresh) and never write the residual sketches."""
    with connect(dsn, autocommit=True) as c:
        c.execute("INSERT INTO compressae.backfill_jobs (attachment_id, model_id, run, kind, horizon, status, finished_at)"
                  " SELECT a.id, a.model_id, nextval('compressae.backfill_runs'), 'sweep', pg_current_xact_id(), 'done', now()"
                  " FROM compressae.attachments a")


def test_verify_finds_a_residual_sketch_that_is_not_the_codes(conn, dsn, model, real_vectors):
    create_table(conn, "items", real_vectors[:20])
    attach_model(conn, model=model)
    backfill("items", "embedding", dsn=dsn, progress=False)
    conn.execute("UPDATE items SET embedding_sae_residual = ~embedding_sae_residual WHERE id = 4")
    result = verify("items", "embedding", sample=None, dsn=dsn)
    assert (result.ok, result.mismatches, result.mismatched[0]["key"]) == (False, 1, "4")
    assert "residual sketch that is not the code's" in result.mismatched[0]["problem"]


def test_no_stored_residual_scores_a_row_above_a_cosine(conn, dsn, model, real_vectors):
    create_table(conn, "items", real_vectors[:50])
    attach_model(conn, model=model)
    backfill("items", "embedding", dsn=dsn, progress=False)
    conn.execute("UPDATE items SET embedding_sae_residual = ~(B'0'::bit(800)) WHERE id = 7")  # every level and scale at its top
    q = real_vectors[6]
    # The review's row: the query's own signs, every level outer, c = b/√(1 + b²) for its code's score b and a at its
    # top: a clip at √(1 − c²) alone let it score √(1 + b²) > 1.
    row, b = conn.execute("SELECT id, -(embedding_sae <#> compressae.project('m', l2_normalize(%s::vector))) AS b FROM items"
                          " WHERE id <> 7 ORDER BY b DESC LIMIT 1", (q,)).fetchone()
    c = round(b / np.sqrt(1 + b * b) * 65535)
    signs = "".join("1" if v > 0 else "0" for v in q)
    conn.execute("UPDATE items SET embedding_sae_residual = %s::bit(800) WHERE id = %s",
                 (signs + "1" * 384 + format(c, "016b") + "1" * 16, row))
    python = {h.key: h.score for h in CompressedColumn(conn, "items", "embedding").search(q, k=50, candidates=50)}
    in_sql = {int(k): s for k, s in conn.execute(SEARCH, ("items", "embedding", q, 50, 50, "reconstructed")).fetchall()}
    for scores in (python, in_sql):
        assert max(scores.values()) <= 1 + 1e-6 and scores[7] <= 1 + 1e-9 and scores[row] <= 1 + 1e-6
