"""Where every attachment stands: model version, backfill progress, index validity."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import psycopg
from psycopg import sql

from .. import _catalog, _locks, _sql
from .._attachment import Attachment
from ..columns import attachments, partitions
from ..columns import indexes as index
from ..errors import NotAttachedError, OwnerCodeError
from ..server import takes_database
from . import jobs


def _status(conn: psycopg.Connection, table: str | None = None, *, exact: bool = False,
             drift: int | None = None) -> list[dict[str, Any]]:
    """One dict per attachment (of ``table``, or all). ``exact`` counts coded rows with a full scan of each table;
    ``drift`` (a number of rows) decodes a random sample of each and adds its :func:`~compressae_pg.fill.checks.drift`."""
    if drift is not None and drift < 1:
        raise ValueError("drift must be a positive number of rows to sample")
    return [_one(conn, att, exact, drift) for att in attachments.list_attachments(conn, table)]


def backfill_state(conn: psycopg.Connection, att: Attachment) -> dict[str, Any]:
    """The latest backfill run of an attachment, summed over its jobs.

    ``state`` is ``never``, ``running`` (a session holds the backfill lock), ``done``, ``failed``,
    ``paused`` (stopped on purpose, resumable) or ``interrupted`` (its process died; resumable); or
    ``running or interrupted`` for a role that may not work on the table, which cannot know the lock's key (0025).
    """
    run = jobs.latest_run(conn, att.id)
    if not run:
        return {"state": "never", "rows_done": 0}
    try:
        holder, known = _locks.holder(conn, "backfill", att.id), True
    except NotAttachedError:
        holder, known = None, False
    statuses = {j.status for j in run}
    if holder is not None:
        state = "running"
    elif statuses == {"done"}:
        state = "done"
    elif "failed" in statuses:
        state = "failed"
    elif "running" in statuses:
        state = "interrupted" if known else "running or interrupted"
    else:
        state = "paused"
    ranges = [j for j in run if j.kind == "range"]
    return {
        "state": state,
        "pid": holder[0] if holder else None,
        "run": run[0].run,
        "kind": "full" if ranges else "sweep",
        "rows_done": sum(j.rows_done for j in ranges),
        "rows_written": sum(j.rows_written for j in run),
        "rows_skipped": sum(j.rows_skipped for j in run),
        "retries": sum(j.retries for j in run),
        "started_at": str(min(j.started_at for j in run)),
        "updated_at": str(max(j.updated_at for j in run)),
        "errors": [j.error for j in run if j.error],
    }


def _one(conn: psycopg.Connection, att: Attachment, exact: bool, drift: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {**att.as_dict(), "model_version": att.model.version}
    exists = att.table.is_table
    if not exists:
        out["note"] = (f"this attachment's table was dropped without a detach; the next attach forgets the record, "
                       f"or: UPDATE compressae.attachments SET doomed = true WHERE id = {att.id}")
    out["rows_estimate"] = _catalog.estimated_rows(conn, att.table, att.model.dim) if exists else None
    out["backfill"] = backfill_state(conn, att)
    idx = index.state(conn, att)
    out["index_valid"] = idx.valid if idx else None
    out["index_bytes"] = idx.bytes if idx else None
    if exists and att.table.kind == "p":  # sizes above are summed over these
        leaves = [n for n in partitions.tree(conn, att) if n.leaf]
        out["partitions"] = len(leaves)
        out["index_partitions"] = sum(1 for n in leaves if n.index is not None)
    if att.sync == "queue":
        from .queue import queue_state  # torch-free status for the other modes

        out["queue"] = queue_state(conn, att)
    reads = exists and (exact or drift is not None)
    if reads:
        try:
            _catalog.refuse_owner_code(conn, att.table, writes=False)
        except OwnerCodeError as exc:
            reads = False
            out["note"] = f"not read: {exc}"
    if exact and reads:
        residual = sql.SQL("t.{} IS NULL").format(sql.Identifier(att.residual_column)) if att.residual_column else sql.SQL("FALSE")
        query = _sql.query("status_counts", table=att.table.ident, code=att.code_ident, source=att.source_ident, residual=residual)
        rows, coded, missing, no_residual = conn.execute(query).fetchone()
        out.update(rows=rows, rows_coded=coded, rows_missing=missing, rows_without_residual=no_residual)
    if drift is not None and reads:
        from .checks import measure_drift  # loads the model (torch): only when asked

        out["drift"] = asdict(measure_drift(conn, att, drift))
    return out


status = takes_database(_status, "status")
