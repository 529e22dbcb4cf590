"""Load the package's SQL from ``sql/`` (readable files), compose identifiers with psycopg.sql."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from psycopg import sql


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
