"""The demo runs the whole story on the shipped real sample (or synthetic vectors) and ends with the
comparison table: the codes through their default sketch graph beside halfvec's own HNSW index."""

from __future__ import annotations

import numpy as np
import pytest
from psycopg import sql

from compressae_pg import registry
from compressae_pg.cli import demo
from compressae_pg.server import connect

from .support.models import stored
from .support.truth import brute_force, reconstruction_cosines


@pytest.mark.slow
def test_the_demo_goes_from_training_to_an_evaluation_against_halfvec(dsn, real_vectors):
    r = demo.run(dsn=dsn, rows=600, steps=5, queries=10, progress=False, h=256, k=8, batch_size=256)
    methods = [(row["method"], row["setting"]) for row in r["evaluation"]["results"]]
    assert methods == [("codes, rerank reconstructed", "candidates 50"), ("codes, rerank dense", "candidates 50"),
                       ("codes, rerank reconstructed", "candidates 100"), ("codes, rerank dense", "candidates 100"),
                       ("halfvec, dense, HNSW", "ef_search 100")]
    assert r["evaluation"]["rows"] == 600 and r["evaluation"]["notes"] == []
    assert r["code_bytes_per_row"] == 16 + 8 * 8 and r["dense_bytes_per_row"] == 8 + 2 * 384
    codes = r["evaluation"]["results"][0]
    # On disk: the code (80 B, less 3 of its varlena header, short in a row), the 2-plane sketch (1 + 4 + 96 B)
    # and the residual sketch (1 + 4 + 100 B)
    assert codes["bytes_per_row"] == (16 + 8 * 8 - 3) + (1 + 4 + 2 * 384 // 8) + (1 + 4 + (2 * 384 + 32) // 8)
    lines = demo.SAMPLE_TEXT.read_text(encoding="utf-8").splitlines()
    with demo.SAMPLE.open("rb") as f:
        assert np.load(f).shape == (len(lines), 384) == (6000, 384)
    assert r["search"]["text"] == lines[0] and [h["text"] for h in r["search"]["hits"]] == [lines[h["key"] - 1] for h in r["search"]["hits"]]
    with connect(dsn, autocommit=True) as conn:
        # What the demo reports, recomputed from what it stored: the stored model reconstructs rows it never saw as
        # well as the held-out ones it reports (the backfill rewrote the rows, so their ctids, which drew the split,
        # are gone: 600 rows outside the table instead, whose mean cosine is within 0.03 of the held-out one, several
        # standard errors); and each search hit's score is numpy's reconstructed score of its row, best first.
        info, model = registry.load(conn, r["ref"])
        assert abs(reconstruction_cosines(model, real_vectors[5000:5600]).mean() - r["val_cosine"]) < 0.03
        conn.execute(sql.SQL("SET search_path = {}, public").format(sql.Identifier(demo.DEMO_SCHEMA)))
        keys, codes, sources = stored(conn, demo.DEMO_TABLE, h=info.h)
        assert len(keys) == 600
    scores = brute_force(model, None, sources[0], codes, sources, "reconstructed")  # the query: row 1's vector
    got = [(h["key"], h["score"]) for h in r["search"]["hits"]]
    assert len({k for k, _ in got}) == len(got) == 5 and got[0][0] == 1  # row 1 finds itself first
    np.testing.assert_allclose([s for _, s in got], [scores[keys.index(k)] for k, _ in got], atol=1e-5, rtol=0)
    assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
    why = r["explained"]  # hits 2 and 3, each by its 3 largest atoms, each atom named by the summaries that use it most
    assert [(e["key"], e["text"]) for e in why] == [(h["key"], h["text"]) for h in r["search"]["hits"][1:3]]
    assert [e["score"] for e in why] == pytest.approx([h["score"] for h in r["search"]["hits"][1:3]], abs=1e-6)
    for e in why:
        assert len(e["atoms"]) == 3 and all(a["label"]["atom"] == a["atom"] and len(a["label"]["texts"]) <= 3 for a in e["atoms"])
        i = keys.index(e["key"])
        assert all(codes[i][a["atom"]] == pytest.approx(a["row_value"], abs=1e-6) for a in e["atoms"])
        for a in e["atoms"]:  # the label's rows are those with the atom's largest values, texts from the sample
            col = codes[:, a["atom"]]
            assert a["label"]["uses"] == np.count_nonzero(col)
            assert a["label"]["texts"] == [lines[keys[j] - 1] for j in sorted(np.flatnonzero(col), key=lambda j: (-col[j], keys[j]))[:3]]
    text = demo.summary(r)
    assert text.count("\nwhy:") == 2 and f"atom {why[0]['atoms'][0]['atom']:>4} " in text
    assert "real MiniLM embeddings of PyPI package summaries" in text and "halfvec, dense, HNSW" in text and lines[0][:40] in text
    assert f"({(8 + 2 * 384) / (16 + 8 * 8):.1f}x smaller)" in text  # halfvec(384) against a k=8 sparsevec
    again = demo.run(dsn=dsn, rows=600, steps=5, queries=10, progress=False, h=256, k=8, batch_size=256)
    assert again["ref"].endswith("@2")  # a second run replaces the table and its code column


@pytest.mark.slow
def test_the_synthetic_demo_says_so(dsn):
    r = demo.run(dsn=dsn, synthetic=True, rows=400, steps=3, queries=5, progress=False, h=256, k=8, batch_size=256)
    assert r["rows"] == 400 and r["search"]["text"] is None and "SYNTHETIC" in demo.summary(r)
    assert r["explained"] == [] and "why:" not in demo.summary(r)  # no texts to name the atoms with
