"""What every measured method is and reads: :class:`Method`, the sampled queries, the table's rows
streamed in one snapshot, and stored sizes. :mod:`.run` (the codes, the dense column) and
:mod:`.peers` (the alternatives built for a run) both build their methods on these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from .. import _catalog, _sql, _vectors, _wire
from .._attachment import Attachment
from ..errors import CompressaeError, UnknownTableError

Search = Callable[[np.ndarray, int], Sequence[Any]]
EXACT_SCAN_QUERIES = 20  # a dense column without an index is measured by exact scan, on this many queries


@dataclass(frozen=True)
class Method:
    """One way to answer a query, measured like every other: a label, a search, and what it stores.

    ``search(query, n)`` gets a unit query vector and returns the keys of the ``n`` nearest rows, best
    first. ``settings`` (say ``hnsw.ef_search``) are set for the session while it is measured, as an
    application would set them once, and put back afterwards. ``baseline`` marks the dense column's
    own index, which ratios are taken against; ``queries`` limits a slow method to the first N queries.
    """

    name: str
    search: Search
    setting: str = ""
    bytes_per_row: float | None = None
    index_bytes: int | None = None
    baseline: bool = False
    queries: int | None = None
    settings: Mapping[str, str] = field(default_factory=dict)


# ---- what every method reads of the table ------------------------------------------------------
def sample_queries(conn: psycopg.Connection, target: Attachment, n: int, queries_from: str | None, seed: int) -> tuple[list, np.ndarray]:
    """Up to ``n`` unit query vectors and their keys as text (None for queries from another table)."""
    if queries_from:
        name, _, col = queries_from.rpartition(".")
        if not name:
            raise ValueError(f"--queries-from must be TABLE.COLUMN (got {queries_from!r})")
        source = _catalog.resolve_column(conn, name, col, vector=True)
        if source.table.kind not in _catalog.STORED_KINDS:  # the owner check below sees no table under a view
            raise UnknownTableError(f"{source.table.described}: --queries-from reads a table or materialized view")
        _catalog.refuse_owner_code(conn, source.table, writes=False)  # another table, read as the attachment's is
        table, column, key = source.table.ident, source.ident, sql.SQL("NULL::text")
    else:
        table, column = target.table.ident, sql.Identifier(target.source_column)
        key = sql.SQL("pg_catalog.format('%1$s', {})").format(target.key.ident)  # the type's output, never its owner's cast
    with conn.cursor(binary=True) as cur:
        _wire.install(cur.adapters, target.oids)  # vectors as numpy
        rows = cur.execute(_sql.query("evaluate_sample", key=key, column=column, table=table, seed=sql.Literal(seed),
                                      n=sql.Literal(n))).fetchall()
    keys, vectors = _valid([r[0] for r in rows], [r[1] for r in rows], target.model.dim)
    if not len(vectors):
        raise CompressaeError(f"no usable query vectors of {target.model.dim} dimensions in {queries_from or target.qualified}")
    return keys, vectors


def _valid(keys: list, values: list, dim: int) -> tuple[list, np.ndarray]:
    """The rows whose vector has ``dim`` finite, not all-zero entries, unit-normalised."""
    ok = [i for i, v in enumerate(values) if v is not None and len(v) == dim]
    x = _vectors.as_array([values[i] for i in ok]) if ok else np.zeros((0, dim), np.float32)
    good = _vectors.usable(x)
    return [keys[ok[i]] for i in np.flatnonzero(good)], x[good] / np.linalg.norm(x[good], axis=1, keepdims=True)


def stream_rows(conn: psycopg.Connection, target: Attachment, chunk: int = 8192) -> Iterator[tuple[list, np.ndarray]]:
    """(keys as text, unit vectors) of the source column, chunk by chunk, in one read-only snapshot."""
    query = _sql.query("evaluate_rows", key=target.key.ident, column=sql.Identifier(target.source_column),
                       table=target.table.ident)
    with conn.transaction(force_rollback=True), conn.cursor(name="compressae_evaluate", binary=True) as cur:
        _wire.install(cur.adapters, target.oids)
        cur.execute(query)
        while rows := cur.fetchmany(chunk):
            yield _valid([r[0] for r in rows], [r[1] for r in rows], target.model.dim)


def sizes(conn: psycopg.Connection, target: Attachment, value: sql.Composable, index: str | None,
          also: Sequence[str | None] = ()) -> tuple[float | None, int | None]:
    """Average stored bytes of ``value`` (a column or an expression) per row, plus those of the columns ``also``
    stored beside it, and the size of ``index``."""
    beside = [sql.SQL("coalesce(pg_catalog.pg_column_size({}), 0)").format(sql.Identifier(c)) for c in also if c]
    row = conn.execute(_sql.query("evaluate_column_bytes", value=value, table=target.table.ident,
                                  also=sql.SQL(" + ").join(beside) if beside else sql.NULL, schema=sql.Literal(target.table.schema),
                                  index=sql.Literal(index))).fetchone()
    return row[0], row[1]
