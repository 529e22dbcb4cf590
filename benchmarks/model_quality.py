"""Model quality: the paper's recipe against each improvement, on one split, seed and budget.

    python benchmarks/model_quality.py --name paper --paper --steps 400
    python benchmarks/model_quality.py --name default --steps 400
    python benchmarks/model_quality.py --name default-no-aux --steps 400 --set aux_k=0
    python benchmarks/model_quality.py --table          # the markdown table of every row so far
    python benchmarks/model_quality.py --name mpnet --data ../shared/data/pypi-mpnet-20k.f16.npy --peers

Each run trains in memory on the first 99,500 vectors of the data (the 500 after them are the
queries), times the training loop alone, and scores the model against the exact dense top-10 with
each way of computing codes: the paper's TopK values, least-squares values on the same atoms
("refit"), refit with one pursuit stage of k/4 atoms ("pursuit", the default before revision 0008),
and the model's own encoding when it is none of those ("stored": the default's k/2 in 2 stages). Per encoding: mean
reconstruction cosine, recall@10 of a full scan by sparse cosine between codes, and by asymmetric
cosine (full query against decoded items). Dead atoms: never chosen by the encoder over all items.
With ``--peers``, the row also holds the dense columns beside the codes, by the same full scan:
``vector(d)`` (exact: 1.0), ``halfvec(d)`` (items and queries rounded to float16; the data files are
float16 already, so this loses only the rounding after L2-normalisation) and PCA at the codes' bytes.
Rows are appended to results/model_quality.jsonl with the command that made them.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from _common import ROOT, exact_topk, load, machine, parser
from compressae_pg.evaluation.metrics import recall_at_k, topk_rows
from compressae_pg.model import CompresSAE, Encoding
from compressae_pg.training.loop import TrainConfig, fit, new_model

RESULTS = ROOT / "results" / "model_quality.jsonl"
QUERIES = 500


def batches(items: np.ndarray, batch_size: int, seed: int):
    """Endless shuffled epochs over the items, as the trainer's in-memory mode draws them."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(items))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield items[order[start : start + batch_size]]


def top10(scores: np.ndarray) -> np.ndarray:
    return np.argpartition(-scores, 10, axis=1)[:, :10]


@torch.no_grad()
def codes(model: CompresSAE, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [model.select(chunk) for chunk in torch.from_numpy(x).split(8192)]
    return torch.cat([v for v, _ in parts]), torch.cat([i for _, i in parts])


Codes = tuple[torch.Tensor, torch.Tensor]  # (values, indices) of each row


@torch.no_grad()
def quality(model: CompresSAE, items: np.ndarray, queries: np.ndarray, truth: np.ndarray, item_codes: Codes,
            query_codes: Codes) -> dict:
    """Full-scan quality of given codes: mean reconstruction cosine, sparse and asymmetric recall@10 (all scale-free)."""
    (values, indices), (q_values, q_indices) = item_codes, query_codes
    rec = model.decode_sparse(values, indices)
    rows = torch.arange(len(items)).repeat_interleave(indices.shape[1])
    unit = F.normalize(values, dim=1).reshape(-1)
    sparse = torch.sparse_coo_tensor(torch.stack([rows, indices.reshape(-1)]), unit, (len(items), model.h)).to_sparse_csr()
    q_dense = F.normalize(torch.zeros(len(queries), model.h).scatter_(1, q_indices, q_values), dim=1)
    return {
        "cosine": F.cosine_similarity(torch.from_numpy(items), rec, dim=1).mean().item(),
        "recall_sparse": recall_at_k(top10((sparse @ q_dense.t()).t().numpy()), truth),
        "recall_asym": recall_at_k(top10(queries @ F.normalize(rec, dim=1).numpy().T), truth),
    }


def scan(model: CompresSAE, items: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    """:func:`quality` of the model's own codes."""
    return quality(model, items, queries, truth, codes(model, items), codes(model, queries))


@torch.no_grad()
def score(model: CompresSAE, items: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> dict:
    """Quality of the model's codes under each encoding, and its dead atoms."""
    out: dict = {}
    stored = model.encoding
    pursuit = max(1, model.k // 4)
    encodings = [("paper", Encoding()), ("refit", Encoding(refit=True)), ("pursuit", Encoding(refit=True, pursuit=pursuit))]
    if stored not in [e for _n, e in encodings]:  # what the model stores (the default since 0008: k/2 in 2 stages)
        encodings.append(("stored", stored))
    for name, encoding in encodings:
        model.encoding = encoding
        item_codes = codes(model, items)
        if name == "paper":
            used = torch.zeros(model.h, dtype=torch.bool)
            used[item_codes[1].reshape(-1)] = True
            out["dead_atoms"] = round(1 - used.float().mean().item(), 4)
        measured = quality(model, items, queries, truth, item_codes, codes(model, queries))
        out[name] = {key: round(value, 4) for key, value in measured.items()}
    model.encoding = stored  # scoring leaves the model encoding as it was trained to
    return out


def train_and_score(cfg: TrainConfig, items: np.ndarray, queries: np.ndarray, truth: np.ndarray, *,
                    progress: bool = False) -> tuple[CompresSAE, dict]:
    """Train one model in memory on ``items`` with ``cfg`` and score it on ``queries``: the model, and the row's measurements."""
    torch.manual_seed(cfg.seed)
    model = new_model(items.shape[1], cfg)
    start = time.perf_counter()
    fitted = fit(batches(items, cfg.batch_size, cfg.seed), model, cfg, progress=progress)
    seconds = time.perf_counter() - start
    return model, {
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("device", "validation_rows", "buffer_rows")},
        "bytes_per_row": 16 + 8 * cfg.k,
        "train_seconds": round(seconds, 1),
        "steps_per_s": round(cfg.steps / seconds, 3),
        "threads": torch.get_num_threads(),
        "train_dead_atoms": round(fitted["dead_atoms"], 4),
        **score(model, items, queries, truth),
        "machine": machine(),
    }


def peers(items: np.ndarray, queries: np.ndarray, truth: np.ndarray, bytes_per_row: int) -> dict:
    """Full-scan recall@10 of the dense columns beside the codes: vector(d), halfvec(d), PCA at ``bytes_per_row``."""
    from frontier import pca_recall  # frontier imports this module

    half = lambda x: x.astype(np.float16).astype(np.float32)  # noqa: E731
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    d = items.shape[1]
    dims, pca = pca_recall(items, queries, truth, bytes_per_row)
    return {
        f"vector({d})": {"bytes": 8 + 4 * d, "recall": recall_at_k(topk_rows(queries, items, 10), truth)},
        f"halfvec({d})": {"bytes": 8 + 2 * d, "recall": round(recall_at_k(topk_rows(unit(half(queries)), unit(half(items)), 10), truth), 4)},
        f"pca({dims})": {"bytes": 8 + 4 * dims, "recall": round(pca, 4)},
    }


def command_line(script: str) -> str:
    return f"python benchmarks/{script} " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def append(path, row: dict) -> None:
    path.parent.mkdir(exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")


def run(args) -> dict:
    data = load(args.data)
    items, queries = data[:-QUERIES], data[-QUERIES:]
    truth = exact_topk(queries, items, 10)
    settings = dict(kv.split("=", 1) for kv in args.set)
    base = TrainConfig.paper() if args.paper else TrainConfig()
    typed = {k: type(getattr(base, k))(v) if getattr(base, k) is not None else int(v) for k, v in settings.items()}
    cfg = replace(base, steps=args.steps, batch_size=args.batch_size, lr=args.lr or base.lr, seed=args.seed, device="cpu", **typed)
    model, measured = train_and_score(cfg, items, queries, truth, progress=not args.quiet)
    row = {"name": args.name, "command": command_line("model_quality.py"), "data": args.data.name, **measured}
    if args.peers:
        row["peers"] = peers(items, queries, truth, measured["bytes_per_row"])
    append(RESULTS, row)
    if args.save:  # as the registry stores it: benchmarks/retrieval.py --model-file reads it
        Path(args.save).write_bytes(model.to_bytes())
    return row


def table() -> str:
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    head = ("| row | train s | steps/s | dead | cos (paper/refit/pursuit) | sparse recall (paper/refit/pursuit) "
            "| asym recall (paper/refit/pursuit) | command |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    def trio(r: dict, key: str) -> str:
        return " / ".join(f"{r[e][key]:.3f}" for e in ("paper", "refit", "pursuit"))

    for r in rows:
        lines.append(f"| {r['name']} | {r['train_seconds']:.0f} | {r.get('steps_per_s', float('nan')):.2f} | {r['dead_atoms']:.1%} | {trio(r, 'cosine')} | "
                     f"{trio(r, 'recall_sparse')} | {trio(r, 'recall_asym')} | `{r['command']}` |")
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--name", default="run")
    p.add_argument("--paper", action="store_true", help="start from the paper's recipe instead of the defaults")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any other TrainConfig setting")
    p.add_argument("--save", help="write the trained weights here (safetensors, CompresSAE.to_bytes)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--peers", action="store_true", help="also score vector(d), halfvec(d) and PCA at the same bytes")
    p.add_argument("--table", action="store_true", help="print the table of all rows and exit")
    args = p.parse_args()
    if args.table:
        print(table())
        return
    row = run(args)
    print(json.dumps({k: row[k] for k in ("name", "train_seconds", "steps_per_s", "dead_atoms", "paper", "refit", "pursuit", "stored", "peers") if k in row}))


if __name__ == "__main__":
    main()
