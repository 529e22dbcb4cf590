"""``compressae-pg demo``: a table of embeddings on the embedded server, end to end, no network.

By default the vectors are synthetic (clustered points on the sphere, and labelled as such);
``--npy FILE`` loads real ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from . import _sql, schema
from .server import connect, register_types
from .train import train

DEMO_SCHEMA = "compressae_demo"
DEMO_TABLE = "items"


def synthetic_embeddings(rows: int, dim: int = 384, clusters: int = 200, seed: int = 0) -> np.ndarray:
    """Unit vectors around random cluster centres, varying in a shared low-rank subspace.

    Like text embeddings, they have far fewer degrees of freedom than dimensions; unlike them,
    they mean nothing. Always labelled SYNTHETIC in the demo's output.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis = np.linalg.qr(rng.standard_normal((dim, 48)))[0].T.astype(np.float32)
    spread = rng.standard_normal((rows, 48)).astype(np.float32) @ basis * 0.08
    noise = rng.standard_normal((rows, dim)).astype(np.float32) * (0.02 / np.sqrt(dim))
    x = centres[rng.integers(0, clusters, rows)] + spread + noise
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def load_table(conn: psycopg.Connection, vectors: np.ndarray, *, schema: str = DEMO_SCHEMA, table: str = DEMO_TABLE) -> None:
    """(Re)create ``schema.table (id bigint primary key, embedding vector(d))`` holding ``vectors``."""
    ident = sql.Identifier(schema, table)
    with conn.transaction():
        conn.execute(_sql.query("demo_create", schema=sql.Identifier(schema), table=ident, dim=sql.Literal(vectors.shape[1])))
        with conn.cursor().copy(_sql.query("demo_copy", table=ident)) as copy:
            copy.set_types(["int8", "vector"])
            for i, v in enumerate(vectors):
                copy.write_row((i + 1, v))
        conn.execute(sql.SQL("ANALYZE {}").format(ident))


def run(
    *,
    dsn: str | None = None,
    npy: Path | None = None,
    rows: int = 20000,
    steps: int = 200,
    name: str = "demo",
    progress: bool = True,
    **settings: Any,
) -> dict[str, Any]:
    """Create the demo table, train a model on it, and return what was measured."""
    if npy is not None:
        vectors = np.load(npy).astype(np.float32)[:rows]
        data = f"real vectors from {Path(npy).name}"
    else:
        vectors = synthetic_embeddings(rows)
        data = "SYNTHETIC clustered vectors (pass --npy FILE for real embeddings)"
    with connect(dsn, autocommit=True) as conn:
        schema.ensure(conn)
        register_types(conn)
        load_table(conn, vectors)
        result = train(f"{DEMO_SCHEMA}.{DEMO_TABLE}", "embedding", name, conn=conn, steps=steps, progress=progress, **settings)
    dim = vectors.shape[1]
    return {
        "data": data,
        "rows": len(vectors),
        "dim": dim,
        "dense_bytes_per_row": 8 + 4 * dim,
        "code_bytes_per_row": result.info.bytes_per_row,
        "h": result.info.h,
        "k": result.info.k,
        **result.as_dict(),
    }


def summary(r: dict[str, Any]) -> str:
    """The demo's measurements as a few lines a newcomer can read."""
    ratio = r["dense_bytes_per_row"] / r["code_bytes_per_row"]
    return "\n".join(
        [
            f"data:        {r['rows']} x {r['dim']}-d, {r['data']}",
            f"model:       {r['ref']} (k={r['k']} of h={r['h']} atoms per row)",
            f"bytes/row:   {r['code_bytes_per_row']} B as sparsevec vs {r['dense_bytes_per_row']} B as vector({r['dim']}) ({ratio:.1f}x smaller)",
            f"quality:     reconstruction cosine {r['val_cosine']:.4f} on held-out rows, {r['dead_atoms']:.1%} dead atoms",
            f"training:    {r['rows_seen']} rows streamed, {r['seconds']:.1f}s on {r['device']}",
        ]
    )
