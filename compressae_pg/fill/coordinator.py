"""Fill an attached code column on a live table: resumable, throttled, parallel, correct under writes.

The rows are visited in keyset batches of the primary key, over key ranges cut at quantiles (one
range per worker, each worker on its own connection). Every batch commits its codes and its
checkpoint in one short transaction, so a run killed at any moment (kill -9 included) resumes where
it stopped: a batch is either wholly in (with its checkpoint) or wholly redone.

A row that someone changes after it was read is not written (the write matches the exact row version
that was read). Rows written by others during the run are covered by the sync trigger when the
attachment has one; otherwise by a final *sweep*: a pass over the heap that re-encodes only the rows
whose current version was committed by a transaction at or after the run's horizon and not by one of
the backfill's own batches. Sweep passes repeat (up to ``sweep_passes``) while they still find rows;
the horizon they reach is kept, and running the backfill again later sweeps only what changed since.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql
from tqdm.auto import tqdm

from .. import _catalog, _locks, _migrate, _sql, registry
from .._attachment import Attachment
from .._defaults import BATCH_SIZE, HNSW_EF_CONSTRUCTION, HNSW_M, LOCK_TIMEOUT, MAX_RETRIES, SLEEP, STATEMENT_TIMEOUT, WORKERS
from .._retry import Limits
from ..columns import attachments
from ..columns.indexes import build_index
from ..columns.indexes import state as index_state
from ..errors import CompressaeError, RetriesExhaustedError
from ..server import connect, resolve_dsn
from . import jobs
from .encoder import Encoder
from .jobs import Job
from .worker import BatchResult, Worker, fillable, refuse_owner_code

APPLICATION_NAME = "compressae-pg backfill"
MODES = ("auto", "resume", "restart")
MAX_SKIPPED_KEYS = 20


@dataclass(frozen=True)
class BackfillConfig:
    """Backfill settings. Timeouts are PostgreSQL intervals (``"2s"``, ``"500ms"``)."""

    batch_size: int = BATCH_SIZE
    workers: int = WORKERS
    sleep: float = SLEEP
    lock_timeout: str = LOCK_TIMEOUT
    statement_timeout: str = STATEMENT_TIMEOUT
    max_rows: int | None = None
    max_retries: int = MAX_RETRIES
    sweep_passes: int = 3
    device: str | None = None

    def limits(self) -> Limits:
        return Limits(self.batch_size, self.lock_timeout, self.statement_timeout, self.sleep, self.max_retries)

    def check(self) -> None:
        if self.batch_size < 1 or self.workers < 1 or self.sweep_passes < 1 or self.max_retries < 0:
            raise ValueError("batch_size, workers and sweep_passes must be positive, max_retries not negative")
        if self.sleep < 0 or (self.max_rows is not None and self.max_rows < 1):
            raise ValueError("sleep must not be negative and max_rows must be positive")


@dataclass
class BackfillResult:
    """What a backfill run did (this invocation only; the job table keeps the totals)."""

    attachment: dict[str, Any]
    mode: str
    status: str = "done"
    rows: int = 0
    rows_written: int = 0
    rows_skipped: int = 0
    rows_swept: int = 0
    batches: int = 0
    retries: int = 0
    seconds: float = 0.0
    workers: int = 0
    skipped_keys: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    index: dict[str, Any] | None = None  # what the index build after a finished run did (IndexResult.as_dict())

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_s": round(self.rows_per_s, 1), "seconds": round(self.seconds, 3)}


class _Tally:
    """Counters shared by the workers, the optional row budget, and the progress bar."""

    def __init__(self, result: BackfillResult, bar: tqdm, max_rows: int | None) -> None:
        self.result, self.bar, self.left = result, bar, max_rows
        self.lock = threading.Lock()

    def take(self, n: int) -> int:
        """Up to ``n`` rows of the budget (all ``n`` without one)."""
        with self.lock:
            if self.left is None:
                return n
            got = min(n, self.left)
            self.left -= got
            return got

    def exhausted(self) -> bool:
        """Whether a row budget was given and is spent."""
        with self.lock:
            return self.left == 0

    def add(self, batch: BatchResult, *, reserved: int = 0, swept: bool = False) -> None:
        with self.lock:
            r = self.result
            if self.left is not None:
                self.left += max(0, reserved - batch.rows)
            r.rows += batch.rows
            r.rows_swept += batch.rows if swept else 0
            r.rows_written += batch.written
            r.rows_skipped += len(batch.skipped_keys)
            r.batches += 1
            r.skipped_keys.extend(batch.skipped_keys[: MAX_SKIPPED_KEYS - len(r.skipped_keys)])
        self.bar.update(batch.rows)

    def add_retries(self, n: int) -> None:
        with self.lock:
            self.result.retries += n


def backfill(
    table: str,
    column: str,
    *,
    code_column: str | None = None,
    model: str | None = None,
    mode: str = "auto",
    conn: psycopg.Connection | None = None,
    dsn: str | None = None,
    progress: bool = True,
    config: BackfillConfig | None = None,
    index: bool = True,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
    **settings: Any,
) -> BackfillResult:
    """Fill the code column attached to ``table.column``; see the module docstring for the guarantees.

    ``mode``: ``"auto"`` resumes an unfinished run, else sweeps what changed since the last finished
    one (or does a full pass if there was none); ``"resume"`` insists on an unfinished run;
    ``"restart"`` abandons any and does a full pass. ``code_column``/``model`` pick the attachment
    when the column has several. Settings are those of :class:`BackfillConfig`.

    A key range whose batches keep failing is recorded as failed and the result's ``status`` is
    ``"failed"`` (with ``errors``); ``"paused"`` after ``max_rows``. Either way, run it again to resume.
    Raises BusyError while another backfill of the same code column runs.

    With ``index`` (the default), a run that ends ``"done"`` then builds the code column's HNSW index
    (``m``, ``ef_construction``) CONCURRENTLY when it has none or an invalid one: the fast order, codes
    first and the graph over all of them at once (see :func:`_index_after`).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    cfg = replace(config or BackfillConfig(), **settings)
    cfg.check()
    started = time.perf_counter()
    dsn = resolve_dsn(dsn, conn)
    with connect(dsn, autocommit=True, pinned=True, application_name=APPLICATION_NAME) as conn:
        _migrate.ensure(conn)
        att = attachments.get(conn, table, column, code_column=code_column, model=model)
        target = fillable(att)
        refuse_owner_code(conn, target)
        if att.table.kind not in ("r", "p"):
            raise CompressaeError(f"{att.table} is not a table; only tables can be backfilled")
        encoder = Encoder(registry.load(conn, att.model.ref)[1], cfg.device)
        with _locks.exclusive(conn, "backfill", att.id):
            run, result = _plan(conn, target, cfg, mode)
            if run and result.mode != "sweep" and index_state(conn, att) is not None:
                result.notes.append(f"note: {att.code_column} already has an index ({att.index_name}); every write also "
                                    "inserts into it, which slows the backfill many times over: build the index after")
            if run:
                _execute(conn, dsn, target, encoder, cfg, run, result, progress)
        result.seconds = time.perf_counter() - started
        if index and result.status == "done":
            _index_after(conn, dsn, att, result, m, ef_construction)
    return result


def _index_after(conn: psycopg.Connection, dsn: str, att: Attachment, result: BackfillResult, m: int, ef_construction: int) -> None:
    """Build the missing (or invalid) index of a filled code column CONCURRENTLY, or say why not.

    A role that does not own the table cannot create an index on it: that run ends with a note naming
    the command to run. A partitioned table gets its index partition by partition (:mod:`..columns.partitions`).
    """
    before = index_state(conn, att)
    if before is not None and before.valid:
        return
    (owner,) = conn.execute(_sql.query("owns_table"), {"table": att.table.oid}).fetchone()
    if not owner:
        result.notes.append(f"note: {att.code_column} has no valid index and the current role does not own the table: "
                            "build it with `compressae-pg index`")
        return
    built = build_index(att.table, att.source_column, code_column=att.code_column, dsn=dsn, m=m, ef_construction=ef_construction)
    result.index = built.as_dict()


def _plan(conn: psycopg.Connection, target: Attachment, cfg: BackfillConfig, mode: str) -> tuple[list[Job], BackfillResult]:
    att = target
    result = BackfillResult(attachment=att.as_dict(), mode="full")
    sweep = att.sync != "trigger"
    previous = jobs.latest_run(conn, att.id)
    unfinished = [j for j in previous if not j.finished]
    if mode == "resume" and not unfinished:
        raise CompressaeError(f"nothing to resume: no unfinished backfill of {att.table}.{att.code_column}")
    if mode != "restart" and unfinished:
        foreign = _foreign_partitions(conn, att, unfinished)
        if foreign:
            result.notes.append(f"the unfinished run names relations that are not leaf partitions of {att.table} now "
                                f"({', '.join(foreign)}); starting over")
        elif jobs.horizon_usable(conn, min(j.horizon for j in unfinished)):
            result.mode = "resume"
            return unfinished, result
        else:
            result.notes.append("the unfinished run is too old to resume safely (transaction ids moved on); starting over")
    elif mode == "auto" and previous and _residual_gap(conn, att):
        result.notes.append(f"rows of {att.table} have a code but no residual sketch in {att.residual_column}: a full pass writes them")
    elif mode == "auto" and previous:
        if not sweep:
            result.mode = "none"
            result.notes.append("the sync trigger keeps the code column fresh and the last run finished: nothing to do")
            return [], result
        done_sweep = next((j for j in previous if j.kind == "sweep"), None)
        if done_sweep and jobs.horizon_usable(conn, done_sweep.horizon):
            result.mode = "sweep"
            return jobs.plan(conn, att, None, sweep=True, horizon=done_sweep.horizon), result
    horizon = jobs.horizon_now(conn)
    return jobs.plan(conn, att, _slices(conn, target, cfg.workers), sweep=sweep, horizon=horizon), result


def _residual_gap(conn: psycopg.Connection, att: Attachment) -> bool:
    """Whether some coded row lacks its residual sketch (a table coded before 0010 added the column)."""
    if att.residual_column is None:
        return False
    query = _sql.query("backfill_residual_gap", table=att.table.ident, code=att.code_ident,
                       residual=sql.Identifier(att.residual_column))
    return conn.execute(query).fetchone()[0]


def _slices(conn: psycopg.Connection, target: Attachment, workers: int) -> list[jobs.Slice]:
    """The key ranges of a new run: the table cut into one range per worker or, for a partitioned table, each leaf
    partition (cut further when there are more workers than partitions), largest first so the workers spread over them."""
    att = target
    heaps = _catalog.heap_rows(conn, att.table, att.model.dim)
    if att.table.kind != "p":
        return [(None, jobs.split_keys(conn, target.key, workers, sum(rows for _p, rows in heaps)))]
    total = max(1, sum(rows for _p, rows in heaps))
    heaps.sort(key=lambda heap: -heap[1])
    per = [1 if workers <= len(heaps) else max(1, round(workers * rows / total)) for _p, rows in heaps]
    return [(part, jobs.split_keys(conn, target.key, n, rows, part)) for (part, rows), n in zip(heaps, per)]


def _foreign_partitions(conn: psycopg.Connection, att: Attachment, run: list[Job]) -> list[str]:
    """The partitions named by jobs of ``run`` that are not leaf partitions of the attachment's table (a job row
    may have been edited, or the partitions changed): such a run is never resumed, so no other relation is written."""
    leaves = {part for part, _rows in _catalog.heap_rows(conn, att.table)} if att.table.kind == "p" else set()
    return sorted({".".join(j.partition) for j in run if j.partition is not None and j.partition not in leaves})


def _execute(conn, dsn, target: Attachment, encoder: Encoder, cfg: BackfillConfig, run: list[Job],
             result: BackfillResult, progress: bool) -> None:
    ranges = [j for j in run if j.kind == "range"]
    done_before = sum(j.rows_done for j in ranges)
    total = max(_catalog.estimated_rows(conn, target.table, target.model.dim), done_before) if ranges else None
    bar = tqdm(total=total, initial=done_before, desc="backfill", unit="row", disable=not progress, dynamic_ncols=True)
    tally = _Tally(result, bar, cfg.max_rows)
    stop = threading.Event()
    failures: dict[Job, tuple[BaseException, int]] = {}
    try:
        result.workers = _run_ranges(dsn, target, encoder, cfg, ranges, stop, tally, failures)
        sweep = next((j for j in run if j.kind == "sweep"), None)
        if sweep is not None and not stop.is_set() and not failures:
            bar.set_description("sweep")
            _run_sweep(conn, target, encoder, cfg, sweep, stop, tally)
    except KeyboardInterrupt:
        stop.set()
        _settle(conn, run, failures, stop)
        raise
    finally:
        bar.close()
    result.errors = [f"{_describe(j)}: {exc}" for j, (exc, _retries) in failures.items()]
    _settle(conn, run, failures, stop)
    result.status = "failed" if failures else ("done" if all(j.status == "done" for j in run) else "paused")


def _run_ranges(dsn: str, target: Attachment, encoder: Encoder, cfg: BackfillConfig, ranges: list[Job],
                stop: threading.Event, tally: _Tally, failures: dict[Job, tuple[BaseException, int]]) -> int:
    """Run the unfinished range jobs on up to ``cfg.workers`` threads, one connection each; return how many."""
    todo: queue.SimpleQueue[Job] = queue.SimpleQueue()
    for job in ranges:
        if not job.finished:
            todo.put(job)

    def work() -> None:
        conn = worker = None
        try:
            while not stop.is_set():
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    if worker is None:
                        conn = connect(dsn, autocommit=True, pinned=True, application_name=APPLICATION_NAME)
                        worker = Worker(conn, target, encoder, cfg.limits(), stop)
                    _range_job(worker, job, cfg, stop, tally)
                except Exception as exc:  # noqa: BLE001 - one range failing leaves the others running
                    failures[job] = (exc, worker.retries_pending if worker else 0)
                    if worker is not None:
                        worker.retries_pending = 0
        finally:
            if worker is not None:
                tally.add_retries(worker.retries_total)
            if conn is not None:
                conn.close()

    n = min(cfg.workers, todo.qsize())
    if n == 0:
        return 0
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="backfill") as pool:
        futures = [pool.submit(work) for _ in range(n)]
        try:
            while wait(futures, timeout=0.5).not_done:
                pass
        except KeyboardInterrupt:
            stop.set()
            wait(futures)
            raise
    return n


def _range_job(worker: Worker, job: Job, cfg: BackfillConfig, stop: threading.Event, tally: _Tally) -> None:
    jobs.update(worker.conn, job, status="running")
    for batch in worker.range_batches(job, tally.take):
        tally.add(batch, reserved=batch.reserved)
        if batch.finished:
            job.status = "done"
            return
    if tally.exhausted():
        stop.set()


def _run_sweep(conn: psycopg.Connection, target: Attachment, encoder: Encoder, cfg: BackfillConfig, job: Job,
               stop: threading.Event, tally: _Tally) -> None:
    worker = Worker(conn, target, encoder, cfg.limits(), stop)
    parts = _catalog.heap_parts(conn, target.table)
    jobs.update(conn, job, status="running")
    try:
        for sweep_pass in range(cfg.sweep_passes):
            horizon = jobs.horizon_now(conn)
            found = 0
            for batch in worker.sweep_batches(job, parts, job.horizon):
                tally.add(batch, swept=True)
                found += batch.rows
            if stop.is_set():
                return
            last = found == 0 or sweep_pass == cfg.sweep_passes - 1
            jobs.update(conn, job, horizon=horizon, status="done" if last else None, retries=worker.retries_pending)
            worker.retries_pending = 0
            jobs.prune_xids(conn, target.id, horizon)
            if last:
                return
    finally:
        tally.add_retries(worker.retries_total)


def _settle(conn: psycopg.Connection, run: list[Job], failures: dict[Job, tuple[BaseException, int]],
            stop: threading.Event) -> None:
    """Record how the unfinished jobs of this invocation ended: failed (with the error) or paused."""
    for job in run:
        if job.status == "done":
            continue
        exc, retries = failures.get(job, (None, 0))
        if exc is not None and not (isinstance(exc, RetriesExhaustedError) and stop.is_set()):
            jobs.update(conn, job, status="failed", error=str(exc), retries=retries)
        else:
            jobs.update(conn, job, status="paused", retries=retries)


def _describe(job: Job) -> str:
    if job.kind == "sweep":
        return "sweep"
    where = f" of partition {'.'.join(job.partition)}" if job.partition else ""
    return f"range {job.worker}{where} ({job.key_lo or '-inf'} .. {job.key_hi or '+inf'}]"
