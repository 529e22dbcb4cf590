"""How should a code spend its k atoms at encode time? Multi-stage pursuit and OMP on trained weights.

    cd benchmarks
    OMP_NUM_THREADS=2 python pursuit_probe.py --model-file out/default.safetensors

Each plan ``first,stages,per`` lets the encoder choose ``first`` atoms by |pre-activation|, then adds
``per`` atoms in each of ``stages`` matching-pursuit stages (the atoms most correlated with the
residual of the least-squares fit so far), then refits all k values. ``24,1,8`` is the package's
default encoding (refit + one stage of k/4), computed here by this script, not by the package; ``0,32,1``
is full OMP. No retraining: every plan scores the same weights. Per plan: reconstruction cosine,
full-scan recall@10 by sparse cosine and by asymmetric cosine (last 500 rows as queries, the rest as
items, truth = exact cosine top 10), encode rows/s at this thread count, and the passes over all h
atoms per row that the SQL encoder would make (one for the encoder, one per stage).
Writes benchmarks/results/pursuit_probe.json and prints a markdown table.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from model_quality import quality

from _common import exact_topk, load, parser, publish
from compressae_pg.model import CompresSAE

PLANS = ("24,1,8", "24,8,1", "16,2,8", "16,4,4", "16,16,1", "0,32,1")


@torch.no_grad()
def encode(model: CompresSAE, x: torch.Tensor, first: int, stages: int, per: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-norm code values and atoms of ``x`` under one plan."""
    xn = F.normalize(x, dim=1)
    idx = model.topk(x, first)[1] if first else torch.empty(len(x), 0, dtype=torch.long)
    for _ in range(stages):
        residual = xn - model.decode_sparse(model.least_squares(x, idx), idx) if idx.shape[1] else xn
        corr = (residual @ model.decoder.t()).abs_()
        idx = torch.cat([idx, corr.scatter_(1, idx, -1.0).topk(per, dim=1).indices], dim=1)
    values = model.least_squares(x, idx)
    return values / model.decode_sparse(values, idx).norm(dim=1, keepdim=True), idx


def score(model: CompresSAE, items: np.ndarray, queries: np.ndarray, truth: np.ndarray, plan: str) -> dict:
    first, stages, per = map(int, plan.split(","))
    if first + stages * per != model.k:
        raise SystemExit(f"plan {plan} spends {first + stages * per} atoms, not k={model.k}")
    started = time.perf_counter()
    parts = [encode(model, chunk, first, stages, per) for chunk in torch.from_numpy(items).split(1000)]
    seconds = time.perf_counter() - started
    item_codes = torch.cat([v for v, _ in parts]), torch.cat([i for _, i in parts])
    measured = quality(model, items, queries, truth, item_codes, encode(model, torch.from_numpy(queries), first, stages, per))
    return {
        "plan": plan, "first": first, "stages": stages, "per": per,
        **{key: round(value, 4) for key, value in measured.items()},
        "encode_rows_per_s": round(len(items) / seconds, 1), "sql_passes": 1 + stages if first else stages,
    }


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--model-file", type=Path, required=True, help="weights as CompresSAE.to_bytes writes them")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--plans", nargs="+", default=list(PLANS), help="first,stages,per (default: %(default)s)")
    args = p.parse_args()
    model = CompresSAE.from_bytes(args.model_file.read_bytes()).eval()
    x = load(args.data)
    items, queries = x[: -args.queries], x[-args.queries :]
    truth = exact_topk(queries, items, 10)
    rows = [score(model, items, queries, truth, plan) for plan in args.plans]
    publish("pursuit_probe", args, {"model_file": str(args.model_file), "items": len(items), "queries": len(queries),
                                    "threads": torch.get_num_threads(), "plans": rows}, markdown)


def markdown(r: dict) -> str:
    lines = [f"{r['items']:,} items, {r['queries']} queries, model {r['model_file']}, {r['threads']} threads:", "",
             "| plan (first, stages × per) | asym recall@10 | sparse recall@10 | recon. cosine | encode rows/s | SQL passes over the atoms |",
             "|---|---:|---:|---:|---:|---:|"]
    for p in r["plans"]:
        lines.append(f"| {p['first']} + {p['stages']} × {p['per']} | {p['recall_asym']:.3f} | {p['recall_sparse']:.3f} | "
                     f"{p['cosine']:.3f} | {p['encode_rows_per_s']:,.0f} | {p['sql_passes']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
