"""Soak: concurrent searches and writes against one code column for a fixed time, on loopback.

    python benchmarks/soak.py [--seconds 180] [--rows 20000] [--searchers 3] [--writers 2] [--dsn URL] [--out FILE]

A table of real embeddings gets a code column with the sync trigger, a backfill and an HNSW index.
Then ``--searchers`` threads search it (``CompressedColumn.search``, reconstructed rerank) and
``--writers`` threads update random rows' vectors (the trigger re-encodes them, the index takes the
new codes) and insert new rows, each on its own connection, until the time is up. Reported: queries
and writes served, errors (the target is 0), p50/p99 latency of each, the resident memory of the
server's processes before and after the load, and a verification of 1,000 codes at the end.
Results go to benchmarks/results/soak.json (or ``--out``).
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from psycopg import sql

from _common import ROOT, connect, database, load, machine, make_table, parser
from compressae_pg import CompresSAE, CompressedColumn, _migrate, backfill, registry, verify
from compressae_pg.columns import attachments

TABLE = "soak_items"
INSERT = sql.SQL("INSERT INTO {} (id, embedding) VALUES (%s, %s)").format(sql.Identifier(TABLE))
UPDATE = sql.SQL("UPDATE {} SET embedding = %s WHERE id = %s").format(sql.Identifier(TABLE))


def server_rss(conn) -> int | None:
    """Resident bytes of the server's processes (postmaster and children), when it runs on this machine.

    A backend that exits between listing the children and reading its memory is left out, not fatal.
    """
    try:
        postmaster = psutil.Process(conn.info.backend_pid).parent()
        processes = [postmaster, *postmaster.children()]
    except (psutil.Error, AttributeError):
        return None
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
        except psutil.Error:
            return None
    return total


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50_ms": None, "p99_ms": None}
    return {"p50_ms": round(1000 * float(np.percentile(samples, 50)), 2), "p99_ms": round(1000 * float(np.percentile(samples, 99)), 2)}


def soak(dsn: str, vectors: np.ndarray, seconds: float, searchers: int, writers: int, rows: int) -> dict:
    """Set the table up, run the load for ``seconds``, and return what it measured."""
    with connect(dsn, autocommit=True) as conn:
        _migrate.ensure(conn)
        make_table(conn, TABLE, vectors[:rows])
        registry.save(conn, "soak", CompresSAE(vectors.shape[1], 4096, 32, seed=0).eval())
        attachments.attach(TABLE, "embedding", "soak", sync="trigger", conn=conn)
    backfill(TABLE, "embedding", dsn=dsn, progress=False)  # and, when done, the index
    stop = threading.Event()
    latencies: dict[str, list[float]] = {"search": [], "write": []}
    errors: list[str] = []
    next_id = iter(range(rows + 1, 10**9))
    id_lock = threading.Lock()

    def searcher(seed: int) -> None:
        rng = random.Random(seed)
        with connect(dsn, autocommit=True) as c:
            column = CompressedColumn(c, TABLE, "embedding")
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    column.search(vectors[rng.randrange(len(vectors))], k=10)
                    latencies["search"].append(time.perf_counter() - started)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors.append(f"search: {exc}")

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        with connect(dsn, autocommit=True) as c:
            while not stop.is_set():
                v = vectors[rng.randrange(len(vectors))]
                started = time.perf_counter()
                try:
                    if rng.random() < 0.2:
                        with id_lock:
                            new = next(next_id)
                        c.execute(INSERT, (new, v))
                    else:
                        c.execute(UPDATE, (v, rng.randrange(1, rows + 1)))
                    latencies["write"].append(time.perf_counter() - started)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors.append(f"write: {exc}")

    with connect(dsn, autocommit=True) as watch:
        rss_start = server_rss(watch)
        threads = [threading.Thread(target=searcher, args=(i,)) for i in range(searchers)]
        threads += [threading.Thread(target=writer, args=(100 + i,)) for i in range(writers)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        stop.wait(seconds)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        rss_end = server_rss(watch)
    checked = verify(TABLE, "embedding", sample=1000, dsn=dsn)
    mib = lambda b: None if b is None else round(b / 2**20, 1)  # noqa: E731
    return {
        "seconds": round(elapsed, 1),
        "rows": rows,
        "searchers": searchers,
        "writers": writers,
        "searches": len(latencies["search"]),
        "writes": len(latencies["write"]),
        "searches_per_s": round(len(latencies["search"]) / elapsed, 1),
        "errors": len(errors),
        "first_errors": errors[:5],
        "search": percentiles(latencies["search"]),
        "write": percentiles(latencies["write"]),
        "server_rss_mib_start": mib(rss_start),
        "server_rss_mib_end": mib(rss_end),
        "verify": {"checked": checked.checked, "mismatches": checked.mismatches, "missing": checked.missing, "ok": checked.ok},
    }


def main() -> None:
    p = parser("Concurrent searches and writes for a fixed time: throughput, errors, latency, server memory.")
    p.add_argument("--seconds", type=float, default=180)
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--searchers", type=int, default=3)
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "results" / "soak.json")
    args = p.parse_args()
    vectors = load(args.data, max(args.rows, 5000))
    with database(args.dsn) as dsn:
        result = soak(dsn, vectors, args.seconds, args.searchers, args.writers, args.rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "command": "python benchmarks/soak.py " + " ".join(
        f"--{k} {v}" for k, v in (("seconds", args.seconds), ("rows", args.rows), ("searchers", args.searchers),
                                   ("writers", args.writers))), **result}, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
