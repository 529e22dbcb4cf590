"""Code columns attached to application tables (``compressae.attachments``).

Attaching adds a ``sparsevec(h)`` column beside a ``vector`` column and records which model fills
it. The DDL lives in one SQL function, ``compressae.attach``, that every front door calls; what an
attachment is, and which one a user's names pick, lives on the ground floor (:mod:`compressae_pg._attachment`).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from .. import _attachment, _sql, registry
from .._attachment import Attachment
from .._catalog import Table, resolve_table
from .._defaults import GRAPH, SKETCH_PLANES, SYNC
from ..errors import DependentObjectsError
from ..server import takes_database
from . import pending


def list_attachments(conn: psycopg.Connection, table: str | Table | None = None) -> list[Attachment]:
    """Every attachment (or those of one table)."""
    return _sql.drive(conn, _attachment.listing(None if table is None else resolve_table(conn, table)))


def get(conn: psycopg.Connection, table: str | Table, column: str | None = None, *, code_column: str | None = None,
        model: str | None = None, exclude: Callable[[list[Attachment]], set[str]] | None = None) -> Attachment:
    """The attachment ``(table, column, code_column, model)`` names: :func:`compressae_pg._attachment.resolve`,
    with ``model`` a model reference (``name`` or ``name@version``)."""
    t = resolve_table(conn, table)
    info = None if model is None else registry.get(conn, model)
    return _sql.drive(conn, _attachment.resolve(t, column, code_column=code_column, model=info, exclude=exclude))


def _attach(
    conn: psycopg.Connection,
    table: str | Table,
    column: str,
    model: str,
    *,
    code_column: str | None = None,
    sync: str = SYNC,
    graph: str = GRAPH,
    residual_bits: int | None = None,
    sketch_planes: int = SKETCH_PLANES,
) -> Attachment:
    """Add a ``sparsevec(h)`` code column for ``table.column`` and record it (one transaction).

    ``graph="sketch"`` (the default) also adds the ``bit(sketch_planes·d)`` sketch column that the HNSW
    index is built over (:func:`compressae_pg._codes.sketch_bits`; 2 planes find more of the true neighbours
    among the candidates than 1, the sign bits alone); ``graph="sparse"`` indexes the code column itself by sparse cosine (the paper's path).
    ``residual_bits`` (1 or 2; 0 for none) adds the residual sketch that search scores with; the
    default is 2 with the sketch graph and none with the sparse one. A queue attachment made on a connection
    outside a transaction also gets its pending index (:mod:`.pending`), concurrently, after the transaction.
    """
    t = resolve_table(conn, table)
    with conn.transaction():
        (aid,) = conn.execute(
            _sql.query("attach"),
            {"table": t.oid, "column": column, "model": model, "code_column": code_column, "sync": sync, "graph": graph,
             "residual_bits": residual_bits, "sketch_planes": sketch_planes},
        ).fetchone()
    att = next(a for a in list_attachments(conn, t) if a.id == aid)
    pending.build(conn, att)  # a queue's; where it cannot be built now (in a transaction, say), `sync` builds it
    return att


def _detach(conn: psycopg.Connection, table: str | Table, code_column: str) -> None:
    """Drop the code column (with its index and trigger) and forget the attachment."""
    t = resolve_table(conn, table)
    with conn.transaction():
        conn.execute(_sql.query("detach"), {"table": t.oid, "code_column": code_column})


def refuse_dependents(conn: psycopg.Connection, att: Attachment, doing: str) -> None:
    """:class:`DependentObjectsError` when views or rules depend on the attachment's columns, which ``doing`` drops."""
    columns = [c for c in (att.code_column, att.sketch_column, att.residual_column) if c is not None]
    found = conn.execute(_sql.query("column_dependents"), {"table": att.table.oid, "columns": columns}).fetchall()
    if found:
        named = "; ".join(f"{obj} (role {owner}) on {column}" for obj, owner, column in found)
        raise DependentObjectsError(f"{doing} drops {att.qualified}.{att.code_column}, but other objects depend on its columns: "
                                    f"{named}; their owners (or a superuser) must drop them first")


attach = takes_database(_attach, "attach")
detach = takes_database(_detach, "detach")
