"""Re-compress a code column with a new model version, without a moment of missing codes.

1. attach a staged code column (``<code>_next``) for the new model, beside the current one;
2. backfill it (resumable: running :func:`recompress` again continues where it stopped);
3. if the current column has an index, build the staged column's index concurrently;
4. swap in one short transaction (``compressae.swap``): the current column and its index are dropped,
   the staged ones take their names, the attachment record follows;
5. sweep the rows written between the end of the backfill and the swap.

Every DDL step runs under ``lock_timeout`` and is retried with backoff, so it never queues long in
front of application traffic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import psycopg

from .. import _locks, _migrate, _sql, registry
from .._attachment import Attachment
from .._defaults import HNSW_EF_CONSTRUCTION, HNSW_M, SKETCH_PLANES
from .._retry import retrying
from ..columns import attachments
from ..columns import indexes as index
from ..columns.indexes import IndexResult
from ..errors import CompressaeError
from ..server import connect, resolve_dsn
from .coordinator import BackfillConfig, BackfillResult, backfill
from .worker import refuse_owner_code

T = TypeVar("T")
STAGED_SUFFIX = "_next"


@dataclass
class RecompressResult:
    """The steps :func:`recompress` took; ``swapped`` is False when the backfill did not finish."""

    table: str
    code_column: str
    old_model: str
    new_model: str
    staged_column: str
    backfill: BackfillResult
    index: IndexResult | None = None
    catch_up: BackfillResult | None = None
    swapped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table, "code_column": self.code_column, "old_model": self.old_model,
            "new_model": self.new_model, "staged_column": self.staged_column, "swapped": self.swapped,
            "backfill": self.backfill.as_dict(),
            "index": self.index.as_dict() if self.index else None,
            "catch_up": self.catch_up.as_dict() if self.catch_up else None,
        }


def staged_name(code_column: str) -> str:
    """The staged column's name for ``code_column`` (within PostgreSQL's 63-byte identifiers)."""
    head = code_column.encode()[: 63 - len(STAGED_SUFFIX)].decode(errors="ignore")
    return head + STAGED_SUFFIX


def recompress(
    table: str,
    column: str,
    model: str,
    *,
    code_column: str | None = None,
    conn: psycopg.Connection | None = None,
    dsn: str | None = None,
    progress: bool = True,
    build_index: bool | None = None,
    m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
    config: BackfillConfig | None = None,
    **settings: Any,
) -> RecompressResult:
    """Replace the codes of ``table.column`` by those of ``model`` (``name`` or ``name@version``).

    ``build_index`` (default: when the current column has an index) builds the staged column's HNSW
    index with ``m``/``ef_construction`` before the swap. Backfill settings as in :func:`backfill`.
    """
    dsn = resolve_dsn(dsn, conn)
    cfg = replace(config or BackfillConfig(), **settings)
    with connect(dsn, autocommit=True, pinned=True, application_name="compressae-pg recompress") as conn:
        _migrate.ensure(conn)
        current = attachments.get(conn, table, column, code_column=code_column,
                                  exclude=lambda found: {staged_name(a.code_column) for a in found})
        refuse_owner_code(conn, current)
        attachments.refuse_dependents(conn, current, "the swap at the end of a re-compression")  # before hours of backfill
        new = registry.get(conn, model)
        if new.id == current.model.id:
            raise CompressaeError(f"{current.table}.{current.code_column} already holds codes of {new.ref}")
        staged = _staged(conn, current, new.ref, cfg)
        had_index = index.state(conn, current) is not None
    result = RecompressResult(table=current.table.qualified, code_column=current.code_column, old_model=current.model.ref,
                              new_model=new.ref, staged_column=staged.code_column,
                              backfill=backfill(table, column, code_column=staged.code_column, dsn=dsn, progress=progress, config=cfg,
                                                index=False))
    if result.backfill.status != "done":
        return result
    if build_index if build_index is not None else had_index:
        result.index = index.build_index(table, column, code_column=staged.code_column, dsn=dsn, m=m, ef_construction=ef_construction)
    with connect(dsn, autocommit=True, pinned=True, application_name="compressae-pg recompress") as conn:
        with _locks.exclusive(conn, "backfill", current.id), _locks.exclusive(conn, "backfill", staged.id):
            params = {"table": current.table.oid, "current_code": current.code_column, "staged_code": staged.code_column}
            _short_ddl(conn, cfg, lambda: conn.execute(_sql.query("swap"), params))
    result.swapped = True
    result.catch_up = backfill(table, column, code_column=current.code_column, dsn=dsn, progress=progress, config=cfg, index=False)
    return result


def _staged(conn: psycopg.Connection, current: Attachment, model_ref: str, cfg: BackfillConfig) -> Attachment:
    """The staged attachment for ``model_ref``: the one a previous run left, or a new one."""
    name = staged_name(current.code_column)
    found = [a for a in attachments.list_attachments(conn, current.table) if a.code_column == name]
    if found:
        if found[0].model.ref != model_ref or found[0].source_column != current.source_column:
            raise CompressaeError(
                f"{current.table}.{name} is staged for {found[0].model.ref}, not {model_ref}; "
                f"detach it first (compressae-pg detach) or finish that re-compression"
            )
        return found[0]
    return _short_ddl(conn, cfg, lambda: attachments.attach(
        current.table, current.source_column, model_ref, code_column=name, sync=current.sync, graph=current.graph,
        sketch_planes=current.sketch_planes or SKETCH_PLANES, conn=conn))


def _short_ddl(conn: psycopg.Connection, cfg: BackfillConfig, step: Callable[[], T]) -> T:
    """Run a DDL step in a transaction under the backfill's lock_timeout, retrying with backoff."""
    limits = cfg.limits()

    def attempt() -> T:
        with conn.transaction():
            conn.execute(_sql.query("backfill_timeouts"),
                         {"lock_timeout": limits.lock_timeout, "statement_timeout": limits.statement_timeout})
            return step()

    return retrying(attempt, limits, threading.Event())
