"""The tests' models: one small trained recipe, and storing a model and attaching a code column for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

from compressae_pg import CompresSAE, _locks, backfill, registry
from compressae_pg.columns import attachments
from compressae_pg.training.loop import TrainConfig, fit, new_model

from .tables import create_table

# Shipped in the package (compressae_pg/data/README.md says where it comes from; the demo uses it too),
# so a clean clone has it.
DATA = Path(__file__).resolve().parents[2] / "compressae_pg" / "data" / "pypi-minilm-6k.f16.npy"
DIM, H, K = 384, 1024, 16


def train_small(vectors: np.ndarray, seed: int = 0, steps: int = 25) -> CompresSAE:
    """A DIM → H, k=K model after a few real steps of the package's default recipe (refined codes: refit, k/2 pursuit
    atoms in 2 stages), so that its atoms and biases are not at init and the checks cover more than untrained paper models."""
    cfg = TrainConfig(h=H, k=K, steps=steps, batch_size=1024, lr=2e-3, seed=seed, device="cpu")
    assert cfg.encoding.refit and (cfg.encoding.pursuit, cfg.encoding.stages) == (K // 2, 2)  # the default recipe, not the paper's
    rng = np.random.default_rng(seed)
    x = np.asarray(vectors, dtype=np.float32)
    model = new_model(DIM, cfg)
    fit((x[rng.choice(len(x), cfg.batch_size)] for _ in range(steps)), model, cfg, progress=False)
    return model.cpu().eval()


def attach_model(conn: psycopg.Connection, *, table: str = "items", column: str = "embedding", seed: int = 0,
                 name: str = "m", model: CompresSAE | None = None, **kwargs) -> tuple[attachments.Attachment, CompresSAE]:
    """Store ``model`` (default: a small untrained paper-encoding one) and attach a code column for it."""
    model = CompresSAE(DIM, H, K, seed=seed).eval() if model is None else model
    registry.save(conn, name, model)
    ref = registry.list_models(name, conn=conn)[-1].ref
    return attachments.attach(table, column, ref, conn=conn, **kwargs), model


@contextmanager
def queueing_keys(conn: psycopg.Connection, dsn: str, **kwargs) -> Iterator[tuple[attachments.Attachment, CompresSAE]]:
    """:func:`attach_model` with ``sync='queue'`` as a table upgraded from 0023 has it until `sync` builds its pending
    index (0024): statement triggers append every changed key to ``compressae.sync_queue``. Attached inside a
    transaction (no concurrent build), and the pending index's lock held for the block, so no `sync` builds it."""
    with conn.transaction():
        att, model = attach_model(conn, sync="queue", **kwargs)
    with psycopg.connect(dsn, autocommit=True) as side:  # the lock goes with the session (which a crash may end)
        _locks._take(side, "pending index", att.id)
        yield att, model


@contextmanager
def queue_by(conn: psycopg.Connection, dsn: str, by: str, **kwargs) -> Iterator[tuple[attachments.Attachment, CompresSAE]]:
    """A queue attachment whose worker finds changed rows by their NULL code (``marks``, the default since 0024) or by
    the keys its statement triggers queue (``keys``, a table upgraded from 0023 until `sync` builds its pending index)."""
    if by == "keys":
        with queueing_keys(conn, dsn, **kwargs) as got:
            yield got
        return
    att, model = attach_model(conn, sync="queue", **kwargs)
    assert conn.execute("SELECT compressae.pending_index(%s)", (att.id,)).fetchone()[0] is not None
    yield att, model


def searchable(conn: psycopg.Connection, dsn: str, vectors, model: CompresSAE, *, table: str = "items",
               column: str = "embedding", key: str = "id", key_type: str = "bigint", keys=None,
               category: str = "category", name: str = "m", index: bool = True, graph: str = "sketch") -> attachments.Attachment:
    """``table (key PRIMARY KEY, column vector(384), category text)`` by :func:`create_table` (every seventh row
    'rare'), the model stored as ``name``, the code column attached, backfilled and (with ``index``) indexed; the
    backfill must have coded every row that has a source, so that no search test runs over a half-empty table."""
    create_table(conn, table, vectors, column=column, key_column=key, key=key_type, keys=keys, category=category)
    registry.save(conn, name, model)
    att = attachments.attach(table, column, registry.list_models(name, conn=conn)[-1].ref, graph=graph, conn=conn)
    backfill(table, column, dsn=dsn, progress=False, index=index, m=8, ef_construction=32)  # the fast flow: codes, then the index
    coded = conn.execute(sql.SQL("SELECT count({}) FROM {}").format(sql.Identifier(att.code_column), sql.Identifier(table))).fetchone()[0]
    want = sum(v is not None for v in vectors)
    assert coded == want, f"the backfill coded {coded} rows, not the {want} that have a source"
    return att


def stored(conn: psycopg.Connection, table: str = "items", column: str = "embedding", code: str = "embedding_sae",
           key: str = "id", h: int = H) -> tuple[list, np.ndarray, list]:
    """(keys, dense codes (n, h), source vectors or None) of every row that has a code."""
    rows = conn.execute(sql.SQL("SELECT {}, {}, {} FROM {} WHERE {} IS NOT NULL ORDER BY 1").format(
        sql.Identifier(key), sql.Identifier(code), sql.Identifier(column), sql.Identifier(table), sql.Identifier(code))).fetchall()
    codes = np.zeros((len(rows), h), dtype=np.float64)
    for i, (_k, c, _s) in enumerate(rows):
        codes[i, c.indices()] = c.values()
    return [r[0] for r in rows], codes, [None if r[2] is None else r[2].to_numpy() for r in rows]
