"""Code columns attached to application tables (``compressae.attachments``).

Attaching adds a ``sparsevec(h)`` column beside a ``vector`` column and records which model fills
it. The DDL lives in one SQL function, ``compressae.attach``, that every front door calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from . import _sql
from .errors import NotAttachedError
from .registry import ModelInfo
from .relation import Table, resolve_table


@dataclass(frozen=True)
class Attachment:
    """A code column: ``table.code_column`` holds codes of ``table.source_column`` by ``model``."""

    id: int
    table: Table
    source_column: str
    code_column: str
    sync: str
    index_name: str | None
    opclass: str
    graph: str  # 'sketch': HNSW over sketch_column (the default); 'sparse': over the code column
    sketch_column: str | None
    model: ModelInfo

    @property
    def source_ident(self) -> sql.Identifier:
        return sql.Identifier(self.source_column)

    @property
    def code_ident(self) -> sql.Identifier:
        return sql.Identifier(self.code_column)

    def as_dict(self) -> dict:
        return {
            "table": self.table.qualified,
            "column": self.source_column,
            "code_column": self.code_column,
            "model": self.model.ref,
            "sync": self.sync,
            "index": self.index_name,
            "opclass": self.opclass,
            "graph": self.graph,
            "sketch_column": self.sketch_column,
        }


def _from_row(row) -> Attachment:
    (aid, schema, name, source, code, sync, index_name, opclass, graph, sketch, *model, oid, kind) = row
    return Attachment(
        id=aid,
        table=Table(schema=schema, name=name, oid=oid or 0, kind=kind or "r"),
        source_column=source,
        code_column=code,
        sync=sync,
        index_name=index_name,
        opclass=opclass,
        graph=graph,
        sketch_column=sketch,
        model=ModelInfo(*model),
    )


def list_attachments(conn: psycopg.Connection, table: str | Table | None = None) -> list[Attachment]:
    """Every attachment (or those of one table)."""
    oid = resolve_table(conn, table).oid if table is not None else None
    return [_from_row(r) for r in conn.execute(_sql.query("attachment_list"), {"oid": oid}).fetchall()]


def get(conn: psycopg.Connection, table: str | Table, column: str | None = None, *, code_column: str | None = None) -> Attachment:
    """The attachment of ``table`` whose source column is ``column`` (or whose code column is ``code_column``).

    When a source column has several code columns (a re-compression in progress), name the code column.
    """
    found = [
        a
        for a in list_attachments(conn, table)
        if (column is None or a.source_column == column) and (code_column is None or a.code_column == code_column)
    ]
    t = resolve_table(conn, table)
    if not found:
        what = f"code column {code_column!r}" if code_column else f"column {column!r}"
        raise NotAttachedError(f"no compressed code column is attached to {what} of {t}; run `compressae-pg attach` first")
    if len(found) > 1:
        names = ", ".join(a.code_column for a in found)
        raise NotAttachedError(f"{t}.{column} has several code columns ({names}); name one with code_column=")
    return found[0]


def attach(
    conn: psycopg.Connection,
    table: str | Table,
    column: str,
    model: str,
    *,
    code_column: str | None = None,
    sync: str = "none",
    graph: str = "sketch",
) -> Attachment:
    """Add a ``sparsevec(h)`` code column for ``table.column`` and record it (one transaction).

    ``graph="sketch"`` (the default) also adds the ``bit(d)`` sketch column that the HNSW index is
    built over; ``graph="sparse"`` indexes the code column itself by sparse cosine (the paper's path).
    """
    t = resolve_table(conn, table)
    with conn.transaction():
        (aid,) = conn.execute(
            _sql.query("attach"),
            {"table": t.oid, "column": column, "model": model, "code_column": code_column, "sync": sync, "graph": graph},
        ).fetchone()
    return next(a for a in list_attachments(conn, t) if a.id == aid)


def detach(conn: psycopg.Connection, table: str | Table, code_column: str) -> None:
    """Drop the code column (with its index and trigger) and forget the attachment."""
    t = resolve_table(conn, table)
    with conn.transaction():
        conn.execute(_sql.query("detach"), {"table": t.oid, "code_column": code_column})
