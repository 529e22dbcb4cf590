"""Sync by queue: what it costs the application's writes, how fast workers drain it, and the lag.

    python benchmarks/sync.py [--rows 20000] [--seconds 5] [--rounds 3] [--data FILE.npy] [--dsn URL]

In one run, against one server:
1. Application write throughput with sync none / queue / queue_keys / trigger, side by side on identical fresh
   tables (code and sketch columns present in all; only the triggers differ), in ``--rounds``
   interleaved rounds (median reported): single-row INSERTs from 2 sessions for ``--seconds``; one
   binary COPY of ``--rows`` rows; one UPDATE of the vector column of ``--rows`` coded rows; single-row
   UPDATEs of the vector column from 2 sessions. ``queue`` is the shipped design (0024): the row triggers clear a
   changed row's code, and the pending index, a partial index of the rows whose code is NULL, finds it for a worker.
   ``queue_keys`` is the queue before that index is built (a table upgraded from 0023, a partitioned one): statement
   triggers append every changed key to ``compressae.sync_queue``. The SQL trigger encodes every row (about 70
   rows/s), so its bulk workloads use ``--trigger-rows`` rows.
2. Draining ``--rows`` rows, 1 process: the sync worker's rows/s (``queue`` and ``queue_keys``) against the backfill's,
   while one application session UPDATEs random rows of the table, ``--rate`` a second: its UPDATE latency (a worker
   locks the rows it encodes for its batch, so an UPDATE of such a row waits for that batch).
3. Lag while an application INSERTs a steady ``--rate`` rows/s (4 sessions, paced) for
   ``--lag-seconds``, one ``compressae-pg sync --follow`` process draining: per row, from its commit
   to its code being seen (polled every 10 ms).
The model is an untrained CompresSAE of the production shape (384 → h=4096, k=32), with the default
encoding unless ``--encoding paper``.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import psycopg
from backfill import load_source
from psycopg import sql

from _common import bench_model, connect, database, load, model_options, parser, publish
from compressae_pg import _migrate, backfill, registry, sync
from compressae_pg.columns import attachments, pending

MODES = ("none", "queue", "queue_keys", "trigger")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--trigger-rows", type=int, default=300)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--lag-seconds", type=float, default=60.0)
    model_options(p)
    args = p.parse_args()
    x = load(args.data, args.rows + 10_000)
    with database(args.dsn) as dsn:
        result = run(dsn, x, args)
    publish("sync", args, result, markdown)


def run(dsn: str, x: np.ndarray, args) -> dict:
    n = args.rows
    _migrate.upgrade(dsn)
    model = bench_model(x.shape[1], args.h, args.k, args.encoding)
    with connect(dsn, autocommit=True) as conn:
        ref = registry.save(conn, "bench", model).ref
        load_source(conn, x[:n])
        conn.execute("CREATE TABLE bench_new AS SELECT id, embedding FROM bench_src")
        conn.execute("UPDATE bench_new SET embedding = s.embedding FROM bench_src s WHERE s.id = bench_new.id %% %s + 1", (n,))
        conn.execute("CREATE TABLE tpl AS SELECT * FROM bench_src")
        conn.execute("ALTER TABLE tpl ADD PRIMARY KEY (id)")
        attachments.attach("tpl", "embedding", ref, conn=conn)
    template = backfill("tpl", "embedding", dsn=dsn, progress=False, index=False)
    writes: dict[str, dict[str, list[float]]] = {m: {} for m in MODES}
    for r in range(args.rounds):
        for mode in (MODES if r % 2 == 0 else MODES[::-1]):
            for name, rate in write_workloads(dsn, ref, mode, x, args).items():
                writes[mode].setdefault(name, []).append(rate)
    medians = {m: {w: round(statistics.median(v), 1) for w, v in ws.items()} for m, ws in writes.items()}
    ratios = {m: {w: round(medians[m][w] / medians["none"][w], 4) for w in medians["none"]} for m in MODES if m != "none"}
    return {
        "rows": n, "dim": x.shape[1], "h": args.h, "k": args.k, "encoding": args.encoding, "rounds": args.rounds, "seconds": args.seconds,
        "trigger_rows": args.trigger_rows, "template_backfill_rows_per_s": round(template.rows_per_s, 1),
        "writes_rows_per_s": medians, "writes_all_rounds": writes, "ratio_vs_none": ratios,
        "drain": drain(dsn, ref, x, args),
        "lag": lag(dsn, ref, x, args),
    }


def fresh_table(conn: psycopg.Connection, name: str, ref: str, mode: str, rows: int) -> None:
    """``name`` with ``rows`` coded rows (codes copied from the backfilled template) and ``mode``'s triggers."""
    ident = sql.Identifier(name)
    if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None:
        for a in attachments.list_attachments(conn, name):
            attachments.detach(name, a.code_column, conn=conn)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
    conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, embedding vector(384))").format(ident))
    conn.execute(sql.SQL("INSERT INTO {} SELECT id, embedding FROM bench_src WHERE id <= %s").format(ident), (rows,))
    att = attachments.attach(name, "embedding", ref, conn=conn)
    conn.execute(sql.SQL("UPDATE {} t SET embedding_sae = p.embedding_sae, embedding_sae_sketch = p.embedding_sae_sketch "
                         "FROM tpl p WHERE p.id = t.id").format(ident))
    conn.execute(sql.SQL("VACUUM ANALYZE {}").format(ident))
    if mode != "none":  # the same table, then the mode's triggers, as attach would make them
        conn.execute("UPDATE compressae.attachments SET sync = %s WHERE id = %s", (mode.removesuffix("_keys"), att.id))
        conn.execute("SELECT compressae.create_sync_trigger(%s)", (att.id,))
    if mode == "queue":  # the pending index, then the row triggers alone
        note = pending.build(conn, attachments.get(conn, name, "embedding"))
        assert note is None, note


def write_workloads(dsn: str, ref: str, mode: str, x: np.ndarray, args) -> dict[str, float]:
    """rows/s of each application workload on fresh tables of ``mode``."""
    n = args.trigger_rows if mode == "trigger" else args.rows
    out = {}
    with connect(dsn, autocommit=True) as conn:
        fresh_table(conn, "w", ref, mode, 0)
        out["insert_2_sessions"] = sessions(dsn, "INSERT INTO w (id, embedding) VALUES (%s, %s)", x, args.seconds, insert=True)
        fresh_table(conn, "w", ref, mode, 0)
        started = time.perf_counter()
        with conn.cursor().copy("COPY w (id, embedding) FROM STDIN (FORMAT binary)") as copy:
            copy.write(copy_stream(x[:n]))
        out["copy"] = n / (time.perf_counter() - started)
        fresh_table(conn, "w", ref, mode, n)
        started = time.perf_counter()
        conn.execute("UPDATE w SET embedding = s.embedding FROM bench_new s WHERE s.id = w.id")
        out["update_bulk"] = n / (time.perf_counter() - started)
        fresh_table(conn, "w", ref, mode, args.rows)
        out["update_2_sessions"] = sessions(dsn, "UPDATE w SET embedding = %s WHERE id = %s", x, args.seconds, insert=False,
                                            keys=args.rows)
    return out


def sessions(dsn: str, statement: str, x: np.ndarray, seconds: float, *, insert: bool, keys: int = 0) -> float:
    """Statements/s of 2 autocommit sessions running ``statement`` back to back for ``seconds``."""
    counts = [0, 0]
    stop = threading.Event()

    def session(i: int) -> None:
        rng = np.random.default_rng(i)
        with connect(dsn, autocommit=True) as c:
            key = i
            while not stop.is_set():
                v = x[int(rng.integers(len(x)))]
                c.execute(statement, (key + 1, v) if insert else (v, int(rng.integers(1, keys + 1))))
                key += 2
                counts[i] += 1

    threads = [threading.Thread(target=session, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def copy_stream(x: np.ndarray) -> bytes:
    rec = np.zeros(len(x), dtype=[("nf", ">i2"), ("l1", ">i4"), ("id", ">i8"), ("l2", ">i4"), ("dim", ">i2"),
                                  ("unused", ">i2"), ("v", ">f4", (x.shape[1],))])
    rec["nf"], rec["l1"], rec["l2"], rec["dim"] = 2, 8, 4 + 4 * x.shape[1], x.shape[1]
    rec["id"], rec["v"] = np.arange(1, len(x) + 1), x
    return b"PGCOPY\n\xff\r\n\x00" + bytes(8) + rec.tobytes() + b"\xff\xff"


def drain(dsn: str, ref: str, x: np.ndarray, args) -> dict:
    """The queue's worker (both designs) against the backfill, 1 process each, on the same rows (twice, in turn; the
    best of each), with one application session UPDATEing random rows meanwhile (its latencies, all runs pooled)."""
    kinds = ("backfill", "queue", "queue_keys")
    runs: dict[str, list[float]] = {k: [] for k in kinds}
    waits: dict[str, list[float]] = {k: [] for k in kinds}
    with connect(dsn, autocommit=True) as conn:
        for r in range(2):
            for kind in (kinds if r == 0 else kinds[::-1]):
                fresh_table(conn, "d", ref, "none" if kind == "backfill" else kind, 0)
                conn.execute("INSERT INTO d SELECT id, embedding FROM bench_src")
                conn.execute("VACUUM ANALYZE d")
                stop = threading.Event()
                app = threading.Thread(target=updates, args=(dsn, x, args.rows, args.rate, stop, waits[kind]))
                app.start()
                try:
                    if kind == "backfill":
                        runs[kind].append(backfill("d", "embedding", dsn=dsn, progress=False, index=False).rows_per_s)
                    else:
                        result = sync("d", "embedding", dsn=dsn, progress=False)
                        assert result.rows >= args.rows and not result.notes, result
                        runs[kind].append(result.rows_per_s)
                finally:
                    stop.set()
                    app.join()
    best = {k: round(max(v), 1) for k, v in runs.items()}
    ms = {k: sorted(v) for k, v in waits.items()}
    latency = {k: {"updates": len(v), "p50_ms": round(1000 * v[len(v) // 2], 2), "p99_ms": round(1000 * v[int(0.99 * (len(v) - 1))], 2),
                   "max_ms": round(1000 * v[-1], 2)} for k, v in ms.items() if v}
    return {"rows": args.rows, "rows_per_s": best, "all_runs": runs, "ratio": round(best["queue"] / best["backfill"], 3),
            "ratio_keys": round(best["queue_keys"] / best["backfill"], 3), "app_update_latency": latency}


def updates(dsn: str, x: np.ndarray, rows: int, rate: float, stop: threading.Event, out: list[float]) -> None:
    """Single-row UPDATEs of random rows of ``d``, ``rate`` a second (a worker draining while an application writes back
    to back would never be done), until ``stop``: each one's seconds into ``out``."""
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    with connect(dsn, autocommit=True) as c:
        for i in range(10**9):
            if stop.wait(max(0.0, started + i / rate - time.perf_counter())):
                return
            v, key = x[int(rng.integers(len(x)))], int(rng.integers(1, rows + 1))
            at = time.perf_counter()
            c.execute("UPDATE d SET embedding = %s WHERE id = %s", (v, key))
            out.append(time.perf_counter() - at)


def lag(dsn: str, ref: str, x: np.ndarray, args) -> dict:
    """Commit-to-code lag of a steady stream of single-row INSERTs, one `sync --follow` process draining."""
    with connect(dsn, autocommit=True) as conn:
        fresh_table(conn, "l", ref, "queue", 0)
    worker = subprocess.Popen([sys.executable, "-m", "compressae_pg.cli", "sync", "--table", "l", "--column", "embedding",
                               "--follow", "--json", "--dsn", dsn], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    stop = threading.Event()

    def watcher() -> None:
        with connect(dsn, autocommit=True) as c:
            while not stop.is_set() or len(seen) < len(committed):
                pending = [k for k in list(committed) if k not in seen]
                if pending:
                    now = time.perf_counter()
                    for (k,) in c.execute("SELECT id FROM l WHERE id = ANY(%s) AND embedding_sae IS NOT NULL", (pending,)):
                        seen[k] = now
                time.sleep(0.01)
                if stop.is_set() and time.perf_counter() - stopped[0] > 30:
                    return

    stopped = [0.0]
    try:
        time.sleep(8.0)  # the worker's start (torch, the model)
        watch = threading.Thread(target=watcher)
        watch.start()
        total, apps = int(args.rate * args.lag_seconds), 4  # one session alone cannot commit 200/s here (a flush each)
        started = time.perf_counter()

        def app(j: int) -> None:
            with connect(dsn, autocommit=True) as c:
                for i in range(j, total, apps):
                    time.sleep(max(0.0, started + i / args.rate - time.perf_counter()))
                    c.execute("INSERT INTO l (id, embedding) VALUES (%s, %s)", (i + 1, x[i % len(x)]))
                    committed[i + 1] = time.perf_counter()

        writers = [threading.Thread(target=app, args=(j,)) for j in range(apps)]
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        achieved = len(committed) / (time.perf_counter() - started)
        stop.set()
        stopped[0] = time.perf_counter()
        watch.join()
    finally:
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
    lags = sorted(seen[k] - committed[k] for k in seen)
    return {
        "rate_rows_per_s": args.rate, "achieved_rows_per_s": round(achieved, 1), "seconds": args.lag_seconds,
        "rows": len(committed), "rows_coded": len(seen),
        "p50_s": round(lags[len(lags) // 2], 3), "p99_s": round(lags[int(0.99 * (len(lags) - 1))], 3), "max_s": round(lags[-1], 3),
        "worker": json.loads(out) if out.strip() else None,
    }


def markdown(r: dict) -> str:
    w, q = r["writes_rows_per_s"], r["ratio_vs_none"]
    names = {"insert_2_sessions": "single-row INSERT, 2 sessions", "copy": "bulk COPY",
             "update_bulk": "UPDATE of the vector column, one statement", "update_2_sessions": "single-row UPDATE of the vector column, 2 sessions"}
    others = [m for m in w if m != "none"]
    lines = [f"Application writes, rows/s (median of {r['rounds']} interleaved rounds; {r['rows']:,} rows per bulk statement, "
             f"{r['trigger_rows']} with the SQL trigger):", "",
             "| workload | " + " | ".join(w) + " | " + " | ".join(f"{m} / none" for m in others) + " |",
             "|---|" + "---:|" * (len(w) + len(others))]
    for key, label in names.items():
        lines.append(f"| {label} | " + " | ".join(f"{w[m][key]:,.1f}" for m in w) + " | "
                     + " | ".join(f"{q[m][key]:.3f}" for m in others) + " |")
    d, lg = r["drain"], r["lag"]
    lat = d["app_update_latency"]
    lines += ["", f"Draining {d['rows']:,} rows, 1 process: sync worker {d['rows_per_s']['queue']:,.0f} rows/s "
                  f"({d['rows_per_s']['queue_keys']:,.0f} by queued keys), backfill {d['rows_per_s']['backfill']:,.0f} rows/s: "
                  f"{d['ratio']:.2f}× ({d['ratio_keys']:.2f}×).", "",
              "An application's single-row UPDATE of a random row meanwhile, ms: " + "; ".join(
                  f"{k} p50 {v['p50_ms']}, p99 {v['p99_ms']}, max {v['max_ms']} ({v['updates']} updates)" for k, v in lat.items()) + ".", "",
              f"Lag at {lg['achieved_rows_per_s']:.0f} rows/s of single-row INSERTs for {lg['seconds']:.0f} s, one `sync --follow`: "
              f"p50 {lg['p50_s']} s, p99 {lg['p99_s']} s, max {lg['max_s']} s ({lg['rows_coded']}/{lg['rows']} rows coded)."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
