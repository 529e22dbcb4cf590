"""Stream vectors out of any ``vector``/``halfvec`` column in bounded memory.

Rows are read with binary COPY (pgvector's binary format, decoded with numpy) in short
statements over ranges of heap pages, so a read of a large live table holds no lock or snapshot
for longer than one chunk. A deterministic hash of each row's ctid draws the random sample (no
sort of the table) and the train/validation split. NULL rows and rows with NaN/Inf, all zeros or
another dimension are counted and skipped. Only SELECT on the table is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg import sql

from .. import _sql, _vectors
from .._catalog import STORED_KINDS, Column, heap_parts, refuse_owner_code, resolve_column
from .._wire import copy_body, decode_tuples, first_dim, split_tuples
from ..errors import InvalidVectorError, UnknownTableError

_HASH_MASK = (1 << 20) - 1


@dataclass
class StreamStats:
    """What a stream has read so far: rows kept, and rows skipped by reason."""

    rows: int = 0
    null: int = 0
    nonfinite: int = 0
    zero: int = 0
    wrong_dim: int = 0
    passes: int = 0
    bytes: int = 0

    @property
    def skipped(self) -> int:
        return self.null + self.nonfinite + self.zero + self.wrong_dim

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "skipped_null": self.null,
            "skipped_nonfinite": self.nonfinite,
            "skipped_zero": self.zero,
            "skipped_wrong_dim": self.wrong_dim,
            "passes": self.passes,
        }


@dataclass
class VectorReader:
    """Reads one column of a table, chunk by chunk, optionally sampled and split.

    ``split`` is ``None`` (all rows), ``"train"`` or ``"validation"``; ``validation`` is the
    fraction of rows in the validation split. ``sample`` keeps that fraction of the (split) rows,
    a different random subset on every pass.
    """

    conn: psycopg.Connection
    table: str
    column: str
    split: str | None = None
    validation: float = 0.0
    sample: float = 1.0
    seed: int = 0
    chunk_rows: int = 16384
    stats: StreamStats = field(default_factory=StreamStats)

    def __post_init__(self) -> None:
        self.col: Column = resolve_column(self.conn, self.table, self.column, vector=True)
        refuse_owner_code(self.conn, self.col.table, writes=False)
        if self.col.table.kind not in STORED_KINDS:
            raise UnknownTableError(f"{self.col.table} is a view; stream from a table or materialized view")
        if self.split not in (None, "train", "validation"):
            raise ValueError(f"split must be None, 'train' or 'validation' (got {self.split!r})")
        if not 0.0 < self.sample <= 1.0:
            raise ValueError(f"sample must be a fraction in (0, 1] (got {self.sample})")
        self.dim: int | None = self.col.dim
        if not self.conn.autocommit:
            self.conn.rollback()

    def _filter(self, pass_no: int) -> sql.Composable:
        parts: list[sql.Composable] = []
        if self.split is not None and self.validation > 0:
            cut = sql.Literal(int(self.validation * (_HASH_MASK + 1)))
            op = sql.SQL(">=") if self.split == "train" else sql.SQL("<")
            parts.append(sql.SQL("(pg_catalog.hashtextextended(ctid::text, 0) & {}) {} {}").format(sql.Literal(_HASH_MASK), op, cut))
        if self.sample < 1.0:
            seed = sql.Literal(self.seed * 1_000_003 + pass_no + 1)
            cut = sql.Literal(int(self.sample * (_HASH_MASK + 1)))
            parts.append(sql.SQL("(pg_catalog.hashtextextended(ctid::text, {}) & {}) < {}").format(seed, sql.Literal(_HASH_MASK), cut))
        return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")

    def _chunks(self, pass_no: int) -> Iterator[sql.Composed]:
        col = self.col
        for part in heap_parts(self.conn, col.table):
            for lo, hi in part.ranges(self.chunk_rows, self.dim):
                yield _sql.query("stream_chunk", column=col.ident, table=part.ident, lo=sql.Literal(lo), hi=sql.Literal(hi),
                                 filter=self._filter(pass_no))

    def _copy_tuples(self, statement: sql.Composed) -> memoryview:
        buf = bytearray()
        with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(statement) as copy:
            for data in copy:
                buf += data
        return copy_body(buf)

    def read_pass(self, pass_no: int = 0) -> Iterator[np.ndarray]:
        """One pass over the (sampled, split) rows: float32 (n, d) chunks of valid vectors."""
        self.stats.passes += 1
        for statement in self._chunks(pass_no):
            data = self._copy_tuples(statement)
            if not len(data):
                continue
            self.stats.bytes += len(data)
            if self.dim is None:
                self.dim = first_dim(data)
                if self.dim is None:  # only NULLs so far
                    self.stats.null += sum(1 for _ in split_tuples(data))
                    continue
            arr, wrong, nulls = decode_tuples(data, self.col.type, self.dim)
            self.stats.wrong_dim += wrong
            self.stats.null += nulls
            finite, nonzero = _vectors.finite_and_nonzero(arr)
            usable = finite & nonzero
            self.stats.nonfinite += int((~finite).sum())
            self.stats.zero += int((finite & ~nonzero).sum())
            if not usable.all():
                arr = arr[usable]
            self.stats.rows += len(arr)
            if len(arr):
                yield arr

    def read(self, limit: int | None = None) -> np.ndarray:
        """Up to ``limit`` valid rows of the first pass, as one array (for small samples)."""
        out: list[np.ndarray] = []
        have = 0
        for chunk in self.read_pass(0):
            out.append(chunk)
            have += len(chunk)
            if limit is not None and have >= limit:
                break
        dim = self.dim or 0
        arr = np.concatenate(out) if out else np.empty((0, dim), dtype=np.float32)
        return arr[:limit] if limit is not None else arr


def shuffled_batches(
    reader: VectorReader, batch_size: int, *, buffer_rows: int = 65536, seed: int = 0
) -> Iterator[np.ndarray]:
    """Endless random batches from repeated passes, through a shuffle buffer of ``buffer_rows``.

    When one whole pass fits in the buffer, the table is read once and held in memory; otherwise
    each batch is drawn at random from the buffer and its slots refilled from the stream.
    """
    rng = np.random.default_rng(seed)
    buffer_rows = max(buffer_rows, batch_size)
    pass_no = 0

    def rows() -> Iterator[np.ndarray]:
        nonlocal pass_no
        while True:
            got = 0
            for chunk in reader.read_pass(pass_no):
                got += len(chunk)
                yield chunk
            pass_no += 1
            if got == 0:
                return
            yield np.empty((0, chunk.shape[1]), dtype=np.float32)  # end-of-pass marker

    source = rows()
    parts: list[np.ndarray] = []
    have = 0
    for chunk in source:
        if len(chunk) == 0:  # a whole pass fits: hold it in memory and draw epochs from it
            data = np.concatenate(parts)
            while True:
                order = rng.permutation(len(data))
                for start in range(0, len(data) - batch_size + 1, batch_size):
                    yield data[order[start : start + batch_size]]
                if len(data) < batch_size:
                    yield data[rng.choice(len(data), batch_size, replace=True)]
        parts.append(chunk)
        have += len(chunk)
        if have >= buffer_rows:
            break
    if have == 0:
        stats = reader.stats
        raise InvalidVectorError(
            f"no usable vectors in {reader.col}: {stats.rows} read, {stats.null} NULL, {stats.nonfinite} NaN/Inf, "
            f"{stats.zero} all-zero, {stats.wrong_dim} of another dimension skipped"
        )
    buf = np.concatenate(parts)
    pending = buf[buffer_rows:]
    buf = buf[:buffer_rows].copy()
    while True:
        picks = rng.choice(len(buf), batch_size, replace=False)
        yield buf[picks].copy()
        while len(pending) < batch_size:
            chunk = next(source, None)
            if chunk is None:  # the table emptied under us: keep drawing from what the buffer holds
                break
            pending = np.concatenate([pending, chunk]) if len(chunk) else pending
        refill = pending[:batch_size]
        buf[picks[: len(refill)]] = refill
        pending = pending[batch_size:]
