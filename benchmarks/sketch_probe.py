"""Which sketch should the candidate graph be built over? Exact Hamming top-N, by brute force, then the
asymmetric rerank: sign bits of each row's original vector against sign bits of its reconstruction,
and the bits' cosine fused into the score at a few weights. No index: the best any HNSW over that
sketch can do.

    cd benchmarks
    OMP_NUM_THREADS=1 python sketch_probe.py --model-file out/default.safetensors

The last 500 rows of the data are the queries, the others the items; truth = exact cosine top 10.
Writes benchmarks/results/sketch_probe.json and prints a markdown table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from _common import load, parser, publish
from compressae_pg.model import CompresSAE

CANDIDATES = (100, 200, 400)
WEIGHTS = (0.0, 0.1, 0.2, 0.3)


def recall(order: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(o[:10].tolist()) & set(t.tolist())) / 10 for o, t in zip(order, truth)]))


def run(args) -> dict:
    model = CompresSAE.from_bytes(args.model_file.read_bytes()).eval()
    x = load(args.data)
    items, queries = x[: -args.queries], x[-args.queries :]
    codes = [model.compress(items[i : i + 4096]) for i in range(0, len(items), 4096)]
    idx = np.concatenate([c.indices for c in codes])
    val = np.concatenate([c.values for c in codes])
    decoder = model.decoder.detach().numpy()
    rec = np.concatenate([np.einsum("nk,nkd->nd", val[i : i + 8192], decoder[idx[i : i + 8192]]) for i in range(0, len(items), 8192)])
    truth = np.argsort(-(queries @ items.T), axis=1)[:, :10]
    proj = queries @ decoder.T
    asym = np.stack([(p[idx] * val).sum(axis=1) for p in proj])
    rows = [{"sketch": "none (full scan)", "candidates": None, "weight": None, "recall@10": round(recall(np.argsort(-asym, 1), truth), 4)}]
    qbits = queries > 0
    for name, bits in (("sign bits of the original", items > 0), ("sign bits of the reconstruction", rec > 0)):
        agree = qbits.astype(np.float32) @ bits.T.astype(np.float32) + (~qbits).astype(np.float32) @ (~bits).T.astype(np.float32)
        bitcos = 2 * agree / x.shape[1] - 1
        order = np.argsort(-bitcos, 1)
        rows.append({"sketch": name, "candidates": None, "weight": None, "recall@10": round(recall(order, truth), 4)})
        for n in CANDIDATES:
            cand = order[:, :n]
            for w in WEIGHTS:
                score = np.take_along_axis(asym, cand, 1) + w * np.take_along_axis(bitcos, cand, 1)
                ranked = np.take_along_axis(cand, np.argsort(-score, 1), 1)
                rows.append({"sketch": name, "candidates": n, "weight": w, "recall@10": round(recall(ranked, truth), 4)})
    return {"model_file": str(args.model_file), "items": len(items), "queries": len(queries), "rows": rows}


def markdown(r: dict) -> str:
    lines = [f"{r['items']:,} items, {r['queries']} queries, model {r['model_file']}", "",
             "| sketch | exact Hamming candidates | rerank | recall@10 |", "|---|---:|---|---:|"]
    for row in r["rows"]:
        if row["candidates"] is None:
            how = "the asymmetric score, over every item" if row["sketch"].startswith("none") else "none: the bits' own order"
            lines.append(f"| {row['sketch']} | — | {how} | {row['recall@10']:.3f} |")
        else:
            how = "asymmetric" + (f" + {row['weight']} × bits' cosine" if row["weight"] else "")
            lines.append(f"| {row['sketch']} | {row['candidates']} | {how} | {row['recall@10']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--model-file", type=Path, required=True, help="weights as CompresSAE.to_bytes writes them")
    p.add_argument("--queries", type=int, default=500)
    args = p.parse_args()
    publish("sketch_probe", args, run(args), markdown)


if __name__ == "__main__":
    main()
