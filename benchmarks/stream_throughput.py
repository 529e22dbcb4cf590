"""Streaming throughput of the training reader against a raw binary COPY of the same column.

    python benchmarks/stream_throughput.py [--rows 100000] [--rounds 3]

Both read every row of a 384-d ``vector`` column of real embeddings; the raw COPY only receives
the bytes, the reader also decodes them to float32 and checks every row. Rounds alternate so
both see the same machine; the ratio is of medians.
"""

from __future__ import annotations

import statistics
import time

from psycopg import sql

from _common import connect, database, load, make_table, parser, save
from compressae_pg.training.stream import VectorReader


def raw_copy(conn) -> int:
    n = 0
    with conn.cursor().copy(sql.SQL("COPY (SELECT embedding FROM bench_stream) TO STDOUT (FORMAT binary)")) as copy:
        for _ in copy:
            n += 1
    return n - 1  # the trailer message


def reader(conn, **kw) -> int:
    return sum(len(c) for c in VectorReader(conn, "bench_stream", "embedding", **kw).read_pass())


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    x = load(args.data, args.rows)
    with database(args.dsn) as dsn, connect(dsn, autocommit=True) as conn:
        make_table(conn, "bench_stream", x)
        raw_copy(conn)  # warm the cache
        times = {"raw_copy": [], "reader": [], "reader_train_split": []}
        for _ in range(args.rounds):
            for name, fn in (
                ("raw_copy", lambda: raw_copy(conn)),
                ("reader", lambda: reader(conn)),
                ("reader_train_split", lambda: reader(conn, split="train", validation=0.02)),
            ):
                t = time.perf_counter()
                n = fn()
                times[name].append(time.perf_counter() - t)
                assert n >= 0.97 * len(x), (name, n)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "rows": len(x),
        "rows_per_s": {k: round(len(x) / v) for k, v in med.items()},
        "ratio_reader_vs_raw": round(med["raw_copy"] / med["reader"], 3),
        "ratio_train_split_vs_raw": round(med["raw_copy"] / med["reader_train_split"], 3),
        "seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
    }
    path = save("stream_throughput", result)
    print("| path | rows/s |\n|---|---|")
    for k, v in result["rows_per_s"].items():
        print(f"| {k} | {v:,} |")
    print(f"\nreader / raw COPY = {result['ratio_reader_vs_raw']} (train split: {result['ratio_train_split_vs_raw']}); {path}")


if __name__ == "__main__":
    main()
