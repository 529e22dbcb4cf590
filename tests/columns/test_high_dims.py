"""Above pgvector's HNSW limits, on SYNTHETIC 3,072- and 4,096-d vectors (clustered points on the sphere, no
real embedding set above 768-d was measured): the whole pipeline works (train, attach, backfill, index,
search, SQL encode), pgvector refuses HNSW on the dense column with its own error while the codes' sketch
graph over ``bit(2d)`` builds, and ``evaluate --compare`` measures a peer pgvector cannot index by exact scan.
Small on purpose (few rows, few steps, h = 512): it shows that things work, not how well."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from psycopg import sql

from compressae_pg import CompressedColumn, backfill, build_index, evaluate_column, registry, train
from compressae_pg.cli.demo import synthetic_embeddings
from compressae_pg.columns import attachments

from ..support.models import stored
from ..support.tables import create_table
from ..support.truth import assert_top, brute_force

ROWS, H, K = 300, 512, 16
# pgvector 0.8: HNSW indexes vector up to 2,000 dimensions, halfvec up to 4,000, bit up to 64,000
REFUSED = {"vector": 2000, "halfvec": 4000}


@pytest.mark.slow
@pytest.mark.parametrize("dim", [3072, 4096])
def test_the_pipeline_works_where_pgvector_cannot_index_the_dense_column(conn, dsn, dim):
    x = synthetic_embeddings(ROWS + 5, dim=dim, clusters=20, seed=dim)
    create_table(conn, "wide", x[:ROWS], type_=f"vector({dim})")
    model = train("wide", "embedding", "wide", dsn=dsn, h=H, k=K, steps=8, batch_size=256, validation_rows=32, progress=False)
    att = attachments.attach("wide", "embedding", model.info.ref, conn=conn)
    assert att.sketch_column and backfill("wide", "embedding", dsn=dsn, progress=False).rows_written == ROWS
    build_index("wide", "embedding", dsn=dsn)

    # the codes' index (over the 2-plane sketch, bit(2d)) builds and is valid; the dense column's is refused
    assert conn.execute("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
                        "WHERE i.indrelid = 'wide'::regclass AND a.amname = 'hnsw' AND i.indisvalid").fetchone() == (1,)
    for type_, limit in REFUSED.items():
        column = sql.SQL("embedding" if type_ == "vector" else f"(embedding::halfvec({dim}))")
        statement = sql.SQL("CREATE INDEX ON wide USING hnsw ({} {})").format(column, sql.SQL(f"{type_}_cosine_ops"))
        if dim > limit:
            with pytest.raises(psycopg.errors.ProgramLimitExceeded, match=f"cannot have more than {limit} dimensions for hnsw index"):
                conn.execute(statement)
    # the sketch: 2d bits, their int32 length and a 4-byte header (a value this long is not short-headed)
    assert conn.execute(sql.SQL("SELECT min(pg_column_size({0})), max(pg_column_size({0})) FROM wide").format(
        sql.Identifier(att.sketch_column))).fetchone() == (2 * dim // 8 + 8, 2 * dim // 8 + 8)

    # SQL encode gives the stored codes (the same atoms; values within float32 rounding: at these dimensions
    # the sums run in another order than the backfill's, up to 1.7e-7 apart where 384-d codes are bit-equal)
    trained = registry.load(conn, model.info.ref)[1]
    pairs = conn.execute(sql.SQL("SELECT {}, compressae.encode(%s, embedding) FROM wide").format(
        sql.Identifier(att.code_column)), (model.info.ref,)).fetchall()
    assert len(pairs) == ROWS and all(a.indices() == b.indices() for a, b in pairs)
    assert max(np.abs(np.subtract(a.values(), b.values())).max() for a, b in pairs) < 1e-5
    probe = x[ROWS]
    code = conn.execute("SELECT compressae.encode(%s, %s::vector)", (model.info.ref, probe.tolist())).fetchone()[0]
    python = trained.compress(probe[None, :])
    assert sorted(code.indices()) == sorted(python.indices[0].tolist())
    by_index = dict(zip(python.indices[0].tolist(), python.values[0].tolist()))
    np.testing.assert_allclose(code.values(), [by_index[i] for i in code.indices()], atol=1e-4)

    # search through the index: with every row a candidate, the hits are numpy's top 10 by the reconstructed score
    keys, codes, sources = stored(conn, table="wide", h=H)
    hits = CompressedColumn(conn, "wide", "embedding").search(probe, 10, candidates=ROWS, ef_search=ROWS)
    assert_top(hits, keys, brute_force(trained, None, probe, codes, sources, "reconstructed"), 10, atol=1e-4)

    # evaluate --compare: the peer pgvector cannot index is measured by exact scan, and said so
    result = evaluate_column("wide", "embedding", conn=conn, queries=5, candidates=[50], modes=["reconstructed"],
                             compare=["halfvec", "binary"])
    methods = [r["method"] for r in result.results]
    assert f"binary_quantize bit({dim}), HNSW" in methods
    if dim > REFUSED["halfvec"]:
        assert f"halfvec({dim}), exact scan" in methods
        assert any("halfvec: pgvector refuses its HNSW index (column cannot have more than 4000 dimensions" in n for n in result.notes)
    else:
        assert f"halfvec({dim}), HNSW" in methods
