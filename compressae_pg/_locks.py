"""Advisory locks that keep two operations of one kind off the same attachment at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from . import _sql
from .errors import BusyError


def holder(conn: psycopg.Connection, purpose: str, attachment_id: int) -> tuple | None:
    """``(pid, application_name, backend_start)`` of the session holding the lock, or None."""
    return conn.execute(_sql.query("lock_holder"), {"purpose": purpose, "attachment": attachment_id}).fetchone()


@contextmanager
def exclusive(conn: psycopg.Connection, purpose: str, attachment_id: int) -> Iterator[None]:
    """Hold the attachment's ``purpose`` lock (session level) for the block; BusyError naming the holder if taken."""
    params = {"purpose": purpose, "attachment": attachment_id}
    (got,) = conn.execute(_sql.query("lock_try"), params).fetchone()
    if not got:
        who = holder(conn, purpose, attachment_id)
        where = f"backend pid {who[0]} ({who[1] or 'no application_name'}, connected {who[2]:%Y-%m-%d %H:%M:%S})" if who else "another session"
        raise BusyError(f"a {purpose} of this code column is already running in {where}; wait for it or stop it first")
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute(_sql.query("lock_release"), params)
