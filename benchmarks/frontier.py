"""The frontier: bytes per row against recall@10 over k and h, beside PCA truncation at the same bytes.

    python benchmarks/frontier.py --steps 400                      # k in 16,32,64 x h in 2048,4096,8192
    python benchmarks/frontier.py --steps 400 --k 32 --h 4096      # one point
    python benchmarks/frontier.py --plot results/frontier.png      # plot and table of every row so far

Each point trains the default recipe on the same 99,500 vectors as model_quality.py and scores it on
the same 500 held-out queries (full scan: no index, so the numbers are what the codes can do). Points
already in results/frontier.jsonl for the same steps are skipped, so an interrupted sweep resumes.
PCA keeps the m leading components in float32 at the bytes of the codes (a ``vector(m)`` of
8 + 4m bytes); its recall is a full scan by cosine in the reduced space.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
from model_quality import QUERIES, RESULTS, append, command_line, train_and_score

from _common import ROOT, exact_topk, load, parser
from compressae_pg.evaluation.metrics import recall_at_k, topk_rows
from compressae_pg.training.loop import TrainConfig

FRONTIER = ROOT / "results" / "frontier.jsonl"


def pca_recall(items: np.ndarray, queries: np.ndarray, truth: np.ndarray, bytes_per_row: int) -> tuple[int, float]:
    """Dimensions m that fit ``bytes_per_row`` as a vector(m), and recall@10 of cosine in that space."""
    m = (bytes_per_row - 8) // 4
    mean = items.mean(axis=0)
    _, _, vt = np.linalg.svd(items[:20000] - mean, full_matrices=False)
    basis = vt[:m].T
    reduce = lambda x: (x - mean) @ basis  # noqa: E731
    x, q = reduce(items), reduce(queries)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return m, recall_at_k(topk_rows(q, x, 10), truth)


def rows() -> list[dict]:
    return [json.loads(line) for line in FRONTIER.read_text().splitlines() if line.strip()] if FRONTIER.exists() else []


def sweep(args) -> None:
    data = load(args.data)
    items, queries = data[:-QUERIES], data[-QUERIES:]
    truth = exact_topk(queries, items, 10)
    done = {(r["config"]["k"], r["config"]["h"]) for r in rows() if r["config"]["steps"] == args.steps}
    for h in args.h:
        for k in args.k:
            if (k, h) in done:
                continue
            cfg = replace(TrainConfig(), h=h, k=k, steps=args.steps, batch_size=4096, device="cpu")  # every point so far: batch 4096
            _, measured = train_and_score(cfg, items, queries, truth, progress=not args.quiet)
            m, pca = pca_recall(items, queries, truth, measured["bytes_per_row"])
            row = {"name": f"k={k} h={h}", "command": command_line("frontier.py"), **measured, "pca": {"dims": m, "recall": round(pca, 4)}}
            append(FRONTIER, row)
            if (k, h) == (TrainConfig.k, TrainConfig.h):  # the defaults' point is also a model-quality row
                append(RESULTS, {**row, "name": "default"})
            print(json.dumps({"k": k, "h": h, "bytes": row["bytes_per_row"], "asym": row["pursuit"]["recall_asym"], "pca": row["pca"]}), flush=True)


def table(points: list[dict]) -> str:
    lines = ["| k | h | bytes/row | train s (threads) | dead | cosine | sparse recall@10 | asym recall@10 | asym, stored codes "
             "| PCA at same bytes (dims: recall) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(points, key=lambda r: (r["config"]["k"], r["config"]["h"])):
        p = r["pursuit"]
        stored = f"{r['stored']['recall_asym']:.3f}" if "stored" in r else ""  # rows from before 0008 scored one stage only
        lines.append(f"| {r['config']['k']} | {r['config']['h']} | {r['bytes_per_row']} | {r['train_seconds']:.0f} ({r.get('threads', 1)}) | "
                     f"{r['dead_atoms']:.1%} | {p['cosine']:.3f} | {p['recall_sparse']:.3f} | {p['recall_asym']:.3f} | "
                     f"{stored} | {r['pca']['dims']}: {r['pca']['recall']:.3f} |")
    return "\n".join(lines)


def plot(points: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for h, marker in ((2048, "v"), (4096, "o"), (8192, "^")):
        pts = sorted((r["bytes_per_row"], r["pursuit"]["recall_asym"], r["config"]["k"]) for r in points if r["config"]["h"] == h)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=f"codes h={h} (asymmetric; refit + one stage of k/4)")
    for b, k in sorted({(r["bytes_per_row"], r["config"]["k"]) for r in points}):  # one label per k, above its points
        top = max(r["pursuit"]["recall_asym"] for r in points if r["config"]["k"] == k)
        ax.annotate(f"k={k}", (b, top), textcoords="offset points", xytext=(-10, 8), fontsize=8)
    pca = sorted({(r["bytes_per_row"], r["pca"]["recall"]) for r in points})
    ax.plot([p[0] for p in pca], [p[1] for p in pca], "s--", color="grey", label="PCA, same bytes (float32)")
    ax.axhline(0.97, color="black", lw=0.8, ls=":", label="halfvec HNSW (776 B/row)")
    ax.set_xlabel("bytes per row")
    ax.set_ylabel("recall@10 (full scan, 500 queries)")
    ax.set_title(f"CompresSAE frontier on 99,500 PyPI MiniLM vectors ({points[0]['config']['steps']} steps)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--k", type=lambda s: [int(v) for v in s.split(",")], default=[16, 32, 64])
    p.add_argument("--h", type=lambda s: [int(v) for v in s.split(",")], default=[2048, 4096, 8192])
    p.add_argument("--plot", metavar="PNG", help="plot every row so far (needs matplotlib) and print the table")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    if args.plot:
        plot(rows(), args.plot)
        print(table(rows()))
        return
    sweep(args)


if __name__ == "__main__":
    main()
