"""``compressae-pg demo``: a table of embeddings on the embedded server, end to end, no network.

train → attach → backfill → index → label the atoms → search (two hits explained by their atoms) →
evaluate, then a table a newcomer can read: bytes per row, index size, recall@10 and latency of the
codes (through their default sketch graph) against ``halfvec`` and its own HNSW index. By default the vectors are the real sample the package ships
(6,000 MiniLM embeddings of PyPI package summaries, ``compressae_pg/data``); ``--npy FILE`` loads
others and ``--synthetic`` makes clustered points on the sphere (labelled as such).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector import HalfVector
from psycopg import sql

from .. import _migrate, _sql
from ..columns import attachments
from ..errors import UnknownTableError
from ..evaluation import report
from ..evaluation.run import evaluate_column
from ..fill.coordinator import backfill
from ..search.column import CompressedColumn
from ..search.labels import label_atoms
from ..server import connect, register_types
from ..training.trainer import train

DEMO_SCHEMA = "compressae_demo"
DEMO_TABLE = "items"
QUALIFIED = f"{DEMO_SCHEMA}.{DEMO_TABLE}"
SUMMARY_COLUMNS = ["method", "setting", "bytes/row", "index MiB", "recall@10", "p50 ms"]
SAMPLE = files("compressae_pg").joinpath("data", "pypi-minilm-6k.f16.npy")
SAMPLE_TEXT = files("compressae_pg").joinpath("data", "pypi-minilm-6k.txt")
EXPLAINED_HITS, EXPLAINED_ATOMS, EXPLAINED_LABEL_ROWS = 2, 3, 3  # the search hits explained, their atoms, each atom's rows


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


def load_table(conn: psycopg.Connection, vectors: np.ndarray, texts: list[str] | None = None, *, schema: str = DEMO_SCHEMA,
               table: str = DEMO_TABLE) -> None:
    """(Re)create ``schema.table (id bigint primary key, embedding halfvec(d), summary text)`` holding ``vectors`` (and ``texts``)."""
    ident = sql.Identifier(schema, table)
    try:
        for att in attachments.list_attachments(conn, f"{schema}.{table}"):  # a previous demo's code column
            attachments.detach(f"{schema}.{table}", att.code_column, conn=conn)
    except UnknownTableError:
        pass
    with conn.transaction():
        conn.execute(_sql.query("demo_create", schema=sql.Identifier(schema), table=ident, dim=sql.Literal(vectors.shape[1])))
        with conn.cursor().copy(_sql.query("demo_copy", table=ident)) as copy:
            copy.set_types(["int8", "halfvec", "text"])
            for i, v in enumerate(vectors):
                copy.write_row((i + 1, HalfVector(v), texts[i] if texts else None))
        conn.execute(sql.SQL("ANALYZE {}").format(ident))


def run(
    *,
    dsn: str | None = None,
    npy: Path | None = None,
    synthetic: bool = False,
    rows: int = 20000,
    steps: int = 400,
    name: str = "demo",
    queries: int = 200,
    progress: bool = True,
    **settings: Any,
) -> dict[str, Any]:
    """Create the demo table, then train, attach, backfill, index, search and evaluate; return what was measured."""
    texts = None
    if synthetic:
        vectors = synthetic_embeddings(rows)
        data = "SYNTHETIC clustered vectors (without --synthetic: the real sample the package ships)"
    elif npy is not None:
        vectors = np.load(npy).astype(np.float32)[:rows]
        data = f"real vectors from {Path(npy).name}"
    else:
        with SAMPLE.open("rb") as f:
            vectors = np.load(f).astype(np.float32)[:rows]
        texts = SAMPLE_TEXT.read_text(encoding="utf-8").splitlines()
        data = "real MiniLM embeddings of PyPI package summaries (the sample in compressae_pg/data)"
    with connect(dsn, autocommit=True) as conn:
        _migrate.ensure(conn)
        register_types(conn)
        load_table(conn, vectors, texts)
        result = train(QUALIFIED, "embedding", name, conn=conn, steps=steps, progress=progress, **settings)
        att = attachments.attach(QUALIFIED, "embedding", result.info.ref, conn=conn)
    filled = backfill(QUALIFIED, "embedding", dsn=dsn, progress=progress)  # and, once the codes are in, the index
    with connect(dsn, autocommit=True) as conn:
        conn.execute(_sql.query("demo_dense_index", index=sql.Identifier(f"{DEMO_TABLE}_embedding_hnsw"),
                                table=sql.Identifier(DEMO_SCHEMA, DEMO_TABLE)))
        if texts:  # name the atoms by the summaries that use them most, then explain two hits with them
            label_atoms(QUALIFIED, "embedding", text_column="summary", top=EXPLAINED_LABEL_ROWS, conn=conn)
        hits = CompressedColumn(conn, QUALIFIED, "embedding").search(vectors[0], k=5, explain=EXPLAINED_ATOMS)
        evaluation = evaluate_column(QUALIFIED, "embedding", conn=conn, queries=queries, candidates=[50, 100],
                                     modes=["reconstructed", "dense"], progress=progress)
    dim = vectors.shape[1]
    return {
        "data": data,
        "rows": len(vectors),
        "dim": dim,
        "dense_bytes_per_row": 8 + 2 * dim,
        "code_bytes_per_row": result.info.bytes_per_row,
        "h": result.info.h,
        "k": result.info.k,
        **result.as_dict(),
        "backfill_seconds": filled.seconds,
        "code_index": att.index_name,
        "search": {"query": "the vector of row 1", "text": texts[0] if texts else None,
                   "hits": [{**h.as_dict(), "text": texts[h.key - 1] if texts else None} for h in hits]},
        "explained": [{**h.explanation.as_dict(), "text": texts[h.key - 1]} for h in hits[1:1 + EXPLAINED_HITS]
                      if h.explanation is not None] if texts else [],
        "evaluation": evaluation.as_dict(),
    }


def summary(r: dict[str, Any]) -> str:
    """The demo's measurements as a few lines a newcomer can read."""
    ratio = r["dense_bytes_per_row"] / r["code_bytes_per_row"]
    return "\n".join(
        [
            f"data:        {r['rows']} x {r['dim']}-d, {r['data']}",
            f"model:       {r['ref']} (k={r['k']} of h={r['h']} atoms per row)",
            f"bytes/row:   {r['code_bytes_per_row']} B as sparsevec vs {r['dense_bytes_per_row']} B as halfvec({r['dim']}) ({ratio:.1f}x smaller), "
            f"+ {(r['dim'] + 7) // 8 + 5} B of sign bits for the index",
            f"quality:     reconstruction cosine {r['val_cosine']:.4f} on held-out rows, {r['dead_atoms']:.1%} dead atoms",
            f"training:    {r['rows_seen']} rows streamed, {r['seconds']:.1f}s on {r['device']}",
            f"backfill:    codes written in {r['backfill_seconds']:.1f}s, indexed with HNSW ({r['code_index']})",
            *_hits(r["search"]),
            *_explained(r["explained"]),
            "",
            report.text(r["evaluation"], SUMMARY_COLUMNS),
            "",
            "codes = candidates from the HNSW index over each row's sign bits, reranked: 'reconstructed' needs only",
            "the codes, 'dense' also reads the halfvec column. Latency is per query through Python, encoding included.",
        ]
    )


def _hits(search: dict[str, Any]) -> list[str]:
    if search.get("text") is None:
        return ["search:      nearest to row 1: " + ", ".join(f"{h['key']} ({h['score']:.3f})" for h in search["hits"])]
    return [f"search:      nearest to row 1, {search['text'][:70]!r}:"] + [
        f"             {h['score']:.3f}  {h['text'][:80]}" for h in search["hits"]]


def _explained(explained: list[dict[str, Any]]) -> list[str]:
    """Why two hits came back: the atoms that carry their scores, each named by the summaries that use it most."""
    lines = []
    for e in explained:
        lines.append(f"why:         {e['text'][:60]!r} scores {e['score']:.3f}; {len(e['atoms'])} of its atoms carry {e['share']:.0%}:")
        for a in e["atoms"]:
            like = " | ".join((t or "")[:38] for t in a["label"]["texts"]) if a["label"] else "(no label)"
            lines.append(f"             atom {a['atom']:>4} {a['contribution']:+.3f}, used by {a['label']['uses'] if a['label'] else '?'} rows "
                         f"like: {like}")
    return lines
