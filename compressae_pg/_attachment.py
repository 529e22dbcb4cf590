"""An attachment, resolved: the one type every stage reads, built by one sans-IO plan from rows read by name.

``sql/queries/attachments.sql`` reads every fact a stage needs (the attachment, its model, the table's primary
key, the source column's type, where pgvector lives) and :func:`from_row` builds an :class:`Attachment` from
one of its rows by column name. :func:`listing` and :func:`resolve` are plans (see :mod:`._sql`): the columns
stage drives them on a sync connection, search on either kind, so the lookup, the choice among a table's
code columns and the primary-key rule are written once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from psycopg import sql

from . import _sql
from ._catalog import DROPPED, Column, Table, dimensions, existing, lookup
from ._choice import choose
from ._sql import Plan, Statement
from .errors import NoPrimaryKeyError, UnknownTableError
from .registry import ModelInfo


@dataclass(frozen=True)
class Attachment:
    """A code column: ``table.code_column`` holds codes of ``table.source_column`` by ``model``.

    ``keys`` are the table's primary-key columns in key order (their SQL types), ``source`` the source column
    (None when it no longer exists), ``vector_schema`` and ``oids`` where pgvector and its types are.
    """

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
    keys: tuple[Column, ...] = ()
    key_oid: int | None = None  # the type oid of the first key column
    source: Column | None = None
    vector_schema: str | None = None
    oids: Mapping[str, int] = field(default_factory=dict)

    @property
    def source_ident(self) -> sql.Identifier:
        return sql.Identifier(self.source_column)

    @property
    def code_ident(self) -> sql.Identifier:
        return sql.Identifier(self.code_column)

    @property
    def qualified(self) -> str:
        """``schema.table`` as plain text, for messages."""
        return self.table.qualified

    @property
    def needs_codes(self) -> bool:
        """Whether the index is probed with the query's code (graph ``sparse``) rather than its sign bits."""
        return self.graph == "sparse"

    @property
    def key(self) -> Column:
        """The table's single-column primary key; NoPrimaryKeyError when it has none or a composite one."""
        if not self.keys:
            raise NoPrimaryKeyError(f"table {self.table} has no primary key; add one (keyset batches and search results need it)")
        if len(self.keys) > 1:
            cols = ", ".join(k.name for k in self.keys)
            raise NoPrimaryKeyError(f"table {self.table} has a composite primary key ({cols}); a single-column key is required")
        return self.keys[0]

    @property
    def vector_source(self) -> Column:
        """The source column, which a backfill reads; UnknownTableError when it is gone or not a vector column."""
        return existing(self.source, self.table, self.source_column, vector=True)

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


def from_row(row: Mapping[str, Any]) -> Attachment:
    """The attachment of one ``attachments.sql`` row, read by column name (one whose table was dropped: of a
    :data:`~._catalog.DROPPED` table named by the oid it had)."""
    table = (Table(schema="", name=f"(dropped table, oid {row['recorded_oid']})", oid=0, kind=DROPPED) if row["table_oid"] is None
             else Table(schema=row["table_schema"], name=row["table_name"], oid=row["table_oid"], kind=row["table_kind"]))
    source = None if row["source_type"] is None else Column(
        table, row["source_column"], row["source_type"], dimensions(row["source_type"], row["source_typmod"]), row["source_not_null"])
    return Attachment(
        id=row["id"],
        table=table,
        source_column=row["source_column"],
        code_column=row["code_column"],
        sync=row["sync"],
        index_name=row["index_name"],
        opclass=row["opclass"],
        graph=row["graph"],
        sketch_column=row["sketch_column"],
        model=ModelInfo(**{f.name: row[f"model_{f.name}"] for f in fields(ModelInfo)}),
        residual_column=row["residual_column"],
        residual_planes=row["residual_planes"],
        sketch_planes=row["sketch_planes"] or 0,
        keys=tuple(Column(table, name, type, None, True) for name, type in zip(row["key_columns"], row["key_types"])),
        key_oid=row["key_oid"],
        source=source,
        vector_schema=row["vector_schema"],
        oids={name: row[f"{name}_oid"] for name in ("sparsevec", "vector", "halfvec")},
    )


def listing(table: Table | None = None) -> Plan[list[Attachment]]:
    """Every attachment (or those of one table)."""
    rows = yield Statement(_sql.query("attachments"), {"oid": None if table is None else table.oid}, named=True)
    return [from_row(r) for r in rows]


def resolve(table: str | Table, column: str | None, *, code_column: str | None = None, model: ModelInfo | None = None,
            exclude: Callable[[list[Attachment]], set[str]] | None = None) -> Plan[Attachment]:
    """The attachment ``(table, column, code_column, model)`` names, by :func:`._choice.choose`.

    When a source column has several code columns (a re-compression in progress), name the code column
    or the model. ``exclude`` names code columns to leave out (given all of the table's attachments), as
    long as exactly one attachment of ``column`` is left; otherwise the choice is among all of them.
    """
    t = table if isinstance(table, Table) else (yield from lookup(table))
    if not t.is_table:
        raise UnknownTableError(f"{t.described}: attachments apply to tables, and a table's attachments stay with it by its oid")
    found = yield from listing(t)
    if exclude is not None and code_column is None:
        excluded = exclude(found)
        left = [a for a in found if a.code_column not in excluded]
        found = left if sum(a.source_column == column for a in left) == 1 else found
    wanted = None if model is None else (lambda a: a.model.id, model.id, model.ref)
    return choose(found, str(t), column, source=lambda a: a.source_column, code=lambda a: a.code_column,
                  code_column=code_column, model=wanted)
