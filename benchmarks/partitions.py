"""A partitioned table's backfill and index build against the same rows in a plain table, side by side.

    OMP_NUM_THREADS=1 python benchmarks/partitions.py [--rows 30000] [--data FILE.npy] [--dsn URL]

In one run, from one source table of real embeddings: a plain table, a 4-way hash-partitioned table
and a 4-way range-partitioned table, identical rows, each with the code column attached. Each is
backfilled with 1 worker, then fresh copies with 2 workers (a partitioned table's range jobs are its
leaf partitions, the workers spread over them); the order of the three alternates between rounds so
neither drifts first. Then the HNSW index over the sketch column is built on each (concurrently; on a
partitioned table partition by partition). The model is an untrained CompresSAE of the production
shape (384 → h=4096, k=32): encoding costs the same whatever the weights. Results go to
benchmarks/results/partitions.json and print as markdown.
"""

from __future__ import annotations

import numpy as np
import psycopg
from backfill import load_source
from psycopg import sql

from _common import connect, database, load, parser, publish
from compressae_pg import CompresSAE, _migrate, backfill, build_index, registry
from compressae_pg.columns import attachments

LAYOUTS = ("plain", "hash", "range")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=30_000)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--h", type=int, default=4096)
    p.add_argument("--k", type=int, default=32)
    args = p.parse_args()
    x = load(args.data, args.rows)
    with database(args.dsn) as dsn:
        result = run(dsn, x, args)
    publish("partitions", args, result, markdown)


def run(dsn: str, x: np.ndarray, args) -> dict:
    n = len(x)
    _migrate.upgrade(dsn)
    with connect(dsn, autocommit=True) as conn:
        info = registry.save(conn, "bench", CompresSAE(x.shape[1], args.h, args.k, seed=0).eval())
        load_source(conn, x)
        for workers in (1, 2):
            for layout in LAYOUTS:
                make(conn, f"{layout}_w{workers}", layout, n, x.shape[1])
                attachments.attach(f"{layout}_w{workers}", "embedding", info.ref, conn=conn)
    runs: dict[str, dict] = {}
    for workers in (1, 2):
        order = LAYOUTS if workers == 1 else LAYOUTS[::-1]
        for layout in order:
            r = backfill(f"{layout}_w{workers}", "embedding", dsn=dsn, workers=workers, batch_size=args.batch_size, progress=False, index=False)
            assert (r.status, r.rows) == ("done", n), r.as_dict()
            runs.setdefault(layout, {})[str(workers)] = {"rows_per_s": round(r.rows_per_s, 1), "seconds": round(r.seconds, 3),
                                                         "workers": r.workers, "retries": r.retries}
    builds = {}
    for layout in LAYOUTS:
        b = build_index(f"{layout}_w1", "embedding", dsn=dsn)
        assert b.valid, b.as_dict()
        builds[layout] = {"seconds": round(b.seconds, 3), "bytes": b.bytes, "partitions": len(b.partitions)}
    plain = runs["plain"]
    return {
        "rows": n, "dim": x.shape[1], "h": args.h, "k": args.k, "batch_size": args.batch_size,
        "backfill": runs,
        "ratio_vs_plain": {layout: {w: round(runs[layout][w]["rows_per_s"] / plain[w]["rows_per_s"], 3) for w in plain}
                           for layout in LAYOUTS[1:]},
        "index": builds,
    }


def make(conn: psycopg.Connection, name: str, layout: str, n: int, dim: int) -> None:
    """``name`` holding bench_src's rows: a plain table, or 4 hash or 4 equal range partitions of the key; vacuumed."""
    ident = sql.Identifier(name)
    by = {"plain": sql.SQL(""), "hash": sql.SQL(" PARTITION BY HASH (id)"), "range": sql.SQL(" PARTITION BY RANGE (id)")}[layout]
    conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, embedding vector({})){}").format(ident, sql.Literal(dim), by))
    for i in range(4 if layout != "plain" else 0):
        bounds = (sql.SQL("WITH (MODULUS 4, REMAINDER {})").format(sql.Literal(i)) if layout == "hash" else
                  sql.SQL("FROM ({}) TO ({})").format(sql.Literal(1 + i * n // 4), sql.Literal(1 + (i + 1) * n // 4 if i < 3 else n + 1)))
        conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES {}").format(sql.Identifier(f"{name}_{i}"), ident, bounds))
    conn.execute(sql.SQL("INSERT INTO {} SELECT id, embedding FROM bench_src").format(ident))
    conn.execute(sql.SQL("VACUUM ANALYZE {}").format(ident))


def markdown(r: dict) -> str:
    lines = [f"Backfill of {r['rows']:,} real {r['dim']}-d embeddings (h={r['h']}, k={r['k']}, batch {r['batch_size']}), "
             "the same rows in each table, one run", "",
             "| table | 1 worker rows/s | vs plain | 2 workers rows/s | vs plain | index build s | index MiB |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for layout in LAYOUTS:
        b, ix = r["backfill"][layout], r["index"][layout]
        ratio = r["ratio_vs_plain"].get(layout, {"1": 1.0, "2": 1.0})
        name = "plain" if layout == "plain" else f"{layout}, 4 partitions"
        lines.append(f"| {name} | {b['1']['rows_per_s']:,.0f} | {ratio['1']:.2f}× | {b['2']['rows_per_s']:,.0f} | {ratio['2']:.2f}× "
                     f"| {ix['seconds']:.1f} | {ix['bytes'] / 2**20:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
