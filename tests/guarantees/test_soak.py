"""The soak benchmark in its short form, in the test's own database: 20 s of concurrent searches and writes serve
every request, and afterwards every code is numpy's, a search is numpy's brute force, and the server's memory has
not run away."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from compressae_pg import CompressedColumn, registry

from ..support.models import DATA, stored
from ..support.truth import assert_top, brute_force, check_codes, numpy_sketch

pytestmark = pytest.mark.slow
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_a_short_soak_serves_every_search_and_write_and_leaves_codes_right(conn, dsn, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its neighbour _common
    soak = importlib.import_module("soak")
    vectors = soak.load(DATA, 5000)
    result = soak.soak(dsn, vectors, seconds=20, searchers=2, writers=2, rows=1000)
    assert result["errors"] == 0, result["first_errors"]
    assert result["searches"] > 0 and result["writes"] > 0
    _info, model = registry.load(conn, "soak")
    # every row, updated or inserted under load, holds the model's code of its source as numpy computes it, and the
    # 2-plane sketch of its source as numpy computes it
    assert check_codes(conn, model, table=soak.TABLE) >= 1000
    sketches = conn.execute("SELECT embedding, embedding_sae_sketch::text FROM soak_items").fetchall()
    assert len(sketches) >= 1000
    assert [s for v, s in sketches if s != "".join("1" if b else "0" for b in numpy_sketch(v.to_numpy()))] == []
    # and the index still serves: the best of its 100 candidates by numpy's reconstructed score (the scan goes on
    # past the dead versions the updates left in the graph, as the search's own does)
    keys, codes, sources = stored(conn, soak.TABLE, h=model.h)
    q = vectors[4321]
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL hnsw.ef_search = 100")
        conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        probe = "".join("1" if b else "0" for b in numpy_sketch(q))
        among = {r[0] for r in conn.execute("SELECT id FROM soak_items ORDER BY embedding_sae_sketch <~> %s::varbit"
                                            " LIMIT 100", (probe,))}
    hits = CompressedColumn(conn, soak.TABLE, "embedding").search(q, k=10, candidates=100)
    assert_top(hits, keys, brute_force(model, None, q, codes, sources, "reconstructed"), 10, among)
    # Thousands of requests: a leak per request would show in the server's resident memory. Its processes' RSS
    # counts the shared buffers each touched, so the bound is generous: the end within 1.5x the start, plus 256 MiB.
    start, end = result["server_rss_mib_start"], result["server_rss_mib_end"]
    assert start is not None and end is not None, "the server's memory could not be read"
    assert end < 1.5 * start + 256, (start, end)
