"""Peak memory of training at 100k and 400k rows in the table: it must not grow with the table.

    python benchmarks/train_memory.py [--steps 20]

Each run trains (h=4096, k=32, batch 4096) in a fresh process on a table of real embeddings
(400k rows: the 100k set four times, each copy with a little noise), and reports the process's
peak resident memory.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from _common import connect, database, load, make_table, parser, save

CHILD = """
import resource, sys
from compressae_pg import train
train(sys.argv[1], "embedding", "mem", dsn=sys.argv[2], steps=int(sys.argv[3]), progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_mib(table: str, dsn: str, steps: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, table, dsn, str(steps)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    x = load(args.data)
    rng = np.random.default_rng(0)
    big = np.concatenate([x] + [x + 0.01 * rng.standard_normal(x.shape).astype(np.float32) for _ in range(3)])
    big /= np.linalg.norm(big, axis=1, keepdims=True)
    result = {"steps": args.steps, "peak_rss_mib": {}}
    with database(args.dsn) as dsn, connect(dsn, autocommit=True) as conn:
        for rows, data in ((len(x), x), (len(big), big)):
            name = f"mem_{rows}"
            make_table(conn, name, data)
            size = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (name,)).fetchone()[0]
            result["peak_rss_mib"][rows] = round(peak_mib(name, dsn, args.steps), 1)
            result.setdefault("table_mib", {})[rows] = round(size / 2**20, 1)
    small, large = result["peak_rss_mib"].values()
    result["ratio_400k_vs_100k"] = round(large / small, 3)
    path = save("train_memory", result)
    print("| rows in table | table size | peak RSS of training |\n|---|---|---|")
    for rows, mib in result["peak_rss_mib"].items():
        print(f"| {rows:,} | {result['table_mib'][rows]:,} MiB | {mib:,} MiB |")
    print(f"\npeak 400k / 100k = {result['ratio_400k_vs_100k']}; {path}")


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
