"""Code columns attached to application tables (``compressae.attachments``).

Attaching adds a ``sparsevec(h)`` column beside a ``vector`` column and records which model fills
it. The DDL lives in one SQL function, ``compressae.attach``, that every front door calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from .. import _sql, registry
from .._catalog import Table, resolve_table
from .._defaults import GRAPH, SKETCH_PLANES, SYNC
from ..errors import AttachmentLeftoverError, UnknownTableError
from ..registry import ModelInfo
from ..server import takes_database
from .choice import choose


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
    residual_column: str | None = None  # the residual sketch (compressae_pg._residual), 0010
    residual_planes: int = 0
    sketch_planes: int = 0  # planes of the sketch column (bit(sketch_planes·d)); 0 without one, 0016

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
            "residual_column": self.residual_column,
            "residual_bits": self.residual_planes,
            "sketch_planes": self.sketch_planes,
        }


def _from_row(row) -> Attachment:
    (aid, schema, name, source, code, sync, index_name, opclass, graph, sketch, residual, planes, sketch_planes, *model, oid,
     kind) = row
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
        residual_column=residual,
        residual_planes=planes,
        sketch_planes=sketch_planes or 0,
    )


def list_attachments(conn: psycopg.Connection, table: str | Table | None = None) -> list[Attachment]:
    """Every attachment (or those of one table)."""
    oid = resolve_table(conn, table).oid if table is not None else None
    return [_from_row(r) for r in conn.execute(_sql.query("attachment_list"), {"oid": oid}).fetchall()]


def get(conn: psycopg.Connection, table: str | Table, column: str | None = None, *, code_column: str | None = None,
        model: str | None = None, exclude: Callable[[list[Attachment]], set[str]] | None = None) -> Attachment:
    """The attachment ``(table, column, code_column, model)`` names, by :func:`.choice.choose`.

    When a source column has several code columns (a re-compression in progress), name the code column
    or the model. ``exclude`` names code columns to leave out (given all of the table's attachments), as
    long as exactly one attachment of ``column`` is left; otherwise the choice is among all of them.
    """
    t = resolve_table(conn, table)
    if not t.is_table:
        raise UnknownTableError(f"{t.described}: attachments apply to tables, so any attachment recorded under this name "
                                "belongs to a table that was dropped; its owner can detach it")
    found = list_attachments(conn, t)
    if exclude is not None and code_column is None:
        excluded = exclude(found)
        left = [a for a in found if a.code_column not in excluded]
        found = left if sum(a.source_column == column for a in left) == 1 else found
    wanted = None
    if model is not None:
        info = registry.get(conn, model)
        wanted = (lambda a: a.model.id, info.id, info.ref)
    return choose(found, str(t), column, source=lambda a: a.source_column, code=lambda a: a.code_column,
                  code_column=code_column, model=wanted)


def leftover_query(table: sql.Composable, column: str, code_column: str | None) -> sql.Composed:
    """The query (run without parameters) for a dropped table's record that attaching ``table.column`` would collide with.

    ``table`` is a literal of the table's quoted (optionally qualified) name. Records name their table by schema and name,
    so one left by a table dropped without a detach claims the code column of the next table of that name.
    """
    return _sql.query("attachment_leftover", table=table, column=sql.Literal(column), code_column=sql.Literal(code_column))


def refuse_leftover(found: list | None) -> None:
    """AttachmentLeftoverError naming the record :func:`leftover_query` found, if it found one."""
    if found is not None:
        raise AttachmentLeftoverError.of(*found)


def add(
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
    default is 2 with the sketch graph and none with the sparse one.
    """
    t = resolve_table(conn, table)
    refuse_leftover(conn.execute(leftover_query(sql.Literal(t.ident.as_string(conn)), column, code_column)).fetchone()[0])
    with conn.transaction():
        (aid,) = conn.execute(
            _sql.query("attach"),
            {"table": t.oid, "column": column, "model": model, "code_column": code_column, "sync": sync, "graph": graph,
             "residual_bits": residual_bits, "sketch_planes": sketch_planes},
        ).fetchone()
    return next(a for a in list_attachments(conn, t) if a.id == aid)


def remove(conn: psycopg.Connection, table: str | Table, code_column: str) -> None:
    """Drop the code column (with its index and trigger) and forget the attachment."""
    t = resolve_table(conn, table)
    with conn.transaction():
        conn.execute(_sql.query("detach"), {"table": t.oid, "code_column": code_column})


attach = takes_database(add, "attach")
detach = takes_database(remove, "detach")
