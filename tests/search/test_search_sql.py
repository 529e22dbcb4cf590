"""compressae.search: the SQL front door, against numpy's brute force, served by the HNSW index."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from compressae_pg import CompressedColumn, Hit

from ..support.models import H, searchable, stored
from ..support.truth import assert_top, brute_force, cos, residual_truth, sql_query_levels

MODES = ["none", "reconstructed", "symmetric", "dense"]
SEARCH = "SELECT key, score FROM compressae.search(%s::regclass, %s, %s, k => %s, candidates => %s, rerank => %s)"
FILTERED = "SELECT key, score FROM compressae.search(%s::regclass, %s, %s, k => %s, candidates => %s, filter => %s)"


@pytest.fixture
def items(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:250], model)
    return stored(conn)


def sql_code(conn, q) -> np.ndarray:
    """The query's code as compressae.encode makes it (dense, float64)."""
    code = conn.execute("SELECT compressae.encode('m', %s)", (q,)).fetchone()[0]
    out = np.zeros(H)
    out[code.indices()] = code.values()
    return out


@pytest.mark.parametrize("graph", ["sketch", "sparse"])
@pytest.mark.parametrize("mode", MODES)
def test_each_rerank_mode_is_the_brute_force_ranking(conn, dsn, model, real_vectors, mode, graph):
    searchable(conn, dsn, real_vectors[:250], model, graph=graph)
    keys, codes, sources = stored(conn)
    for q in real_vectors[5000:5003]:
        rows = conn.execute(SEARCH, ("items", "embedding", q, 8, 250, mode)).fetchall()
        scores = brute_force(model, sql_code(conn, q), q, codes, sources, mode, graph, residual_query=sql_query_levels(q))
        assert_top([Hit(int(key), score) for key, score in rows], keys, scores, 8)


def hnsw_scans(conn) -> int:
    """The scans the server's statistics count on items' HNSW index, this backend's own pending ones flushed first."""
    conn.execute("SELECT pg_stat_force_next_flush()")  # flushed as the backend goes idle after this statement
    return conn.execute("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelid = 'items_embedding_sae_hnsw'::regclass").fetchone()[0]


def test_the_candidates_come_from_the_hnsw_index_and_settings_are_restored(conn, dsn, model, real_vectors):
    """No superuser needed: pg_stat_user_indexes counts the search's scan of the index, and the candidates are the
    index's own 60 nearest by the sign bits (plain SQL, the same ef_search), reranked as numpy does."""
    searchable(conn, dsn, real_vectors[:2000], model)  # enough rows that the planner prefers the index
    keys, codes, sources = stored(conn)
    q = real_vectors[5000]
    before = hnsw_scans(conn)
    rows = conn.execute(SEARCH, ("items", "embedding", q, 5, 60, "reconstructed")).fetchall()
    assert hnsw_scans(conn) - before == 1
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL hnsw.ef_search = 60")
        among = {r[0] for r in conn.execute("SELECT id FROM items ORDER BY embedding_sae_sketch <~> compressae.sketch(%s::vector, 2)"
                                            " LIMIT 60", (q,))}
    scores = brute_force(model, None, q, codes, sources, "reconstructed", residual_query=sql_query_levels(q))
    assert_top([Hit(int(key), score) for key, score in rows], keys, scores, 5, among)
    assert conn.execute("SHOW hnsw.ef_search").fetchone()[0] == "40"
    assert conn.execute("SHOW hnsw.iterative_scan").fetchone()[0] == "off"


def test_the_readme_pattern_uses_the_index_and_encodes_once(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:250], model, graph="sparse")  # the paper's path: HNSW over the codes
    q = real_vectors[5001]
    query = ("SELECT id FROM items ORDER BY embedding_sae <=> (SELECT compressae.encode('m', %s::vector)) LIMIT 10")
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, VERBOSE, COSTS OFF) " + query, (q,)).fetchall())
    assert "Index Scan using items_embedding_sae_hnsw" in plan and "InitPlan" in plan
    conn.execute("SET hnsw.ef_search = 100")
    ids = [r[0] for r in conn.execute(query, (q,)).fetchall()]
    top = conn.execute(SEARCH, ("items", "embedding", q, 10, 100, "none")).fetchall()
    assert [str(i) for i in ids] == [r[0] for r in top]


def test_any_table_name_and_the_code_columns_name_work(conn, dsn, model, real_vectors):
    table = 'it"em %s; x'
    searchable(conn, dsn, real_vectors[:60], model, table=table, column="e%mb", key_type="text",
               keys=[f"k'{i}" for i in range(60)])
    regclass = conn.execute("SELECT %s::regclass::text", (sql.Identifier(table).as_string(conn),)).fetchone()[0]
    by_source = conn.execute(SEARCH, (regclass, "e%mb", real_vectors[5000], 5, 60, "dense")).fetchall()
    by_code = conn.execute(SEARCH, (regclass, "e%mb_sae", real_vectors[5000], 5, 60, "dense")).fetchall()
    sources = conn.execute(sql.SQL('SELECT id, "e%mb" FROM {}').format(sql.Identifier(table))).fetchall()
    scores = cos(real_vectors[5000], np.stack([s.to_numpy() for _k, s in sources]))
    assert by_source == by_code
    some = [f"k'{i}" for i in range(0, 60, 3)]
    kept = conn.execute(FILTERED, (regclass, "e%mb", real_vectors[5000], 5, 60, Jsonb({"id": some}))).fetchall()
    assert [r[0] for r in kept] == [r[0] for r in conn.execute(SEARCH, (regclass, "e%mb", real_vectors[5000], 60, 60, "reconstructed"))
                                    if r[0] in some][:5]
    assert [r[0] for r in by_source] == [sources[i][0] for i in np.argsort(-scores)[:5]]


def test_bad_calls_are_refused_by_name(conn, items, real_vectors):
    q = real_vectors[5000]
    with pytest.raises(psycopg.errors.UndefinedObject, match="no compressed code column is attached to column category"):
        conn.execute(SEARCH, ("items", "category", q, 5, 10, "none"))
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="rerank must be none, reconstructed"):
        conn.execute(SEARCH, ("items", "embedding", q, 5, 10, "exact"))
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="k and candidates must be positive"):
        conn.execute(SEARCH, ("items", "embedding", q, 0, 10, "none"))
    with pytest.raises(psycopg.errors.DataException, match="expects 384-dimensional vectors, got 3"):
        conn.execute(SEARCH, ("items", "embedding", np.ones(3, dtype=np.float32), 5, 10, "none"))
    with pytest.raises(psycopg.errors.UndefinedTable):
        conn.execute(SEARCH, ("nope", "embedding", q, 5, 10, "none"))
    assert conn.execute(SEARCH, ("items", "embedding", None, 5, 10, "none")).fetchall() == []
    conn.execute("ALTER TABLE items DROP COLUMN embedding")
    with pytest.raises(psycopg.errors.UndefinedColumn, match="needs the source column embedding"):
        conn.execute(SEARCH, ("items", "embedding", q, 5, 10, "dense"))
    assert len(conn.execute(SEARCH, ("items", "embedding", q, 5, 10, "symmetric")).fetchall()) == 5
    conn.execute("ALTER TABLE items DROP CONSTRAINT items_pkey")
    with pytest.raises(psycopg.errors.InvalidTableDefinition, match="single-column primary key"):
        conn.execute(SEARCH, ("items", "embedding", q, 5, 10, "none"))


def test_the_readme_sketch_pattern_uses_the_index_and_ranks_as_the_search_does(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:2000], model)
    keys, codes, sources = stored(conn)
    q = real_vectors[5002]
    query = ("SELECT id, -(embedding_sae <#> (SELECT compressae.project('m', l2_normalize(%(q)s::vector)))) AS score"
             " FROM (SELECT id, embedding_sae FROM items ORDER BY embedding_sae_sketch <~> compressae.sketch(%(q)s::vector, 2) LIMIT 100)"
             " AS candidates ORDER BY score DESC LIMIT 10")
    conn.execute("SET hnsw.ef_search = 100")
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query, {"q": q}).fetchall())
    assert "Index Scan using items_embedding_sae_hnsw" in plan
    rows = conn.execute(query, {"q": q}).fetchall()
    among = {r[0] for r in conn.execute("SELECT id FROM items ORDER BY embedding_sae_sketch <~> compressae.sketch(%s::vector, 2) LIMIT 100", (q,))}
    # the pattern scores the codes alone: compressae.search adds the residual sketch
    assert_top([Hit(key, score) for key, score in rows], keys, brute_force(model, None, q, codes, sources, "reconstructed", planes=0), 10, among)



def test_a_filter_gives_the_python_apis_rows_and_brute_force_scores(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:2000], model)
    keys, codes, sources = stored(conn)
    column = CompressedColumn(conn, "items", "embedding")
    conn.execute("SET hnsw.iterative_scan = relaxed_order")
    for q in real_vectors[5000:5003]:
        rows = conn.execute(FILTERED, ("items", "embedding", q, 10, 100, Jsonb({"category": "rare"}))).fetchall()
        # the candidates: the 100 nearest rare rows by the sign bits, through the index's iterative scan
        among = {r[0] for r in conn.execute("SELECT id FROM items WHERE category = 'rare' ORDER BY embedding_sae_sketch"
                                            " <~> compressae.sketch(%s::vector, 2) LIMIT 100", (q,))}
        scores = brute_force(model, None, q, codes, sources, "reconstructed", residual_query=sql_query_levels(q))
        assert_top([Hit(int(key), score) for key, score in rows], keys, scores, 10, among)
        python = column.search(q, k=10, where={"category": "rare"})
        assert {h.key for h in python} == {int(key) for key, _ in rows}
        np.testing.assert_allclose(sorted(h.score for h in python), sorted(score for _, score in rows), atol=1e-3)


def test_a_filter_that_keeps_few_rows_still_returns_all_of_them(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:2000], model)
    keys, codes, sources = stored(conn)
    few = {3, 50, 700, 1234, 1999}
    q = real_vectors[5001]
    rows = conn.execute(FILTERED, ("items", "embedding", q, 10, 100, Jsonb({"id": sorted(few)}))).fetchall()
    scores = brute_force(model, None, q, codes, sources, "reconstructed", residual_query=sql_query_levels(q))
    assert_top([Hit(int(key), score) for key, score in rows], keys, scores, len(few), few)
    rare = {r[0] for r in conn.execute("SELECT id FROM items WHERE category = 'rare' AND id IN (3, 50, 700, 1234, 1999)")}
    both = conn.execute(FILTERED, ("items", "embedding", q, 10, 100, Jsonb({"id": sorted(few), "category": "rare"}))).fetchall()
    assert {int(key) for key, _ in both} == rare
    everything = conn.execute(SEARCH, ("items", "embedding", q, 10, 100, "reconstructed")).fetchall()
    assert conn.execute(FILTERED, ("items", "embedding", q, 10, 100, None)).fetchall() == everything
    assert conn.execute(FILTERED, ("items", "embedding", q, 10, 100, Jsonb({}))).fetchall() == everything
    assert conn.execute(FILTERED, ("items", "embedding", q, 10, 100, Jsonb(None))).fetchall() == everything
    assert conn.execute(FILTERED, ("items", "embedding", q, 10, 100, Jsonb({"category": None}))).fetchall() == []


def test_a_bad_filter_is_refused_by_name_and_its_values_never_become_sql(conn, items, real_vectors):
    q = real_vectors[5000]
    with pytest.raises(psycopg.errors.UndefinedColumn, match="filter names column nope"):
        conn.execute(FILTERED, ("items", "embedding", q, 5, 10, Jsonb({"nope": 1})))
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="JSON object of column: value pairs"):
        conn.execute(FILTERED, ("items", "embedding", q, 5, 10, Jsonb(["category = 'rare'"])))
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        conn.execute(FILTERED, ("items", "embedding", q, 5, 10, Jsonb({"id": "1 OR true"})))
    hostile = "rare') OR (true"
    assert conn.execute(FILTERED, ("items", "embedding", q, 5, 10, Jsonb({"category": hostile}))).fetchall() == []
    with pytest.raises(psycopg.errors.UndefinedColumn):
        conn.execute(FILTERED, ("items", "embedding", q, 5, 10, Jsonb({"category = category OR true --": "x"})))


EXPLAIN = "SELECT atom, query_weight, row_value, contribution FROM compressae.explain(%s::regclass, %s, %s, %s)"


def test_explain_gives_each_atoms_part_of_the_score_as_numpy_does(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:300], model)
    keys, codes, sources = stored(conn)
    dec = model.decoder.detach().double().numpy()
    q = real_vectors[5000]
    qn = q.astype(np.float64) / np.linalg.norm(q)
    for key, score in conn.execute(SEARCH, ("items", "embedding", q, 3, 300, "reconstructed")).fetchall():
        rows = conn.execute(EXPLAIN, ("items", "embedding", q, key)).fetchall()
        atoms, residual = [r for r in rows if r[0] is not None], [r for r in rows if r[0] is None]
        i = keys.index(int(key))
        _levels, c, _a = residual_truth(sources[i], codes[i] @ dec, 2)
        assert len(residual) == 1 and sorted(r[0] for r in atoms) == np.flatnonzero(codes[i]).tolist()
        for atom, weight, value, contribution in atoms:
            assert weight == pytest.approx(qn @ dec[atom], abs=1e-6) and value == pytest.approx(codes[i][atom], abs=1e-7)
            assert contribution == pytest.approx(c * value * weight, abs=1e-6)
        assert [abs(r[3]) for r in atoms] == sorted((abs(r[3]) for r in atoms), reverse=True)
        assert sum(r[3] for r in rows) == pytest.approx(score, abs=1e-6)  # the search's own score, atoms and residual


def test_explain_names_a_missing_row_and_a_row_without_a_code(conn, items, real_vectors):
    q = real_vectors[5000]
    with pytest.raises(psycopg.errors.NoDataFound, match="no row of public.items has id = '99999'"):
        conn.execute(EXPLAIN, ("items", "embedding", q, "99999"))
    conn.execute("UPDATE items SET embedding_sae = NULL WHERE id = 3")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="has no code in embedding_sae yet"):
        conn.execute(EXPLAIN, ("items", "embedding", q, "3"))
    assert conn.execute(EXPLAIN, ("items", "embedding", None, "3")).fetchall() == []
    conn.execute("UPDATE items SET embedding_sae_residual = NULL WHERE id = 4")  # none yet: the code's score alone
    rows = conn.execute(EXPLAIN, ("items", "embedding", q, "4")).fetchall()
    base = conn.execute("SELECT -(embedding_sae <#> compressae.project('m', l2_normalize(%s::vector))) FROM items WHERE id = 4",
                        (q,)).fetchone()[0]
    assert all(r[0] is not None for r in rows) and sum(r[3] for r in rows) == pytest.approx(base, abs=1e-6)
