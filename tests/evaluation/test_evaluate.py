"""``evaluate_column`` and ``compressae-pg evaluate`` against a real server: the recall it reports is
recomputed here from scratch by brute-force numpy (truth and every hit), queries drawn from the table
are left out of their truth, and what cannot be evaluated is refused with a clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compressae_pg import CompressedColumn, NotAttachedError
from compressae_pg.cli import main
from compressae_pg.evaluation.methods import Method
from compressae_pg.evaluation.metrics import RunningTopK
from compressae_pg.evaluation.run import evaluate_column

from ..support.models import K, searchable, stored
from ..support.tables import create_table
from ..support.truth import brute_force, cos, dense_code

ROWS = 1500


@pytest.fixture
def items(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:ROWS], model)


def by_name(result, method: str, setting: str) -> dict:
    return next(r for r in result.results if r["method"] == method and r["setting"] == setting)


def test_running_topk_over_chunks_is_the_topk_of_everything():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((7, 1000))
    top = RunningTopK(7, 10)
    for start in range(0, 1000, 64):
        top.update(scores[:, start : start + 64], np.arange(start, min(start + 64, 1000)))
    assert top.result().astype(np.int64).tolist() == np.argsort(-scores, axis=1)[:, :10].tolist()  # no ties among normals


@pytest.mark.slow
def test_what_is_reported_for_an_indexed_column(conn, items, real_vectors):
    queries = real_vectors[5500:5530]
    create_table(conn, "probes", queries)
    result = evaluate_column("items", "embedding", conn=conn, queries_from="probes.embedding", candidates=[30],
                             modes=["none", "reconstructed"])
    row = by_name(result, "codes, rerank reconstructed", "candidates 30")
    assert row["queries"] == len(queries) == result.queries
    # HNSW is approximate, but deterministic: the same searches, scored against numpy's exact top 10 of the table
    keys, _codes, sources = stored(conn)
    column = CompressedColumn(conn, "items", "embedding")
    recalls, ndcgs = [], []
    for q in queries / np.linalg.norm(queries, axis=1, keepdims=True):
        rank = {keys[i]: r for r, i in enumerate(np.argsort(-cos(q, np.stack(sources)))[:10])}
        found = [h.key for h in column.search(q, 10, candidates=30, rerank="reconstructed")]
        recalls.append(sum(key in rank for key in found) / 10)
        gain = [10 - rank[key] if key in rank else 0 for key in found]  # graded: the true first gains 10, the tenth 1
        ndcgs.append(np.sum(np.array(gain) / np.log2(np.arange(2, 12))) / np.sum(np.arange(10, 0, -1) / np.log2(np.arange(2, 12))))
    assert row["recall@10"] == pytest.approx(np.mean(recalls), abs=5e-5) and row["ndcg@10"] == pytest.approx(np.mean(ndcgs), abs=5e-5)
    assert 0.1 < row["recall@10"] < 1  # a real measurement, neither empty nor the trivial answer
    # sparsevec: header, then an int32 index and a float32 value per non-zero; and beside it the sketch,
    # bit(2·384) (2 planes): a 1-byte header (short, in a row), the int32 bit length and 96 bytes of bits, and the
    # residual sketch, bit(2·384 + 32): the same header and length, 100 bytes of bits
    assert row["bytes_per_row"] == 16 + 8 * K + (1 + 4 + 2 * 384 // 8) + (1 + 4 + (2 * 384 + 32) // 8)
    assert row["index_bytes"] > 0
    assert result.rows == ROWS
    dense = [r for r in result.results if r["baseline"]]
    assert [r["method"] for r in dense] == ["vector, dense, exact scan"]
    assert dense[0]["recall@10"] == pytest.approx(1.0, abs=0.01) and dense[0]["index_bytes"] is None
    assert any("no HNSW index" in n for n in result.notes)


@pytest.mark.slow
def test_reported_recall_is_the_recall_numpy_computes_by_brute_force(conn, dsn, model, real_vectors):
    """Without an index the search is exact, so every hit can be computed in numpy: candidates by the
    cosine of the stored codes with the query's code, reranked by the cosine with the decoded codes.
    (The sparse graph: its scores have no ties, so the 30 candidates are one set; the sketch graph's
    Hamming distances tie, and its searches are checked score by score in test_search.py.)"""
    searchable(conn, dsn, real_vectors[:ROWS], model, index=False, graph="sparse")
    queries = real_vectors[5500:5530]
    create_table(conn, "probes", queries)
    result = evaluate_column("items", "embedding", conn=conn, queries_from="probes.embedding", candidates=[30],
                             modes=["none", "reconstructed"])
    keys, codes, sources = stored(conn)
    keys = np.asarray(keys)
    base = np.stack(sources).astype(np.float64)
    query_codes = model.compress(queries)
    for mode in ("none", "reconstructed"):
        recalls = []
        for i, q in enumerate(queries):
            truth = set(keys[np.argsort(-cos(q, base))[:10]].tolist())
            qcode = dense_code(query_codes.indices[i], query_codes.values[i])
            candidates = np.argsort(-brute_force(model, qcode, q, codes, sources, "none", "sparse"))[:30]
            scores = brute_force(model, qcode, q, codes[candidates], [sources[c] for c in candidates], mode, "sparse")
            hits = set(keys[candidates[np.argsort(-scores)[:10]]].tolist())
            recalls.append(len(truth & hits) / 10)
        row = by_name(result, f"codes, rerank {mode}", "candidates 30")
        assert row["recall@10"] == pytest.approx(np.mean(recalls), abs=5e-5), mode  # the report rounds to 4 places
        assert 0.1 < row["recall@10"] < 1  # a real measurement, neither empty nor the trivial answer
    assert by_name(result, "codes, rerank reconstructed", "candidates 30")["recall@10"] > \
        by_name(result, "codes, rerank none", "candidates 30")["recall@10"]


@pytest.mark.slow
def test_queries_from_the_table_are_left_out_of_their_own_truth(conn, items):
    """Two methods of the test's own answer each query with numpy's exact ranking of the other rows, one with the
    query's own row first: both score recall 1 only if the query's row is left out of its truth and of its hits."""
    keys, _codes, sources = stored(conn)
    base = np.stack(sources)
    asked = []

    def numpy_top(with_own: bool):
        def search(q, n):
            scores = cos(q, base)
            own = int(np.argmax(scores))
            assert scores[own] > 1 - 1e-6, "a query that is not a row of the table"
            asked.append((keys[own], n))
            others = [keys[i] for i in np.argsort(-scores) if i != own]
            return [keys[own], *others[: n - 1]] if with_own else others[:n]
        return search

    exact = [Method(f"numpy, own row {'first' if first else 'left out'}", numpy_top(first)) for first in (True, False)]
    conn.execute("CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops)")
    result = evaluate_column("items", "embedding", conn=conn, queries=25, candidates=[ROWS], modes=["dense"], extra=exact)
    assert len({key for key, _n in asked}) == 25 and {n for _key, n in asked} == {11}  # 25 rows asked for k + 1 hits
    for method in exact:
        assert by_name(result, method.name, "")["recall@10"] == 1.0, method.name
    dense = by_name(result, "vector, dense, HNSW", "ef_search 100")
    # Were a query's own row counted in the results but not in the truth, recall would be at most 0.9.
    assert dense["recall@10"] > 0.95 and dense["queries"] == 25
    assert by_name(result, "codes, rerank dense", f"candidates {ROWS}")["recall@10"] > 0.95
    assert dense["index_bytes"] > 0 and dense["bytes_per_row"] == 8 + 4 * 384
    assert result.notes == []


def test_a_column_without_codes_is_refused(conn, real_vectors):
    create_table(conn, "plain", real_vectors[:50])
    with pytest.raises(NotAttachedError, match="compressae-pg attach"):
        evaluate_column("plain", "embedding", conn=conn, queries=5)


def test_unknown_rerank_modes_are_refused_before_any_work(conn, items):
    with pytest.raises(ValueError, match="unknown rerank mode exact"):
        evaluate_column("items", "embedding", conn=conn, modes=["exact"])


@pytest.mark.slow
def test_the_command_prints_json_and_plots(dsn, conn, items, tmp_path, capsys):
    png = tmp_path / "eval.png"
    code = main(["evaluate", "--table", "items", "--column", "embedding", "--queries", "10", "--candidates", "20",
                 "--rerank", "reconstructed", "--plot", str(png), "--json", "--dsn", dsn])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in out["results"]] == ["codes, rerank reconstructed", "vector, dense, exact scan"]
    assert out["plot"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_explains_an_unattached_column(dsn, conn, real_vectors, capsys):
    create_table(conn, "plain", real_vectors[:20])
    assert main(["evaluate", "--table", "plain", "--column", "embedding", "--dsn", dsn]) == 2
    assert "no compressed code column is attached" in capsys.readouterr().err


@pytest.mark.slow
def test_codes_without_an_index_are_measured_and_said_to_scan(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:200], model, index=False)
    result = evaluate_column("items", "embedding", conn=conn, queries=3, candidates=[5], modes=["none"])
    assert by_name(result, "codes, rerank none", "candidates 5")["index_bytes"] is None
    assert any("embedding_sae has no HNSW index" in n for n in result.notes)
