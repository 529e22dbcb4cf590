"""The one table builder of the tests, and what a test reads back of a table."""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
from psycopg import sql

# Key types a table can have, with the keys the builder gives its rows: SQL type and the i-th key.
KEY_TYPES = {
    "integer": ("integer", lambda i: i + 1),
    "bigint": ("bigint", lambda i: i + 1),
    "wide bigint": ("bigint", lambda i: 10_000_000_000 + 7 * i),  # beyond 32 bits
    "uuid": ("uuid", lambda i: uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128))),
    "text": ("text", lambda i: f"key {i % 97:02d}/{i}é'\\"),  # quotes, backslashes, non-ASCII
}


def create_table(conn: psycopg.Connection, name: str, vectors, *, column: str = "embedding", type_: str = "vector(384)",
                 key: str = "integer", keys=None, key_column: str = "id", schema: str = "public",
                 category: str | None = None) -> list:
    """``schema.name (key_column <key> PRIMARY KEY, column <type_>[, category text])`` holding ``vectors``
    (None → NULL), keyed by :data:`KEY_TYPES` (or ``keys``); with ``category``, every seventh row is 'rare' and
    the rest 'common'. Analyzed; returns the keys."""
    sql_type, key_of = KEY_TYPES[key]
    keys = [key_of(i) for i in range(len(vectors))] if keys is None else list(keys)
    ident = sql.Identifier(schema, name)
    extra = sql.SQL(", {} text").format(sql.Identifier(category)) if category else sql.SQL("")
    if schema != "public":  # a role without CREATE on the database may still make tables in public
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("CREATE TABLE {} ({} {} PRIMARY KEY, {} {}{})").format(
        ident, sql.Identifier(key_column), sql.SQL(sql_type), sql.Identifier(column), sql.SQL(type_), extra))
    insert_rows(conn, keys, vectors, table=name, column=column, key_column=key_column, schema=schema, category=category)
    conn.execute(sql.SQL("ANALYZE {}").format(ident))
    return keys


def insert_rows(conn: psycopg.Connection, keys, vectors, *, table: str = "items", column: str = "embedding",
                key_column: str = "id", schema: str = "public", category: str | None = None) -> None:
    """COPY ``(key, vector[, category])`` rows into the table (None → NULL)."""
    names = [sql.Identifier(key_column), sql.Identifier(column)] + ([sql.Identifier(category)] if category else [])
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(schema, table), sql.SQL(", ").join(names))
    with conn.cursor().copy(copy_sql) as copy:
        for i, (k, v) in enumerate(zip(keys, vectors)):
            text = None if v is None else "[" + ",".join(repr(float(a)) for a in np.asarray(v)) + "]"
            copy.write_row((k, text, "rare" if i % 7 == 0 else "common") if category else (k, text))


def codes_by_key(conn: psycopg.Connection, *, table: str = "items", column: str = "embedding",
                 code: str = "embedding_sae") -> dict:
    """``{key: (source, code)}`` of every row."""
    query = sql.SQL("SELECT id, {}, {} FROM {}").format(sql.Identifier(column), sql.Identifier(code), sql.Identifier(table))
    return {k: (src, c) for k, src, c in conn.execute(query).fetchall()}


def row_versions(conn: psycopg.Connection, table: str = "items") -> dict:
    """Each row's (ctid, xmin): unchanged iff nothing rewrote the row."""
    query = sql.SQL("SELECT id, ctid::text, xmin::text FROM {}").format(sql.Identifier(table))
    return {k: (ctid, xmin) for k, ctid, xmin in conn.execute(query).fetchall()}


def catalog(conn, table: str) -> dict:
    """What a user can see of a table: columns, indexes, triggers, constraints, and the functions of its schema."""
    oid = conn.execute("SELECT %s::regclass::oid", (table,)).fetchone()[0]
    q = lambda text: conn.execute(text, {"oid": oid}).fetchall()  # noqa: E731
    return {
        "columns": q("SELECT attname, format_type(atttypid, atttypmod), attnotnull, attnum FROM pg_attribute"
                     " WHERE attrelid = %(oid)s AND attnum > 0 AND NOT attisdropped ORDER BY attnum"),
        "indexes": q("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %(oid)s ORDER BY 1"),
        "triggers": q("SELECT tgname FROM pg_trigger WHERE tgrelid = %(oid)s ORDER BY 1"),
        "constraints": q("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %(oid)s ORDER BY 1"),
        "functions": q("SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_class c ON c.relnamespace = p.pronamespace"
                       " WHERE c.oid = %(oid)s ORDER BY 1"),
    }



def trigger_function(conn, table: str, trigger: str) -> str:
    """The function (as a regprocedure, schema-qualified) that trigger ``trigger`` of ``table`` calls."""
    return conn.execute("SELECT format('%%I.%%I()', n.nspname, p.proname) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
                        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE t.tgrelid = %s::regclass AND t.tgname = %s",
                        (table, trigger)).fetchone()[0]
