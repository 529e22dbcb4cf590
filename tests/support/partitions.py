"""Helpers for the partitioned-table tests: hash, range and sub-partitioned ``items`` tables of real
vectors, and what the catalog (not the package) says about their partitions and indexes."""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import sql

LAYOUTS = {
    "hash": ["CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(384), category text) PARTITION BY HASH (id)",
             *[f"CREATE TABLE items_h{r} PARTITION OF items FOR VALUES WITH (MODULUS 4, REMAINDER {r})" for r in range(4)]],
    "range": ["CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(384), category text) PARTITION BY RANGE (id)",
              "CREATE TABLE items_lo PARTITION OF items FOR VALUES FROM (MINVALUE) TO (100)",
              "CREATE TABLE items_mid PARTITION OF items FOR VALUES FROM (100) TO (250)",
              'CREATE SCHEMA "other ""schema"""',  # a partition may live in another schema, under any name
              'CREATE TABLE "other ""schema"""."hi; drop table items; --" PARTITION OF items FOR VALUES FROM (250) TO (10000)'],
    "sub": ["CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(384), category text) PARTITION BY RANGE (id)",
            "CREATE TABLE items_lo PARTITION OF items FOR VALUES FROM (MINVALUE) TO (150)",
            "CREATE TABLE items_hi PARTITION OF items FOR VALUES FROM (150) TO (10000) PARTITION BY HASH (id)",
            "CREATE TABLE items_hi0 PARTITION OF items_hi FOR VALUES WITH (MODULUS 2, REMAINDER 0)",
            "CREATE TABLE items_hi1 PARTITION OF items_hi FOR VALUES WITH (MODULUS 2, REMAINDER 1)"],
}


def create_partitioned(conn: psycopg.Connection, layout: str, vectors) -> None:
    """``items`` partitioned as ``layout``, holding ``vectors`` under keys 1..n (every seventh row 'rare')."""
    for statement in LAYOUTS[layout]:
        conn.execute(statement)
    insert(conn, range(1, len(vectors) + 1), vectors)


def insert(conn: psycopg.Connection, keys, vectors) -> None:
    with conn.cursor().copy("COPY items (id, embedding, category) FROM STDIN") as copy:
        for k, v in zip(keys, vectors):
            copy.write_row((k, "[" + ",".join(repr(float(a)) for a in np.asarray(v)) + "]", "rare" if k % 7 == 0 else "common"))
    conn.execute("ANALYZE items")


def leaves(conn: psycopg.Connection, table: str = "items") -> list[tuple[int, str]]:
    """(oid, regclass text) of every leaf partition, by the catalog."""
    return conn.execute("SELECT relid::oid::bigint, relid::regclass::text FROM pg_partition_tree(%s::regclass)"
                        " WHERE isleaf ORDER BY 2", (table,)).fetchall()


def rows_per_leaf(conn: psycopg.Connection, where: str = "true") -> dict[str, int]:
    """Rows of each leaf partition matching ``where`` (a fixed test condition), counted with FROM ONLY."""
    return {name: conn.execute(sql.SQL("SELECT count(*) FROM ONLY {} WHERE " + where).format(sql.SQL(name))).fetchone()[0]
            for _oid, name in leaves(conn)}


def leaf_indexes(conn: psycopg.Connection, root_index: str) -> dict[str, tuple[str, bool, int, str]]:
    """For each leaf holding an index attached (at any depth) under ``root_index``:
    (index name, valid, size in bytes, its definition)."""
    rows = conn.execute(
        "SELECT i.indrelid::regclass::text, t.relid::regclass::text, i.indisvalid, pg_relation_size(t.relid),"
        "       pg_get_indexdef(t.relid)"
        " FROM pg_partition_tree(to_regclass(%s)) t JOIN pg_index i ON i.indexrelid = t.relid WHERE t.isleaf",
        (root_index,)).fetchall()
    return {table: (idx, valid, size, definition) for table, idx, valid, size, definition in rows}
