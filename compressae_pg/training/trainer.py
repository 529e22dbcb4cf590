"""Train a CompresSAE model by streaming vectors out of a table, then store it in the registry."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import psycopg
import torch

from .. import _catalog, _migrate, registry
from ..model import CompresSAE
from ..registry import ModelInfo
from ..server import session
from .loop import TrainConfig, fit, new_model, validate
from .stream import VectorReader, shuffled_batches


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
    return _catalog.estimated_rows(reader.conn, reader.col.table, reader.dim)


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
    with session(conn, dsn, application_name="compressae-pg train") as c:
        _migrate.ensure(c)
        return _train(c, table, column, name, cfg, progress)


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
    model = new_model(first.shape[1], cfg)

    def all_batches():
        yield first
        yield from batches

    held_out = len(val) > 0
    check = (lambda m: validate(m, val, cfg.resolved_device())["val_cosine"]) if held_out and cfg.patience else None
    fitted = fit(all_batches(), model, cfg, progress=progress, check=check)
    quality = validate(model, val if held_out else first, cfg.resolved_device())
    seconds = time.perf_counter() - started
    model.cpu()
    stats = train_reader.stats
    metrics = {
        **{k: round(v, 6) for k, v in quality.items()},
        "validation_rows": len(val) if held_out else 0,
        "validation": "held-out rows" if held_out else "training rows (table too small to hold out)",
        **{k: round(v, 6) for k, v in fitted.items()},
        "rows_seen": stats.rows,
        "samples_seen": fitted["steps_run"] * cfg.batch_size,
        "rows_skipped": stats.skipped + val_reader.stats.skipped,
        "skipped": {k: v + val_reader.stats.as_dict()[k] for k, v in stats.as_dict().items() if k.startswith("skipped")},
        "passes": stats.passes,
        "seconds": round(seconds, 3),
        "device": str(cfg.resolved_device()),
    }
    params = {k: v for k, v in asdict(cfg).items() if k != "device"}
    info = registry.save(conn, name, model, source=str(probe.col), params=params, metrics=metrics)
    return TrainResult(info=info, model=model, metrics=metrics)
