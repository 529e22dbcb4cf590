"""Is the sparse HNSW index or the sparse-cosine order what loses recall? Build and search settings swept.

    OMP_NUM_THREADS=1 python benchmarks/sparse_hnsw.py --weights MODEL.safetensors

Codes of the 99,500 items are computed in Python with a stored model (``compare.py --save-weights``) and
loaded into one ``sparsevec`` column; for HNSW (m, ef_construction) in (16, 64) and (32, 128) and
``hnsw.ef_search`` in 100, 200, 400, each of the 500 held-out queries fetches 100 candidates by sparse
cosine. Reported: recall@10 of the index order ("none") and after the asymmetric rerank of the 100
(query against decoded items), p50 latency of the index scan, and the build time.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pgvector import SparseVector
from psycopg import sql

from _common import connect, database, exact_topk, load, parser, save
from compressae_pg.evaluation.metrics import recall_at_k
from compressae_pg.model import Codes, CompresSAE

CANDIDATES = 100


def sparse(codes: Codes, i: int) -> SparseVector:
    return SparseVector(dict(zip(codes.indices[i].tolist(), codes.values[i].tolist())), codes.h)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--weights", type=Path, required=True)
    args = p.parse_args()
    x = load(args.data)
    items, queries = x[:-500], x[-500:]
    truth = exact_topk(queries, items, 10)
    model = CompresSAE.from_bytes(args.weights.read_bytes())
    codes, query_codes = model.compress(items), model.compress(queries)
    projections = queries @ model.decoder.detach().numpy().T  # cos(q, decoded item) = <W_dec q, code>
    rows = []
    with database(args.dsn) as dsn, connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE t (id int PRIMARY KEY, s sparsevec({}))").format(sql.Literal(model.h)))
        with conn.cursor().copy("COPY t (id, s) FROM STDIN (FORMAT binary)") as copy:
            copy.set_types(["int4", "sparsevec"])
            for i in range(len(items)):
                copy.write_row((i, sparse(codes, i)))
        conn.execute("SET maintenance_work_mem = '1GB'")
        for m, efc in ((16, 64), (32, 128)):
            conn.execute("DROP INDEX IF EXISTS t_s")
            start = time.perf_counter()
            conn.execute(sql.SQL("CREATE INDEX t_s ON t USING hnsw (s sparsevec_cosine_ops) WITH (m = {}, ef_construction = {})")
                         .format(sql.Literal(m), sql.Literal(efc)))
            build = time.perf_counter() - start
            for ef in (100, 200, 400):
                conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(ef)))
                by_index, reranked, ms = [], [], []
                for q in range(len(queries)):
                    start = time.perf_counter()
                    found = conn.execute("SELECT id, s FROM t ORDER BY s <=> %s LIMIT %s", (sparse(query_codes, q), CANDIDATES)).fetchall()
                    ms.append((time.perf_counter() - start) * 1e3)
                    ids = np.array([r[0] for r in found])
                    scores = np.array([projections[q][np.array(r[1].indices())] @ np.array(r[1].values()) for r in found])
                    by_index.append(ids[:10])
                    reranked.append(ids[np.argsort(-scores)[:10]])
                row = {"m": m, "ef_construction": efc, "build_s": round(build, 1), "ef_search": ef, "recall_none": round(recall_at_k(by_index, truth), 4),
                       "recall_reranked": round(recall_at_k(reranked, truth), 4), "p50_ms": round(float(np.median(ms)), 1)}
                rows.append(row)
                print(row, flush=True)
    save("sparse_hnsw", {"command": f"python benchmarks/sparse_hnsw.py --weights {args.weights.name}", "rows": rows})


if __name__ == "__main__":
    main()
