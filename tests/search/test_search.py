"""CompressedColumn: every rerank mode against numpy's brute force, filters, item-to-item, names, errors."""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
import pytest
from psycopg import sql

from compressae_pg import (
    CompressaeError,
    CompressedColumn,
    InvalidVectorError,
    NoPrimaryKeyError,
    NotAttachedError,
    UnknownKeyError,
    UnknownTableError,
    recompress,
    registry,
)
from compressae_pg.columns import attachments

from ..support.models import searchable, stored, train_small
from ..support.truth import assert_top, brute_force, check_codes, cos

MODES = ["none", "reconstructed", "symmetric", "dense"]
ROWS = 300


@pytest.fixture(params=["sketch", "sparse"])
def graph(request) -> str:
    return request.param


@pytest.fixture
def items(conn, dsn, model, real_vectors):
    """``items``: 300 real vectors, coded and indexed over the sketch; returns (keys, codes, sources) as stored."""
    searchable(conn, dsn, real_vectors[:ROWS], model)
    return stored(conn)


@pytest.fixture(scope="module")
def queries(real_vectors) -> np.ndarray:
    return real_vectors[5000:5004]


def expected(model, q, keys, codes, sources, mode, k, among=None, graph="sketch"):
    """The brute-force top k (keys, scores) of ``mode`` over all rows, or over the keys ``among``."""
    scores = brute_force(model, model.compress(q).dense()[0], q, codes, sources, mode, graph)
    allowed = np.array([among is None or key in among for key in keys]) & ~np.isnan(scores)
    order = [i for i in np.argsort(-scores, kind="stable") if allowed[i]][:k]
    return [keys[i] for i in order], scores[order]


@pytest.mark.parametrize("mode", MODES)
def test_with_every_row_a_candidate_each_rerank_is_the_brute_force_ranking(conn, dsn, model, real_vectors, queries, mode, graph):
    searchable(conn, dsn, real_vectors[:ROWS], model, graph=graph)
    keys, codes, sources = stored(conn)
    column = CompressedColumn(conn, "items", "embedding")
    for q in queries:
        hits = column.search(q, k=10, candidates=ROWS, rerank=mode)
        assert_top(hits, keys, brute_force(model, model.compress(q).dense()[0], q, codes, sources, mode, graph), 10)


def index_candidates(conn, model, q, n: int, graph: str) -> list:
    """The n rows the HNSW index returns for q (its sign bits, or its code), asked in plain SQL with the same ef_search."""
    if graph == "sketch":
        order, probe = "embedding_sae_sketch <~> compressae.sketch(%s::vector, 2)", "[" + ",".join(map(repr, map(float, q))) + "]"
    else:
        code = model.compress(q)
        order = "embedding_sae <=> %s::sparsevec"
        probe = "{" + ",".join(f"{i + 1}:{float(v)!r}" for i, v in zip(code.indices[0], code.values[0])) + f"}}/{code.h}"
    with conn.transaction(force_rollback=True):
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(n, 40)),))
        query = sql.SQL("SELECT id FROM items ORDER BY {} LIMIT %s").format(sql.SQL(order))
        plan = conn.execute(sql.SQL("EXPLAIN {}").format(query), (probe, n)).fetchall()
        assert "Index Scan using items_embedding_sae_hnsw" in "\n".join(r[0] for r in plan)
        return [r[0] for r in conn.execute(query, (probe, n))]


@pytest.mark.parametrize("mode", MODES)
def test_the_rerank_orders_the_candidates_that_the_index_returns(conn, dsn, model, real_vectors, queries, mode, graph):
    searchable(conn, dsn, real_vectors[:ROWS], model, graph=graph)
    keys, codes, sources = stored(conn)
    column = CompressedColumn(conn, "items", "embedding")
    for q in queries:
        among = index_candidates(conn, model, q, 20, graph)
        assert {h.key for h in column.search(q, k=20, candidates=20, rerank="none")} == set(among)
        hits = column.search(q, k=5, candidates=20, rerank=mode)
        assert_top(hits, keys, brute_force(model, model.compress(q).dense()[0], q, codes, sources, mode, graph), 5, set(among))


def same(a, b) -> None:
    """Two result lists agree: the same keys, scores equal to float rounding (batched encoding may round apart)."""
    assert [h.key for h in a] == [h.key for h in b]
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-6, rtol=0)


def test_search_many_is_search_for_each_query(conn, items, model, queries):
    """The same hits as one search per query, and with every row a candidate numpy's brute-force top k."""
    keys, codes, sources = items
    column = CompressedColumn(conn, "items", "embedding")
    for mode in MODES:
        many = column.search_many(queries, k=7, candidates=50, rerank=mode)
        assert len(many) == len(queries)
        for got, q in zip(many, queries):
            same(got, column.search(q, k=7, candidates=50, rerank=mode))
        for got, q in zip(column.search_many(queries, k=7, candidates=ROWS, rerank=mode), queries):
            assert_top(got, keys, brute_force(model, model.compress(q).dense()[0], q, codes, sources, mode), 7)
    lists = column.search_many([list(map(float, q)) for q in queries[:2]])
    for got, q in zip(lists, queries[:2]):
        same(got, column.search(q))


@pytest.mark.parametrize("key_type", ["bigint", "text", "uuid"])
def test_similar_ranks_other_rows_against_the_rows_stored_code(conn, dsn, model, real_vectors, key_type):
    make = {"bigint": lambda i: 10_000_000_000 + 7 * i, "text": lambda i: f"it'em \\{i}",
            "uuid": lambda i: uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128))}[key_type]
    keys_in = [make(i) for i in range(120)]
    searchable(conn, dsn, real_vectors[:120], model, key_type=key_type, keys=keys_in)
    keys, codes, sources = stored(conn)
    column = CompressedColumn(conn, "items", "embedding")
    probe = keys_in[17]
    row = keys.index(probe)
    for mode in MODES:
        hits = column.similar(probe, k=8, candidates=120, rerank=mode)
        scores = brute_force(model, codes[row], sources[row], codes, sources, mode)
        assert_top(hits, keys, scores, 8, allowed=set(keys) - {probe})  # the row itself is left out
    assert column.similar(probe, k=3) == column.similar(probe, k=3, rerank="symmetric")


def test_a_selective_filter_still_returns_k_rows_through_iterative_index_scans(conn, items, model, queries):
    keys, codes, sources = items
    rare = {k for k in keys if (k - 1) % 7 == 0}
    column = CompressedColumn(conn, "items", "embedding")
    q = queries[0]
    conn.execute("SET enable_seqscan = off")  # the plan a large table gets: the filter applied to the index scan
    # Without iterative scans, the index's 40 nearest rows hold only a few rare ones.
    literal = "[" + ",".join(map(repr, map(float, q))) + "]"
    query = "SELECT id FROM items WHERE category = 'rare' ORDER BY embedding_sae_sketch <~> compressae.sketch(%s::vector, 2) LIMIT 30"
    assert "Index Scan using items_embedding_sae_hnsw" in str(conn.execute("EXPLAIN " + query, (literal,)).fetchall())
    assert len(conn.execute(query, (literal,)).fetchall()) < 30
    for where in ({"category": "rare"}, sql.SQL("{} = {}").format(sql.Identifier("category"), sql.Literal("rare"))):
        hits = column.search(q, k=30, candidates=30, where=where, rerank="reconstructed")
        assert len(hits) == 30 and {h.key for h in hits} <= rare
    # every rare row a candidate: the brute-force ranking of the rare rows
    hits = column.search(q, k=10, candidates=len(rare), where={"category": "rare"}, rerank="dense")
    want_keys, _ = expected(model, q, keys, codes, sources, "dense", 10, among=rare)
    assert [h.key for h in hits] == want_keys
    # lists, NULL, and several pairs
    assert {h.key for h in column.search(q, k=10, where={"id": [3, 5, 8], "category": "common"})} == {3, 5}
    assert column.search(q, where={"category": None}) == []


def test_search_leaves_no_settings_and_no_transaction_behind(conn, dsn, items, queries):
    column = CompressedColumn(conn, "items", "embedding")
    column.search(queries[0], candidates=300)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SHOW hnsw.ef_search").fetchone()[0] == "40"
    with psycopg.connect(dsn) as own:  # inside an application's open transaction
        own.execute("INSERT INTO items (id, category) VALUES (-1, 'mine')")
        hits = CompressedColumn(own, "items", "embedding").search(queries[0], k=3, candidates=200)
        assert len(hits) == 3 and own.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert own.execute("SHOW hnsw.ef_search").fetchone()[0] == "40"
        assert own.execute("SHOW hnsw.iterative_scan").fetchone()[0] == "off"
        own.commit()
    assert conn.execute("SELECT category FROM items WHERE id = -1").fetchone()[0] == "mine"


def test_hostile_names_work(conn, dsn, model, real_vectors):
    table, column, key, category = 'it"em %s; tab', 'em%b "v"', 'k%ey', "ca%t'"
    keys_in = [f"k'{i}%s" for i in range(100)]
    searchable(conn, dsn, real_vectors[:100], model, table=table, column=column, key=key, key_type="text", keys=keys_in,
               category=category)
    att = attachments.get(conn, table, column)
    keys, codes, sources = stored(conn, table, column, att.code_column, key)
    col = CompressedColumn(conn, table, column)
    q = real_vectors[5000]
    for mode in MODES:
        hits = col.search(q, k=5, candidates=100, rerank=mode)
        assert_top(hits, keys, brute_force(model, model.compress(q).dense()[0], q, codes, sources, mode), 5)
    rare = col.search(q, k=5, candidates=100, where={category: "rare"})
    assert len(rare) == 5 and all(keys_in.index(h.key) % 7 == 0 for h in rare)
    assert col.similar(keys_in[3], k=2)[0].key != keys_in[3]
    assert CompressedColumn(conn, table, att.code_column).target == col.target  # the code column names it too


def test_a_recompression_is_noticed_and_the_new_model_used(conn, dsn, items, model, real_vectors, queries):
    """A column opened before the recompression ranks by m@2's weights: numpy's brute force over the new codes
    with the new decoder, which the old one's does not match."""
    column = CompressedColumn(conn, "items", "embedding")
    q = queries[0]
    keys, codes, sources = items
    assert_top(column.search(q, k=5, candidates=ROWS), keys, brute_force(model, None, q, codes, sources, "reconstructed"), 5)
    new = train_small(real_vectors[1000:5000], seed=1)
    registry.save(conn, "m", new)
    recompress("items", "embedding", "m@2", dsn=dsn, progress=False)
    assert check_codes(conn, new) == ROWS  # every row recoded by m@2
    keys, codes, sources = stored(conn)
    after = column.search(q, k=5, candidates=ROWS)
    assert column.target.model.ref == "m@2"
    assert_top(after, keys, brute_force(new, None, q, codes, sources, "reconstructed"), 5)
    old = brute_force(model, None, q, codes, sources, "reconstructed")  # the new codes scored by the old decoder
    assert np.abs(np.array([h.score for h in after]) - old[[keys.index(h.key) for h in after]]).max() > 1e-3


def test_a_halfvec_source_serves_the_dense_rerank(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:80], model, index=False)
    conn.execute("ALTER TABLE items ALTER COLUMN embedding TYPE halfvec(384)")
    keys, codes, sources = stored(conn)
    q = real_vectors[5000]
    hits = CompressedColumn(conn, "items", "embedding").search(q, k=5, candidates=80, rerank="dense")
    scores = cos(q, np.stack(sources))
    assert [h.key for h in hits] == [keys[i] for i in np.argsort(-scores)[:5]]
    np.testing.assert_allclose([h.score for h in hits], np.sort(scores)[::-1][:5], atol=1e-6)


def test_rows_without_a_code_or_source_are_left_out(conn, dsn, model, real_vectors):
    searchable(conn, dsn, [*real_vectors[:50], None], model)
    conn.execute("UPDATE items SET embedding = NULL WHERE id = 4")  # code kept, source gone
    column = CompressedColumn(conn, "items", "embedding")
    q = real_vectors[3]
    assert 51 not in {h.key for h in column.search(q, k=60, candidates=60)}
    dense = column.search(q, k=60, candidates=60, rerank="dense")
    assert len(dense) == 49 and 4 not in {h.key for h in dense}
    assert column.search(q, k=1, rerank="reconstructed")[0].key == 4  # still found by its code
    with pytest.raises(CompressaeError, match="has no code"):
        column.similar(51)
    with pytest.raises(CompressaeError, match="needs the source vector of row 4"):
        column.similar(4, rerank="dense")
    assert len(column.similar(4, k=3)) == 3
    with pytest.raises(UnknownKeyError, match="no row of public.items has id = 999"):
        column.similar(999)


def test_bad_queries_and_arguments_are_refused_by_name(conn, items, real_vectors):
    column = CompressedColumn(conn, "items", "embedding")
    q = real_vectors[5000]
    with pytest.raises(InvalidVectorError, match="384-dimensional.*model m@1"):
        column.search(q[:10])
    with pytest.raises(InvalidVectorError, match="NaN"):
        column.search(np.where(np.arange(384) == 3, np.nan, q))
    with pytest.raises(InvalidVectorError, match="all zeros"):
        column.search(np.zeros(384))
    with pytest.raises(InvalidVectorError, match="None"):
        column.search(None)
    with pytest.raises(InvalidVectorError, match="numbers"):
        column.search(["a"] * 384)
    with pytest.raises(ValueError, match="one query vector"):
        column.search(np.stack([q, q]))
    with pytest.raises(ValueError, match="rerank must be one of"):
        column.search(q, rerank="exact")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        column.search(q, k=0)
    with pytest.raises(ValueError, match="ef_search must be"):
        column.search(q, ef_search=5000)
    with pytest.raises(TypeError, match="plain strings are not spliced"):
        column.search(q, where="category = 'rare'")
    with pytest.raises(psycopg.errors.UndefinedColumn):
        column.search(q, where={"nope": 1})
    assert len(column.search(q)) == 10  # the connection is still usable


def test_unknown_tables_unattached_columns_and_missing_keys_are_named(conn, dsn, items, model, real_vectors):
    with pytest.raises(UnknownTableError, match="'nope' does not exist"):
        CompressedColumn(conn, "nope", "embedding")
    with pytest.raises(NotAttachedError, match=r"attached to public\.items\.category"):
        CompressedColumn(conn, "items", "category")
    conn.execute("CREATE TABLE nokey AS SELECT id, embedding FROM items")
    attachments.attach("nokey", "embedding", "m", conn=conn)
    with pytest.raises(NoPrimaryKeyError, match="no primary key"):
        CompressedColumn(conn, "nokey", "embedding")
    column = CompressedColumn(conn, "items", "embedding")
    conn.execute("ALTER TABLE items DROP COLUMN embedding")
    with pytest.raises(CompressaeError, match="rerank='dense' needs the source column 'embedding'"):
        CompressedColumn(conn, "items", "embedding").search(real_vectors[0], rerank="dense")
    assert len(column.search(real_vectors[0], k=3)) == 3
    attachments.detach("items", "embedding_sae", conn=conn)
    with pytest.raises(NotAttachedError):
        column.search(real_vectors[0])
