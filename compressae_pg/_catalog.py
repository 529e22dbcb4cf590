"""Resolve the tables and columns a user names into catalog facts and safe SQL identifiers.

A name is taken literally (any characters, case kept) and looked up on the ``search_path``; if
no relation has that exact name and it contains a dot, ``schema.table`` is tried. Everything
downstream composes the resolved names with ``psycopg.sql.Identifier``: no user text is ever
spliced into SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from . import _sql
from ._sql import Plan, Statement
from .errors import OwnerCodeError, UnknownTableError

VECTOR_TYPES = ("vector", "halfvec")


TABLE_KINDS = ("r", "p")
STORED_KINDS = (*TABLE_KINDS, "m")  # what rows are read from (training, queries): a view plans the tables under it
DROPPED = "dropped"  # the kind of an attachment's table that was dropped: the record keeps only the oid it had
RELATION_KINDS = {"r": "table", "p": "partitioned table", "m": "materialized view", "v": "view", "f": "foreign table",
                  DROPPED: "dropped table"}


@dataclass(frozen=True)
class Table:
    """A resolved relation."""

    schema: str
    name: str
    oid: int
    kind: str = "r"

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    @property
    def is_table(self) -> bool:
        """A table (plain or partitioned): what an attachment is made on. A view or a foreign table of the same
        name would run its owner's code in whoever reads it."""
        return self.kind in TABLE_KINDS

    @property
    def described(self) -> str:
        """``schema.name``, and what it is when it is not a table, for messages."""
        return self.qualified if self.is_table else f"{self.qualified} (a {RELATION_KINDS.get(self.kind, self.kind)}, not a table)"

    @property
    def qualified(self) -> str:
        """``schema.name`` as plain text, for records and messages (not for SQL); a dropped table has only a name."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def __str__(self) -> str:
        return self.qualified


@dataclass(frozen=True)
class Column:
    """A resolved column with its type name and typmod (dimensions for vector types, else None)."""

    table: Table
    name: str
    type: str
    dim: int | None
    not_null: bool = False

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.name)

    def __str__(self) -> str:
        return f"{self.table}.{self.name}"


def lookup(table: str, schema: str | None = None) -> Plan[Table]:
    """The relation ``table`` (optionally in ``schema``) names, as the module says: the one lookup, sans-IO, that
    :func:`resolve_table` and search's plans drive. UnknownTableError names what was looked for."""
    if not table or not isinstance(table, str):
        raise UnknownTableError("a table name is required")
    tries = [(schema, table)] + ([tuple(table.split(".", 1))] if schema is None and "." in table else [])
    for sch, name in tries:
        rows = yield Statement(_sql.query("resolve_table"), {"name": name, "schema": sch}, named=True)
        if rows:
            return Table(**rows[0])
    where = f"schema {schema!r}" if schema else "the search_path"
    raise UnknownTableError(f"table {table!r} does not exist in {where} (or you cannot see it)")


def owner_code(table: Table | tuple[str, str], *, writes: bool) -> Plan[None]:
    """OwnerCodeError when this session could act as a superuser and another role, not a superuser, owns ``table``, a
    partition or inheritance child under it, or the leaf ``(schema, name)`` (owner_code.sql).

    Writing a table fires its owner's triggers, generated columns and index expressions, and reading one plans its
    owner's index predicates: in such a session that code runs with a superuser's rights.
    """
    schema, name = (table.schema, table.name) if isinstance(table, Table) else table
    rows = yield Statement(_sql.query("owner_code"), {"schema": schema, "name": name})
    if rows:
        relation, owner = rows[0]
        what = f"writing its codes fires {owner}'s triggers" if writes else f"reading it runs code of {owner}'s (an index predicate, say)"
        raise OwnerCodeError(
            f"{relation} belongs to {owner}: {what}, which would run with this session's rights, which reach a superuser's; run "
            f"this command as {owner} (logged in as it, not by SET ROLE or SET SESSION AUTHORIZATION), or as a role without "
            f"superuser that may {'update' if writes else 'read'} the table (docs/operations.md, \"Whose rights the writes run with\")")


def refuse_owner_code(conn: psycopg.Connection, table: Table | tuple[str, str], *, writes: bool) -> None:
    """:func:`owner_code` on a sync connection."""
    _sql.drive(conn, owner_code(table, writes=writes))


def resolve_table(conn: psycopg.Connection, table: str | Table, schema: str | None = None) -> Table:
    """Find ``table`` (optionally in ``schema``) by :func:`lookup`; a :class:`Table` is already found."""
    return table if isinstance(table, Table) else _sql.drive(conn, lookup(table, schema))


def resolve_column(conn: psycopg.Connection, table: str | Table, column: str, *, vector: bool = False) -> Column:
    """Find ``column`` of ``table``; with ``vector=True`` it must be a ``vector`` or ``halfvec`` column."""
    t = resolve_table(conn, table)
    stmt = Statement(_sql.query("column_type"), {"oid": t.oid, "column": column}, named=True)
    with _sql.cursor(conn, stmt) as cur:
        row = cur.execute(stmt.query, stmt.params).fetchone()
    found = None if row is None else Column(t, column, row["type"], dimensions(row["type"], row["typmod"]), row["not_null"])
    return existing(found, t, column, vector=vector)


def existing(found: Column | None, table: Table, column: str, *, vector: bool = False) -> Column:
    """``found``, the column ``column`` of ``table`` as the catalog has it (None: it does not exist); UnknownTableError
    when it does not exist or, with ``vector=True``, is not a ``vector`` or ``halfvec`` column."""
    if found is None:
        raise UnknownTableError(f"column {column!r} does not exist in table {table}")
    if vector and found.type not in VECTOR_TYPES:
        raise UnknownTableError(f"column {table}.{column} has type {found.type}; expected vector or halfvec")
    return found


def dimensions(typname: str, typmod: int) -> int | None:
    """The dimensions a pgvector type's typmod holds; None for other types, or a vector column of any size."""
    return typmod if typname in (*VECTOR_TYPES, "sparsevec") and typmod > 0 else None


MAX_TID = "(4294967295,65535)"  # past the last tuple of any heap: the open end of a heap's last page range


@dataclass(frozen=True)
class HeapPart:
    """One heap that holds a table's rows (the table itself, or one of its leaf partitions)."""

    schema: str
    name: str
    pages: int
    rows_per_page: float | None  # by the planner's statistics; None if never analyzed

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def per_page(self, dim: int | None = None) -> float:
        """Rows a page holds: the statistics' figure, or as many rows of one ``dim``-d vector as fit in 8 KiB."""
        return self.rows_per_page or max(1.0, 8192 / (4 * (dim or 384) + 40))

    def ranges(self, rows: int, dim: int | None = None) -> Iterator[tuple[str, str]]:
        """ctid ranges ``[lo, hi)`` of about ``rows`` rows each, in page order, the last one open-ended."""
        step = max(1, int(rows / self.per_page(dim)))
        for lo in range(0, max(self.pages, 1), step):
            yield f"({lo},0)", f"({lo + step},0)" if lo + step < self.pages else MAX_TID


def heap_parts(conn: psycopg.Connection, table: Table) -> list[HeapPart]:
    """The heaps holding ``table``'s rows, by schema and name, read by column name."""
    with conn.cursor(row_factory=dict_row) as cur:
        return [HeapPart(**row) for row in cur.execute(_sql.query("heap_parts"), {"oid": table.oid}).fetchall()]


def estimated_rows(conn: psycopg.Connection, table: Table, dim: int | None = None) -> int:
    """Rows in ``table`` (all leaf partitions) by the planner's statistics, or by its size if never analyzed."""
    return sum(rows for _part, rows in heap_rows(conn, table, dim))


def heap_rows(conn: psycopg.Connection, table: Table, dim: int | None = None) -> list[tuple[tuple[str, str], int]]:
    """((schema, name), estimated rows) of each heap holding ``table``'s rows: the table, or its leaf partitions."""
    return [((p.schema, p.name), int(p.pages * p.per_page(dim))) for p in heap_parts(conn, table)]
