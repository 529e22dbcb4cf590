"""Roles for tests of what one role may do to another's tables: login roles made and dropped per test, and grants."""

from __future__ import annotations

import uuid

import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from compressae_pg.cli import main


def as_user(dsn: str, user: str) -> str:
    return make_conninfo(**{**conninfo_to_dict(dsn), "user": user})


@pytest.fixture
def role(conn):
    """A factory of login roles (neither superuser), each with CREATE on public; dropped afterwards with what they own."""
    made = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(sql.Identifier(name)))
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(name)))
        made.append(name)
        return name

    yield make
    for name in made:
        conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def grant(capsys, dsn: str, name: str, *flags: str) -> None:
    assert main(["db", "grant", name, *flags, "--dsn", dsn]) == 0, capsys.readouterr().err
