"""Backfill throughput, worker scaling, and what a backfill costs the application's writes.

    python benchmarks/backfill.py [--rows 100000] [--data FILE.npy] [--dsn URL] [--name backfill]

In one run, on identical fresh copies of one table of real embeddings:
1. the write path alone: a plain full-table ``UPDATE`` that sets every code to one constant
   sparsevec of the same size (k non-zeros of h), in one statement;
2. the pure encode cost: ``CompresSAE.compress`` over the same rows in batches, no database;
3. the backfill with 1 and with 2 workers (rows/s, and as a ratio against 1.), and with 1 worker of the codes
   alone (``residual_bits=0``, as before revision 0010) against the default's residual sketch;
4. the backfill (1 worker) while application sessions write to the table: every application
   statement's latency, before and during the backfill, and the longest lock wait of any
   application session, sampled from pg_stat_activity every few milliseconds.
The model is an untrained CompresSAE of the production shape (384 → h=4096, k=32) with the default
encoding (``--encoding one-stage`` or ``paper`` for the others, see ``_common.ENCODINGS``): encoding
costs the same whatever the weights. Results go to benchmarks/results/<name>.json and print as markdown.
"""

from __future__ import annotations

import statistics
import threading
import time

import numpy as np
import psycopg
from psycopg import sql

from _common import bench_model, connect, database, load, model_options, parser, save
from compressae_pg import _migrate, backfill, registry
from compressae_pg.columns import attachments

APP = "bench-app"


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=1000)
    model_options(p)
    p.add_argument("--app-sessions", type=int, default=2, help="application sessions writing during part 4")
    p.add_argument("--app-pause", type=float, default=0.005, help="seconds between one session's writes")
    p.add_argument("--name", default="backfill", help="results file name")
    args = p.parse_args()
    x = load(args.data, args.rows)
    with database(args.dsn) as dsn:
        result = run(dsn, x, args)
    out = save(args.name, result)
    print(markdown(result))
    print(f"\n(wrote {out})")


def run(dsn: str, x: np.ndarray, args) -> dict:
    n = len(x)
    model = bench_model(x.shape[1], args.h, args.k, args.encoding)
    _migrate.upgrade(dsn)
    with connect(dsn, autocommit=True) as conn:
        info = registry.save(conn, "bench", model)
        load_source(conn, x)
        tables = {name: copy_table(conn, name) for name in ("t_update", "t_w1", "t_codes", "t_w2", "t_load")}
        for name in ("t_w1", "t_w2", "t_load"):
            attachments.attach(name, "embedding", info.ref, conn=conn)
        attachments.attach("t_codes", "embedding", info.ref, residual_bits=0, conn=conn)  # the codes alone, as before 0010
        constant = "{" + ",".join(f"{i + 1}:0.125" for i in range(args.k)) + "}/" + str(args.h)
        conn.execute(sql.SQL("ALTER TABLE t_update ADD COLUMN embedding_sae sparsevec({})").format(sql.Literal(args.h)))
        started = time.perf_counter()
        conn.execute("UPDATE t_update SET embedding_sae = %s::sparsevec", (constant,))
        update_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(0, n, args.batch_size):
        model.compress(x[i : i + args.batch_size])
    encode_s = time.perf_counter() - started
    runs = {w: backfill(f"t_w{w}", "embedding", dsn=dsn, workers=w, batch_size=args.batch_size, progress=False, index=False) for w in (1, 2)}
    codes_only = backfill("t_codes", "embedding", dsn=dsn, workers=1, batch_size=args.batch_size, progress=False, index=False)
    load = under_load(dsn, args)
    w1, w2 = runs[1], runs[2]
    return {
        "rows": n, "dim": x.shape[1], "h": args.h, "k": args.k, "encoding": args.encoding, "batch_size": args.batch_size, "tables": tables,
        "plain_update": {"seconds": round(update_s, 3), "rows_per_s": round(n / update_s, 1)},
        "encode_only": {"seconds": round(encode_s, 3), "rows_per_s": round(n / encode_s, 1)},
        "backfill": {str(w): r.as_dict() for w, r in runs.items()},
        "ratio_vs_plain_update": round(w1.rows_per_s / (n / update_s), 3),
        "speedup_2_workers": round(w2.rows_per_s / w1.rows_per_s, 3),
        "codes_only_backfill": codes_only.as_dict(),
        "residual_over_codes_only": round(w1.rows_per_s / codes_only.rows_per_s, 3),
        "under_load": load,
    }


def under_load(dsn: str, args) -> dict:
    """Application writers on t_load: their latencies alone, then during a 1-worker backfill."""
    with connect(dsn, autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM t_load").fetchone()[0]
        fresh = [v for (v,) in conn.execute("SELECT embedding FROM t_load ORDER BY random() LIMIT 256")]
    phase = {"name": "alone"}
    latencies: dict[str, list[float]] = {"alone": [], "backfill": []}
    stop = threading.Event()
    waits: list[float] = []

    def app(seed: int) -> None:
        rng = np.random.default_rng(seed)
        with connect(dsn, autocommit=True, application_name=APP) as c:
            while not stop.is_set():
                started = time.perf_counter()
                c.execute("UPDATE t_load SET embedding = %s WHERE id = %s", (fresh[rng.integers(len(fresh))], int(rng.integers(1, n + 1))))
                latencies[phase["name"]].append(time.perf_counter() - started)
                stop.wait(args.app_pause)

    def sampler() -> None:
        query = ("SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start)), 0) FROM pg_stat_activity "
                 "WHERE application_name = %s AND wait_event_type = 'Lock'")
        with connect(dsn, autocommit=True) as c:
            while not stop.is_set():
                waits.append(float(c.execute(query, (APP,)).fetchone()[0]))
                time.sleep(0.002)

    threads = [threading.Thread(target=app, args=(i,)) for i in range(args.app_sessions)] + [threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    try:
        time.sleep(5.0)
        phase["name"] = "backfill"
        result = backfill("t_load", "embedding", dsn=dsn, workers=1, batch_size=args.batch_size, progress=False, index=False)
    finally:
        stop.set()
        for t in threads:
            t.join()
    return {
        "app_sessions": args.app_sessions,
        "app_pause_s": args.app_pause,
        "backfill": result.as_dict(),
        "max_lock_wait_ms": round(1000 * max(waits, default=0.0), 1),
        "lock_wait_samples": len(waits),
        **{f"app_{k}": summary(v) for k, v in latencies.items()},
    }


def summary(seconds: list[float]) -> dict:
    if not seconds:
        return {"statements": 0}
    ms = sorted(1000 * s for s in seconds)
    return {"statements": len(ms), "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2), "max_ms": round(ms[-1], 2)}


def load_source(conn: psycopg.Connection, x: np.ndarray) -> None:
    """``bench_src (id, embedding)`` from ``x`` with one binary COPY built in numpy."""
    conn.execute("DROP TABLE IF EXISTS bench_src")
    conn.execute(sql.SQL("CREATE TABLE bench_src (id bigint, embedding vector({}))").format(sql.Literal(x.shape[1])))
    rec = np.zeros(len(x), dtype=[("nf", ">i2"), ("l1", ">i4"), ("id", ">i8"), ("l2", ">i4"), ("dim", ">i2"),
                                  ("unused", ">i2"), ("v", ">f4", (x.shape[1],))])
    rec["nf"], rec["l1"], rec["l2"], rec["dim"] = 2, 8, 4 + 4 * x.shape[1], x.shape[1]
    rec["id"], rec["v"] = np.arange(1, len(x) + 1), x
    with conn.cursor().copy("COPY bench_src (id, embedding) FROM STDIN (FORMAT binary)") as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rec.tobytes() + b"\xff\xff")


def copy_table(conn: psycopg.Connection, name: str) -> dict:
    """A fresh, vacuumed copy of bench_src with a primary key; its size."""
    ident = sql.Identifier(name)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
    conn.execute(sql.SQL("CREATE TABLE {} AS SELECT * FROM bench_src").format(ident))
    conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(ident))
    conn.execute(sql.SQL("VACUUM ANALYZE {}").format(ident))
    return {"bytes": conn.execute("SELECT pg_table_size(%s::regclass)", (name,)).fetchone()[0]}


def markdown(r: dict) -> str:
    b1, b2, load = r["backfill"]["1"], r["backfill"]["2"], r["under_load"]
    rows = [
        ("plain full-table UPDATE to a constant sparsevec (write path alone)", f"{r['plain_update']['rows_per_s']:,.0f}", ""),
        ("encode only (torch, no database)", f"{r['encode_only']['rows_per_s']:,.0f}", ""),
        ("backfill, 1 worker", f"{b1['rows_per_s']:,.0f}", f"{r['ratio_vs_plain_update']:.2f}× the plain UPDATE"),
        ("backfill, 2 workers", f"{b2['rows_per_s']:,.0f}", f"{r['speedup_2_workers']:.2f}× 1 worker"),
        ("backfill, 1 worker, the codes alone (residual_bits=0)", f"{r['codes_only_backfill']['rows_per_s']:,.0f}",
         f"the default's residual sketch: {r['residual_over_codes_only']:.2f}× this"),
    ]
    lines = [f"Backfill of {r['rows']:,} real {r['dim']}-d embeddings (h={r['h']}, k={r['k']}, batch {r['batch_size']})", "",
             "| | rows/s | |", "|---|---:|---|", *(f"| {a} | {b} | {c} |" for a, b, c in rows), "",
             f"Under {load['app_sessions']} application sessions writing (UPDATE of a random row every {load['app_pause_s'] * 1000:.0f} ms each):", "",
             "| application UPDATE latency | statements | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|"]
    for phase in ("alone", "backfill"):
        s = load[f"app_{phase}"]
        cells = [s.get("statements", 0), *(s.get(key, "-") for key in ("p50_ms", "p99_ms", "max_ms"))]
        lines.append(f"| {'without' if phase == 'alone' else 'during'} the backfill | " + " | ".join(map(str, cells)) + " |")
    lines += ["", f"Longest lock wait of any application statement during the backfill (sampled every ~2 ms): "
                  f"{load['max_lock_wait_ms']} ms; backfill retries: {load['backfill']['retries']}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
