"""One backfill connection: read a batch, encode it, write it with its checkpoint, retry on lock waits.

Each step is its own short transaction with ``lock_timeout`` and ``statement_timeout`` set locally:
the read (binary COPY of a keyset batch, or of a range of heap pages for the sweep), then the write
(binary COPY into a temp table, one guarded ``UPDATE … FROM``, the job's checkpoint). A step that
cannot get its locks in time is rolled back and retried after an exponential backoff, so the
backfill never queues for long behind (or in front of) application traffic.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from psycopg import errors, sql

from .. import _sql, _wire
from .._catalog import Column
from .._defaults import BATCH_SIZE
from ..columns.attachments import Attachment
from ..errors import AttachmentChanged, RetriesExhausted
from .encoder import Encoder
from .jobs import Job

T = TypeVar("T")
RETRYABLE = (errors.LockNotAvailable, errors.QueryCanceled, errors.DeadlockDetected, errors.SerializationFailure)
MAX_TID = "(4294967295,65535)"


@dataclass(frozen=True)
class FillTarget:
    """What a backfill fills: the attachment's code column, its source column and the table's key."""

    attachment: Attachment
    key: Column
    source: Column

    @property
    def dim(self) -> int:
        return self.attachment.model.dim

    def read_query(self, lo: str | None, hi: str | None, limit: int) -> sql.Composed:
        return _sql.query(
            "backfill_read",
            table=self.key.table.ident,
            key=self.key.ident,
            source=self.source.ident,
            lo=sql.Literal(lo),
            hi=sql.Literal(hi),
            limit=sql.Literal(limit),
        )

    def sweep_query(self, part: sql.Identifier, lo: str, hi: str, horizon: int) -> sql.Composed:
        return _sql.query(
            "backfill_sweep_read",
            table=part,
            key=self.key.ident,
            source=self.source.ident,
            lo=sql.Literal(lo),
            hi=sql.Literal(hi),
            horizon=sql.Literal(horizon),
            attachment=sql.Literal(self.attachment.id),
        )


@dataclass(frozen=True)
class Limits:
    """How a backfill treats the live table."""

    batch_size: int = BATCH_SIZE
    lock_timeout: str = "2s"
    statement_timeout: str = "60s"
    sleep: float = 0.0
    max_retries: int = 30
    backoff: float = 0.05
    backoff_cap: float = 5.0


@dataclass
class BatchResult:
    """What one committed batch did."""

    rows: int
    written: int
    skipped_keys: list[str]
    last_key: str | None
    finished: bool


class Worker:
    """Batches on one connection (autocommit; every step opens its own short transaction)."""

    def __init__(self, conn: psycopg.Connection, target: FillTarget, encoder: Encoder, limits: Limits,
                 stop: threading.Event) -> None:
        self.conn, self.target, self.encoder, self.limits, self.stop = conn, target, encoder, limits, stop
        self.retries_pending = 0
        self.retries_total = 0
        conn.execute(_sql.query("backfill_temp"))
        self.write_query = write_query(conn, target)

    # ---- the two kinds of batch ---------------------------------------------------------------
    def range_batch(self, job: Job, limit: int) -> BatchResult:
        """The next ``limit`` rows of a range job after its last key, written with the checkpoint."""
        lo = job.last_key if job.last_key is not None else job.key_lo
        batch = self._retrying(lambda: self._read(self.target.read_query(lo, job.key_hi, limit)))
        finished = len(batch) < limit
        result = self._write(batch, job, last_key=batch.last_key, finished=finished)
        if batch.last_key is not None:
            job.last_key = batch.last_key
        return result

    def sweep_batches(self, job: Job, parts: list[tuple], horizon: int) -> Iterator[BatchResult]:
        """A pass over the heap, page range by page range, writing the rows changed since ``horizon``."""
        chunk_rows = 4 * self.limits.batch_size
        for schema, name, pages, rows_per_page in parts:
            part = sql.Identifier(schema, name)
            step = max(1, int(chunk_rows / (rows_per_page or max(1.0, 8192 / (4 * self.target.dim + 40)))))
            for lo in range(0, max(pages, 1), step):
                if self.stop.is_set():
                    return
                hi = f"({lo + step},0)" if lo + step < pages else MAX_TID
                query = self.target.sweep_query(part, f"({lo},0)", hi, horizon)
                batch = self._retrying(lambda q=query: self._read(q, sweep=True))
                if len(batch):
                    yield self._write(batch, job, last_key=None, finished=False)

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
        src = self.target.source
        return _wire.decode_batch(_wire.strip_framing(rows), src.type, self.target.dim)

    def _write(self, batch: _wire.RowBatch, job: Job, *, last_key: str | None, finished: bool) -> BatchResult:
        data, coded = self.encoder(batch) if len(batch) else (b"", batch.valid)
        skipped = batch.skipped_keys(coded)
        att = self.target.attachment

        def attempt() -> int:
            with self.conn.transaction(), self.conn.cursor() as cur:
                self._timeouts()
                written = 0
                if data:
                    with cur.copy(_sql.query("backfill_copy_in")) as copy:
                        copy.write(data)
                    written = cur.execute(self.write_query).rowcount
                cur.execute(
                    _sql.query("backfill_checkpoint"),
                    {"attachment": att.id, "job": job.id, "last_key": last_key, "rows": len(batch), "written": written,
                     "skipped": len(skipped), "retries": self.retries_pending, "finished": finished,
                     "code_column": att.code_column},
                )
                if cur.rowcount == 0:
                    raise AttachmentChanged(
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


def write_query(conn: psycopg.Connection, target: FillTarget) -> sql.Composed:
    """The ``UPDATE … FROM`` of a batch: the codes, and the sketch (sign bits of the source) where the attachment has one."""
    att = target.attachment
    sketch_set = sketch_differs = sql.SQL("")
    if att.sketch_column is not None:
        (vs,) = conn.execute(_sql.query("pgvector_schema")).fetchone()
        col = sql.Identifier(att.sketch_column)
        value = sql.SQL("CASE WHEN b.code IS NULL THEN NULL ELSE {}(t.{}) END").format(
            sql.Identifier(vs, "binary_quantize"), target.source.ident)
        sketch_set = sql.SQL(", {} = {}").format(col, value)
        sketch_differs = sql.SQL(" OR t.{} IS DISTINCT FROM {}").format(col, value)
    return _sql.query("backfill_write", table=target.key.table.ident, code=att.code_ident,
                      sketch_set=sketch_set, sketch_differs=sketch_differs)


def retrying(step: Callable[[], T], limits: Limits, stop: threading.Event, on_retry: Callable[[], None] = lambda: None) -> T:
    """Run ``step``; on a lock/statement timeout, deadlock or serialization failure, back off and retry.

    The wait doubles from ``limits.backoff`` up to ``limits.backoff_cap`` (with jitter); after
    ``limits.max_retries`` retries, or once ``stop`` is set, RetriesExhausted is raised.
    """
    failures = 0
    while True:
        try:
            return step()
        except RETRYABLE as exc:
            failures += 1
            on_retry()
            if failures > limits.max_retries or stop.is_set():
                raise RetriesExhausted(f"gave up after {failures} attempts: {exc}".strip()) from exc
            delay = min(limits.backoff_cap, limits.backoff * 2 ** (failures - 1))
            stop.wait(delay * random.uniform(0.5, 1.0))
