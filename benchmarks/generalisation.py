"""Generalisation: a model trained on one half of the topics, scored on the other half.

    python benchmarks/generalisation.py --steps 400

The 100,000 vectors are split by topic: spherical k-means into 8 clusters, the clusters dealt into
two halves A and B of about equal size. Each half holds out 500 queries; a model is trained (default
recipe, in memory) on each half's remaining items. Each model is then scored on both halves, so the
drop is measured against a model of the same budget that saw that half's topics: recall@10 (full
scan, asymmetric and sparse) and reconstruction cosine. Written to results/generalisation.json.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from model_quality import command_line, score, train_and_score

from _common import exact_topk, load, parser, save
from compressae_pg.training.loop import TrainConfig

CLUSTERS = 8
QUERIES = 500


def topic_halves(x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster labels by spherical k-means, and the clusters of each half, dealt largest first."""
    rng = np.random.default_rng(seed)
    centres = x[rng.choice(len(x), CLUSTERS, replace=False)]
    for _ in range(20):
        labels = (x @ centres.T).argmax(axis=1)
        centres = np.stack([x[labels == c].mean(axis=0) for c in range(CLUSTERS)])
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sizes = np.bincount(labels, minlength=CLUSTERS)
    halves: tuple[list[int], list[int]] = ([], [])
    for c in np.argsort(-sizes):
        smaller = min(halves, key=lambda h: sizes[h].sum() if h else 0)
        smaller.append(int(c))
    return labels, np.array(halves[0]), np.array(halves[1])


def examples(texts: list[str], x: np.ndarray, labels: np.ndarray, clusters: np.ndarray, per: int = 2) -> list[str]:
    """The texts nearest each cluster's centre: what the topics are."""
    out = []
    for c in clusters:
        members = np.flatnonzero(labels == c)
        centre = x[members].mean(axis=0)
        out += [texts[i] for i in members[np.argsort(-(x[members] @ centre))[:per]]]
    return out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    x = load(args.data)
    labels, a, b = topic_halves(x, args.seed)
    text_file = Path(args.data).with_suffix("").with_suffix(".txt")
    texts = text_file.read_text().splitlines() if text_file.exists() else None
    rng = np.random.default_rng(args.seed)
    halves = {}
    for name, clusters in (("A", a), ("B", b)):
        rows = rng.permutation(np.flatnonzero(np.isin(labels, clusters)))
        queries, items = x[rows[:QUERIES]], x[rows[QUERIES:]]
        halves[name] = {"clusters": clusters.tolist(), "items": items, "queries": queries, "truth": exact_topk(queries, items, 10),
                        "examples": examples(texts, x, labels, clusters) if texts else []}
    cfg = replace(TrainConfig(), steps=args.steps, seed=args.seed, device="cpu")
    models, trained = {}, {}
    for name, half in halves.items():
        models[name], measured = train_and_score(cfg, half["items"], half["queries"], half["truth"], progress=not args.quiet)
        trained[name] = measured
    result: dict = {"command": command_line("generalisation.py"), "steps": args.steps, "halves": {}}
    for name, half in halves.items():
        other = "B" if name == "A" else "A"
        foreign = score(models[other], half["items"], half["queries"], half["truth"])
        own = trained[name]
        result["halves"][name] = {
            "clusters": half["clusters"], "items": len(half["items"]), "examples": half["examples"],
            "own_model": {e: own[e] for e in ("paper", "refit", "pursuit")} | {"dead_atoms": own["dead_atoms"], "train_seconds": own["train_seconds"]},
            "other_model": {e: foreign[e] for e in ("paper", "refit", "pursuit")} | {"dead_atoms": foreign["dead_atoms"]},
            "drop_asym": round(own["pursuit"]["recall_asym"] - foreign["pursuit"]["recall_asym"], 4),
            "drop_sparse": round(own["pursuit"]["recall_sparse"] - foreign["pursuit"]["recall_sparse"], 4),
            "drop_cosine": round(own["pursuit"]["cosine"] - foreign["pursuit"]["cosine"], 4),
        }
    save("generalisation", result)
    print(json.dumps({n: {k: v for k, v in h.items() if k.startswith("drop") or k.endswith("model")} for n, h in result["halves"].items()}, indent=1))


if __name__ == "__main__":
    main()
