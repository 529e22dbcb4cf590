"""Train a CompresSAE model by streaming vectors out of a table, then store it in the registry."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import psycopg
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import registry, relation, schema
from .model import CompresSAE
from .registry import ModelInfo
from .server import connect
from .stream import VectorReader, shuffled_batches

_DEAD_WINDOW_ROWS = 100_000


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults train a good 4096/32 model in a few minutes on 2 CPU cores."""

    h: int = 4096
    k: int = 32
    steps: int = 300
    batch_size: int = 4096
    lr: float = 1e-3
    seed: int = 0
    device: str | None = None
    validation_rows: int = 2048
    buffer_rows: int = 65536

    def resolved_device(self) -> torch.device:
        if self.device:
            return torch.device(self.device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TrainResult:
    """What training made and measured."""

    info: ModelInfo
    model: CompresSAE
    metrics: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.info.name, "version": self.info.version, "ref": self.info.ref, **self.metrics}


def estimated_rows(reader: VectorReader) -> int:
    """Rows in the table by the planner's statistics (or its size, if never analyzed)."""
    return relation.estimated_rows(reader.conn, reader.col.table, reader.dim)


@torch.no_grad()
def validate(model: CompresSAE, x: np.ndarray, device: torch.device) -> float:
    """Mean cosine between validation vectors and their k-sparse reconstructions."""
    cos = []
    for chunk in torch.from_numpy(x).split(8192):
        chunk = chunk.to(device)
        values, indices = model.topk(chunk)
        cos.append(F.cosine_similarity(chunk, model.decode_sparse(values, indices), dim=1))
    return float(torch.cat(cos).mean()) if cos else float("nan")


def train_model(batches, model: CompresSAE, cfg: TrainConfig, *, progress: bool = True) -> dict[str, Any]:
    """The optimisation loop on an iterator of numpy batches: Adam, gradient projection, renormalisation."""
    device = cfg.resolved_device()
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    last_used = torch.full((model.h,), -1, dtype=torch.long, device=device)
    bar = tqdm(total=cfg.steps, desc="train", unit="step", disable=not progress, dynamic_ncols=True)
    parts: dict[str, torch.Tensor] = {}
    for step in range(cfg.steps):
        x = torch.from_numpy(next(batches)).to(device)
        parts = model.loss(x)
        opt.zero_grad(set_to_none=True)
        parts["loss"].backward()
        model.project_decoder_grad()
        opt.step()
        model.normalize_decoder()
        with torch.no_grad():
            _, used = model.topk(x[:1024])
            last_used[used.reshape(-1)] = step
        bar.update(1)
        if step % 10 == 0 or step == cfg.steps - 1:
            bar.set_postfix(loss=f"{parts['loss'].item():.4f}", cos=f"{parts['cosine'].item():.4f}")
    bar.close()
    model.eval()
    window = max(1, -(-_DEAD_WINDOW_ROWS // cfg.batch_size))
    dead = ((cfg.steps - 1 - last_used) >= window) if cfg.steps > window else (last_used < 0)
    return {
        "train_loss": parts["loss"].item() if parts else float("nan"),
        "train_cosine": parts["cosine"].item() if parts else float("nan"),
        "dead_atoms": float(dead.float().mean()),
    }


def train(
    table: str,
    column: str,
    name: str,
    *,
    conn: psycopg.Connection | None = None,
    dsn: str | None = None,
    config: TrainConfig | None = None,
    progress: bool = True,
    **settings: Any,
) -> TrainResult:
    """Train a model on ``table.column`` and store it as the next version of ``name``.

    Settings are those of :class:`TrainConfig` (``h``, ``k``, ``steps``, ``batch_size``, ``lr``,
    ``seed``, ``device``, ...). A held-out validation split (by a hash of each row's ctid) gives
    ``val_cosine``; ``dead_atoms`` is the fraction of atoms unused over the last ~100k training rows.
    """
    cfg = replace(config or TrainConfig(), **settings)
    registry.check_name(name)
    own = conn is None
    conn = conn or connect(dsn, autocommit=True)
    try:
        schema.ensure(conn)
        return _train(conn, table, column, name, cfg, progress)
    finally:
        if own:
            conn.close()


def _train(conn, table, column, name, cfg: TrainConfig, progress: bool) -> TrainResult:
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    probe = VectorReader(conn, table, column)
    total = max(1, estimated_rows(probe))
    val_fraction = min(0.2, max(cfg.validation_rows / total, 1e-4))
    needed = cfg.steps * cfg.batch_size
    sample = min(1.0, max(needed, cfg.buffer_rows) / (total * (1 - val_fraction)))
    val_reader = VectorReader(conn, table, column, split="validation", validation=val_fraction)
    val = val_reader.read(cfg.validation_rows)
    train_reader = VectorReader(
        conn, table, column, split="train", validation=val_fraction, sample=sample, seed=cfg.seed
    )
    batches = shuffled_batches(train_reader, cfg.batch_size, buffer_rows=cfg.buffer_rows, seed=cfg.seed)
    first = next(batches)
    dim = first.shape[1]
    model = CompresSAE(dim, cfg.h, cfg.k, seed=cfg.seed)

    def all_batches():
        yield first
        yield from batches

    fit = train_model(all_batches(), model, cfg, progress=progress)
    held_out = len(val) > 0
    val_cosine = validate(model, val if held_out else first, cfg.resolved_device())
    seconds = time.perf_counter() - started
    model.cpu()
    stats = train_reader.stats
    metrics = {
        "val_cosine": round(val_cosine, 6),
        "validation_rows": len(val) if held_out else 0,
        "validation": "held-out rows" if held_out else "training rows (table too small to hold out)",
        **{k: round(v, 6) for k, v in fit.items()},
        "rows_seen": stats.rows,
        "samples_seen": cfg.steps * cfg.batch_size,
        "rows_skipped": stats.skipped + val_reader.stats.skipped,
        "skipped": {k: v + val_reader.stats.as_dict()[k] for k, v in stats.as_dict().items() if k.startswith("skipped")},
        "passes": stats.passes,
        "seconds": round(seconds, 3),
        "device": str(cfg.resolved_device()),
    }
    params = {k: v for k, v in asdict(cfg).items() if k != "device"}
    info = registry.save(conn, name, model, source=str(probe.col), params=params, metrics=metrics)
    return TrainResult(info=info, model=model, metrics=metrics)
