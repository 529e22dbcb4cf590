"""A sync queue's pending index: the partial index by which its workers find changed rows (0024).

``(key) WHERE code IS NULL AND source IS NOT NULL`` holds exactly the rows a worker has to encode, so once it
exists the statement triggers that appended every changed key to ``compressae.sync_queue`` (and whose
transition tables made the application's COPY and UPDATE pay for whole rows) are dropped. It is built
concurrently, which no transaction can do: :func:`compressae_pg.columns.attachments.attach` builds it when
given a connection outside one, and ``compressae-pg sync`` when it starts.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from .. import _locks, _sql
from .._attachment import Attachment
from .._defaults import PENDING_INDEX_WAIT
from ..errors import BusyError


def build(conn: psycopg.Connection, att: Attachment, lock_timeout: str = PENDING_INDEX_WAIT) -> str | None:
    """Give a queue attachment its pending index, so that its workers find changed rows by their NULL code.

    Builds ``CREATE INDEX CONCURRENTLY (key) WHERE code IS NULL AND source IS NOT NULL`` if the table has no valid
    one (first dropping, concurrently, what an interrupted build left), then ``compressae.use_pending_index`` drops
    the statement triggers that queued every changed key (sql/revisions/0024_queue_by_marks/). Until both are done
    the attachment syncs through its queue, losing nothing, so any failure here is returned as a note, not raised:
    another session building it, a wait for other transactions past ``lock_timeout``, a role that does not own the
    table, or a connection in a transaction (a concurrent build needs one outside any). None when it is done.
    """
    if att.sync != "queue":
        return None
    if att.table.kind == "p":
        return "a partitioned table syncs through its queue (no concurrent index on it)"
    if not conn.autocommit or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return "the pending index is built outside a transaction: `compressae-pg sync` builds it"
    try:
        with _locks.exclusive(conn, "pending index", att.id):
            try:
                exists, ddl = _drop_invalid(conn, att, lock_timeout)
                if not exists:
                    try:
                        conn.cursor(binary=True).execute(ddl)
                    except psycopg.Error:
                        _drop_invalid(conn, att, lock_timeout)  # what the interrupted build left, if it got that far
                        raise
                conn.execute(_sql.query("use_pending_index"), {"attachment": att.id})
            finally:
                conn.execute(_sql.query("lock_timeout_reset"))
    except (BusyError, psycopg.Error) as exc:
        return f"{att.table.qualified}.{att.code_column} keeps its sync queue's statement triggers for now: {' '.join(str(exc).split())}"
    return None


def _drop_invalid(conn: psycopg.Connection, att: Attachment, lock_timeout: str) -> tuple[bool, str]:
    """Drop (concurrently) the invalid pending indexes; whether a valid one exists, and the DDL of a new one."""
    invalid, exists, _name, ddl, _ = conn.execute(_sql.query("pending_index_build"),
                                                  {"attachment": att.id, "lock_timeout": lock_timeout}).fetchone()
    for name in invalid:
        conn.execute(_sql.query("index_drop", concurrently=sql.SQL("CONCURRENTLY"), index=sql.Identifier(att.table.schema, name)))
    return exists, ddl
