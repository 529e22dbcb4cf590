"""Alembic operations ``op.add_compressed_column`` and ``op.drop_compressed_column``.

Importing this module registers them (a revision written by ``compressae-pg attach --alembic``
imports it). They issue SQL through the migration's own SQLAlchemy connection, so an application's
Alembic may use psycopg2 or psycopg 3, and they call the server-side functions ``compressae.attach``,
``compressae.detach`` and ``compressae.index_ddl``: the DDL is the same as from every other front door.

    op.add_compressed_column("items", "embedding", model="items-sae", sync="trigger")
    op.drop_compressed_column("items", "embedding")
"""

from __future__ import annotations

import inspect
from typing import Any

import psycopg
import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.operations import MigrateOperation, Operations

from . import _sql
from ._catalog import resolve_table
from ._choice import choose
from ._defaults import GRAPH, GRAPHS, HNSW_EF_CONSTRUCTION, HNSW_M, RESIDUAL_BITS, SKETCH_PLANE_COUNTS, SKETCH_PLANES, SYNC, SYNC_MODES
from .errors import CompressaeError, UnknownTableError


def _statement(name: str) -> sa.TextClause:
    return sa.text(_sql.text(f"queries/{name}.sql"))


def _bind(operations: Operations, what: str) -> sa.Connection:
    if operations.get_context().as_sql:
        raise CompressaeError(f"{what} needs a database connection: it cannot run in offline (--sql) mode")
    return operations.get_bind()


def _options(op: MigrateOperation) -> dict[str, Any]:
    """An operation's keyword-only arguments that are required or differ from their defaults."""
    params = inspect.signature(type(op).__init__).parameters.values()
    return {p.name: getattr(op, p.name) for p in params
            if p.kind is p.KEYWORD_ONLY and (p.default is p.empty or getattr(op, p.name) != p.default)}


def _call(name: str, op: MigrateOperation) -> str:
    """``op.name(args...)`` as Python source: positional table and column, then the non-default options."""
    args = [repr(op.table_name), repr(op.column_name)]
    args += [f"{key}={value!r}" for key, value in _options(op).items()]
    return f"op.{name}({', '.join(args)})"


@Operations.register_operation("add_compressed_column")
class AddCompressedColumnOp(MigrateOperation):
    """Add a ``sparsevec(h)`` code column for a vector column, with its sync trigger and HNSW index."""

    def __init__(
        self,
        table_name: str,
        column_name: str,
        *,
        model: str,
        code_column: str | None = None,
        sync: str = SYNC,
        graph: str = GRAPH,
        residual_bits: int | None = None,
        sketch_planes: int = SKETCH_PLANES,
        index: bool | None = None,
        concurrently: bool = False,
        m: int = HNSW_M,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
        schema: str | None = None,
    ) -> None:
        if sync not in SYNC_MODES:
            raise CompressaeError(f"sync must be one of {', '.join(SYNC_MODES)}, not {sync!r}")
        self.table_name, self.column_name, self.model = table_name, column_name, model
        if graph not in GRAPHS:
            raise CompressaeError(f"graph must be one of {', '.join(GRAPHS)}, not {graph!r}")
        if residual_bits is not None and residual_bits not in RESIDUAL_BITS:
            raise CompressaeError(f"residual_bits must be one of {', '.join(map(str, RESIDUAL_BITS))}, not {residual_bits!r}")
        self.code_column, self.sync, self.graph, self.schema = code_column, sync, graph, schema
        if sketch_planes not in SKETCH_PLANE_COUNTS:
            raise CompressaeError(f"sketch_planes must be one of {', '.join(map(str, SKETCH_PLANE_COUNTS))}, not {sketch_planes!r}")
        self.residual_bits, self.sketch_planes = residual_bits, sketch_planes
        self.index, self.concurrently, self.m, self.ef_construction = index, concurrently, m, ef_construction

    @classmethod
    def add_compressed_column(cls, operations: Operations, table_name: str, column_name: str, **kw: Any) -> None:
        """Add the code column of ``table_name.column_name`` filled by ``model`` ('name' or 'name@version').

        Options: ``code_column`` (default ``<column>_sae``), ``sync="trigger"`` to keep codes fresh on
        INSERT/UPDATE of the column (``sync="queue"``: queue the changed rows for ``compressae-pg sync``),
        ``graph="sparse"`` to index the code column by sparse cosine (the
        paper's path) instead of the sketch column by Hamming distance, ``residual_bits`` (1 or 2, 0 for
        none; default 2 with the sketch graph, none with the sparse one) for the residual sketch that
        search scores with, ``sketch_planes`` (1 or 2, default 2) for the sketch column the sketch graph
        is built over (bit(sketch_planes·d), :func:`compressae_pg._codes.sketch_bits`), ``schema``.

        The HNSW index (``m``, ``ef_construction``): by default it is built here only when the table has
        no rows; on a table with rows it is left to the backfill, which builds it CONCURRENTLY once the
        codes are in (an index built first would take every backfilled row one insert at a time).
        ``index=True`` builds it here regardless, ``index=False`` not at all. ``concurrently=True``
        builds it with CREATE INDEX CONCURRENTLY in an autocommit block (this commits the migration's
        transaction first).
        """
        return operations.invoke(cls(table_name, column_name, **kw))

    def reverse(self) -> DropCompressedColumnOp:
        return DropCompressedColumnOp(self.table_name, self.column_name, code_column=self.code_column, schema=self.schema)


@Operations.register_operation("drop_compressed_column")
class DropCompressedColumnOp(MigrateOperation):
    """Drop a code column with its index and sync trigger, and forget the attachment."""

    def __init__(self, table_name: str, column_name: str, *, code_column: str | None = None, schema: str | None = None) -> None:
        self.table_name, self.column_name, self.code_column, self.schema = table_name, column_name, code_column, schema

    @classmethod
    def drop_compressed_column(cls, operations: Operations, table_name: str, column_name: str, **kw: Any) -> None:
        """Drop the code column attached to ``table_name.column_name`` (name it with ``code_column`` if several)."""
        return operations.invoke(cls(table_name, column_name, **kw))


@Operations.implementation_for(AddCompressedColumnOp)
def add_compressed_column(operations: Operations, op: AddCompressedColumnOp) -> None:
    """Attach through ``compressae.attach``, then build the index from ``compressae.index_ddl``."""
    bind = _bind(operations, "add_compressed_column")
    attachment_id = bind.execute(
        _statement("op_attach"),
        {"schema": op.schema, "table": op.table_name, "column": op.column_name, "model": op.model,
         "code_column": op.code_column, "sync": op.sync, "graph": op.graph, "residual_bits": op.residual_bits,
         "sketch_planes": op.sketch_planes},
    ).scalar_one()
    op.info["attachment_id"] = attachment_id
    if op.index is False:
        op.info["index"] = "none"
        return
    ddl = bind.execute(  # composed (and its settings checked) even when deferred: a bad m fails the migration
        _statement("op_index_ddl"),
        {"attachment_id": attachment_id, "concurrent": op.concurrently, "m": op.m, "ef_construction": op.ef_construction},
    ).scalar_one()
    op.info["index"] = "deferred" if op.index is None and _has_rows(bind, attachment_id) else "built"
    if op.info["index"] == "deferred":
        return
    if op.concurrently:
        with operations.get_context().autocommit_block():
            _execute_raw(operations.get_bind(), ddl)
    else:
        _execute_raw(bind, ddl)


@Operations.implementation_for(DropCompressedColumnOp)
def drop_compressed_column(operations: Operations, op: DropCompressedColumnOp) -> None:
    """Detach through ``compressae.detach`` (the column, its index and its trigger go together)."""
    bind = _bind(operations, "drop_compressed_column")
    rows = bind.execute(_statement("op_code_columns"), {"schema": op.schema, "table": op.table_name}).mappings().all()
    where = f"{op.schema + '.' if op.schema else ''}{op.table_name}"
    found = choose([r for r in rows if r["code_column"] is not None], where, op.column_name,
                   source=lambda r: r["source_column"], code=lambda r: r["code_column"], code_column=op.code_column)
    bind.execute(_statement("op_detach"), {"table_oid": found["table_oid"], "code_column": found["code_column"]})


def _has_rows(bind: sa.Connection, attachment_id: int) -> bool:
    """Whether the attachment's table has a page (op_table_has_pages.sql): then its index is left to the backfill (the fast order)."""
    return bool(bind.execute(_statement("op_table_has_pages"), {"attachment_id": attachment_id}).scalar_one())


def _execute_raw(bind: sa.Connection, statement: str) -> Any:
    """Run composed SQL (server-generated DDL, a query with quoted names) as is; its first value, if it returns rows.

    No parameters, so no driver reads a '%' in a quoted name. On psycopg 3 by the extended protocol
    (a binary cursor), which runs one statement and no more; psycopg2 has only the simple protocol.
    """
    dbapi = bind.connection.dbapi_connection
    if isinstance(dbapi, psycopg.Connection):
        cur = dbapi.cursor(binary=True)
        cur.execute(statement)
        return cur.fetchone()[0] if cur.description else None
    result = bind.exec_driver_sql(statement, execution_options={"no_parameters": True})
    return result.scalar() if result.returns_rows else None


def _schema_of(conn: psycopg.Connection, table: str) -> str | None:
    """The schema of the table ``table`` names on the session's own path (None when there is none: the operation
    then says so)."""
    try:
        return resolve_table(conn, table).schema
    except UnknownTableError:
        return None


@renderers.dispatch_for(AddCompressedColumnOp)
def render_add(_autogen_context: Any, op: AddCompressedColumnOp) -> str:
    """``op.add_compressed_column(...)`` as it appears in a revision file."""
    return _call("add_compressed_column", op)


@renderers.dispatch_for(DropCompressedColumnOp)
def render_drop(_autogen_context: Any, op: DropCompressedColumnOp) -> str:
    """``op.drop_compressed_column(...)`` as it appears in a revision file."""
    return _call("drop_compressed_column", op)


def run(operation: AddCompressedColumnOp | DropCompressedColumnOp, dsn: str | None = None) -> None:
    """Apply one operation to a database now, as a one-step migration (``compressae-pg attach --apply``)."""
    from alembic.migration import MigrationContext

    from . import _migrate
    from .server import connect

    with connect(dsn, autocommit=True, pinned=True) as conn:
        _migrate.ensure(conn)
        if operation.schema is None:  # the pinned session below looks up no table on a path: name the schema
            operation.schema = _schema_of(conn, operation.table_name)
    engine = _migrate._engine(lambda: connect(dsn, pinned=True))  # nothing a role planted runs in the operation
    try:
        with engine.connect() as connection:
            ctx = MigrationContext.configure(connection)
            with ctx.begin_transaction():
                Operations(ctx).invoke(operation)
    except sa.exc.DBAPIError as exc:
        raise exc.orig from exc  # the server's own error (psycopg's), not SQLAlchemy's wrapping of it
    finally:
        engine.dispose()
