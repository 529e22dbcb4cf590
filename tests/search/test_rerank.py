"""The rerank maths and the binary code reader, against plain dense numpy and pgvector's own encoder."""

from __future__ import annotations

import numpy as np
from pgvector import HalfVector, SparseVector, Vector

from compressae_pg import _wire
from compressae_pg.search import rerank


def codes(rng, n: int, h: int, nnz) -> list[SparseVector]:
    out = []
    for i in range(n):
        size = nnz if isinstance(nnz, int) else nnz[i]
        idx = rng.choice(h, size=size, replace=False)
        out.append(SparseVector(dict(zip(idx.tolist(), rng.standard_normal(size).astype(np.float32).tolist())), h))
    return out


def test_sparse_rows_read_what_pgvector_writes_for_equal_and_ragged_sizes():
    rng = np.random.default_rng(0)
    for nnz in (16, [3, 0, 7, 1, 16]):
        vectors = codes(rng, 5, 64, nnz)
        rows = _wire.sparse_rows([v.to_binary() for v in vectors])
        assert len(rows) == 5
        for i, v in enumerate(vectors):
            idx, val = rows.row(i)
            assert idx.tolist() == v.indices()
            np.testing.assert_array_equal(val, np.asarray(v.values(), dtype=np.float32))


def test_code_scores_are_the_dense_inner_products():
    rng = np.random.default_rng(1)
    vectors = codes(rng, 7, 128, [5, 9, 0, 1, 32, 2, 8])
    projection = rng.standard_normal(128)
    scores = rerank.code_scores(projection, _wire.sparse_rows([v.to_binary() for v in vectors]))
    np.testing.assert_allclose(scores, [v.to_numpy() @ projection for v in vectors], rtol=1e-6, atol=1e-9)


def test_dense_loaders_and_cosine():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(10).astype(np.float32)
    np.testing.assert_array_equal(_wire.VectorLoader(0).load(Vector(x).to_binary()), x)
    np.testing.assert_array_equal(_wire.HalfvecLoader(0).load(HalfVector(x).to_binary()), x.astype(np.float16))
    rows = np.stack([x, -2 * x, np.zeros(10), rng.standard_normal(10)])
    want = [1, -1, 0, float(x @ rows[3]) / float(np.linalg.norm(x) * np.linalg.norm(rows[3]))]
    np.testing.assert_allclose(rerank.cosine(x, rows), want, atol=1e-6)


def test_top_is_best_first_and_keeps_candidate_order_on_ties():
    assert rerank.top(np.array([0.1, 0.5, 0.5, 0.9, -1.0]), 3).tolist() == [3, 1, 2]
    assert rerank.top(np.zeros(0), 5).tolist() == []
