"""Helpers for backfill tests: a table of real vectors under any key type, and an exact check of its codes.

``check_codes`` compares every code with ``model.compress`` and, independently of the package, with
numpy: a unit-norm decode, and the values a plain least-squares solve (refit models) or the
pre-activations (paper models) give on the stored atoms. ``trained_model`` is a trained model with
the default refined encoding (refit, pursuit k // 4), so the checks cover more than untrained paper
models.
"""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
from psycopg import sql

from compressae_pg import CompresSAE, attachments, registry
from compressae_pg.fit import TrainConfig, fit, new_model

KEY_TYPES = {
    "integer": lambda i: i + 1,
    "bigint": lambda i: 10_000_000_000 + 7 * i,
    "uuid": lambda i: uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128)),
    "text": lambda i: f"key {i % 97:02d}/{i}é'\\",  # quotes, backslashes, non-ASCII
}
DIM, H, K = 384, 512, 16


def create_items(conn: psycopg.Connection, vectors, *, table: str = "items", column: str = "embedding",
                 key: str = "bigint", type_: str = "vector(384)") -> list:
    """``table (id <key> PRIMARY KEY, column <type_>)`` holding ``vectors`` (None → NULL); returns the keys."""
    keys = [KEY_TYPES[key](i) for i in range(len(vectors))]
    ident = sql.Identifier(table)
    conn.execute(sql.SQL("CREATE TABLE {} (id {} PRIMARY KEY, {} {})").format(ident, sql.SQL(key), sql.Identifier(column), sql.SQL(type_)))
    insert_rows(conn, keys, vectors, table=table, column=column)
    conn.execute(sql.SQL("ANALYZE {}").format(ident))
    return keys


def insert_rows(conn: psycopg.Connection, keys, vectors, *, table: str = "items", column: str = "embedding") -> None:
    with conn.cursor().copy(sql.SQL("COPY {} (id, {}) FROM STDIN").format(sql.Identifier(table), sql.Identifier(column))) as copy:
        for k, v in zip(keys, vectors):
            copy.write_row((k, None if v is None else "[" + ",".join(repr(float(a)) for a in np.asarray(v)) + "]"))


def trained_model(vectors: np.ndarray, steps: int = 30) -> CompresSAE:
    """A DIM → H, k=K model trained a few steps on ``vectors`` with the package's default recipe (refined codes)."""
    cfg = TrainConfig(h=H, k=K, steps=steps, batch_size=256, lr=5e-3, device="cpu")
    assert cfg.encoding.refit and cfg.encoding.pursuit == K // 4  # the default recipe, not the paper's
    rng = np.random.default_rng(0)
    x = np.asarray(vectors, dtype=np.float32)
    model = new_model(DIM, cfg)
    fit((x[rng.choice(len(x), cfg.batch_size)] for _ in range(steps)), model, cfg, progress=False)
    return model.cpu().eval()


def attach_model(conn: psycopg.Connection, *, table: str = "items", column: str = "embedding", seed: int = 0,
                 name: str = "m", model: CompresSAE | None = None, **kwargs) -> tuple[attachments.Attachment, CompresSAE]:
    """Store ``model`` (default: a small untrained paper-encoding one) and attach a code column for it."""
    model = CompresSAE(DIM, H, K, seed=seed).eval() if model is None else model
    registry.save(conn, name, model)
    ref = registry.list_models(conn, name)[-1].ref
    return attachments.attach(conn, table, column, ref, **kwargs), model


def codes_by_key(conn: psycopg.Connection, *, table: str = "items", column: str = "embedding",
                 code: str = "embedding_sae") -> dict:
    query = sql.SQL("SELECT id, {}, {} FROM {}").format(sql.Identifier(column), sql.Identifier(code), sql.Identifier(table))
    return {k: (src, c) for k, src, c in conn.execute(query).fetchall()}


def numpy_values(model: CompresSAE, x: np.ndarray, indices: list[int]) -> np.ndarray:
    """The stored values on atoms ``indices`` for source ``x``, computed in float64 numpy without the package.

    Refit models: the least-squares fit of x̃ on those decoder rows (``np.linalg.lstsq``); paper models:
    the pre-activations ``W_enc x̃ + b``. Either way scaled so the decoded vector has unit norm.
    """
    xn = np.asarray(x, dtype=np.float64) / np.linalg.norm(x)
    atoms = model.decoder.detach().double().numpy()[indices]
    if model.encoding.refit:
        values = np.linalg.lstsq(atoms.T, xn, rcond=None)[0]
    else:
        values = model.encoder.detach().double().numpy()[indices] @ xn + model.encoder_bias.detach().double().numpy()[indices]
    return values / np.linalg.norm(values @ atoms)


def check_codes(conn: psycopg.Connection, model: CompresSAE, **names) -> int:
    """Assert that every row's code is exactly ``model.compress(source)`` (NULL for NULL or unencodable
    sources) and has the values numpy computes on its atoms; return the number of rows checked."""
    rows = codes_by_key(conn, **names)
    encodable = {k: s.to_numpy() for k, (s, _c) in rows.items()
                 if s is not None and len(s.to_numpy()) == model.dim and np.any(s.to_numpy())}
    keys = list(encodable)
    want = model.compress(np.stack([encodable[k] for k in keys])) if keys else None
    for i, k in enumerate(keys):
        got = rows[k][1]
        assert got is not None, f"row {k!r} has no code"
        assert got.indices() == want.indices[i].tolist(), f"row {k!r} has the wrong atoms"
        np.testing.assert_allclose(got.values(), want.values[i], rtol=0, atol=1e-6, err_msg=f"row {k!r}")
        np.testing.assert_allclose(got.values(), numpy_values(model, encodable[k], got.indices()), rtol=0, atol=2e-4,
                                   err_msg=f"row {k!r}: not the values numpy computes on its atoms")
        if model.encoding.is_paper:  # the atoms themselves: the k largest |pre-activation| by numpy, ties aside
            xn = encodable[k].astype(np.float64) / np.linalg.norm(encodable[k])
            pre = np.abs(model.encoder.detach().double().numpy() @ xn + model.encoder_bias.detach().double().numpy())
            chosen = np.zeros(model.h, dtype=bool)
            chosen[got.indices()] = True
            assert chosen.sum() == model.k and pre[chosen].min() >= pre[~chosen].max() - 1e-6, f"row {k!r}: not the top-k atoms"
    for k, (_s, c) in rows.items():
        if k not in encodable:
            assert c is None, f"row {k!r} has a code but its source cannot be encoded"
    return len(rows)


def row_versions(conn: psycopg.Connection, table: str = "items") -> dict:
    """Each row's (ctid, xmin): unchanged iff nothing rewrote the row."""
    query = sql.SQL("SELECT id, ctid::text, xmin::text FROM {}").format(sql.Identifier(table))
    return {k: (ctid, xmin) for k, ctid, xmin in conn.execute(query).fetchall()}
