"""SQLAlchemy: a declarative model with a SPARSEVEC code column, and search expressions that compose
with ORM filters and joins, checked against numpy's brute force."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
import sqlalchemy as sa
from pgvector.sqlalchemy import VECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from compressae_pg import Hit, InvalidVectorError
from compressae_pg.sqlalchemy import BIT, SPARSEVEC, encode, hnsw_settings, reconstructed_score, search, sketch_distance, sparse_cosine_distance

from ..support.models import H, searchable, stored
from ..support.truth import assert_top, brute_force, cos, numpy_values, sign_cosine

ROWS = 200


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str]
    embedding = mapped_column(VECTOR(384))
    embedding_sae = mapped_column(SPARSEVEC(H))
    embedding_sae_sketch = mapped_column(BIT(384))


class Label(Base):
    __tablename__ = "labels"
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"), primary_key=True)
    label: Mapped[str]


@pytest.fixture
def session(request, conn, dsn, model, real_vectors):
    """A session on ``items`` attached with the default graph (or ``graph`` given as the fixture's param)."""
    graph = getattr(request, "param", "sketch")
    searchable(conn, dsn, real_vectors[:ROWS], model, graph=graph)
    if graph == "sparse":  # the ORM class maps the sketch column too: keep it, unfilled
        conn.execute("ALTER TABLE items ADD COLUMN embedding_sae_sketch bit(384)")
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    Base.metadata.tables["labels"].create(engine)
    with Session(engine) as s:
        s.add_all(Label(item_id=i, label="even" if i % 2 == 0 else "odd") for i in range(1, ROWS + 1))
        s.commit()
        yield s
    engine.dispose()


def sql_code(conn, q) -> np.ndarray:
    code = conn.execute("SELECT compressae.encode('m', %s)", (q,)).fetchone()[0]
    out = np.zeros(H)
    out[code.indices()] = code.values()
    return out


def top(keys, scores, k, allowed=None):
    order = [i for i in np.argsort(-scores, kind="stable") if allowed is None or keys[i] in allowed][:k]
    return [keys[i] for i in order], scores[order]


def test_candidates_then_reconstructed_score_compose_with_a_filter_and_a_join(conn, session, model, real_vectors):
    keys, codes, sources = stored(conn)
    q = real_vectors[5000]
    session.execute(hnsw_settings(ROWS))
    candidates = (sa.select(Item.id, Item.embedding_sae)
                  .join(Label, Label.item_id == Item.id)
                  .where(Item.category == "common", Label.label == "even")
                  .order_by(sketch_distance(Item.embedding_sae_sketch, q))
                  .limit(ROWS).subquery())
    score = reconstructed_score("m", candidates.c.embedding_sae, q).label("score")
    rows = session.execute(sa.select(candidates.c.id, score).order_by(sa.desc("score")).limit(8)).all()
    allowed = {k for k in keys if (k - 1) % 7 != 0 and k % 2 == 0}
    want_keys, want_scores = top(keys, brute_force(model, None, q, codes, sources, "reconstructed", planes=0), 8, allowed)  # the codes alone
    assert [r.id for r in rows] == want_keys
    np.testing.assert_allclose([r.score for r in rows], want_scores, atol=1e-5, rtol=0)


def test_sketch_distance_is_the_index_order(conn, session, model, real_vectors):
    keys, codes, sources = stored(conn)
    q = real_vectors[5001]
    stmt = sa.select(Item.id, sketch_distance(Item.embedding_sae_sketch, q).label("d")).order_by("d").limit(10)
    plan = session.execute(sa.text("EXPLAIN " + str(stmt.compile(session.bind, compile_kwargs={"literal_binds": True})))).all()
    assert "Index Scan using items_embedding_sae_hnsw" in "\n".join(r[0] for r in plan)
    session.execute(hnsw_settings(ROWS))
    hits = [Hit(r.id, 1 - 2 * r.d / 768) for r in session.execute(stmt)]  # 2 planes: bit(768)
    assert_top(hits, keys, sign_cosine(q, sources), 10)


@pytest.mark.parametrize("session", ["sparse"], indirect=True)
def test_sparse_cosine_distance_is_the_index_order(conn, session, model, real_vectors):
    keys, codes, sources = stored(conn)
    q = real_vectors[5001]
    stmt = sa.select(Item.id).order_by(sparse_cosine_distance(Item.embedding_sae, encode("m", q))).limit(10)
    plan = session.execute(sa.text("EXPLAIN " + str(stmt.compile(session.bind, compile_kwargs={"literal_binds": True})))).all()
    assert "Index Scan using items_embedding_sae_hnsw" in "\n".join(r[0] for r in plan)
    session.execute(hnsw_settings(ROWS))
    ids = session.scalars(stmt).all()
    assert ids == top(keys, brute_force(model, sql_code(conn, q), q, codes, sources, "none", "sparse"), 10)[0]


def same_code(got, model, x) -> None:
    """``got`` is the model's code of ``x``: its atoms, and the values numpy fits on them."""
    want = model.compress(x)
    assert got.indices() == want.indices[0].tolist()
    np.testing.assert_allclose(got.values(), numpy_values(model, x, got.indices()), atol=2e-4, rtol=0)


def test_encode_of_a_value_runs_once_and_of_a_column_per_row(conn, session, model, real_vectors):
    value = sa.select(encode("m", real_vectors[5000]))
    assert "(SELECT compressae.encode(" in str(value.compile(session.bind))
    same_code(session.scalar(value), model, real_vectors[5000])
    per_row = sa.select(Item.id, encode("m", Item.embedding).label("code")).order_by(Item.id).limit(5)
    assert "(SELECT" not in str(per_row.compile(session.bind))
    got = [(r.id, r.code) for r in session.execute(per_row)]
    want = conn.execute("SELECT id, compressae.encode('m', embedding) FROM items ORDER BY id LIMIT 5").fetchall()
    assert [(i, c.to_text()) for i, c in got] == [(i, c.to_text()) for i, c in want]
    for i, code in got:  # ids 1..5: rows 0..4 of the table
        same_code(code, model, real_vectors[i - 1])


def test_the_sql_search_function_joins_the_table(conn, session, real_vectors):
    q = real_vectors[5002]
    hits = search("items", "embedding", q, k=5, candidates=ROWS, rerank="dense")
    rows = session.execute(sa.select(Item.id, Label.label, hits.c.score)
                           .join(hits, sa.cast(hits.c.key, sa.BigInteger) == Item.id)
                           .join(Label, Label.item_id == Item.id)
                           .order_by(hits.c.score.desc())).all()
    want = conn.execute("SELECT key::bigint, score FROM compressae.search('items', 'embedding', %s, 5, %s, 'dense')",
                        (q, ROWS)).fetchall()
    assert [(r.id, r.score) for r in rows] == want
    keys, _codes, sources = stored(conn)
    assert_top([Hit(r.id, r.score) for r in rows], keys, cos(q, np.stack(sources)), 5)  # the dense rerank, every row a candidate
    assert all(r.label == ("even" if r.id % 2 == 0 else "odd") for r in rows)


def test_the_sql_search_takes_the_python_apis_where_mapping(conn, session, model, real_vectors):
    q = real_vectors[5002]
    keys, codes, sources = stored(conn)
    common = {r[0] for r in conn.execute("SELECT id FROM items WHERE category = 'common'")}
    hits = search("items", "embedding", q, k=5, candidates=ROWS, rerank="dense", where={"category": "common"})
    rows = session.execute(sa.select(hits.c.key, hits.c.score)).all()
    assert_top([Hit(int(r.key), r.score) for r in rows], keys, brute_force(model, None, q, codes, sources, "dense"), 5, common)
    assert session.execute(sa.select(search("items", "embedding", q, where={"category": None}).c.key)).all() == []


def test_bad_query_values_are_refused_before_any_sql(session):
    with pytest.raises(InvalidVectorError, match="all zeros"):
        encode("m", np.zeros(384))
    with pytest.raises(InvalidVectorError, match="NaN"):
        reconstructed_score("m", Item.embedding_sae, [float("nan")] * 384)
    with pytest.raises(ValueError, match="ef_search"):
        hnsw_settings(0)
