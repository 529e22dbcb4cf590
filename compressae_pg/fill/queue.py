"""Drain the sync queue of a ``sync='queue'`` attachment: encode the changed rows, write their codes.

The application's row trigger only clears a changed row's code. The worker finds such rows two ways:

* through the attachment's *pending index*, a partial index of the rows whose code is NULL
  (sql/revisions/0024_queue_by_marks/), which :func:`sync` builds concurrently when it starts: it reads
  them, lowest keys first, without locking them, in batches that an advisory lock named by the batch's first
  key keeps to one worker;
* until that index exists, by the keys the statement triggers appended to ``compressae.sync_queue``
  (sql/revisions/0006_sync_queue/): whole entries, and the last one in part, with ``FOR UPDATE SKIP LOCKED``.

Any number of workers, on any machines, share the work. Each batch reads the rows' current versions,
encodes them with the Python encoder, writes them with the backfill's write path, and deletes what it took
from the queue, in one transaction. Hence:

* a worker killed at any point (kill -9, a lost connection, a server restart) leaves its rows uncoded and its
  entries queued, their locks gone with its transaction: nothing is lost, and the next worker redoes them;
* a row changed again while it is being encoded has a new version (which the write, matching the exact
  version read, leaves alone) with its code still NULL (or a new entry): it is encoded again, never left stale;
* a row that cannot be encoded (zero vector, wrong dimension) gets a NULL code and a row in
  ``compressae.sync_failures`` with the reason and the row version that failed, which workers skip until
  the row changes;
* an application's UPDATE of a row being encoded does not wait for the batch (rows found by their NULL code are
  not locked until the write; queued entries are, the rows they name are not).

``follow`` polls the pending index every ``MARK_POLL`` seconds when idle (each look is one index probe); an
attachment still queueing keys is woken by LISTEN (the trigger NOTIFYs ``compressae_sync_<id>``), polling
every ``poll`` seconds in case a notification is missed. A lost connection is reconnected.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from tqdm.auto import tqdm

from .. import _locks, _migrate, _sql, _wire, registry
from .._attachment import Attachment
from .._defaults import BATCH_SIZE, MARK_POLL, POLL, QUEUE_ENTRY_KEYS, QUEUE_KEY_SETTINGS, STATUS_PENDING_CAP
from .._retry import Limits, retrying
from ..columns import attachments, pending
from ..errors import NotQueuedError
from ..server import connect, resolve_dsn
from .encoder import Encoder
from .worker import create_batch_table, fillable, refuse_owner_code, write_batch, write_query

APPLICATION_NAME = "compressae-pg sync"
MAX_ATTEMPTS = 5
MAX_FAILED_KEYS = 20
PENDING_BATCHES_TRIED = 8  # batches of rows found by their NULL code a worker looks at for one that no other worker holds
RECONNECT_DELAY = 2.0
# What one row can make a batch fail with (a lost connection, or a dropped column, stops the worker instead).
ROW_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError, psycopg.errors.InternalError, psycopg.errors.RaiseException)


@dataclass
class SyncResult:
    """What a sync run did: row changes taken off the queue, rows encoded and written, rows that failed."""

    attachment: dict[str, Any]
    mode: str
    changes: int = 0
    rows: int = 0
    rows_written: int = 0
    rows_failed: int = 0
    batches: int = 0
    retries: int = 0
    reconnects: int = 0
    seconds: float = 0.0
    queue_left: int | None = None
    failed_keys: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_s": round(self.rows_per_s, 1), "seconds": round(self.seconds, 3)}

    def summary(self) -> str:
        r = self
        text = (f"sync {r.attachment['table']}.{r.attachment['code_column']} ({r.mode}): {r.changes} queued changes, "
                f"{r.rows} rows encoded ({r.rows_written} written, {r.rows_failed} failed) in {r.batches} batches, "
                f"{r.seconds:.1f}s ({r.rows_per_s:.0f} rows/s); {r.queue_left} changes left")
        if r.failed_keys:
            text += f"\nrows without a code (see compressae.sync_failures): {', '.join(r.failed_keys)}"
        return text + "".join(f"\nerror: {e}" for e in r.errors) + "".join(f"\nnote: {n}" for n in r.notes)


@dataclass
class Batch:
    """One committed batch: queued changes taken, rows read, codes written, keys that failed."""

    changes: int
    rows: int = 0
    written: int = 0
    failed: list[str] = field(default_factory=list)


class QueueWorker:
    """Batches of one attachment's queue on one connection (autocommit; one transaction per batch)."""

    def __init__(self, conn: psycopg.Connection, target: Attachment, encoder: Encoder, limits: Limits,
                 stop: threading.Event) -> None:
        self.conn, self.target, self.encoder, self.limits, self.stop = conn, target, encoder, limits, stop
        self.retries = 0
        conn.execute(_sql.query("sync_key_settings"), {"settings": Jsonb(QUEUE_KEY_SETTINGS)})
        create_batch_table(conn)
        self.write = write_query(conn, target)
        (self.vs,) = conn.execute(_sql.query("pgvector_schema")).fetchone()
        self.salt = _locks.salt(conn, target.id)
        self.refresh()

    def refresh(self) -> None:
        """Look again whether rows are found by their NULL code: through the pending index, or (row triggers alone,
        the index since dropped) by a scan, which is slow but loses nothing."""
        index, marked = self.conn.execute(_sql.query("sync_marked"), {"attachment": self.target.id, "table": self.target.table.oid}).fetchone()
        self.index, self.scan = index, index is not None or marked

    def batch(self, limit: int) -> Batch:
        """Claim, encode, write and dequeue up to ``limit`` queued changes."""
        try:
            return retrying(lambda: self._batch(limit), self.limits, self.stop, on_retry=self._count_retry)
        except ROW_ERRORS:
            if limit > 1:  # a row spoils the batch (an application trigger refusing the write, say): one by one
                return self._one_by_one(limit)
            raise

    def _count_retry(self) -> None:
        self.retries += 1

    def _one_by_one(self, limit: int) -> Batch:
        total = Batch(changes=0)
        while total.changes < limit:  # ends: a failing entry leaves the queue after MAX_ATTEMPTS
            try:
                one = self.batch(1)
            except ROW_ERRORS as exc:
                self._count_failure(exc)
                continue
            if one.changes == 0:
                break
            total.changes, total.rows, total.written = total.changes + one.changes, total.rows + one.rows, total.written + one.written
            total.failed += one.failed
        return total

    def _count_failure(self, exc: BaseException) -> None:
        """Count a failed batch against the entry at the queue's head (moved to the failures at MAX_ATTEMPTS), or,
        with no entry left, record the first row found by its NULL code as failed in its current version."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            claimed, _partial, _malformed = self._claim(cur, 1)
            if claimed or not self.scan:
                cur.execute(_sql.query("sync_attempt"), {
                    "attachment": self.target.id, "ids": [i for i, _keys in claimed], "max_attempts": MAX_ATTEMPTS,
                    "reason": f"failed {MAX_ATTEMPTS} batches, the last with: {' '.join(str(exc).split())}"})
                return
            found = self._claim_rows(cur, 1)
            cur.execute(_sql.query("sync_done"), {
                "attachment": self.target.id, "ids": [], "partial": None, "taken": 0, "coded": [],
                "failed": list(found), "reasons": [f"its write failed: {' '.join(str(exc).split())}"] * len(found),
                "versions": list(found.values())})

    def _claim_rows(self, cur: psycopg.Cursor, limit: int) -> dict[str, str]:
        """Up to ``limit`` rows whose code is NULL (sync_pending.sql), in a batch no other worker holds
        (sync_pending_batch.sql; a role that may not work on the attachment holds none): their keys, with the xmin read."""
        t = self.target
        skip = 0
        for _look in range(2 * PENDING_BATCHES_TRIED):
            query = _pending_query("sync_pending", t, limit=sql.Literal(limit), skip=sql.Literal(skip))
            found = cur.execute(query).fetchall()
            if not found:
                return {}
            got, lock = cur.execute(_sql.query("sync_pending_batch"), {"attachment": t.id, "salt": self.salt, "key": found[0][0]}).fetchone()
            if got or not _locks.entitled(self.conn, t.id, lock):  # a squatter's is no worker's batch
                again = cur.execute(query).fetchall()  # without what a batch committed since the first look
                if again and again[0][0] == found[0][0]:
                    return {key: str(xmin) for key, xmin in again}
                continue  # a batch below committed, and the rows moved up: look again at this offset
            skip += limit
        return {}  # other workers hold every batch looked at: theirs to encode

    def _claim(self, cur: psycopg.Cursor, limit: int) -> tuple[list[tuple[int, list[str]]], tuple[int, int] | None, dict[str, str]]:
        """Lock free entries, oldest first, until they hold ``limit`` keys; the last may be taken in part.

        An entry of more keys than ``max(limit, QUEUE_ENTRY_KEYS)`` is first split into entries of that
        many (sync_split.sql), so that one entry's cost is linear in its size. Returns ``(id, keys taken)``
        per entry, ``(id, keys taken)`` of the entry taken in part, if any, and the failure records (name: reason) of malformed entries, which are claimed whole with no key.
        """
        att = self.target.id
        claimed: list[tuple[int, list[str]]] = []
        partial: tuple[int, int] | None = None
        malformed: dict[str, str] = {}
        total, after = 0, 0
        while total < limit:
            peek = cur.execute(_sql.query("sync_peek"), {"attachment": att, "after": after, "limit": limit - total}).fetchall()
            if not peek:
                break
            ids, held = [], 0
            for eid, n in peek:  # lock no more entries than the keys still wanted need (others may take the rest)
                ids.append(eid)
                held += n
                if total + held >= limit:
                    break
            for eid, keys, text in cur.execute(_sql.query("sync_claim"), {"attachment": att, "ids": ids}).fetchall():
                if keys is None:
                    claimed.append((eid, []))
                    malformed[f"queue entry {eid}"] = f"malformed queue entry (not a flat list of non-NULL keys): {text}"
                    total += 1
                    continue
                if len(keys) > (size := max(limit, QUEUE_ENTRY_KEYS)):  # split once; its first piece holds what is wanted
                    eid, keys = min(cur.execute(_sql.query("sync_split"), {"attachment": att, "id": eid, "size": size}).fetchall())
                take = keys[: max(limit - total, 0)]
                claimed.append((eid, take))
                total += len(take)
                partial = (eid, len(take)) if len(take) < len(keys) else None
            after = ids[-1]
        return claimed, partial if claimed else None, malformed

    def _batch(self, limit: int) -> Batch:
        att = self.target
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(_sql.query("backfill_timeouts"),
                        {"lock_timeout": self.limits.lock_timeout, "statement_timeout": self.limits.statement_timeout})
            claimed, partial, malformed = self._claim(cur, limit)
            failed = dict(malformed)
            queued = sum(len(taken) for _id, taken in claimed) + len(malformed)
            found = self._claim_rows(cur, limit - queued) if self.scan and queued < limit else {}
            if not claimed and not found:
                return Batch(changes=0)
            keys = list(dict.fromkeys([k for _id, taken in claimed for k in taken] + list(found)))
            bad = {k for (k,) in cur.execute(_sql.query("sync_invalid_keys"), {"keys": keys, "key_type": self.target.key.type})}
            failed.update({k: "the key is not a value of the table's primary key type" for k in keys if k in bad})
            keys = [k for k in keys if k not in bad]
            rows = self._read(cur, keys) if keys else _wire.decode_batch([], self.target.vector_source.type, self.target.model.dim)
            data, coded = self.encoder(rows, att.residual_planes) if len(rows) else (b"", rows.valid)
            written = write_batch(cur, data, self.write) if data else 0
            skipped = rows.skipped_keys(coded)
            failed.update(self._reasons(cur, skipped) if skipped else {})
            versions = {k.decode(): str(x) for k, x in zip(rows.keys, rows.identity["xmin"])}
            cur.execute(_sql.query("sync_done"), {
                "attachment": att.id, "ids": [i for i, _taken in claimed if partial is None or i != partial[0]],
                "partial": partial[0] if partial else None, "taken": partial[1] if partial else 0,
                "coded": [k.decode() for k, ok in zip(rows.keys, coded) if ok],
                "failed": list(failed), "reasons": list(failed.values()), "versions": [versions.get(k) for k in failed]})
        return Batch(changes=queued + len(found), rows=len(rows), written=written, failed=list(failed))

    def _read(self, cur: psycopg.Cursor, keys: list[str]) -> _wire.RowBatch:
        t = self.target
        query = _sql.query("sync_read", table=t.key.table.ident, key=t.key.ident, source=t.vector_source.ident, keys=_array(keys))
        with cur.copy(query) as copy:
            chunks = [bytes(data) for data in copy]
        return _wire.decode_batch(_wire.strip_framing(chunks), t.vector_source.type, t.model.dim)

    def _reasons(self, cur: psycopg.Cursor, skipped: list[str]) -> dict[str, str]:
        t = self.target
        query = _sql.query("sync_reasons", table=t.key.table.ident, key=t.key.ident, source=t.vector_source.ident,
                           keys=_array(skipped), dims=sql.Identifier(self.vs, "vector_dims"),
                           norm=sql.Identifier(self.vs, "vector_norm" if t.vector_source.type == "vector" else "l2_norm"))
        found = {key: (dims, norm) for key, dims, norm in cur.execute(query).fetchall()}
        out = {}
        for key in skipped:
            dims, norm = found.get(key, (None, None))
            if dims is not None and dims != t.model.dim:
                out[key] = f"the source has {dims} dimensions; model {t.model.ref} expects {t.model.dim}"
            elif norm == 0:
                out[key] = "the source is the zero vector"
            else:
                out[key] = "the source cannot be encoded (not finite, or its code has no non-zero value)"
        return out


def _pending_query(name: str, att: Attachment, **more: sql.Composable) -> sql.Composed:
    """Query ``name`` over the rows of ``att``'s table that wait for a code (sync_pending_rows.sql)."""
    rows = _sql.query("sync_pending_rows", key=att.key.ident, code=att.code_ident, source=att.source_ident, attachment=sql.Literal(att.id))
    return _sql.query(name, table=att.table.ident, key=att.key.ident, pending=rows, **more)


def _array(keys: list[str]) -> sql.Literal:
    """One array literal of ``keys``' text, left untyped so that PostgreSQL reads it as the key type's array."""
    quoted = ('"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys)
    return sql.Literal("{" + ",".join(quoted) + "}")


def _wait(listen: psycopg.Connection, poll: float, stop: threading.Event) -> None:
    """Until a NOTIFY arrives, ``poll`` seconds pass, or ``stop`` is set (looked at every second)."""
    deadline = time.monotonic() + poll
    while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        if next(listen.notifies(timeout=min(left, 1.0), stop_after=1), None) is not None:
            return


def queue_state(conn: psycopg.Connection, att: Attachment, *, count_pending: bool | None = None) -> dict[str, Any]:
    """A queue attachment's backlog: row changes to encode (``depth``: keys ``queued`` and ``pending`` rows found by their
    NULL code), entries, lag (age of the oldest entry, seconds; a row found by its NULL code has no age), failures,
    and the pending index (0024), None while the attachment's statement triggers still queue every key.

    Counting pending rows reads the table, which runs code its owner chose (sql/queries/session_owns.sql): by default
    only a session of the table's owner counts them (``pending`` is None for others, and ``depth`` the keys queued),
    up to ``STATUS_PENDING_CAP`` (``pending_capped``: there are more); ``sync``, whose job is to read the table, counts
    every one always."""
    changes, entries, lag, failures = conn.execute(_sql.query("sync_state"), {"attachment": att.id}).fetchone()
    index, marked = conn.execute(_sql.query("sync_marked"), {"attachment": att.id, "table": att.table.oid}).fetchone()
    pending, capped = (0 if index is None and not marked else None), False
    if pending is None and (count_pending or count_pending is None and conn.execute(_sql.query("session_owns"), {"table": att.table.oid}).fetchone()[0]):
        limit = sql.SQL("ALL") if count_pending else sql.Literal(STATUS_PENDING_CAP + 1)
        (pending,) = conn.execute(_pending_query("sync_pending_count", att, limit=limit)).fetchone()
        if not count_pending and pending > STATUS_PENDING_CAP:
            pending, capped = STATUS_PENDING_CAP, True
    return {"depth": changes + (pending or 0), "queued": changes, "pending": pending, "pending_capped": capped, "entries": entries,
            "lag_s": round(lag, 3) if lag is not None else 0.0, "failures": failures, "pending_index": index,
            "statement_triggers": not marked}


def sync(
    table: str,
    column: str,
    *,
    code_column: str | None = None,
    model: str | None = None,
    follow: bool = False,
    batch_size: int = BATCH_SIZE,
    poll: float = POLL,
    conn: psycopg.Connection | None = None,
    dsn: str | None = None,
    device: str | None = None,
    encoder: Encoder | None = None,
    stop: threading.Event | None = None,
    progress: bool = True,
    limits: Limits | None = None,
) -> SyncResult:
    """Drain the queue of the ``sync='queue'`` attachment of ``table.column``; see the module docstring.

    Without ``follow``, returns once no free entry is left. With it, runs until ``stop`` is set (the
    CLI sets it on SIGTERM/SIGINT), finishing the batch at hand. ``encoder`` reuses a loaded model.
    """
    if batch_size < 1 or poll <= 0:
        raise ValueError("batch_size and poll must be positive")
    stop = stop or threading.Event()
    limits = limits or Limits(batch_size=batch_size)
    dsn = resolve_dsn(dsn, conn)
    started = time.perf_counter()
    with connect(dsn, autocommit=True, pinned=True, application_name=APPLICATION_NAME) as conn:
        _migrate.ensure(conn)
        att = attachments.get(conn, table, column, code_column=code_column, model=model)
        if att.sync != "queue":
            raise NotQueuedError(f"{att.table}.{att.code_column} syncs by {att.sync!r}, not by queue: attach it with --sync queue")
        target = fillable(att)
        refuse_owner_code(conn, target)
        note = pending.build(conn, att)
        encoder = encoder or Encoder(registry.load(conn, att.model.ref)[1], device)
        total = None if follow else queue_state(conn, att, count_pending=True)["depth"]
    result = SyncResult(attachment=att.as_dict(), mode="follow" if follow else "once", notes=[note] if note else [])
    bar = tqdm(total=total, desc="sync", unit="change", disable=not progress, dynamic_ncols=True)
    try:
        while True:
            try:
                _drain(dsn, target, encoder, limits, stop, follow, poll, batch_size, result, bar)
                break
            except psycopg.OperationalError as exc:
                if not follow or stop.is_set():
                    raise
                result.reconnects += 1
                result.errors = result.errors[-9:] + [f"lost the connection, reconnecting: {' '.join(str(exc).split())}"]
                stop.wait(RECONNECT_DELAY)
    finally:
        bar.close()
        result.seconds = time.perf_counter() - started
    with connect(dsn, autocommit=True, pinned=True, application_name=APPLICATION_NAME) as conn:
        result.queue_left = queue_state(conn, att, count_pending=True)["depth"]
    return result


def _drain(dsn: str, target: Attachment, encoder: Encoder, limits: Limits, stop: threading.Event, follow: bool,
           poll: float, batch_size: int, result: SyncResult, bar: tqdm) -> None:
    att = target
    with connect(dsn, autocommit=True, pinned=True, application_name=APPLICATION_NAME) as conn, \
            connect(dsn, autocommit=True, pinned=True, application_name=APPLICATION_NAME + " listen") as listen:
        if follow:
            listen.execute(sql.SQL("LISTEN {}").format(sql.Identifier(f"compressae_sync_{att.id}")))
        worker = QueueWorker(conn, target, encoder, limits, stop)
        try:
            while not stop.is_set():
                batch = worker.batch(batch_size)
                if batch.changes:
                    result.changes += batch.changes
                    result.rows += batch.rows
                    result.rows_written += batch.written
                    result.rows_failed += len(batch.failed)
                    result.batches += 1
                    result.failed_keys.extend(batch.failed[: MAX_FAILED_KEYS - len(result.failed_keys)])
                    bar.update(batch.changes)
                    continue
                if not follow:
                    return
                worker.refresh()
                _wait(listen, min(poll, MARK_POLL) if worker.index else poll, stop)
        finally:
            result.retries += worker.retries

