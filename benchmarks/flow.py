"""The DBA flow's two orders side by side, and the backfill spread over 1 and 2 encoder processes.

    python benchmarks/flow.py [--rows 6000] [--process-rows 20000] [--data FILE.npy] [--dsn URL] [--name flow]

In one run, on fresh copies of one table of real embeddings:
1. the index order (issue 15, measurement 4), both through ``op.add_compressed_column``, the front
   door of ``attach --apply`` and of an application's Alembic:
   - *index first* (``index=True``, the old default): the HNSW index is built at attach, then the
     backfill writes every row through it;
   - *fast flow* (the default on a table with rows): attach defers the index, the backfill fills the
     column and then builds the index CONCURRENTLY over all the codes at once.
   Reported: the fill's rows/s, the index build's seconds, and attach-to-indexed seconds for each.
2. encoder processes (issue 15, item 7): one process backfills a table of 2N rows; then two processes,
   started together, each backfill a table of N rows. Each process is a separate Python interpreter
   with one torch thread (as one encoder per core on separate machines would be), running
   ``compressae_pg.backfill`` with 1 worker. Reported: rows/s of all the processes together, from the
   first process's start of filling to the last one's end (interpreter start-up left out).
The model is an untrained CompresSAE of the production shape (384 → h=4096, k=32): encoding costs the
same whatever the weights. Results go to benchmarks/results/<name>.json and print as markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from backfill import copy_table, load_source

from _common import connect, database, load, parser, save
from compressae_pg import CompresSAE, _migrate, alembic, backfill, registry


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=6000, help="rows of each table in part 1 (the issue measured 6,000)")
    p.add_argument("--process-rows", type=int, default=20000, help="N: rows per process in part 2")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--h", type=int, default=4096)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--name", default="flow", help="results file name")
    p.add_argument("--child", nargs=2, metavar=("DSN", "TABLE"), help=argparse.SUPPRESS)  # one encoder process of part 2
    args = p.parse_args()
    if args.child:
        child(*args.child, args.batch_size)
        return
    x = load(args.data, max(args.rows, 2 * args.process_rows))
    with database(args.dsn) as dsn:
        result = run(dsn, x, args)
    out = save(args.name, result)
    print(markdown(result))
    print(f"\n(wrote {out})")


def run(dsn: str, x: np.ndarray, args) -> dict:
    _migrate.upgrade(dsn)
    with connect(dsn, autocommit=True) as conn:
        info = registry.save(conn, "bench", CompresSAE(x.shape[1], args.h, args.k, seed=0))
        load_source(conn, x[: args.rows])
        tables = {name: copy_table(conn, name) for name in ("t_index_first", "t_fast")}
    orders = {"index_first": index_order(dsn, "t_index_first", info.ref, True, args),
              "fast": index_order(dsn, "t_fast", info.ref, None, args)}
    with connect(dsn, autocommit=True) as conn:
        load_source(conn, x[: 2 * args.process_rows])
        tables["p1"] = copy_table(conn, "p1")
        load_source(conn, x[: args.process_rows])
        tables.update({name: copy_table(conn, name) for name in ("p2_a", "p2_b")})
        for name in ("p1", "p2_a", "p2_b"):
            alembic.run(alembic.AddCompressedColumnOp(name, "embedding", model=info.ref, index=False), dsn)
    processes = {"1": spawn(dsn, ["p1"]), "2": spawn(dsn, ["p2_a", "p2_b"])}
    first, fast = orders["index_first"], orders["fast"]
    return {
        "rows": args.rows, "process_rows": args.process_rows, "dim": x.shape[1], "h": args.h, "k": args.k,
        "batch_size": args.batch_size, "cpus": os.cpu_count(), "tables": tables,
        "orders": orders,
        "fill_speedup_fast_vs_index_first": round(fast["fill_rows_per_s"] / first["fill_rows_per_s"], 2),
        "total_speedup_fast_vs_index_first": round(first["total_s"] / fast["total_s"], 2),
        "processes": processes,
        "speedup_2_processes": round(processes["2"]["rows_per_s"] / processes["1"]["rows_per_s"], 3),
    }


def index_order(dsn: str, table: str, ref: str, index: bool | None, args) -> dict:
    """Attach through the Alembic op (``index`` as given), backfill, and time each step to a valid index."""
    op = alembic.AddCompressedColumnOp(table, "embedding", model=ref, index=index)
    started = time.perf_counter()
    alembic.run(op, dsn)
    attach_s = time.perf_counter() - started
    filled = backfill(table, "embedding", dsn=dsn, batch_size=args.batch_size, progress=False)
    total_s = time.perf_counter() - started
    with connect(dsn, autocommit=True) as conn:
        (valid, index_bytes) = conn.execute(
            "SELECT bool_and(i.indisvalid), sum(pg_relation_size(i.indexrelid)) FROM pg_index i JOIN pg_am a"
            " ON a.oid = (SELECT relam FROM pg_class WHERE oid = i.indexrelid) WHERE i.indrelid = %s::regclass AND a.amname = 'hnsw'",
            (table,)).fetchone()
    build_s = attach_s if op.info["index"] == "built" else filled.index["seconds"]
    return {"attach_index": op.info["index"], "attach_s": round(attach_s, 3), "fill_s": round(filled.seconds, 3),
            "fill_rows_per_s": round(filled.rows_per_s, 1), "rows_written": filled.rows_written, "index_build_s": round(build_s, 3),
            "total_s": round(total_s, 3), "index_valid": valid, "index_bytes": int(index_bytes or 0), "notes": filled.notes}


def spawn(dsn: str, tables: list[str]) -> dict:
    """One child process per table, let go together once all are ready; their rows/s together, over their filling time."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    children = [subprocess.Popen([sys.executable, __file__, "--child", dsn, t], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, env=env) for t in tables]
    for c in children:
        if c.stdout.readline().strip() != "ready":
            raise RuntimeError("a backfill process did not start")
    for c in children:
        c.stdin.write("go\n")
        c.stdin.flush()
    reports = []
    for c in children:
        out, _ = c.communicate()
        if c.returncode != 0:
            raise RuntimeError(f"a backfill process failed (exit {c.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    rows = sum(r["rows"] for r in reports)
    span = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    return {"processes": len(tables), "rows": rows, "seconds": round(span, 3), "rows_per_s": round(rows / span, 1),
            "per_process_rows_per_s": [r["rows_per_s"] for r in reports]}


def child(dsn: str, table: str, batch_size: int) -> None:
    """One encoder process: once told to go, backfill ``table`` with one worker and one torch thread; print when it filled."""
    import torch

    torch.set_num_threads(1)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    result = backfill(table, "embedding", dsn=dsn, batch_size=batch_size, progress=False, index=False)
    end = time.time()
    if result.status != "done":
        raise SystemExit(f"backfill of {table}: {result.status} {result.errors}")
    print(json.dumps({"table": table, "rows": result.rows, "start": start, "end": end, "rows_per_s": round(result.rows_per_s, 1)}))


def markdown(r: dict) -> str:
    o = r["orders"]
    lines = [f"The two orders on {r['rows']:,} real {r['dim']}-d embeddings (h={r['h']}, k={r['k']}, batch {r['batch_size']}), "
             "both attached through `op.add_compressed_column`:", "",
             "| order | index built | fill rows/s | index build s | attach → valid index s | index MiB |", "|---|---|---:|---:|---:|---:|"]
    for key, label in (("index_first", "index first (`index=True`)"), ("fast", "fast flow (the default)")):
        s = o[key]
        where = "at attach" if s["attach_index"] == "built" else "by the backfill, CONCURRENTLY"
        lines.append(f"| {label} | {where} | {s['fill_rows_per_s']:,.0f} | {s['index_build_s']:.1f} | {s['total_s']:.1f} | "
                     f"{s['index_bytes'] / 2**20:.1f} |")
    lines += ["", f"Fill {r['fill_speedup_fast_vs_index_first']}× faster, attach to a valid index "
                  f"{r['total_speedup_fast_vs_index_first']}× sooner.", "",
              f"Encoder processes ({r['cpus']} CPUs shared with the server; one torch thread each):", "",
              "| processes | rows | seconds | rows/s together | rows/s per process |", "|---:|---:|---:|---:|---|"]
    for n, s in r["processes"].items():
        lines.append(f"| {n} | {s['rows']:,} | {s['seconds']:.1f} | {s['rows_per_s']:,.0f} | "
                     + ", ".join(f"{v:,.0f}" for v in s["per_process_rows_per_s"]) + " |")
    lines += ["", f"2 processes: {r['speedup_2_processes']}× one."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
