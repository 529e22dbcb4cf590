"""The checkpoints of backfill runs (``compressae.backfill_jobs``): planning, resuming, locking.

A run is a set of jobs planned together: one ``range`` job per worker, each a slice of the primary
key (cut at quantiles of a sample, so any sortable key type works), and, unless a sync trigger keeps
the code column fresh, one ``sweep`` job. A partitioned table's ranges are slices of its leaf
partitions, each job reading and writing one partition. Every job row carries the run's *horizon*: the oldest
transaction still running when the run was planned. Whatever anyone else commits from then on is
found again by the sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from .. import _sql
from .._attachment import Attachment
from .._catalog import Column
from ..errors import CompressaeError

UNFINISHED = ("pending", "running", "paused", "failed")
# age() compares 32-bit xids; a horizon older than this could wrap around, so it is not trusted.
MAX_HORIZON_AGE = 2**31 - 2**26
SAMPLE_ROWS = 20_000


@dataclass(eq=False)
class Job:
    """One row of ``compressae.backfill_jobs`` (compared by identity)."""

    id: int
    run: int
    kind: str
    worker: int
    key_lo: str | None
    key_hi: str | None
    last_key: str | None
    horizon: int
    rows_done: int
    rows_written: int
    rows_skipped: int
    batches: int
    retries: int
    status: str
    error: str | None
    started_at: object = None
    updated_at: object = None
    finished_at: object = None
    part_schema: str | None = None
    part_name: str | None = None

    @property
    def partition(self) -> tuple[str, str] | None:
        """(schema, name) of the leaf partition a range job fills, None for the whole table."""
        return (self.part_schema, self.part_name) if self.part_name is not None else None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "cancelled")

    def as_dict(self) -> dict:
        return {k: (str(v) if k.endswith("_at") and v is not None else v) for k, v in self.__dict__.items()}


def latest_run(conn: psycopg.Connection, attachment_id: int) -> list[Job]:
    """The jobs of the attachment's most recent run (empty if it never ran)."""
    return [Job(*row) for row in conn.execute(_sql.query("backfill_jobs"), {"attachment": attachment_id}).fetchall()]


def horizon_now(conn: psycopg.Connection) -> int:
    """The oldest transaction id still running now (all older ones have finished)."""
    return conn.execute(_sql.query("backfill_snapshot"), {"horizon": 0}).fetchone()[0]


def horizon_usable(conn: psycopg.Connection, horizon: int) -> bool:
    """Whether rows written since ``horizon`` can still be told apart by their 32-bit xmin."""
    return conn.execute(_sql.query("backfill_snapshot"), {"horizon": horizon}).fetchone()[1] < MAX_HORIZON_AGE


def split_keys(conn: psycopg.Connection, key: Column, parts: int, estimated_rows: int,
               partition: tuple[str, str] | None = None) -> list[str]:
    """Up to ``parts - 1`` distinct key values (as text, ascending) cutting the table (or one partition) into equal slices."""
    if parts <= 1:
        return []
    percent = 100.0 if estimated_rows <= SAMPLE_ROWS else max(0.01, 100.0 * SAMPLE_ROWS / estimated_rows)
    fractions = [i / parts for i in range(1, parts)]
    table = sql.Identifier(*partition) if partition else key.table.ident
    query = _sql.query("backfill_quantiles", key=key.ident, table=table, fractions=sql.Literal(fractions),
                       percent=sql.Literal(percent))
    (cuts,) = conn.execute(query).fetchone()
    return list(dict.fromkeys(c for c in cuts or [] if c is not None))


Slice = tuple[tuple[str, str] | None, list[str]]  # a leaf partition (None: the whole table) and the keys that cut it


def plan(conn: psycopg.Connection, att: Attachment, slices: list[Slice] | None, *, sweep: bool, horizon: int) -> list[Job]:
    """Record a new run: the key ranges of each slice, split at its cuts (None: no ranges, only a sweep), and the sweep.

    The caller holds the attachment's lock. Earlier unfinished jobs are cancelled, and the
    backfill's own xids older than the horizon are forgotten (no sweep of this run looks at them).
    """
    kinds, workers, los, his, schemas, names = [], [], [], [], [], []
    for part, cuts in slices or []:
        bounds = [None, *cuts, None]
        for i in range(len(bounds) - 1):
            kinds.append("range")
            workers.append(len(workers))
            los.append(bounds[i])
            his.append(bounds[i + 1])
            schemas.append(part[0] if part else None)
            names.append(part[1] if part else None)
    if sweep:
        kinds.append("sweep")
        workers.append(0)
        los.append(None)
        his.append(None)
        schemas.append(None)
        names.append(None)
    if not kinds:
        raise CompressaeError("nothing to plan: no key ranges and no sweep")
    params = {"attachment": att.id, "model": att.model.id, "horizon": horizon}
    with conn.transaction():
        conn.execute(_sql.query("backfill_cancel"), params)
        conn.execute(_sql.query("backfill_prune_xids"), params)
        conn.execute(_sql.query("backfill_plan"), {**params, "kinds": kinds, "workers": workers, "los": los, "his": his,
                                                     "part_schemas": schemas, "part_names": names})
    return latest_run(conn, att.id)


def update(
    conn: psycopg.Connection,
    job: Job,
    *,
    status: str | None = None,
    error: str | None = None,
    retries: int = 0,
    horizon: int | None = None,
) -> None:
    """Change a job's state outside of a batch (its own short transaction)."""
    with conn.transaction():
        conn.execute(
            _sql.query("backfill_job_update"),
            {"job": job.id, "status": status, "error": error, "retries": retries, "horizon": horizon},
        )
    if status:
        job.status = status
    if horizon is not None:
        job.horizon = horizon
    job.retries += retries


def prune_xids(conn: psycopg.Connection, attachment_id: int, horizon: int) -> None:
    """Forget the backfill's own transactions older than ``horizon``."""
    with conn.transaction():
        conn.execute(_sql.query("backfill_prune_xids"), {"attachment": attachment_id, "horizon": horizon})
