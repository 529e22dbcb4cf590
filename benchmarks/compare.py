"""The codes against what a user would pick instead, in the same Postgres, on the same rows, in one run:
vector(384) HNSW, halfvec(384) HNSW, a truncated PCA in vector(m) at about the codes' bytes per row
(HNSW, alone and with a dense rerank), pgvector's binary_quantize(embedding)::bit(384) HNSW by
Hamming distance (alone and with a dense rerank), and the CompresSAE codes (reconstructed and dense
rerank).

    OMP_NUM_THREADS=1 python benchmarks/compare.py --data ../shared/data/pypi-minilm-100k.f16.npy --steps 300

One table holds every representation as a column of the same rows; the last ``--queries`` rows of the
data are the queries (a second table, ``probes``), the others are indexed. Every row is measured by
``compressae_pg.evaluate_column``: exact dense top 10 as the truth, one query at a time through Python,
p50/p95 wall clock. Rows that rerank by the dense column need it kept: their bytes per row are those
of the probe only. PCA is a truncated SVD of the indexed rows (no centering: it keeps inner products),
the query projected the same way. Writes benchmarks/results/compare.json and prints a markdown table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from psycopg import sql

from _common import connect, database, load, make_table, parser, publish, retrieval_options
from compressae_pg import CompresSAE, CompressedColumn, _migrate, backfill, build_index, evaluate_column, registry, train
from compressae_pg.columns import attachments
from compressae_pg.evaluation.run import Method, sizes

CANDIDATES = 100  # probes fetched before a dense rerank, as for the codes


def pca_basis(base: np.ndarray, dims: int) -> np.ndarray:
    """The top ``dims`` right singular vectors of the rows, (d, dims): the best rank-``dims`` inner products."""
    _, _, vt = np.linalg.svd(base[:: max(1, len(base) // 50000)], full_matrices=False)
    return vt[:dims].T.astype(np.float32)


def prepare(conn, dsn: str, args, base: np.ndarray, queries: np.ndarray, basis: np.ndarray, result: dict) -> None:
    """``items`` with every representation as a column, ``probes`` with the queries, the model, and the indexes."""
    make_table(conn, "items", base)
    make_table(conn, "items_pca", base @ basis)
    make_table(conn, "probes", queries)
    # Every representation in one row is ~2.9 kB, past TOAST's 2 kB target: keep the vectors inline and
    # uncompressed, as they are in a table of vectors alone, so that no method pays for detoasting.
    conn.execute("ALTER TABLE items ALTER embedding SET STORAGE PLAIN")
    conn.execute(sql.SQL("ALTER TABLE items ADD embedding_half halfvec({d}) STORAGE PLAIN, ADD embedding_pca vector({m}) STORAGE PLAIN").format(
        d=sql.Literal(base.shape[1]), m=sql.Literal(basis.shape[1])))
    conn.execute(sql.SQL("UPDATE items SET embedding_half = items.embedding::halfvec({}), embedding_pca = p.embedding "
                         "FROM items_pca p WHERE p.id = items.id").format(sql.Literal(base.shape[1])))
    conn.execute("DROP TABLE items_pca")
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
    code = attachments.add(conn, "items", "embedding", ref).code_column
    conn.execute(sql.SQL("ALTER TABLE items ALTER {} SET STORAGE PLAIN").format(sql.Identifier(code)))
    backfill("items", "embedding", dsn=dsn, progress=False)
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute("VACUUM FULL ANALYZE items")  # measure rows without the dead versions the updates left
    hnsw = {"items_vector_hnsw": "embedding vector_cosine_ops", "items_half_hnsw": "embedding_half halfvec_cosine_ops",
            "items_pca_hnsw": "embedding_pca vector_cosine_ops",
            "items_bits_hnsw": f"(binary_quantize(embedding)::bit({base.shape[1]})) bit_hamming_ops"}
    result["build_seconds"] = {}
    for name, expression in hnsw.items():
        started = time.perf_counter()
        conn.execute(sql.SQL("CREATE INDEX {} ON items USING hnsw ({}) WITH (m = {}, ef_construction = {})").format(
            sql.Identifier(name), sql.SQL(expression), sql.Literal(args.m), sql.Literal(args.ef_construction)))
        result["build_seconds"][name] = round(time.perf_counter() - started, 1)
    codes = build_index("items", "embedding", dsn=dsn, m=args.m, ef_construction=args.ef_construction, maintenance_work_mem="1GB")
    result["build_seconds"][codes.index] = round(codes.seconds, 1)


def alternatives(conn, args, basis: np.ndarray, dim: int) -> list[Method]:
    """halfvec, PCA and binary quantization as :class:`Method` rows, probing their own HNSW index."""
    target = CompressedColumn(conn, "items", "embedding").target
    bits = sql.SQL("binary_quantize(embedding)::bit({})").format(sql.Literal(dim))
    half = sql.SQL("embedding_half <=> %(q)s::halfvec({})").format(sql.Literal(dim))
    pca = sql.SQL("embedding_pca <=> %(p)s::vector({})").format(sql.Literal(basis.shape[1]))
    hamming = sql.SQL("{} <~> binary_quantize(%(q)s::vector)").format(bits)

    def method(name: str, order: sql.Composable, value: sql.Composable, index: str, rerank: bool) -> Method:
        inner = sql.SQL("SELECT id, embedding FROM items ORDER BY {} LIMIT {}").format(order, sql.Literal(CANDIDATES))
        query = (sql.SQL("SELECT id FROM ({}) c ORDER BY embedding <=> %(q)s::vector LIMIT %(n)s").format(inner) if rerank
                 else sql.SQL("SELECT id FROM items ORDER BY {} LIMIT %(n)s").format(order))
        search: Callable = lambda q, n: [r[0] for r in conn.execute(query, {"q": q, "p": q @ basis, "n": n})]  # noqa: E731
        per_row, index_bytes = sizes(conn, target, value, index)
        setting = f"candidates {CANDIDATES}, ef_search {args.ef_search}" if rerank else f"ef_search {args.ef_search}"
        return Method(name + (", dense rerank" if rerank else ""), search, setting, per_row, index_bytes,
                      settings={"hnsw.ef_search": str(args.ef_search)})

    return [method(f"halfvec({dim}) HNSW", half, sql.Identifier("embedding_half"), "items_half_hnsw", False),
            *(method(f"PCA vector({basis.shape[1]}) HNSW", pca, sql.Identifier("embedding_pca"), "items_pca_hnsw", r) for r in (False, True)),
            *(method(f"binary_quantize bit({dim}) HNSW", hamming, bits, "items_bits_hnsw", r) for r in (False, True))]


def run(args) -> dict:
    x = load(args.data, args.rows)
    base, queries = x[: -args.queries], x[-args.queries :]
    basis = pca_basis(base, args.pca_dims)
    result: dict = {"data": args.data.name, "rows": len(base), "queries": len(queries), "k": args.k,
                    "hnsw": {"m": args.m, "ef_construction": args.ef_construction, "ef_search": args.ef_search}}
    with database(args.dsn) as dsn:
        _migrate.upgrade(dsn)
        with connect(dsn, autocommit=True) as conn:
            result["server"] = conn.execute("SELECT version()").fetchone()[0]
            result["pgvector"] = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
            prepare(conn, dsn, args, base, queries, basis, result)
            evaluation = evaluate_column("items", "embedding", conn=conn, queries_from="probes.embedding", queries=len(queries),
                                         k=args.k, candidates=[CANDIDATES], modes=["reconstructed", "dense"], ef_search=args.ef_search,
                                         extra=alternatives(conn, args, basis, base.shape[1]), progress=True)
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
    p.add_argument("--pca-dims", type=int, default=64, help="PCA dimensions: 64 is 264 B/row, the codes' 272 B (default 64)")
    p.add_argument("--ef-search", type=int, default=100, help="hnsw.ef_search of every index (default 100)")
    args = p.parse_args()
    publish("compare", args, run(args), markdown)


if __name__ == "__main__":
    main()
