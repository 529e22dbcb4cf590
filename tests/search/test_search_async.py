"""AsyncCompressedColumn: the same results as the sync column, on an AsyncConnection, and numpy's brute force."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from compressae_pg import AsyncCompressedColumn, CompressedColumn, InvalidVectorError, NotAttachedError

from ..support.models import searchable, stored
from ..support.truth import assert_top, brute_force

MODES = ["none", "reconstructed", "symmetric", "dense"]


@pytest.fixture
async def aconn(dsn):
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        yield conn


async def test_every_method_matches_the_sync_column_and_the_brute_force(conn, dsn, aconn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:200], model)
    keys, codes, sources = stored(conn)
    sync = CompressedColumn(conn, "items", "embedding")
    column = await AsyncCompressedColumn(aconn, "items", "embedding").open()
    assert column.target == sync.target
    queries = real_vectors[5000:5003]
    common = {r[0] for r in conn.execute("SELECT id FROM items WHERE category = 'common'")}
    for mode in MODES:
        for q in queries:
            hits = await column.search(q, k=6, candidates=200, rerank=mode)
            assert hits == sync.search(q, k=6, candidates=200, rerank=mode)
            assert_top(hits, keys, brute_force(model, model.compress(q).dense()[0], q, codes, sources, mode), 6)
        many = await column.search_many(queries, k=4, candidates=30, rerank=mode, where={"category": "common"})
        assert [[h.key for h in r] for r in many] == [[h.key for h in sync.search(q, k=4, candidates=30, rerank=mode,
                                                                                   where={"category": "common"})] for q in queries]
        for hits, q in zip(await column.search_many(queries, k=4, candidates=200, rerank=mode, where={"category": "common"}), queries):
            assert_top(hits, keys, brute_force(model, model.compress(q).dense()[0], q, codes, sources, mode), 4, common)
        similar = await column.similar(5, k=4, candidates=200, rerank=mode)
        assert similar == sync.similar(5, k=4, candidates=200, rerank=mode)
        row = keys.index(5)
        assert_top(similar, keys, brute_force(model, codes[row], sources[row], codes, sources, mode), 4, set(keys) - {5})


async def test_errors_surface_on_the_first_call(conn, dsn, aconn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:40], model, index=False)
    lazy = AsyncCompressedColumn(aconn, "items", "category")
    with pytest.raises(RuntimeError, match="not resolved yet"):
        _ = lazy.target
    with pytest.raises(NotAttachedError, match=r"items\.category"):
        await lazy.search(real_vectors[0])
    column = AsyncCompressedColumn(aconn, "items", "embedding")
    with pytest.raises(InvalidVectorError, match="all zeros"):
        await column.search(np.zeros(384))
    assert len(await column.search(real_vectors[0], k=3)) == 3
    assert aconn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
