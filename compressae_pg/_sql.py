"""Load the package's SQL from ``sql/`` (readable files), compose identifiers with psycopg.sql, and the
:class:`Statement` a sans-IO plan yields for a driver to run."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from . import _wire

T = TypeVar("T")


@cache
def text(path: str) -> str:
    """The text of ``sql/<path>`` as shipped in the package."""
    return files("compressae_pg.sql").joinpath(path).read_text(encoding="utf-8")


def query(name: str, **identifiers: sql.Composable) -> sql.Composed:
    """``sql/queries/<name>.sql`` with ``{placeholders}`` filled by composed identifiers/literals.

    A query composed this way is executed without parameters (values go in as ``sql.Literal``):
    psycopg parses the whole text for placeholders, so an identifier holding ``%`` would break it.
    """
    return sql.SQL(text(f"queries/{name}.sql")).format(**identifiers)


@dataclass(frozen=True)
class Statement:
    """A query for a driver to run; ``binary`` rows carry pgvector values as numpy (see :mod:`compressae_pg._wire`).

    ``raw`` statements take positional ``$n`` parameters (psycopg's RawCursor): psycopg then parses
    no ``%`` in the text, so identifiers composed into it may hold any character. ``named`` rows come
    as dicts by column name, so a plan reads them by name, never by the order of a ``.sql`` file's columns.
    """

    query: sql.Composable
    params: dict[str, Any] | Sequence[Any] | None = None
    binary: bool = False
    raw: bool = False
    named: bool = False


@dataclass(frozen=True)
class Batch:
    """Statements a driver sends together (a pipeline, one round trip); the plan receives each one's rows."""

    statements: tuple[Statement, ...]


Plan = Generator[Statement, list[Any], T]


def cursor(conn: Any, stmt: Statement, oids: dict[str, int] | None = None) -> Any:
    """The cursor a statement runs on: a raw cursor (``$n`` parameters) or rows by name where it asks, with pgvector's loaders for binary rows."""
    raw = psycopg.AsyncRawCursor if isinstance(conn, psycopg.AsyncConnection) else psycopg.RawCursor
    rows = dict_row if stmt.named else tuple_row
    cur = raw(conn, row_factory=rows) if stmt.raw else conn.cursor(row_factory=rows)
    if stmt.binary and oids:
        _wire.install(cur.adapters, oids)
    return cur


def drive(conn: psycopg.Connection, plan: Plan[T]) -> T:
    """Run a plan of single statements (no :class:`Batch`, no binary rows) on a sync connection; return what it returns."""
    try:
        step = next(plan)
        while True:
            with cursor(conn, step) as cur:
                cur.execute(step.query, step.params)
                rows = cur.fetchall() if cur.description else []
            step = plan.send(rows)
    except StopIteration as done:
        return done.value
