"""The codes against what a user would pick instead, in the same Postgres, on the same rows, in one run:
vector(384) HNSW, halfvec(384) HNSW, a truncated PCA in vector(m) at about the codes' bytes per row
(HNSW, alone and with a dense rerank), pgvector's binary_quantize(embedding)::bit(384) HNSW by
Hamming distance (alone and with a dense rerank), and the CompresSAE codes (reconstructed and dense
rerank).

    OMP_NUM_THREADS=1 python benchmarks/compare.py --data ../shared/data/pypi-minilm-100k.f16.npy --steps 300

The last ``--queries`` rows of the data are the queries (a second table, ``probes``), the others are
indexed. halfvec, PCA and binary quantization are ``evaluate --compare``'s peers (``compressae_pg/peers.py``),
each built from the table in a scratch table with pgvector's default HNSW build (m 16, ef_construction
64) and dropped afterwards; PCA is an uncentred truncated SVD (it keeps inner products) of up to 20,000
sampled rows, the query projected the same way. Every row is measured by ``compressae_pg.evaluate_column``:
exact dense top 10 as the truth, one query at a time through Python, p50/p95 wall clock. Rows that rerank
by the dense column need it kept: their bytes per row are those of the probe only. Writes
benchmarks/results/compare.json and prints a markdown table.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from psycopg import sql

from _common import connect, database, load, make_table, parser, publish, retrieval_options
from compressae_pg import CompresSAE, _migrate, backfill, build_index, evaluate_column, registry, train
from compressae_pg.columns import attachments

CANDIDATES = 100  # candidates fetched before a rerank, for the codes and the peers alike


def prepare(conn, dsn: str, args, base: np.ndarray, queries: np.ndarray, result: dict) -> None:
    """``items`` with the vectors and their codes, ``probes`` with the queries, the model, and the indexes."""
    make_table(conn, "items", base)
    make_table(conn, "probes", queries)
    started = time.perf_counter()
    if args.weights:
        ref = registry.save(conn, "bench", CompresSAE.from_bytes(args.weights.read_bytes())).ref
    else:
        ref = train("items", "embedding", "bench", dsn=dsn, progress=False, **({"steps": args.steps} if args.steps else {})).info.ref
        if args.save_weights:
            args.save_weights.write_bytes(registry.load(conn, ref)[1].to_bytes())
    info = registry.get(conn, ref)
    result["model"] = {"ref": ref, "trained_here": not args.weights, "seconds": round(time.perf_counter() - started, 1),
                       **{k: info.metrics.get(k) for k in ("val_cosine", "dead_atoms", "samples_seen")}, "params": info.params}
    code = attachments.attach("items", "embedding", ref, conn=conn).code_column
    conn.execute(sql.SQL("ALTER TABLE items ALTER {} SET STORAGE PLAIN").format(sql.Identifier(code)))
    backfill("items", "embedding", dsn=dsn, progress=False, index=False)  # indexed below, after VACUUM FULL, with these settings
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute("VACUUM FULL ANALYZE items")  # measure rows without the dead versions the updates left
    started = time.perf_counter()
    conn.execute(sql.SQL("CREATE INDEX items_vector_hnsw ON items USING hnsw (embedding vector_cosine_ops) "
                         "WITH (m = {}, ef_construction = {})").format(sql.Literal(args.m), sql.Literal(args.ef_construction)))
    result["build_seconds"] = {"items_vector_hnsw": round(time.perf_counter() - started, 1)}
    codes = build_index("items", "embedding", dsn=dsn, m=args.m, ef_construction=args.ef_construction, maintenance_work_mem="1GB")
    result["build_seconds"][codes.index] = round(codes.seconds, 1)


def run(args) -> dict:
    x = load(args.data, args.rows)
    base, queries = x[: -args.queries], x[-args.queries :]
    result: dict = {"data": args.data.name, "rows": len(base), "queries": len(queries), "k": args.k,
                    "hnsw": {"m": args.m, "ef_construction": args.ef_construction, "ef_search": args.ef_search}}
    with database(args.dsn) as dsn:
        _migrate.upgrade(dsn)
        with connect(dsn, autocommit=True) as conn:
            result["server"] = conn.execute("SELECT version()").fetchone()[0]
            result["pgvector"] = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
            prepare(conn, dsn, args, base, queries, result)
            evaluation = evaluate_column("items", "embedding", conn=conn, queries_from="probes.embedding", queries=len(queries),
                                         k=args.k, candidates=[CANDIDATES], modes=["reconstructed", "dense"], ef_search=args.ef_search,
                                         compare=["halfvec", "pca", "binary"], compare_dims=args.pca_dims, progress=True)
    return {**result, "evaluation": evaluation.as_dict()}


def markdown(r: dict) -> str:
    e, k = r["evaluation"], r["k"]
    base = next(row for row in e["results"] if row["baseline"])
    cosine = r["model"]["val_cosine"]
    trained = f" (val cosine {cosine:.3f})" if cosine is not None else ""
    lines = [f"{r['rows']:,} rows, {r['queries']} held-out queries, truth = exact cosine top {k}; model {r['model']['ref']}{trained}; "
             f"HNSW m={r['hnsw']['m']}, ef_construction={r['hnsw']['ef_construction']}",
             "", f"| method | setting | recall@{k} | p50 ms | p95 ms | bytes/row | × vector | index MiB | × vector | keeps vector? |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in e["results"]:
        keeps = "yes" if row["baseline"] or "dense" in row["method"] else "no"
        lines.append(f"| {row['method']} | {row['setting']} | {row[f'recall@{k}']:.3f} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | "
                     f"{row['bytes_per_row']:,.0f} | {row['bytes_per_row'] / base['bytes_per_row']:.2f} | "
                     f"{row['index_bytes'] / 2**20:.1f} | {row['index_bytes'] / base['index_bytes']:.2f} | {keeps} |")
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    retrieval_options(p)
    p.add_argument("--weights", type=Path, help="use this model (safetensors, as --save-weights writes) instead of training")
    p.add_argument("--save-weights", type=Path, help="write the trained model here, for another run's --weights")
    p.add_argument("--pca-dims", type=int, help="PCA dimensions (default: vector(m) at the codes' bytes, 66 for k = 32's 272 B)")
    p.add_argument("--ef-search", type=int, default=100, help="hnsw.ef_search of every index (default 100)")
    args = p.parse_args()
    publish("compare", args, run(args), markdown)


if __name__ == "__main__":
    main()
