"""Partitioned tables: the HNSW index built partition by partition, concurrently, under one partitioned index.

PostgreSQL refuses ``CREATE INDEX CONCURRENTLY`` on a partitioned table, and a plain ``CREATE INDEX``
on one builds every partition's index while it blocks writes to the whole table. So, as its
documentation describes for partitioned indexes, the index is created ``ON ONLY`` the table (invalid:
it covers no partition yet), each leaf partition's index is built ``CONCURRENTLY`` and attached to it
(``ALTER INDEX … ATTACH PARTITION``), and the table's index turns valid once every partition's is
attached. A sub-partitioned table gets an ``ON ONLY`` index on each partitioned child too, attached
to its parent's. A build stopped halfway leaves the partitions done attached and at most one invalid
leaf index: running it again drops that one (concurrently) and builds only what is missing.
The catalog-only steps (the ``ON ONLY`` index takes a SHARE lock on its table, briefly) wait at most
the live-table ``lock_timeout`` (``Limits``) for their lock and are retried with a backoff, so they never queue in front of the
application's writes for long.

A partition created later with ``CREATE TABLE … PARTITION OF`` inherits the code columns, and
PostgreSQL builds and attaches its index itself (the partition is empty then, so that is quick).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from .. import _sql
from .._retry import Limits, retrying
from ..errors import BusyError, CompressaeError
from ._index_types import IndexResult, IndexState
from .attachments import Attachment

NAME_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL truncates longer identifiers
STEP_LIMITS = Limits()  # the live-table defaults: lock_timeout and retries


@dataclass(frozen=True)
class Node:
    """One relation of a partitioned table's tree and its index under the attachment's partitioned index."""

    oid: int
    schema: str
    name: str
    parent: int | None
    leaf: bool
    index: str | None
    valid: bool
    ready: bool
    bytes: int

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def as_dict(self) -> dict[str, Any]:
        return {"partition": f"{self.schema}.{self.name}", "index": self.index, "valid": self.valid, "bytes": self.bytes}


def tree(conn: psycopg.Connection, att: Attachment) -> list[Node]:
    """The table's partition tree, parents first, each relation with its index of the attachment's (if any)."""
    rows = conn.execute(_sql.query("partition_index_tree"),
                        {"schema": att.table.schema, "name": att.index_name, "table": att.table.oid}).fetchall()
    return [Node(oid, schema, name, parent, leaf, idx, bool(valid), bool(ready), size)
            for oid, schema, name, parent, leaf, idx, valid, ready, size in rows]


def child_name(root: str, oid: int) -> str:
    """The name of a partition's index: the attachment's index name cut to fit, and the partition's oid."""
    suffix = f"_p{oid}"
    return root.encode()[: NAME_BYTES - len(suffix)].decode(errors="ignore") + suffix


def state(conn: psycopg.Connection, att: Attachment) -> IndexState | None:
    """The partitioned index as a whole: valid once every partition's index is attached; bytes summed over them."""
    nodes = tree(conn, att)
    if not nodes or nodes[0].index is None:
        return None
    return IndexState(valid=nodes[0].valid, ready=nodes[0].ready, bytes=sum(n.bytes for n in nodes),
                            building_pid=None)


def build(conn: psycopg.Connection, att: Attachment, result: IndexResult, *, concurrently: bool,
          rebuild: bool) -> None:
    """Build what the attachment's partitioned index lacks (see the module docstring) and record it in ``result``."""
    column = att.sketch_column if att.graph == "sketch" else att.code_column
    ops = conn.execute(_sql.query("index_opclass"), {"table": att.table.oid, "column": column,
                                                     "opclass": att.opclass}).fetchone()
    if ops is None:  # compressae.index_ddl, run first, refuses this too
        raise CompressaeError(f"operator class {att.opclass!r} is not an hnsw operator class for {att.table}.{column}")
    nodes = tree(conn, att)
    if nodes[0].index is not None and rebuild:
        # A partitioned index cannot be dropped concurrently; dropping it is a catalog change, quick, under the short lock_timeout.
        _catalog_step(conn, _sql.query("index_drop", concurrently=sql.SQL(""), index=sql.Identifier(nodes[0].schema, nodes[0].index)))
        nodes = tree(conn, att)
    elif nodes[0].index is not None and nodes[0].valid:
        result.valid, result.bytes = True, sum(n.bytes for n in nodes)
        result.partitions = [n.as_dict() for n in nodes if n.leaf]
        result.notices.append("the index exists and is valid on every partition; nothing to do (rebuild=True builds it again)")
        return
    template = {"column": sql.Identifier(column), "opclass": sql.Identifier(*ops),
                "m": sql.Literal(result.m), "ef_construction": sql.Literal(result.ef_construction)}
    indexes: dict[int, sql.Identifier] = {}
    for node in nodes:  # parents first: a child's index is attached to its parent's as soon as it is built
        if node.index is not None:
            indexes[node.oid] = sql.Identifier(node.schema, node.index)
            continue
        name = att.index_name if node.parent is None else child_name(att.index_name, node.oid)
        if node.parent is not None:
            result.rebuilt_invalid |= _clear(conn, node, name, concurrently)
        create = _sql.query("partition_index_create", **template, index=sql.Identifier(name), table=node.ident,
                            only=sql.SQL("" if node.leaf else "ONLY"),
                            concurrently=sql.SQL("CONCURRENTLY" if node.leaf and concurrently else ""))
        if node.leaf:
            _execute(conn, create, node, name)
        else:
            _catalog_step(conn, create)
        indexes[node.oid] = sql.Identifier(node.schema, name)
        if node.parent is not None:
            _catalog_step(conn, _sql.query("partition_index_attach", parent=indexes[node.parent], child=indexes[node.oid]))
        result.built = True
    after = tree(conn, att)
    result.valid, result.bytes = after[0].valid, sum(n.bytes for n in after)
    result.partitions = [n.as_dict() for n in after if n.leaf]


def _clear(conn: psycopg.Connection, node: Node, name: str, concurrently: bool) -> bool:
    """Make way for a partition's index named ``name``: drop an invalid one an interrupted build left (True).

    A relation of that name that is not an index of this partition is refused, never touched.
    """
    taken, ours, valid, pid = conn.execute(_sql.query("partition_index_name"),
                                           {"schema": node.schema, "name": name, "table": node.oid}).fetchone()
    if not taken:
        return False
    if not ours:
        raise CompressaeError(f"index name {node.schema}.{name} is taken by a relation that is not an index of "
                              f"{node.schema}.{node.name}")
    if pid is not None:
        raise BusyError(f"index {name} is being built right now by backend pid {pid}")
    if valid or not node.leaf:
        return False  # built (or created ON ONLY) before an interruption, not attached yet: attached below
    conn.execute(_sql.query("index_drop", concurrently=sql.SQL("CONCURRENTLY" if concurrently else ""),
                            index=sql.Identifier(node.schema, name)))
    return True


def _catalog_step(conn: psycopg.Connection, statement: sql.Composed) -> None:
    """Run a catalog-only step in its own transaction under a short lock_timeout, retried on lock waits."""
    def step() -> None:
        with conn.transaction():
            conn.execute(_sql.query("partition_index_lock_timeout"), {"lock_timeout": STEP_LIMITS.lock_timeout})
            conn.cursor(binary=True).execute(statement)

    retrying(step, STEP_LIMITS, threading.Event())


def _execute(conn: psycopg.Connection, ddl: sql.Composed, node: Node, name: str) -> None:
    try:
        # The extended protocol (a binary cursor, no parameters): one statement, and no '%' parsing.
        conn.cursor(binary=True).execute(ddl)
    except psycopg.Error as exc:
        taken, ours, valid, _pid = conn.execute(_sql.query("partition_index_name"),
                                                {"schema": node.schema, "name": name, "table": node.oid}).fetchone()
        if taken and ours and not valid and node.leaf:
            raise CompressaeError(
                f"building {name} on partition {node.schema}.{node.name} failed ({str(exc).strip()}) and left an invalid "
                "index behind; run `compressae-pg index` again to drop it and build what is missing"
            ) from exc
        raise
