"""The default search's two knobs side by side: candidates (rows the sketch graph hands the rerank) and
``hnsw.ef_search`` (the graph's search list), each configuration's recall@10 and p50 against halfvec HNSW's.

    OMP_NUM_THREADS=1 python benchmarks/search_knobs.py --data ../shared/data/pypi-minilm-100k.f16.npy \
        --model-file default-pypi.model --grid 100:100,100:200,150:150,150:300

The last ``--queries`` rows are held out; the truth is the exact dense cosine top 10. The codes are attached
with the package's defaults (sketch graph, its planes and residual bits), backfilled and indexed as a DBA
would. Every configuration (and halfvec HNSW at ``--ef-search``) runs once per query, in a shuffled order
(``--order interleaved``, the default: they compete for the same caches, as on a busy server) or one after
another (``--order sequential``: each has the caches to itself); latencies are read as ratios.
Writes benchmarks/results/<--name>.json.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
from psycopg import sql

from _common import connect, database, load, make_table, parser, publish, retrieval_options
from compressae_pg import CompresSAE, CompressedColumn, _migrate, backfill, build_index, registry
from compressae_pg.columns import attachments
from retrieval import dense_index, sizes, truth


def grid(value: str) -> list[tuple[int, int]]:
    """``candidates:ef_search`` pairs, comma separated."""
    return [(int(c), int(e)) for c, e in (pair.split(":") for pair in value.split(","))]


def run(args) -> dict:
    x = load(args.data, args.rows)
    base, queries = x[: -args.queries], x[-args.queries :]
    want = truth(base, queries, args.k)
    result: dict = {"data": args.data.name, "rows": len(base), "queries": len(queries), "k": args.k,
                    "hnsw": {"m": args.m, "ef_construction": args.ef_construction}, "order": args.order}
    with database(args.dsn) as dsn:
        _migrate.upgrade(dsn)
        with connect(dsn, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '1GB'")
            make_table(conn, "items", base)
            model = CompresSAE.from_bytes(args.model_file.read_bytes())
            ref = registry.save(conn, "bench", model, source=str(args.model_file)).ref
            att = attachments.attach("items", "embedding", ref, conn=conn)
            result["attachment"] = {"sketch_planes": att.sketch_planes, "residual_planes": att.residual_planes}
            backfill("items", "embedding", dsn=dsn, progress=False, index=False)
            conn.execute("VACUUM FULL ANALYZE items")
            dense_index(conn, "items_half", "halfvec", base.shape[1], args.m, args.ef_construction)
            build_index("items", "embedding", dsn=dsn, m=args.m, ef_construction=args.ef_construction, maintenance_work_mem="1GB")
            result["sizes"] = {"halfvec": sizes(conn, "items_half", "embedding", "items_half_hnsw")}
            result["rows_measured"] = measure(conn, args, queries, want)
    return result


def measure(conn, args, queries: np.ndarray, want: np.ndarray) -> list[dict]:
    """Every configuration once per query (``--order interleaved``: in a shuffled order per query, so that they share
    the server's caches; ``sequential``: all queries of one, then the next, each with the caches to itself)."""
    column = CompressedColumn(conn, "items", "embedding")
    half = sql.SQL("SELECT id FROM items_half ORDER BY embedding <=> %s::halfvec LIMIT %s")

    conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(args.ef_search)))  # the codes' search sets its own per transaction
    runs = {"halfvec HNSW": lambda q: [r[0] for r in conn.execute(half, (q, args.k))]}
    for c, ef in args.grid:
        runs[f"codes {c}:{ef}"] = lambda q, c=c, ef=ef: [h.key for h in column.search(q, args.k, candidates=c, ef_search=ef)]
    rng = random.Random(0)
    names = list(runs)
    for q in queries[: args.warmup]:
        for name in names:
            runs[name](q)
    times = {n: [] for n in names}
    recall = {n: [] for n in names}
    def one(name: str, q: np.ndarray, ids: np.ndarray) -> None:
        started = time.perf_counter()
        got = runs[name](q)
        times[name].append(time.perf_counter() - started)
        recall[name].append(len(set(got) & set(ids.tolist())) / len(ids))

    if args.order == "interleaved":
        for q, ids in zip(queries, want):
            rng.shuffle(names)
            for name in names:
                one(name, q, ids)
    else:
        for name in names:
            for q, ids in zip(queries, want):
                one(name, q, ids)
    half_p50 = float(np.percentile(times["halfvec HNSW"], 50))
    rows = []
    for name in runs:
        p50 = float(np.percentile(times[name], 50))
        row = {"row": name, "recall@10": round(float(np.mean(recall[name])), 4), "p50_ms": round(1000 * p50, 2),
               "p95_ms": round(1000 * float(np.percentile(times[name], 95)), 2), "p50_over_halfvec": round(p50 / half_p50, 3)}
        rows.append(row)
        print(row, flush=True)
    return rows


def markdown(r: dict) -> str:
    lines = [f"{r['rows']:,} rows, {r['queries']} queries, {r['order']}, attachment {r['attachment']}", "",
             "| configuration (candidates:ef_search) | recall@10 | p50 ms | p95 ms | p50 / halfvec's |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {w['row']} | {w['recall@10']:.3f} | {w['p50_ms']:.2f} | {w['p95_ms']:.2f} | {w['p50_over_halfvec']:.2f} |"
              for w in r["rows_measured"]]
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    retrieval_options(p)
    p.add_argument("--model-file", type=Path, required=True, help="weights (CompresSAE.to_bytes)")
    p.add_argument("--grid", type=grid, default=grid("100:100,100:150,100:200,120:120,120:240,150:150,150:300"))
    p.add_argument("--ef-search", type=int, default=100, help="hnsw.ef_search of halfvec HNSW (default 100)")
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--order", choices=("interleaved", "sequential"), default="interleaved")
    p.add_argument("--name", default="search_knobs")
    args = p.parse_args()
    publish(args.name, args, run(args), markdown)


if __name__ == "__main__":
    main()
