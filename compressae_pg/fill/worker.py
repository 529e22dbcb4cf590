"""One backfill connection: read a batch, encode it, write it with its checkpoint, retry on lock waits.

Each step is its own short transaction with ``lock_timeout`` and ``statement_timeout`` set locally:
the read (binary COPY of a keyset batch, or of a range of heap pages for the sweep), then the write
(binary COPY into a temp table, one guarded ``UPDATE … FROM``, the job's checkpoint). A step that
cannot get its locks in time is rolled back and retried after an exponential backoff, so the
backfill never queues for long behind (or in front of) application traffic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
import psycopg
from psycopg import sql

from .. import _catalog, _sql, _wire
from .._attachment import Attachment
from .._catalog import HeapPart
from .._retry import Limits, retrying
from ..errors import AttachmentChangedError
from .encoder import Encoder
from .jobs import Job

T = TypeVar("T")


def fillable(att: Attachment) -> Attachment:
    """``att``, once it has what a backfill reads: a single-column primary key and a vector source column."""
    att.key, att.vector_source  # noqa: B018 (each raises, naming what is missing)
    return att


def read_query(att: Attachment, lo: str | None, hi: str | None, limit: int, table: sql.Identifier | None = None) -> sql.Composed:
    """A keyset batch of the table (or of one of its leaf partitions, ``table``)."""
    return _sql.query(
        "backfill_read",
        table=table or att.table.ident,
        key=att.key.ident,
        source=att.vector_source.ident,
        lo=sql.Literal(lo),
        hi=sql.Literal(hi),
        limit=sql.Literal(limit),
    )


def sweep_query(att: Attachment, part: sql.Identifier, lo: str, hi: str, horizon: int) -> sql.Composed:
    return _sql.query(
        "backfill_sweep_read",
        table=part,
        key=att.key.ident,
        source=att.vector_source.ident,
        lo=sql.Literal(lo),
        hi=sql.Literal(hi),
        horizon=sql.Literal(horizon),
        attachment=sql.Literal(att.id),
    )


@dataclass
class BatchResult:
    """What one committed batch did."""

    rows: int
    written: int
    skipped_keys: list[str]
    last_key: str | None
    finished: bool
    reserved: int = 0  # rows of a row budget this batch was sized by


class Worker:
    """Batches on one connection (autocommit; every step opens its own short transaction)."""

    def __init__(self, conn: psycopg.Connection, target: Attachment, encoder: Encoder, limits: Limits,
                 stop: threading.Event) -> None:
        self.conn, self.target, self.encoder, self.limits, self.stop = conn, target, encoder, limits, stop
        self.retries_pending = 0
        self.retries_total = 0
        create_batch_table(conn)
        self.write = write_query(conn, target)
        self._partition_writes: dict[tuple[str, str], sql.Composed] = {}

    # ---- the two kinds of batch ---------------------------------------------------------------
    def range_batches(self, job: Job, take: Callable[[int], int]) -> Iterator[BatchResult]:
        """The batches of a range job after its last key (in its partition, if it has one), each written with its checkpoint.

        ``take(batch_size)`` sizes each batch (0 ends the job there, unfinished). The encoder runs beside
        the connection, a batch ahead: batch i+1 is read while batch i is encoded, and encoded while
        batch i is written. So the client's core encodes while the server's reads and writes, and a
        batch is still wholly in, with its checkpoint, or wholly redone.
        """
        lo = job.last_key if job.last_key is not None else job.key_lo
        part = sql.Identifier(*job.partition) if job.partition else None
        pending: tuple[_wire.RowBatch, Future, bool, int] | None = None
        finished = False
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-encode") as encoding:
            while True:
                limit = 0 if finished or self.stop.is_set() else take(self.limits.batch_size)
                ahead = None
                if limit:
                    query = read_query(self.target, lo, job.key_hi, limit, part)
                    batch = self._retrying(lambda q=query: self._read(q))
                    finished = len(batch) < limit
                    lo = batch.last_key if batch.last_key is not None else lo
                    ahead = (batch, encoding.submit(self._encode, batch), finished, limit)
                if pending is not None:
                    batch, encoded, done, reserved = pending
                    result = self._write(batch, encoded.result(), job, last_key=batch.last_key, finished=done,
                                         partition=job.partition)
                    if batch.last_key is not None:
                        job.last_key = batch.last_key
                    yield replace(result, reserved=reserved)
                if ahead is None:
                    return
                pending = ahead

    def sweep_batches(self, job: Job, parts: list[HeapPart], horizon: int) -> Iterator[BatchResult]:
        """A pass over the heap, page range by page range, writing the rows changed since ``horizon``."""
        for part in parts:
            for lo, hi in part.ranges(4 * self.limits.batch_size, self.target.model.dim):
                if self.stop.is_set():
                    return
                query = sweep_query(self.target, part.ident, lo, hi, horizon)
                batch = self._retrying(lambda q=query: self._read(q, sweep=True))
                if len(batch):
                    yield self._write(batch, self._encode(batch), job, last_key=None, finished=False)

    # ---- steps ----------------------------------------------------------------------------------
    def _timeouts(self) -> None:
        self.conn.execute(
            _sql.query("backfill_timeouts"),
            {"lock_timeout": self.limits.lock_timeout, "statement_timeout": self.limits.statement_timeout},
        )

    def _read(self, query: sql.Composed, *, sweep: bool = False) -> _wire.RowBatch:
        rows: list[bytes] = []
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._timeouts()
            if sweep:
                cur.execute(_sql.query("backfill_sweep_plan"))
            with cur.copy(query) as copy:
                rows.extend(bytes(data) for data in copy)
        src = self.target.vector_source
        return _wire.decode_batch(_wire.strip_framing(rows), src.type, self.target.model.dim)

    def _encode(self, batch: _wire.RowBatch) -> tuple[bytes, np.ndarray]:
        return self.encoder(batch, self.target.residual_planes) if len(batch) else (b"", batch.valid)

    def _write(self, batch: _wire.RowBatch, encoded: tuple[bytes, np.ndarray], job: Job, *, last_key: str | None,
               finished: bool, partition: tuple[str, str] | None = None) -> BatchResult:
        data, coded = encoded
        if partition is None:
            update = self.write
        else:  # the UPDATE of one leaf partition: no TID lookup in the others
            update = self._partition_writes.get(partition) or write_query(self.conn, self.target, partition)
            self._partition_writes[partition] = update
        skipped = batch.skipped_keys(coded)
        att = self.target

        def attempt() -> int:
            with self.conn.transaction(), self.conn.cursor() as cur:
                self._timeouts()
                written = 0
                if data:
                    written = write_batch(cur, data, update)
                cur.execute(
                    _sql.query("backfill_checkpoint"),
                    {"attachment": att.id, "job": job.id, "last_key": last_key, "rows": len(batch), "written": written,
                     "skipped": len(skipped), "retries": self.retries_pending, "finished": finished,
                     "code_column": att.code_column},
                )
                if cur.rowcount == 0:
                    raise AttachmentChangedError(
                        f"{att.table}.{att.code_column} is no longer attached with model {att.model.ref} (detached, attached "
                        "again or re-compressed while this backfill ran); the batch was rolled back: run the backfill again")
            return written

        written = self._retrying(attempt)
        self.retries_pending = 0
        job.rows_done += len(batch)
        job.batches += 1
        if self.limits.sleep > 0:
            self.stop.wait(self.limits.sleep)
        return BatchResult(rows=len(batch), written=written, skipped_keys=skipped, last_key=last_key, finished=finished)

    def _retrying(self, step: Callable[[], T]) -> T:
        return retrying(step, self.limits, self.stop, on_retry=self._count_retry)

    def _count_retry(self) -> None:
        self.retries_pending += 1
        self.retries_total += 1


def write_batch(cur: psycopg.Cursor, data: bytes, query: sql.Composed) -> int:
    """COPY a batch's codes (the stream ``Encoder`` makes) into the temp table and run ``query`` (of :func:`write_query`).

    ``query`` fires the table's own triggers: in a pinned session it runs on the search_path the session
    started with, as it would in the application's sessions, and the pinned path is back after it.
    """
    with cur.copy(_sql.query("backfill_copy_in")) as copy:
        copy.write(data)
    unpinned = cur.execute(_sql.query("session_unpin")).fetchone() is not None
    written = cur.execute(query).rowcount
    if unpinned:
        cur.execute(_sql.query("session_repin"))
    return written


def refuse_owner_code(conn: psycopg.Connection, att: Attachment, partition: tuple[str, str] | None = None) -> None:
    """:class:`OwnerCodeError` when this session can act as a superuser and another role owns the table (or the leaf
    ``partition``) whose codes it would write (:func:`compressae_pg._catalog.owner_code`)."""
    _catalog.refuse_owner_code(conn, partition or att.table, writes=True)


def write_query(conn: psycopg.Connection, target: Attachment, partition: tuple[str, str] | None = None) -> sql.Composed:
    """The ``UPDATE … FROM`` of a batch (to the table, or to one leaf partition ``(schema, name)``): the codes, their
    residual sketches and the sketch (``compressae.sketch`` of the source) where the attachment has them. A superuser may not
    write another role's table (:func:`refuse_owner_code`)."""
    refuse_owner_code(conn, target, partition)
    att = target
    table = sql.Identifier(*partition) if partition else att.table.ident
    sketch_set = sketch_differs = residual_set = residual_differs = sql.SQL("")
    (vs,) = conn.execute(_sql.query("pgvector_schema")).fetchone()
    if att.residual_column is not None:
        col = sql.Identifier(att.residual_column)
        residual_set = sql.SQL(", {} = b.residual").format(col)
        residual_differs = _bits_differ(sql.SQL("t.{}").format(col), sql.SQL("b.residual"))
    if att.sketch_column is not None:
        col = sql.Identifier(att.sketch_column)
        value = sql.SQL("CASE WHEN b.code IS NULL THEN NULL ELSE compressae.sketch(t.{}, {}) END").format(
            target.vector_source.ident, sql.Literal(att.sketch_planes))
        sketch_set = sql.SQL(", {} = {}").format(col, value)
        sketch_differs = _bits_differ(sql.SQL("t.{}").format(col), value)
    return _sql.query("backfill_write", table=table, code=att.code_ident,
                      sketch_set=sketch_set, sketch_differs=sketch_differs, residual_set=residual_set,
                      residual_differs=residual_differs, ops=sql.Identifier(vs))


def _bits_differ(stored: sql.Composable, new: sql.Composable) -> sql.Composed:
    """`` OR stored IS DISTINCT FROM new`` for bit strings, in operators a role cannot shadow: the write runs on the
    application's search_path (:func:`write_batch`), where bit(n) against varbit would pick an operator planted for
    exactly those types. Both sides are cast to varbit and compared by pg_catalog's own operators."""
    return sql.SQL(" OR ({a} IS NULL) OPERATOR(pg_catalog.<>) ({b} IS NULL)"
                   " OR CAST({a} AS pg_catalog.varbit) OPERATOR(pg_catalog.<>) CAST({b} AS pg_catalog.varbit)").format(a=stored, b=new)


def create_batch_table(conn: psycopg.Connection) -> None:
    """The session's temporary table of a batch's codes on their way in (``backfill_copy_in``, :func:`write_batch`)."""
    (vs,) = conn.execute(_sql.query("pgvector_schema")).fetchone()
    conn.execute(_sql.query("backfill_temp", sparsevec=sql.Identifier(vs, "sparsevec")))
