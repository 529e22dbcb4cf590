"""What the sync and async search columns share around a plan: cursors, savepoints, stale targets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row, tuple_row

from .. import _wire
from .._sql import Statement
from ..errors import StaleAttachmentError

Where = sql.Composable | Mapping[str, Any] | None
# Errors that mean a resolved column went away (detached, or swapped by a re-compression): resolve again once.
STALE = (StaleAttachmentError, psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable)


def cursor(conn: Any, stmt: Statement, oids: dict[str, int] | None) -> Any:
    """The cursor a statement runs on: a raw cursor (``$n`` parameters) or rows by name where it asks, with pgvector's loaders for binary rows."""
    raw = psycopg.AsyncRawCursor if isinstance(conn, psycopg.AsyncConnection) else psycopg.RawCursor
    rows = dict_row if stmt.named else tuple_row
    cur = raw(conn, row_factory=rows) if stmt.raw else conn.cursor(row_factory=rows)
    if stmt.binary and oids:
        _wire.install(cur.adapters, oids)
    return cur


def needs_savepoint(conn: Any) -> bool:
    """Whether a call needs a transaction (a savepoint inside the caller's) to scope its SET LOCALs.

    On an idle autocommit connection a batch is its own implicit transaction, which scopes them
    already: no BEGIN and ROLLBACK round trips.
    """
    return not (conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE)
