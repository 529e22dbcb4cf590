"""Rows written after training: how codes of rows the model never saw compare with its training rows'.

    OMP_NUM_THREADS=2 python benchmarks/held_out.py --rows 5000
    OMP_NUM_THREADS=2 python benchmarks/held_out.py --rows 15000 --data ../shared/data/pypi-mpnet-20k.f16.npy
    python benchmarks/held_out.py --table

The data is shuffled once (seed 0) and dealt into: 500 queries; 2,000 "new" rows, written after
training; the trainer's 2,048 validation rows (what ``TrainConfig.patience`` checks); and ``--rows``
training rows. The default recipe trains in memory with the checks on and early stopping off, so one
run is the whole trajectory: every ``--check-every`` steps the row records, for 2,000 training rows
("old") and the 2,000 new rows, the mean reconstruction cosine of the stored codes and of the
encoder's bare TopK, and the full-scan recall@10 (asymmetric: query against decoded rows) of the 500
queries among each set alone. The learning rate is constant and the batches are seeded, so the model a
run stopped early would keep is this trajectory's best check: the table shows both. Rows are appended
to results/held_out.jsonl.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from model_quality import append, batches, codes, command_line, quality

from _common import ROOT, exact_topk, load, machine, parser
from compressae_pg.model import CompresSAE
from compressae_pg.training.loop import _MIN_GAIN, TrainConfig, fit, new_model, validate

RESULTS = ROOT / "results" / "held_out.jsonl"
QUERIES, NEW, VALIDATION, OLD = 500, 2000, 2048, 2000


@torch.no_grad()
def measure(model: CompresSAE, rows: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    """Stored codes' and bare TopK's cosine on ``rows``, and asymmetric recall@10 of ``queries`` among them."""
    scanned = quality(model, rows, queries, truth, codes(model, rows), codes(model, queries))
    x = torch.from_numpy(rows)
    bare = model.decode_sparse(*model.topk(x))
    return {
        "cosine": round(scanned["cosine"], 4),
        "cosine_topk": round(F.cosine_similarity(x, bare, dim=1).mean().item(), 4),
        "recall": round(scanned["recall_asym"], 4),
    }


def run(args) -> dict:
    data = load(args.data)
    order = np.random.default_rng(0).permutation(len(data))
    need = QUERIES + NEW + VALIDATION + args.rows
    if need > len(data):
        raise SystemExit(f"--rows {args.rows} needs {need} rows; the data has {len(data)}")
    cut = np.cumsum([QUERIES, NEW, VALIDATION])
    queries, new, val = data[order[: cut[0]]], data[order[cut[0] : cut[1]]], data[order[cut[1] : cut[2]]]
    train = data[order[cut[2] : need]]
    old = train[:OLD]
    truth = {"old": exact_topk(queries, old, 10), "new": exact_topk(queries, new, 10)}
    cfg = replace(TrainConfig(), device="cpu", patience=None, seed=args.seed, check_every=args.check_every, **({"steps": args.steps} if args.steps else {}))
    trajectory = []

    def check(model: CompresSAE) -> float:
        score = validate(model, val, torch.device("cpu"))["val_cosine"]
        trajectory.append({"val_cosine": round(score, 4), "old": measure(model, old, queries, truth["old"]),
                           "new": measure(model, new, queries, truth["new"])})
        return score

    torch.manual_seed(cfg.seed)
    model = new_model(data.shape[1], cfg)
    fitted = fit(batches(train, cfg.batch_size, cfg.seed), model, cfg, progress=not args.quiet, check=check)
    for (step, _), point in zip(fitted["checks"], trajectory):
        point["step"] = step
    row = {"data": args.data.name, "dim": data.shape[1], "rows": args.rows, "seed": args.seed,
           "passes_per_1000_steps": round(1000 * cfg.batch_size / args.rows, 1), "trajectory": trajectory,
           "command": command_line("held_out.py"), "machine": machine()}
    append(RESULTS, row)
    return row


def stopped(row: dict, patience: int) -> dict:
    """The check a run with ``patience`` would keep: the best before ``patience`` checks without a gain.

    Its checks are the trajectory's points every ``TrainConfig().check_every`` steps, as the trainer's."""
    every = TrainConfig().check_every
    checks = [p for p in row["trajectory"] if p["step"] % every == 0]
    best, since = checks[0], 0
    for point in checks[1:]:
        if point["val_cosine"] > best["val_cosine"] + _MIN_GAIN:
            best, since = point, 0
        else:
            since += 1
            if since >= patience:
                break
    return best


def table(patience: int) -> str:
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    lines = ["| data | d | training rows | recipe | steps | passes | cosine old / new (gap) | TopK cosine old / new (gap) | recall old / new |",
             "|---|---:|---:|---|---:|---:|---|---|---|"]
    for r in rows:
        for recipe, p in (("default, all steps", r["trajectory"][-1]), (f"stopped (patience {patience})", stopped(r, patience))):
            o, n = p["old"], p["new"]
            passes = p["step"] * TrainConfig().batch_size / r["rows"]
            lines.append(f"| {r['data']} | {r['dim']} | {r['rows']:,} | {recipe} | {p['step']} | {passes:.0f} | "
                         f"{o['cosine']:.3f} / {n['cosine']:.3f} ({o['cosine'] - n['cosine']:+.3f}) | "
                         f"{o['cosine_topk']:.3f} / {n['cosine_topk']:.3f} ({o['cosine_topk'] - n['cosine_topk']:+.3f}) | "
                         f"{o['recall']:.3f} / {n['recall']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=5000, help="training rows")
    p.add_argument("--steps", type=int, help="steps (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check-every", type=int, default=25, help="steps between the trajectory's points")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--table", action="store_true", help="print the table of all runs so far and exit")
    p.add_argument("--patience", type=int, default=3, help="for --table: the stopping rule shown")
    args = p.parse_args()
    if args.table:
        print(table(args.patience))
        return
    row = run(args)
    print(json.dumps({k: v for k, v in row.items() if k != "trajectory"} | {"last": row["trajectory"][-1]}, indent=1))


if __name__ == "__main__":
    main()
