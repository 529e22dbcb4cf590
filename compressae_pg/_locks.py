"""Advisory locks that keep two operations of one kind off the same attachment at once.

A key hashes a salt that row security shows only to the roles that may work on the attachment (0025), so no other
role can compute it, and its purpose's turn. pg_locks shows every role a key while it is held, so the holder moves
the turn on when it is done, and a key found held by a role that may not work on the attachment is given up for the
next turn's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from . import _sql
from .errors import BusyError, NotAttachedError

TRIES = 3  # turns tried when keys are found squatted


def _found(row: tuple | None, attachment_id: int) -> tuple:
    if row is None:
        raise NotAttachedError(f"attachment {attachment_id} is not one this role may work on (that needs UPDATE on its "
                               "table, or to be a member of the table's owner)")
    return row


def salt(conn: psycopg.Connection, attachment_id: int) -> int:
    """The attachment's secret, for keys of its own (a sync worker's batches); NotAttachedError as :func:`key`."""
    return _found(conn.execute(_sql.query("lock_salt"), {"attachment": attachment_id}).fetchone(), attachment_id)[0]


def key(conn: psycopg.Connection, purpose: str, attachment_id: int) -> tuple[int, int]:
    """``(turn, key)`` of the attachment's ``purpose`` lock; NotAttachedError for a role that may not work on it."""
    return _found(conn.execute(_sql.query("lock_key"), {"purpose": purpose, "attachment": attachment_id}).fetchone(), attachment_id)


def holder(conn: psycopg.Connection, purpose: str, attachment_id: int) -> tuple | None:
    """``(pid, application_name, backend_start, role, may work on it)`` of the session holding the lock, or None;
    NotAttachedError for a role that may not work on the attachment, which cannot know the key.

    Of another role's session only the pid and the role show, without pg_read_all_stats.
    """
    return _holder(conn, attachment_id, key(conn, purpose, attachment_id)[1])


def _holder(conn: psycopg.Connection, attachment_id: int, k: int) -> tuple | None:
    return conn.execute(_sql.query("lock_holder"), {"attachment": attachment_id, "key": k}).fetchone()


def _may_work(row: tuple | None) -> bool:
    """Whether a :func:`holder` row is a session that may work on the attachment (not a squatter, nor let go just now)."""
    return row is not None and row[4]


def entitled(conn: psycopg.Connection, attachment_id: int, k: int) -> bool:
    """Whether key ``k`` is held by a session that may work on the attachment."""
    return _may_work(_holder(conn, attachment_id, k))


def described(row: tuple | None) -> str:
    """A :func:`holder` row in words, as far as it is known."""
    if row is None:
        return "another session"
    pid, app, started, role, _entitled = row
    seen = [app or None, f"role {role}" if role else None, f"connected {started:%Y-%m-%d %H:%M:%S}" if started else None]
    return f"backend pid {pid} ({', '.join(s for s in seen if s) or 'not visible to this role'})"


def _next_turn(conn: psycopg.Connection, purpose: str, attachment_id: int, turn: int) -> None:
    conn.execute(_sql.query("lock_turn"), {"purpose": purpose, "attachment": attachment_id, "turn": turn})


def _take(conn: psycopg.Connection, purpose: str, attachment_id: int) -> tuple[int, int]:
    """Take the lock: ``(turn, key)`` held; BusyError naming the holder if a session that may work on it has it.

    A key given up for the next turn's is looked at again once that one is held: a session that may work on the
    attachment could have taken it between the look that found a squatter and the move to the next turn.
    """
    busy, given_up = None, []
    for _ in range(TRIES):
        turn, k = key(conn, purpose, attachment_id)
        if conn.execute(_sql.query("lock_try"), {"key": k}).fetchone()[0]:
            if key(conn, purpose, attachment_id)[0] == turn:
                busy = next(filter(_may_work, (_holder(conn, attachment_id, old) for old in given_up)), None)
                if busy is None:
                    return turn, k
            conn.execute(_sql.query("lock_release"), {"key": k})
            if busy is not None:
                break
            continue  # the turn moved on as the lock was taken: try the next one
        busy = _holder(conn, attachment_id, k)
        if _may_work(busy):
            break
        _next_turn(conn, purpose, attachment_id, turn)  # held by a role that may not work on it, or let go just now
        given_up.append(k)
    raise BusyError(f"a {purpose} of this code column is already running in {described(busy)}; wait for it or stop it first")


@contextmanager
def exclusive(conn: psycopg.Connection, purpose: str, attachment_id: int) -> Iterator[None]:
    """Hold the attachment's ``purpose`` lock (session level) for the block; BusyError naming the holder if taken."""
    turn, k = _take(conn, purpose, attachment_id)
    try:
        yield
    finally:
        if not conn.closed:
            status = conn.info.transaction_status
            if status == psycopg.pq.TransactionStatus.IDLE:
                _next_turn(conn, purpose, attachment_id, turn)
            if status != psycopg.pq.TransactionStatus.INERROR:  # there the error goes on, and the session's end lets go
                conn.execute(_sql.query("lock_release"), {"key": k})
