"""What compression costs and buys on a user's own table: :func:`evaluate_column`.

Queries are sampled from the table (or another one); the truth is the exact dense top-k, by brute
force over the source column streamed through a server-side cursor (memory: queries x chunk).
Each :class:`~.methods.Method` (the codes with each rerank mode and candidate count, the dense column through
its own HNSW index, and whatever a caller adds) answers the same queries one at a time; recall@k,
nDCG@k, p50/p95 wall-clock latency, bytes per row and index size are reported side by side.
The maths is :mod:`.metrics`; :mod:`.report` shows the result as a table or a PNG.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql
from tqdm import tqdm

from .. import _catalog, _sql
from .._attachment import Attachment
from .._defaults import EF_SEARCH, EVAL_CANDIDATES, QUERIES, RERANK_MODES, K
from ..errors import CompressaeError
from ..search.column import CompressedColumn
from ..server import session
from . import peers
from .methods import EXACT_SCAN_QUERIES, Method, sample_queries, sizes, stream_rows
from .metrics import RunningTopK, ndcg_at_k, recall_at_k

# pgvector's HNSW operator classes and the operator each serves; all order unit vectors alike.
OPERATORS = {f"{t}_{d}_ops": op for t in ("vector", "halfvec") for d, op in (("cosine", "<=>"), ("ip", "<#>"), ("l2", "<->"))}
WARMUP = 5


@dataclass
class Evaluation:
    """Every method's numbers on the same queries and the same truth."""

    table: str
    column: str
    code_column: str
    model: str
    rows: int
    queries: int
    k: int
    results: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_column(
    table: str,
    column: str,
    *,
    dsn: str | None = None,
    conn: psycopg.Connection | None = None,
    code_column: str | None = None,
    queries: int = QUERIES,
    queries_from: str | None = None,
    k: int = K,
    candidates: Sequence[int] = EVAL_CANDIDATES,
    modes: Sequence[str] = RERANK_MODES,
    ef_search: int = EF_SEARCH,
    seed: int = 0,
    extra: Sequence[Method] = (),
    compare: Sequence[str] = (),
    compare_dims: int | None = None,
    compare_index: bool = True,
    progress: bool = False,
) -> Evaluation:
    """Measure the codes attached to ``table.column`` against the dense column, on sampled queries.

    ``queries_from`` (``"table.column"``) draws the queries from another vector column instead of this
    table; queries drawn from the table are left out of their own truth and results. ``extra``
    methods (:class:`~.methods.Method`: your own search, say) are measured beside the rest (docs/cli.md).
    ``compare`` names peers (:mod:`.peers`: halfvec, binary, pca, prefix, random, sign, sq2, sq4, sq8) built on this table for the
    run, at ``compare_dims`` float32 dimensions where that applies (default: the code column's bytes), each
    through its own HNSW index (``compare_index=False``: by exact scan), and dropped afterwards.
    """

    if conn is None:
        with session(dsn=dsn) as own:
            return evaluate_column(table, column, conn=own, code_column=code_column, queries=queries, queries_from=queries_from,
                                   k=k, candidates=candidates, modes=modes, ef_search=ef_search, seed=seed, extra=extra,
                                   compare=compare, compare_dims=compare_dims, compare_index=compare_index, progress=progress)
    if k < 1 or queries < 1 or not candidates or min(candidates) < 1:
        raise ValueError(f"k, queries and candidates must be positive (got k={k}, queries={queries}, candidates={list(candidates)})")
    if unknown := [m for m in modes if m not in RERANK_MODES]:
        raise ValueError(f"unknown rerank mode {', '.join(unknown)}: choose from {', '.join(RERANK_MODES)}")
    peers.check(compare, conn)
    codes = CompressedColumn(conn, table, column, code_column=code_column)
    target = codes.target
    if target.source is None:
        raise CompressaeError(f"{target.qualified} no longer has the source column {target.source_column!r}: "
                              "there is no dense truth to evaluate against")
    keys, vectors = sample_queries(conn, target, queries, queries_from, seed)
    truth, rows = exact_truth(conn, target, vectors, keys, k, progress)
    result = Evaluation(target.qualified, target.source_column, target.code_column, target.model.ref, rows, len(vectors), k)
    methods = [*code_methods(conn, codes, candidates, modes, result.notes), *dense_methods(conn, target, ef_search, result.notes), *extra]
    say = (lambda line: tqdm.write(line, file=sys.stderr)) if progress else (lambda line: None)
    with peers.built(conn, target, compare, candidates=candidates, rerank="dense" in modes, ef_search=ef_search, seed=seed,
                     notes=result.notes, say=say, dims=compare_dims, index=compare_index) as built:
        methods += built
        bar = tqdm(total=sum(min(m.queries or len(vectors), len(vectors)) for m in methods), desc="searching", unit="query",
                   disable=not progress, leave=False)
        with bar:
            for method in methods:
                with session_settings(conn, method.settings):
                    result.results.append(measure(method, vectors, keys, truth, k, bar))
    return result


# ---- the truth ----------------------------------------------------------------------------------
def exact_truth(conn: psycopg.Connection, target: Attachment, queries: np.ndarray, keys: list, k: int,
                progress: bool) -> tuple[np.ndarray, int]:
    """Each query's exact top-k keys by cosine (a query's own row left out), and how many rows were scanned."""
    top = RunningTopK(len(queries), k)
    own = {key: i for i, key in enumerate(keys) if key is not None}
    estimate = _catalog.estimated_rows(conn, target.table, target.model.dim)
    rows = 0
    with tqdm(total=estimate or None, desc="exact top-k", unit="row", disable=not progress, leave=False) as bar:
        for chunk_keys, x in stream_rows(conn, target):
            scores = queries @ x.T
            for j, key in enumerate(chunk_keys):
                if key in own:
                    scores[own[key], j] = -np.inf
            top.update(scores, np.array(chunk_keys, dtype=object))
            rows += len(chunk_keys)
            bar.update(len(chunk_keys))
    return top.result(), rows


# ---- the methods --------------------------------------------------------------------------------
def code_methods(conn: psycopg.Connection, codes: CompressedColumn, candidates: Sequence[int], modes: Sequence[str],
                 notes: list[str]) -> list[Method]:
    """The codes with each rerank mode at each candidate count, through :meth:`CompressedColumn.search`."""
    t = codes.target
    index = t.index_name
    per_row, index_bytes = sizes(conn, t, sql.Identifier(t.code_column), index, also=(t.sketch_column, t.residual_column))
    if index_bytes is None:
        notes.append(f"{t.qualified}.{t.code_column} has no HNSW index: its searches scan the table "
                     "(run `compressae-pg index`)")

    def method(c: int, mode: str) -> Method:
        search = lambda q, n: [h.key for h in codes.search(q, n, candidates=c, rerank=mode)]  # noqa: E731
        return Method(f"codes, rerank {mode}", search, f"candidates {c}", per_row, index_bytes)

    return [method(c, mode) for c in candidates for mode in modes]


def dense_methods(conn: psycopg.Connection, target: Attachment, ef_search: int, notes: list[str]) -> list[Method]:
    """The dense column through its own HNSW index; without one, an exact scan of a few queries, said in ``notes``."""
    column = sql.Identifier(target.source_column)
    found = conn.execute(_sql.query("evaluate_dense_index"), {"oid": target.table.oid, "column": target.source_column}).fetchall()
    usable = [r for r in found if r[1] in OPERATORS]
    index, opclass = (usable[0][0], usable[0][1]) if usable else (None, f"{target.source.type}_cosine_ops")
    def search(q: np.ndarray, n: int) -> list:
        query = _sql.query("evaluate_dense_search", key=target.key.ident, table=target.table.ident, column=column,
                           ops=sql.Identifier(target.vector_schema), op=sql.SQL(OPERATORS[opclass]),
                           type=sql.Identifier(target.vector_schema, target.source.type),
                           query=sql.Literal(Vector(q).to_text()), n=sql.Literal(n))
        return [r[0] for r in conn.execute(query)]

    per_row, index_bytes = sizes(conn, target, column, index)
    label = f"{target.source.type}, dense"
    if index is None:
        notes.append(f"{target.qualified}.{target.source_column} has no HNSW index: the dense row is an exact scan "
                     f"(what the table does without one), on {EXACT_SCAN_QUERIES} queries")
        return [Method(f"{label}, exact scan", search, "no index", per_row, None, baseline=True, queries=EXACT_SCAN_QUERIES)]
    return [Method(f"{label}, HNSW", search, f"ef_search {ef_search}", per_row, index_bytes, baseline=True,
                   settings={"hnsw.ef_search": str(ef_search)})]


# ---- measuring ----------------------------------------------------------------------------------
@contextmanager
def session_settings(conn: psycopg.Connection, settings: Mapping[str, str]) -> Iterator[None]:
    """``settings`` for the session, and what they were put back afterwards."""
    before = {name: conn.execute(_sql.query("evaluate_setting"), {"name": name, "value": value}).fetchone()[0]
              for name, value in settings.items()}
    try:
        yield
    finally:
        for name, value in before.items():
            conn.execute(_sql.query("evaluate_setting"), {"name": name, "value": value or ""})


def measure(method: Method, queries: np.ndarray, keys: list, truth: np.ndarray, k: int, bar: tqdm | None = None) -> dict[str, Any]:
    """Run ``method`` on each query (after a few unmeasured ones) and score it against ``truth``."""
    n = min(method.queries or len(queries), len(queries))
    for q in queries[: min(WARMUP, n)]:
        method.search(q, k + 1)
    found, times = [], []
    for q, own in zip(queries[:n], keys[:n]):
        started = time.perf_counter()
        got = method.search(q, k + 1 if own is not None else k)
        times.append(time.perf_counter() - started)
        found.append([str(key) for key in got if own is None or str(key) != own][:k])
        if bar is not None:
            bar.update(1)
    ms = 1000 * np.array(times)
    return {"method": method.name, "setting": method.setting, "baseline": method.baseline, "queries": n,
            f"recall@{k}": round(recall_at_k(found, truth[:n], k), 4), f"ndcg@{k}": round(ndcg_at_k(found, truth[:n], k), 4),
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "bytes_per_row": None if method.bytes_per_row is None else round(method.bytes_per_row, 1),
            "index_bytes": method.index_bytes}
