"""Applications in SQL (issue 24): ``compressae.search`` against ``ORDER BY halfvec <=> $1 LIMIT 10`` (HNSW,
ef_search 100) and against the Python path, with and without a filter that keeps 10% of the rows, all
interleaved query by query in one process and one run; recall@10 of each against the exact top 10 (of the
rows the filter keeps).

    OMP_NUM_THREADS=1 python benchmarks/sql_search.py --data ../shared/data/pypi-minilm-100k.f16.npy \\
        --model-file benchmarks/out/default-pypi.model

The last ``--queries`` rows are held out as queries. ``category = id % 10``; the filter keeps category 3.
Every row is timed from the client: psycopg's ``conn.execute`` for the two SQL rows,
``CompressedColumn.search`` (query encoding included) for the Python one. ``--reuse`` with ``--dsn`` keeps
the tables of a previous run. Writes benchmarks/results/sql_search.json and prints a markdown table.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from psycopg import sql

import retrieval
from _common import connect, database, load, make_table, parser, publish
from compressae_pg import CompresSAE, CompressedColumn, _migrate, backfill, registry, train
from compressae_pg.columns import attachments

FILTER = "category = 3"  # halfvec's WHERE; the same as the codes' filter {"category": 3}


def truth(base: np.ndarray, queries: np.ndarray, keep: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k ids (1-based, as in the table) by cosine among the rows ``keep`` selects: retrieval's truth over them."""
    ids = np.flatnonzero(keep)
    return ids[retrieval.truth(base[ids], queries, k) - 1] + 1


def prepare(conn, dsn: str, args, base: np.ndarray) -> str:
    """items (vector, codes with their residual sketch, HNSW) and items_half (halfvec, HNSW), both with category."""
    make_table(conn, "items", base)
    conn.execute("SET maintenance_work_mem = '1GB'")
    if args.model_file:
        ref = registry.save(conn, "bench", CompresSAE.from_bytes(args.model_file.read_bytes()), source=str(args.model_file)).ref
    else:
        ref = train("items", "embedding", "bench", dsn=dsn, progress=False, **({"steps": args.steps} if args.steps else {})).info.ref
    att = attachments.attach("items", "embedding", ref, conn=conn)
    backfill("items", "embedding", code_column=att.code_column, dsn=dsn, progress=False, index=False)
    for table, typ in (("items", "vector"), ("items_half", "halfvec")):
        if table == "items_half":
            conn.execute(sql.SQL("CREATE TABLE items_half AS SELECT id, embedding::halfvec({}) AS embedding FROM items").format(
                sql.Literal(base.shape[1])))
            conn.execute("ALTER TABLE items_half ADD PRIMARY KEY (id)")
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN category integer").format(sql.Identifier(table)))
        conn.execute(sql.SQL("UPDATE {} SET category = id % 10").format(sql.Identifier(table)))
        conn.execute(sql.SQL("VACUUM FULL ANALYZE {}").format(sql.Identifier(table)))
    conn.execute(sql.SQL("CREATE INDEX ON items_half USING hnsw (embedding halfvec_cosine_ops) WITH (m = {}, ef_construction = {})").format(
        sql.Literal(args.m), sql.Literal(args.ef_construction)))
    backfill("items", "embedding", code_column=att.code_column, dsn=dsn, progress=False, m=args.m, ef_construction=args.ef_construction)
    return ref


def run(args) -> dict:
    x = load(args.data, args.rows)
    base, queries = x[: -args.queries], x[-args.queries :]
    keep = (np.arange(1, len(base) + 1) % 10) == 3
    want = {False: truth(base, queries, np.ones(len(base), bool), 10), True: truth(base, queries, keep, 10)}
    result: dict = {"data": args.data.name, "rows": len(base), "queries": len(queries), "filter": FILTER,
                    "hnsw": {"m": args.m, "ef_construction": args.ef_construction, "ef_search": args.ef_search}}
    with database(args.dsn, fresh=not args.reuse) as dsn:
        _migrate.upgrade(dsn)
        with connect(dsn, autocommit=True) as conn:
            result["server"] = conn.execute("SELECT version()").fetchone()[0]
            have = conn.execute("SELECT to_regclass('items_half') IS NOT NULL").fetchone()[0]
            ref = (conn.execute("SELECT name || '@' || version FROM compressae.models ORDER BY id DESC LIMIT 1").fetchone()[0]
                   if args.reuse and have else prepare(conn, dsn, args, base))
            result["model"] = ref
            result["rows_measured"] = measure(conn, args, queries, want)
    result["targets"] = targets(result["rows_measured"])
    return result


def measure(conn, args, queries: np.ndarray, want: dict) -> list[dict]:
    """Each configuration once per query, in rotating order; p50/p95 ms and recall@10."""
    column = CompressedColumn(conn, "items", "embedding")
    half = sql.SQL("SELECT id FROM items_half {} ORDER BY embedding <=> %s::halfvec LIMIT 10")
    search = sql.SQL("SELECT key::bigint FROM compressae.search('items', 'embedding', %s::vector, k => 10{})")
    ef = sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(args.ef_search))
    runs = {}
    for filtered in (False, True):
        where = sql.SQL("WHERE " + FILTER) if filtered else sql.SQL("")
        half_q = half.format(where)
        sql_q = search.format(sql.SQL(", filter => {}::jsonb").format(sql.Literal('{"category": 3}')) if filtered else sql.SQL(""))
        # halfvec's own iterative scan (strict order) keeps its filtered row returning 10 rows
        pre = sql.SQL("; ").join([ef, sql.SQL("SET hnsw.iterative_scan = {}").format(sql.Literal("strict_order" if filtered else "off"))])
        runs[("halfvec HNSW, SQL", filtered)] = (pre, lambda q, s=half_q: [r[0] for r in conn.execute(s, (q,))])
        runs[("compressae.search, SQL", filtered)] = (None, lambda q, s=sql_q: [r[0] for r in conn.execute(s, (q,))])
        runs[("CompressedColumn.search, Python", filtered)] = (
            None, lambda q, f=filtered: [h.key for h in column.search(q, 10, where={"category": 3} if f else None)])
    times = {name: [] for name in runs}
    hits = {name: [] for name in runs}
    names = list(runs)
    for i, q in enumerate(queries):
        for j in range(len(names)):
            name = names[(i + j) % len(names)]
            pre, fn = runs[name]
            if pre is not None:
                conn.execute(pre)
            started = time.perf_counter()
            found = fn(q)
            times[name].append(time.perf_counter() - started)
            hits[name].append(found)
            if pre is not None:
                conn.execute("RESET hnsw.ef_search; RESET hnsw.iterative_scan")
    rows = []
    skip = min(20, len(queries) // 10)  # the first queries warm the caches
    for (name, filtered) in names:
        ms = 1000 * np.array(times[(name, filtered)][skip:])
        truth_ids = want[filtered]
        recall = np.mean([len(set(h) & set(t.tolist())) / 10 for h, t in zip(hits[(name, filtered)], truth_ids)])
        rows.append({"row": name, "filtered": filtered, "recall@10": round(float(recall), 4), "p50_ms": round(float(np.median(ms)), 2),
                     "p95_ms": round(float(np.percentile(ms, 95)), 2), "queries": len(queries)})
    for filtered in (False, True):
        py, sq = hits[("CompressedColumn.search, Python", filtered)], hits[("compressae.search, SQL", filtered)]
        same = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(py, sq)])
        next(r for r in rows if r["row"] == "compressae.search, SQL" and r["filtered"] == filtered)["overlap_with_python"] = round(float(same), 4)
    return rows


def targets(rows: list[dict]) -> dict:
    by = {(r["row"], r["filtered"]): r for r in rows}
    out = {}
    for filtered in (False, True):
        half, py, sq = (by[(n, filtered)] for n in ("halfvec HNSW, SQL", "CompressedColumn.search, Python", "compressae.search, SQL"))
        tag = "filtered" if filtered else "unfiltered"
        out[tag] = {"sql_p50_over_halfvec_p50": round(sq["p50_ms"] / half["p50_ms"], 2),
                    "sql_p50_over_python_p50": round(sq["p50_ms"] / py["p50_ms"], 2),
                    "sql_recall_minus_python_recall": round(sq["recall@10"] - py["recall@10"], 4),
                    "sql_recall_over_halfvec_recall": round(sq["recall@10"] / half["recall@10"], 3)}
    return out


def markdown(r: dict) -> str:
    lines = [f"{r['rows']:,} rows, {r['queries']} held-out queries, model {r['model']}, truth = exact cosine top 10 "
             f"(of the rows `{r['filter']}` keeps, when filtered); HNSW m={r['hnsw']['m']}, ef_construction={r['hnsw']['ef_construction']}, "
             f"halfvec ef_search {r['hnsw']['ef_search']}", "",
             "| row | filter | recall@10 | p50 ms | p95 ms | overlap with Python |", "|---|---|---:|---:|---:|---:|"]
    for row in r["rows_measured"]:
        overlap = f"{row['overlap_with_python']:.3f}" if "overlap_with_python" in row else ""
        lines.append(f"| {row['row']} | {r['filter'] if row['filtered'] else 'none'} | {row['recall@10']:.3f} | {row['p50_ms']:.2f} | "
                     f"{row['p95_ms']:.2f} | {overlap} |")
    for tag, t in r["targets"].items():
        lines.append(f"\n{tag}: SQL p50 / halfvec p50 = {t['sql_p50_over_halfvec_p50']:.2f}, / Python p50 = {t['sql_p50_over_python_p50']:.2f}; "
                     f"SQL recall − Python recall = {t['sql_recall_minus_python_recall']:+.4f}; SQL recall / halfvec recall = "
                     f"{t['sql_recall_over_halfvec_recall']:.3f}")
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, help="use only the first N rows of the data (queries included)")
    p.add_argument("--queries", type=int, default=500, help="held-out queries: the last rows (default 500)")
    p.add_argument("--steps", type=int, help="training steps, without --model-file (default: the package default)")
    p.add_argument("--model-file", type=Path, help="use these weights (CompresSAE.to_bytes) instead of training")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=64)
    p.add_argument("--ef-search", type=int, default=100, help="hnsw.ef_search of the halfvec rows (default 100)")
    p.add_argument("--reuse", action="store_true", help="with --dsn: keep the tables a previous run made")
    p.add_argument("--name", default="sql_search", help="results/<name>.json (default sql_search)")
    args = p.parse_args()
    publish(args.name, args, run(args), markdown)


if __name__ == "__main__":
    main()
