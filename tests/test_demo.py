"""The demo runs the whole story on a small synthetic table and ends with the comparison table."""

from __future__ import annotations

import pytest

from compressae_pg import demo


@pytest.mark.slow
def test_the_demo_goes_from_training_to_an_evaluation_against_the_dense_index(dsn):
    r = demo.run(dsn=dsn, rows=600, steps=5, queries=10, progress=False, h=256, k=8, batch_size=256)
    methods = [row["method"] for row in r["evaluation"]["results"]]
    assert methods == ["codes, rerank reconstructed", "codes, rerank dense", "vector, dense, HNSW"]
    assert r["evaluation"]["rows"] == 600 and r["evaluation"]["notes"] == []
    assert r["search"]["hits"] and r["code_bytes_per_row"] == 16 + 8 * 8
    text = demo.summary(r)
    assert "SYNTHETIC" in text and "recall@10" in text and "vector, dense, HNSW" in text
    again = demo.run(dsn=dsn, rows=600, steps=5, queries=10, progress=False, h=256, k=8, batch_size=256)
    assert again["ref"].endswith("@2")  # a second run replaces the table and its code column
