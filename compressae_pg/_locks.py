"""Advisory locks that keep two operations of one kind off the same attachment at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from . import _sql
from .errors import BusyError


def holder(conn: psycopg.Connection, purpose: str, attachment_id: int) -> tuple | None:
    """``(pid, application_name, backend_start, role)`` of the session holding the lock, or None.

    Of another role's session only the pid and the role show, without pg_read_all_stats.
    """
    return conn.execute(_sql.query("lock_holder"), {"purpose": purpose, "attachment": attachment_id}).fetchone()


def described(row: tuple | None) -> str:
    """A :func:`holder` row in words, as far as it is known."""
    if row is None:
        return "another session"
    pid, app, started, role = row
    seen = [app or None, f"role {role}" if role else None, f"connected {started:%Y-%m-%d %H:%M:%S}" if started else None]
    return f"backend pid {pid} ({', '.join(s for s in seen if s) or 'not visible to this role'})"


@contextmanager
def exclusive(conn: psycopg.Connection, purpose: str, attachment_id: int) -> Iterator[None]:
    """Hold the attachment's ``purpose`` lock (session level) for the block; BusyError naming the holder if taken."""
    params = {"purpose": purpose, "attachment": attachment_id}
    (got,) = conn.execute(_sql.query("lock_try"), params).fetchone()
    if not got:
        raise BusyError(f"a {purpose} of this code column is already running in {described(holder(conn, purpose, attachment_id))}; "
                        "wait for it or stop it first")
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute(_sql.query("lock_release"), params)
