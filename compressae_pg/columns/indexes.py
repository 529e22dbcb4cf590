"""Build an attachment's HNSW index, concurrently by default; find and rebuild an invalid one.

``CREATE INDEX CONCURRENTLY`` keeps the table writable while it builds, but when it is interrupted
(cancelled, a deadlock, a unique violation, the session killed) it leaves an *invalid* index behind:
never used by queries, yet still maintained by every write. :func:`build_index` finds it, drops it
(concurrently too) and builds it again. The DDL comes from ``compressae.index_ddl``; a partitioned
table's index is built partition by partition (:mod:`.partitions`).
"""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from .. import _locks, _migrate, _sql
from .._catalog import Table
from .._defaults import HNSW_EF_CONSTRUCTION, HNSW_M
from ..errors import BusyError, CompressaeError
from ..server import connect, resolve_dsn
from . import attachments, partitions
from ._index_types import IndexResult, IndexState
from .attachments import Attachment


def state(conn: psycopg.Connection, att: Attachment) -> IndexState | None:
    """The attachment's index as the catalog sees it, or None when there is none (summed over a partitioned table's)."""
    if att.table.kind == "p":
        return partitions.state(conn, att)
    row = conn.execute(_sql.query("index_state"), {"schema": att.table.schema, "name": att.index_name,
                                                   "table": att.table.oid}).fetchone()
    return IndexState(*row) if row else None


def build_index(
    table: str | Table,
    column: str,
    *,
    code_column: str | None = None,
    conn: psycopg.Connection | None = None,
    dsn: str | None = None,
    concurrently: bool = True,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
    maintenance_work_mem: str | None = None,
    parallel_workers: int | None = None,
    rebuild: bool = False,
) -> IndexResult:
    """Make sure the HNSW index of the code column attached to ``table.column`` exists and is valid.

    A valid index is left alone unless ``rebuild``; an invalid one is dropped and built again.
    ``maintenance_work_mem`` (e.g. ``"1GB"``) and ``parallel_workers`` (max_parallel_maintenance_workers)
    apply to this session only. Without ``concurrently`` the build blocks writes to the table.
    """
    with connect(resolve_dsn(dsn, conn), autocommit=True, pinned=True, application_name="compressae-pg index") as conn:
        _migrate.ensure(conn)
        att = attachments.get(conn, table, column, code_column=code_column)
        with _locks.exclusive(conn, "index", att.id):
            return _build(conn, att, concurrently, m, ef_construction, maintenance_work_mem, parallel_workers, rebuild)


def _build(conn, att: Attachment, concurrently: bool, m: int, ef_construction: int,
           maintenance_work_mem: str | None, parallel_workers: int | None, rebuild: bool) -> IndexResult:
    result = IndexResult(table=att.table.qualified, code_column=att.code_column, index=att.index_name, built=False,
                         rebuilt_invalid=False, valid=False, bytes=0, seconds=0.0, concurrently=concurrently,
                         m=m, ef_construction=ef_construction)
    (ddl,) = conn.execute(_sql.query("index_ddl"), {"attachment": att.id, "concurrently": concurrently, "m": m,
                                                    "ef_construction": ef_construction}).fetchone()
    if att.table.kind == "p":  # index_ddl above checked the attachment (operator class, name, m, ef_construction)
        conn.execute(_sql.query("index_settings"), {"maintenance_work_mem": maintenance_work_mem,
                                                    "parallel_workers": parallel_workers})
        started = time.perf_counter()
        partitions.build(conn, att, result, concurrently=concurrently, rebuild=rebuild)
        result.seconds = time.perf_counter() - started if result.built else 0.0
        return result
    before = state(conn, att)
    if before is not None and before.building_pid is not None:
        raise BusyError(f"index {att.index_name} is being built right now by backend pid {before.building_pid}")
    if before is not None and before.valid and not rebuild:
        result.valid, result.bytes = True, before.bytes
        result.notices.append("the index exists and is valid; nothing to do (rebuild=True builds it again)")
        return result
    if before is not None:
        result.rebuilt_invalid = not before.valid
        drop = _sql.query("index_drop", concurrently=sql.SQL("CONCURRENTLY" if concurrently else ""),
                          index=sql.Identifier(att.table.schema, att.index_name))
        conn.execute(drop)
    conn.execute(_sql.query("index_settings"), {"maintenance_work_mem": maintenance_work_mem,
                                                "parallel_workers": parallel_workers})
    conn.add_notice_handler(lambda diag: result.notices.append(diag.message_primary or ""))
    started = time.perf_counter()
    try:
        # The extended protocol (a binary cursor, no parameters): one statement, and no '%' parsing.
        conn.cursor(binary=True).execute(ddl)
    except psycopg.Error as exc:
        left = state(conn, att)
        if left is not None and not left.valid:
            raise CompressaeError(
                f"building {att.index_name} failed ({str(exc).strip()}) and left an invalid index behind; "
                "run `compressae-pg index` again to drop and rebuild it"
            ) from exc
        raise
    result.seconds = time.perf_counter() - started
    after = state(conn, att)
    result.built = True
    result.valid, result.bytes = (after.valid, after.bytes) if after else (False, 0)
    return result
