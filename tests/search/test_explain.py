"""CompressedColumn.explain and `compressae-pg search --explain`: each atom's part of a hit's score, against numpy."""

from __future__ import annotations

import json

import numpy as np
import psycopg
import pytest
from psycopg import sql

from compressae_pg import CompressaeError, CompressedColumn, InvalidVectorError, UnknownKeyError
from compressae_pg.cli import main

from ..support.models import searchable, stored
from ..support.truth import residual_truth

EXPLAIN = "SELECT atom, query_weight, row_value, contribution FROM compressae.explain(%s::regclass, %s, %s, %s)"


def numpy_parts(model, q: np.ndarray, code: np.ndarray, source: np.ndarray) -> tuple[dict[int, float], float]:
    """Each atom's contribution c·s_j·(q̂·d_j) and the residual's term (the score less theirs), in float64 from the stored
    code and the row's source vector: c from residual_truth, the residual's term from the search's own score."""
    dec = model.decoder.detach().double().numpy()
    qn = q.astype(np.float64) / np.linalg.norm(q)
    _levels, c, _a = residual_truth(source, code @ dec, 2)
    return {int(j): c * code[j] * (qn @ dec[j]) for j in np.flatnonzero(code)}, c


def test_explain_gives_each_atoms_part_of_the_search_score_as_numpy_does(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:300], model)
    keys, codes, sources = stored(conn)
    column = CompressedColumn(conn, "items", "embedding")
    q = real_vectors[5000]
    hits = column.search(q, k=3, candidates=300)
    for hit in hits:
        full = column.explain(q, hit.key, top=None)
        i = keys.index(hit.key)
        parts, _c = numpy_parts(model, q, codes[i], sources[i])
        assert sorted(a.atom for a in full.atoms) == sorted(parts)  # every atom of the stored code, and only those
        for a in full.atoms:
            assert a.contribution == pytest.approx(parts[a.atom], abs=1e-6)
            assert a.row_value == pytest.approx(codes[i][a.atom], abs=1e-7)
        sizes = [abs(a.contribution) for a in full.atoms]
        assert sizes == sorted(sizes, reverse=True)
        assert full.residual is not None and full.score == pytest.approx(hit.score, abs=1e-7)  # the search's own score
        assert full.share == pytest.approx((full.score - full.residual) / full.score)
        sql_rows = conn.execute(EXPLAIN, ("items", "embedding", q, str(hit.key))).fetchall()  # SQL's own explanation
        assert [a.atom for a in full.atoms] == [r[0] for r in sql_rows if r[0] is not None]
        np.testing.assert_allclose([a.contribution for a in full.atoms], [r[3] for r in sql_rows if r[0] is not None], atol=1e-6)
        # SQL sums the query over its quantized planes (compressae.query_planes), Python the query itself
        assert full.residual == pytest.approx(next(r[3] for r in sql_rows if r[0] is None), abs=1e-3)
        top = column.explain(q, hit.key)  # the default: the 5 largest
        assert top.atoms == full.atoms[:5] and top.score == full.score
        assert top.share == pytest.approx(sum(a.contribution for a in full.atoms[:5]) / full.score)
        assert top.as_dict()["atoms"][0] == full.atoms[0].as_dict()


def test_a_row_without_a_residual_is_explained_by_its_atoms_alone(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:100], model)
    keys, codes, _sources = stored(conn)
    conn.execute("UPDATE items SET embedding_sae_residual = NULL WHERE id = 4")
    q = real_vectors[5001]
    e = CompressedColumn(conn, "items", "embedding").explain(q, 4, top=None)
    dec = model.decoder.detach().double().numpy()
    base = (q.astype(np.float64) / np.linalg.norm(q)) @ (codes[keys.index(4)] @ dec)  # q̂·x̂, no residual factor
    assert e.residual is None and e.score == pytest.approx(base, abs=1e-5) and e.share == pytest.approx(1.0)


def test_unknown_keys_rows_without_codes_and_bad_queries_are_named(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:50], model)
    column = CompressedColumn(conn, "items", "embedding")
    q = real_vectors[5000]
    with pytest.raises(UnknownKeyError, match="no row of public.items has id = 99999"):
        column.explain(q, 99999)
    conn.execute("UPDATE items SET embedding_sae = NULL WHERE id = 3")
    with pytest.raises(CompressaeError, match="has no code in embedding_sae yet"):
        column.explain(q, 3)
    with pytest.raises(InvalidVectorError, match="384-dimensional"):
        column.explain(q[:10], 1)
    with pytest.raises(InvalidVectorError):
        column.explain(np.zeros(384, dtype=np.float32), 1)
    with pytest.raises(ValueError, match="top must be"):
        column.explain(q, 1, top=0)
    assert column.explain(q, 1).key == 1  # the column still works after the errors


def test_a_select_only_role_explains_and_hostile_names_work(conn, dsn, model, real_vectors, login_role):
    table, col = 'Ta"b; le%s', 'Em"bed %d'
    searchable(conn, dsn, real_vectors[:80], model, table=table, column=col)
    conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(table), sql.Identifier(login_role)))
    keys, codes, sources = stored(conn, table=table, column=col, code=f"{col}_sae")
    q = real_vectors[5002]
    with psycopg.connect(dsn, user=login_role, autocommit=True) as app:
        column = CompressedColumn(app, table, col)
        hit = column.search(q, k=1, candidates=80)[0]
        e = column.explain(q, hit.key, top=None)
    i = keys.index(hit.key)
    parts, _c = numpy_parts(model, q, codes[i], sources[i])
    assert {a.atom: a.contribution for a in e.atoms} == pytest.approx(parts, abs=1e-6)
    assert e.score == pytest.approx(hit.score, abs=1e-7)


def test_the_cli_prints_and_returns_each_hits_atoms(conn, dsn, capsys, model, real_vectors):
    searchable(conn, dsn, real_vectors[:150], model, key_type="text", keys=[f"k{i}" for i in range(150)])
    column = CompressedColumn(conn, "items", "embedding")
    q = real_vectors[5000]
    base = ["search", "--dsn", dsn, "--table", "items", "--column", "embedding", "--vector", json.dumps(q.tolist()), "--k", "2"]
    capsys.readouterr()
    assert main([*base, "--explain", "--atoms", "3", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    hits = column.search(q, k=2)
    assert [(r["key"], r["score"]) for r in got] == [(h.key, h.score) for h in hits]
    for r, h in zip(got, hits):
        assert r["explanation"] == column.explain(q, h.key, top=3).as_dict()
        assert len(r["explanation"]["atoms"]) == 3 and r["explanation"]["score"] == pytest.approx(h.score, abs=1e-7)
    assert main([*base, "--explain", "--atoms", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = got[0]["explanation"]
    assert lines[0].startswith(f"key {hits[0].key}  score {hits[0].score:.4f}: top 2 atoms carry")
    assert lines[1].split()[:2] == ["atom", str(first["atoms"][0]["atom"])]
    assert lines[1].endswith(f"= {first['atoms'][0]['contribution']:+.4f}") and len(lines) == 6
    assert main([*base, "--explain", "--rerank", "dense"]) != 0
    assert "--explain explains the reconstructed score" in capsys.readouterr().err


def test_search_with_explain_gives_every_hit_the_explanation_of_its_own_score(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:300], model)
    keys, codes, sources = stored(conn)
    column = CompressedColumn(conn, "items", "embedding")
    queries = real_vectors[5000:5002]
    plain = column.search_many(queries, k=4, candidates=300)
    got = column.search_many(queries, k=4, candidates=300, explain=32)  # every atom of a k=32 code
    for q, p, g in zip(queries, plain, got):
        assert [(h.key, h.score) for h in g] == [(h.key, h.score) for h in p] and all(h.explanation is None for h in p)
        for h in g:
            i = keys.index(h.key)
            parts, _c = numpy_parts(model, q, codes[i], sources[i])
            e = h.explanation
            assert e.key == h.key and {a.atom: a.contribution for a in e.atoms} == pytest.approx(parts, abs=1e-6)
            assert sum(a.contribution for a in e.atoms) + e.residual == pytest.approx(h.score, abs=1e-6)  # the score, all of it
            assert e.share == pytest.approx((h.score - e.residual) / h.score)
    one = column.search(queries[0], k=2, candidates=300, explain=True)
    assert [h.explanation for h in one] == [column.explain(queries[0], h.key) for h in one]  # the default's 5 atoms
    assert one[0].as_dict()["explanation"] == one[0].explanation.as_dict() and "explanation" not in plain[0][0].as_dict()
    with pytest.raises(ValueError, match="reconstructed rerank"):
        column.search(queries[0], rerank="symmetric", explain=True)
    with pytest.raises(ValueError, match="explain must be"):
        column.search(queries[0], explain=0)
