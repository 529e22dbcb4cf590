"""The bit-plane peers of ``evaluate --compare`` (sign, sq2, sq4, sq8): each one's SQL score of every row is pinned
against float64 numpy computed here from the documented recipe (the rows' own codes and scales, the query's
weights rounded to QUERY_PLANES bits), its recall by scan and through the codes' sketch graph against numpy's
on the same rows, and its bytes against the catalog's; the CLI takes them and a sparse-graph attachment is refused."""

from __future__ import annotations

import re

import numpy as np
import pytest
from psycopg import sql

from compressae_pg import CompressaeError, evaluate_column
from compressae_pg.cli import main
from compressae_pg.evaluation import peers, planes
from compressae_pg.search.column import CompressedColumn

from ..support.models import searchable
from ..support.peers import LEFTOVERS, QUERIES, ROWS, TOLERANCE, recall, row, unit
from ..support.tables import create_table

CANDIDATES = 30
NAMES = ("sign", "sq2", "sq4", "sq8")
LABELS = {"sign": "sign bits + scale float4, sketch graph", **{f"sq{b}": f"{b}-bit per-dimension bit({b * 384}), sketch graph"
                                                                 for b in (2, 4, 8)}}


@pytest.fixture
def items(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:ROWS], model)
    create_table(conn, "probes", real_vectors[5500 : 5500 + QUERIES])


def rows(vectors: np.ndarray) -> np.ndarray:
    """Unit rows as the evaluation reads them (normalised in float32), in float64."""
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float64)


def expected_scores(name: str, q: np.ndarray, base: np.ndarray, quantizer: planes.Quantizer) -> np.ndarray:
    """Each row's score, float64: s·(q·lo + Δ·rint(w/Δ)·u), w = q ⊙ step, Δ = max|w| / (2^(P−1) − 1)."""
    if name == "sign":
        lo, step, u, s = -np.ones(384), 2 * np.ones(384), (base > 0).astype(np.float64), np.abs(base).mean(axis=1)
    else:
        lo, step = quantizer.lo, quantizer.step
        top = 2 ** int(name[2:]) - 1
        u, s = np.clip(np.floor((base - lo) / step + 0.5), 0, top), np.ones(len(base))
        assert np.all(np.abs(base - (lo + step * u))[(u > 0) & (u < top)] <= step.max() / 2 + 1e-12)
    w = q * step
    delta = np.abs(w).max() / (2 ** (planes.QUERY_PLANES - 1) - 1)
    return s * (q @ lo + (np.floor(w / delta + 0.5) * delta) @ u.T)


def test_each_plane_peers_sql_score_is_numpys(conn, items, real_vectors):
    """Every row's score as SQL computes it from what the peer stored, against numpy from the rows themselves."""
    codes = CompressedColumn(conn, "items", "embedding")
    target = codes.target
    base, queries = rows(real_vectors[:ROWS]), unit(real_vectors[5500 : 5500 + 3])
    with peers.built(conn, target, NAMES, candidates=[CANDIDATES], rerank=False, ef_search=40, seed=0, notes=[],
                     say=lambda line: None) as methods:
        assert [m.name for m in methods] == [LABELS[n] for n in NAMES]
        schema = conn.execute(LEFTOVERS).fetchone()[0]
        levels = peers.quantizers(conn, target, NAMES, 0)
        for name in NAMES:
            quantizer = levels[name]
            if name != "sign":  # the levels are at least as good as min–max on the rows (the sample is all of them)
                lo, hi = base.min(axis=0), base.max(axis=0)
                step = np.where(hi > lo, (hi - lo) / (2 ** quantizer.bits - 1), 1.0)  # the data has constant dimensions
                minmax = lo + step * np.rint((base - lo) / step)
                fitted = quantizer.lo + quantizer.step * quantizer.codes(base)
                assert ((base - fitted) ** 2).sum() <= ((base - minmax) ** 2).sum() + 1e-12
            for q in queries:
                score = peers.plane_score(quantizer, quantizer.probe(q))
                query = sql.SQL("SELECT c.id, {} FROM (SELECT id, embedding_sae_sketch AS sketch FROM items) c "
                                "JOIN {} p ON p.key = c.id ORDER BY c.id").format(score, sql.Identifier(schema, name))
                got = np.array([r[1] for r in conn.execute(query)])
                want = expected_scores(name, q, base, quantizer)
                # float4 rows and scale (sign) against float64 here: a few units in float32's last place
                assert got == pytest.approx(want, rel=1e-6, abs=1e-7), name
                assert np.corrcoef(want, base @ q)[0, 1] > {"sign": 0.6, "sq2": 0.8, "sq4": 0.95, "sq8": 0.99}[name]
    assert conn.execute(LEFTOVERS).fetchall() == []


@pytest.mark.slow
def test_plane_peers_find_what_numpy_finds_by_scan_and_through_the_sketch_graph(conn, items, real_vectors):
    base, queries = unit(real_vectors[:ROWS]), unit(real_vectors[5500 : 5500 + QUERIES])
    dense = queries @ base.T
    truth = np.argsort(-dense, axis=1)[:, :10]
    by = {}
    for index in (False, True):
        result = evaluate_column("items", "embedding", conn=conn, queries_from="probes.embedding", queries=QUERIES,
                                 candidates=[CANDIDATES], modes=["reconstructed"], compare=NAMES, compare_index=index)
        by[index] = result
    levels = peers.quantizers(conn, CompressedColumn(conn, "items", "embedding").target, NAMES, 0)
    codes = row(by[True], "codes, rerank reconstructed", f"candidates {CANDIDATES}")
    sketch_bytes = conn.execute("SELECT avg(pg_column_size(embedding_sae_sketch))::float8 FROM items").fetchone()[0]
    distance = ((queries > 0)[:, None, :] != (base > 0)[None, :, :]).sum(axis=2)
    for name in NAMES:
        scores = np.stack([expected_scores(name, q, rows(real_vectors[:ROWS]), levels[name]) for q in queries])
        scan = row(by[False], f"{LABELS[name]}, exact scan", "no index")
        assert scan["recall@10"] == pytest.approx(recall(truth, scores), abs=TOLERANCE), name
        # through the graph: the exact Hamming top CANDIDATES reranked by the score, give or take what HNSW (ef_search
        # 40 over 1,500 rows) and ties at the last Hamming distance change: 0.05 is ten of the 200 answers
        graph = row(by[True], LABELS[name], f"candidates {CANDIDATES}")
        cand = np.argsort(distance, axis=1, kind="stable")[:, :CANDIDATES]
        top = np.stack([c[np.argsort(-s[c])[:10]] for c, s in zip(cand, scores)])
        assert graph["recall@10"] == pytest.approx(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, top)]), abs=0.05)
        assert graph["index_bytes"] == codes["index_bytes"] > 0  # the codes' own graph, no index of its own
        body = 4 + {"sign": 1, "sq2": 2, "sq4": 4, "sq8": 8}[name] * 384 // 8  # bit(B·d): its bit length and its bits, after a 1-byte header up to 127 B
        own = 4 if name == "sign" else body + (1 if body < 127 else 4)  # float4, or the planes
        assert graph["bytes_per_row"] == scan["bytes_per_row"] == round(sketch_bytes + own, 1)
    recalls = [row(by[False], f"{LABELS[n]}, exact scan", "no index")["recall@10"] for n in NAMES]
    assert recalls == sorted(recalls) and recalls[-1] > 0.95  # more bits find more; 8 bits nearly everything
    assert conn.execute(LEFTOVERS).fetchall() == []


def test_the_cli_compares_a_plane_peer(dsn, items, capsys):
    assert main(["evaluate", "--table", "items", "--column", "embedding", "--compare", "sq4", "--queries", "10",
                 "--candidates", "20", "--rerank", "reconstructed", "--dsn", dsn]) == 0
    out = capsys.readouterr().out
    assert re.search(re.escape(LABELS["sq4"]) + r" +candidates 20 ", out) and "note: sq4: 4 bits a dimension" in out


def test_a_sparse_graph_attachment_has_no_sketch_graph_for_them(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:300], model, graph="sparse", index=False)
    with pytest.raises(CompressaeError, match="sq2 search through the codes' sketch graph.*graph 'sparse'"):
        evaluate_column("items", "embedding", conn=conn, queries=5, candidates=[10], modes=["none"], compare=["sq2"])
    assert conn.execute(LEFTOVERS).fetchall() == []
