"""What the sync and async search columns share around a plan: savepoints, stale targets (cursors: :func:`compressae_pg._sql.cursor`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from ..errors import StaleAttachmentError

Where = sql.Composable | Mapping[str, Any] | None
# Errors that mean a resolved column went away (detached, or swapped by a re-compression): resolve again once.
STALE = (StaleAttachmentError, psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable)


def needs_savepoint(conn: Any) -> bool:
    """Whether a call needs a transaction (a savepoint inside the caller's) to scope its SET LOCALs.

    On an idle autocommit connection a batch is its own implicit transaction, which scopes them
    already: no BEGIN and ROLLBACK round trips.
    """
    return not (conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE)
