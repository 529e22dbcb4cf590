"""Encoding speed: ``CompresSAE.compress`` on one core, per encoding, no database.

    OMP_NUM_THREADS=1 python benchmarks/encode.py [--rows 20000] [--batch-size 1000] [--data FILE.npy]

The untrained production shape (384 → h=4096, k=32) with the paper's encoding (TopK values), the
default one (refit + k/2 pursuit atoms in 2 stages) and the default before revision 0008 (refit + one
stage of k/4), on the same real rows, in alternating rounds; the best round of each.
The backfill and the sync worker encode with exactly this call, so it bounds their rows/s per core.
"""

from __future__ import annotations

import time

import torch

from _common import ENCODINGS, bench_model, load, parser, publish


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--h", type=int, default=4096)
    p.add_argument("--k", type=int, default=32)
    args = p.parse_args()
    x = load(args.data, args.rows)
    models = {name: bench_model(x.shape[1], args.h, args.k, name) for name in ENCODINGS}
    best = {name: float("inf") for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            started = time.perf_counter()
            for i in range(0, len(x), args.batch_size):
                model.compress(x[i : i + args.batch_size])
            best[name] = min(best[name], time.perf_counter() - started)
    result = {"rows": len(x), "dim": x.shape[1], "h": args.h, "k": args.k, "batch_size": args.batch_size,
              "threads": torch.get_num_threads(), "rows_per_s": {n: round(len(x) / s, 1) for n, s in best.items()}}
    publish("encode", args, result, markdown)


def markdown(r: dict) -> str:
    lines = [f"`compress`, {r['rows']:,} rows in batches of {r['batch_size']}, {r['threads']} thread(s), "
             f"d={r['dim']}, h={r['h']}, k={r['k']}:", "", "| encoding | rows/s |", "|---|---:|"]
    lines += [f"| {name} | {rate:,.0f} |" for name, rate in r["rows_per_s"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
