"""``evaluate --compare``: each peer's recall is recomputed here by brute-force numpy on the same rows (its
own representation built from the documented recipe), the private schema it lives in is gone afterwards
(by the catalog), also after an error or Ctrl-C, and an unknown peer name is refused before any work."""

from __future__ import annotations

import re

import numpy as np
import pytest

from compressae_pg import CompressaeError, UnknownPeerError, evaluate_column
from compressae_pg.cli import main
from compressae_pg.evaluation.methods import Method
from compressae_pg.evaluation.peers import PEERS

from ..support.models import K, searchable
from ..support.peers import LEFTOVERS, QUERIES, ROWS, TOLERANCE, recall, row, unit
from ..support.tables import create_table

CANDIDATES = 30
DIMS = 2 + 2 * K  # vector(m) at a k-non-zero sparsevec's bytes: 8 + 4m = 16 + 8k


@pytest.fixture
def items(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:ROWS], model, index=False)
    create_table(conn, "probes", real_vectors[5500 : 5500 + QUERIES])


def reranked(truth: np.ndarray, scores: np.ndarray, dense: np.ndarray) -> float:
    """Recall of the peer's CANDIDATES best rows, reordered by the dense cosine."""
    cand = np.argsort(-scores, axis=1, kind="stable")[:, :CANDIDATES]
    top = [c[np.argsort(-d[c])[:10]] for c, d in zip(cand, dense)]
    return float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, top)]))


def hamming_bounds(truth: np.ndarray, distance: np.ndarray) -> tuple[float, float]:
    """The least and most recall any top 10 by Hamming ``distance`` can have: rows tied at the 10th distance
    may be taken in any order."""
    low, high = [], []
    for t, d in zip(truth, distance):
        cut = np.sort(d)[9]
        inside, tied = set(np.flatnonzero(d < cut)), set(np.flatnonzero(d == cut))
        slots, good = 10 - len(inside), len(tied & set(t))
        sure = len(inside & set(t))
        low.append((sure + max(0, slots - (len(tied) - good))) / 10)
        high.append((sure + min(good, slots)) / 10)
    return float(np.mean(low)), float(np.mean(high))


@pytest.mark.slow
def test_each_peer_finds_what_numpy_finds_with_the_same_peer(conn, items, real_vectors):
    """By exact scan every peer's answer is determined, so its recall is computed in full here."""
    result = evaluate_column("items", "embedding", conn=conn, queries_from="probes.embedding", queries=QUERIES,
                             candidates=[CANDIDATES], modes=["dense"], compare=PEERS, compare_index=False)
    base, queries = unit(real_vectors[:ROWS]), unit(real_vectors[5500 : 5500 + QUERIES])
    dense = queries @ base.T
    truth = np.argsort(-dense, axis=1)[:, :10]
    basis = np.linalg.svd(base, full_matrices=False)[2][:DIMS].T  # every row: the table is below the PCA sample
    gauss = np.random.default_rng(0).standard_normal((384, DIMS))
    half = unit(base.astype(np.float16)) @ unit(queries.astype(np.float16)).T
    projected = {"PCA": basis, "random projection": gauss, "prefix subvector(1..": np.eye(384)[:, :DIMS]}
    for name, matrix in projected.items():
        scores = unit(queries @ matrix) @ unit(base @ matrix).T
        label = f"{name}{DIMS}), Matryoshka models only" if name.startswith("prefix") else f"{name} vector({DIMS})"
        alone = row(result, f"{label}, exact scan", "no index")
        assert alone["recall@10"] == pytest.approx(recall(truth, scores), abs=TOLERANCE), name
        rr = row(result, f"{label}, exact scan, dense rerank", f"candidates {CANDIDATES}")
        assert rr["recall@10"] == pytest.approx(reranked(truth, scores, dense), abs=TOLERANCE), name
        assert alone["bytes_per_row"] == 8 + 4 * DIMS and alone["queries"] == QUERIES
    assert row(result, "halfvec(384), exact scan", "no index")["recall@10"] == pytest.approx(recall(truth, half.T), abs=TOLERANCE)
    low, high = hamming_bounds(truth, ((queries > 0)[:, None, :] != (base > 0)[None, :, :]).sum(axis=2))
    assert low - 1e-9 <= row(result, "binary_quantize bit(384), exact scan", "no index")["recall@10"] <= high + 1e-9
    # the peers are what they say: halfvec near exact, PCA above a random projection and a prefix at the same bytes
    by = {r["method"]: r["recall@10"] for r in result.results if r["setting"] == "no index"}
    assert by["halfvec(384), exact scan"] > 0.95 > by[f"PCA vector({DIMS}), exact scan"] > by[f"random projection vector({DIMS}), exact scan"]
    assert conn.execute(LEFTOVERS).fetchall() == []


@pytest.mark.slow
def test_peers_get_their_own_index_and_say_their_disk_while_they_exist(conn, items, real_vectors, capsys):
    seen, asked = [], []

    def look(q, n):  # an extra method, measured while the peers exist: what the catalog shows then, and the queries
        seen.append(conn.execute(LEFTOVERS).fetchall())
        asked.append(q)
        return []

    result = evaluate_column("items", "embedding", conn=conn, queries=QUERIES, candidates=[CANDIDATES], modes=["none"],
                             compare=["binary", "pca"], extra=[Method("catalog", look)], progress=True)
    assert len(seen[0]) == 1 and seen[0][0][1] == 4  # one private schema: two tables, their two indexes
    assert conn.execute(LEFTOVERS).fetchall() == []
    schema = seen[0][0][0]
    printed = capsys.readouterr().err
    assert re.search(rf"peer pca: \d+\.\d MiB table \+ \d+\.\d MiB index in schema {schema} while", printed)
    assert f"dropped schema {schema}" in printed
    assert any(n.startswith("pca took ") and n.endswith(f"in schema {schema} while it ran, dropped afterwards") for n in result.notes)
    pca = row(result, f"PCA vector({DIMS}), HNSW", "ef_search 100")
    binary = row(result, "binary_quantize bit(384), HNSW", "ef_search 100")
    assert pca["index_bytes"] > 0 and binary["index_bytes"] > 0
    assert binary["bytes_per_row"] == 1 + 4 + 384 // 8  # bit(384) in a row: a short header, the bit length, 48 bytes
    # Through HNSW each peer finds about what numpy's exact scan of the same peer finds for the same queries (rows of
    # the table, each left out of its own truth and hits): ef_search 100 for 10 of 1,500 rows misses at most a few
    # of the 200 answers (0.05 is ten of them); a wrong representation misses far more.
    base, queries = unit(real_vectors[:ROWS]), unit(np.stack(asked[-QUERIES:]))
    dense = queries @ base.T
    own = dense.argmax(axis=1)
    assert np.allclose(dense[np.arange(QUERIES), own], 1, atol=1e-6)  # the queries are rows of the table
    dense[np.arange(QUERIES), own] = -np.inf
    truth = np.argsort(-dense, axis=1)[:, :10]
    basis = np.linalg.svd(base, full_matrices=False)[2][:DIMS].T
    scores = unit(queries @ basis) @ unit(base @ basis).T
    scores[np.arange(QUERIES), own] = -np.inf
    assert pca["recall@10"] == pytest.approx(recall(truth, scores), abs=0.05)
    distance = ((queries > 0)[:, None, :] != (base > 0)[None, :, :]).sum(axis=2)
    distance[np.arange(QUERIES), own] = 385
    low, high = hamming_bounds(truth, distance)
    assert low - 0.05 <= binary["recall@10"] <= high + 0.05
    assert not any(r["method"].endswith("dense rerank") for r in result.results)  # no dense mode asked for
    assert any(f"vector({DIMS}) is {8 + 4 * DIMS} B" in n for n in result.notes)


@pytest.mark.slow
@pytest.mark.parametrize("interrupt", [RuntimeError("the evaluation failed"), KeyboardInterrupt()])
def test_the_peers_are_dropped_when_the_evaluation_fails(conn, items, interrupt):
    def fail(q, n):
        assert len(conn.execute(LEFTOVERS).fetchall()) == 1
        raise interrupt

    with pytest.raises(type(interrupt)):
        evaluate_column("items", "embedding", conn=conn, queries=5, candidates=[10], modes=["none"],
                        compare=["halfvec", "random"], extra=[Method("failing", fail)])
    assert conn.execute(LEFTOVERS).fetchall() == []
    assert conn.execute("SELECT 1").fetchone() == (1,)  # and the connection still works


def test_an_unknown_peer_is_refused_before_any_work(conn, dsn, items, capsys):
    with pytest.raises(UnknownPeerError, match="unknown peer 'opq' for --compare: choose from halfvec,binary,pca,prefix,random,sign,sq2,sq4,sq8"):
        evaluate_column("items", "embedding", conn=conn, compare=["pca", "opq"])
    assert main(["evaluate", "--table", "items", "--column", "embedding", "--compare", "halfvec,pq", "--dsn", dsn]) == 2
    assert "unknown peer 'pq'" in capsys.readouterr().err
    assert conn.execute(LEFTOVERS).fetchall() == []


@pytest.mark.slow
def test_hostile_names_and_keys_reach_the_peers_only_as_identifiers_and_values(conn, dsn, model, real_vectors):
    """A table, column and key named to break composed SQL, keys that COPY's text format must escape: the peers
    are built, joined back for the dense rerank, and dropped."""
    table, column, key = 'we"ird; DROP TABLE x; %s', "Emb Vec %(q)s", "Key'); --"
    keys = [f"k{i}\t\\N\n'\"" for i in range(400)]
    searchable(conn, dsn, real_vectors[:400], model, table=table, column=column, key=key, key_type="text", keys=keys, index=False)
    result = evaluate_column(table, column, conn=conn, queries=10, candidates=[20], modes=["dense"], compare=["pca", "binary", "sq4"])
    rr = row(result, f"PCA vector({DIMS}), HNSW, dense rerank", "candidates 20")
    assert rr["queries"] == 10 and rr["recall@10"] > 0.5  # the join back by key found rows: without it, recall would be 0
    planes = row(result, "4-bit per-dimension bit(1536), sketch graph", "candidates 20")  # joined to the sketch's rows by key
    assert planes["queries"] == 10 and planes["recall@10"] > 0.5
    assert conn.execute(LEFTOVERS).fetchall() == []


def test_compare_refuses_a_connection_inside_a_transaction(dsn, items):
    from compressae_pg.server import connect

    with connect(dsn) as own:  # not autocommit
        with pytest.raises(CompressaeError, match="autocommit connection"):
            evaluate_column("items", "embedding", conn=own, compare=["pca"])
