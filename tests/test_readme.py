"""The README's Python and SQL blocks, run in order against a real server, so the front page cannot drift.

The table is the one the README's tour names, ``items (id bigint PRIMARY KEY, embedding vector(384))``,
holding real vectors; the checks are independent of the package: the row searched for is its own
nearest neighbour by exact cosine, and a code has the k non-zeros the model promises.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import psycopg
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.pool import NullPool

from .support.tables import create_table

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced python or sql block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(python|sql)\n(.*?)^```", text, flags=re.M | re.S)]


def test_the_readme_has_the_tour_it_promises():
    langs = [lang for lang, _ in blocks(README.read_text())]
    assert langs.count("python") >= 3 and langs.count("sql") >= 1


def test_the_readmes_python_and_sql_run_as_written(conn, dsn, real_vectors, monkeypatch, capsys):
    vectors = real_vectors[:2000]
    create_table(conn, "items", vectors, key="bigint")  # ids 1..2000
    monkeypatch.setenv("DATABASE_URL", dsn)
    namespace: dict = {}
    sql_results = []
    for lang, code in blocks(README.read_text()):
        if lang == "python":
            exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - the README's own code
        else:
            for statement in filter(str.strip, re.sub(r"--[^\n]*", "", code).split(";")):
                sql_results.append(conn.execute(statement).fetchall())
    # Python: row 42's own vector finds row 42 first (its exact cosine with itself is 1, the largest).
    exact = vectors @ vectors[41]
    assert int(np.argmax(exact)) == 41
    assert namespace["hits"][0].key == 42
    assert len(namespace["hits"]) == 5 and all(a.score >= b.score for a, b in zip(namespace["hits"], namespace["hits"][1:]))
    # SQL: the code has k = 32 non-zeros of h = 4096, and compressae.search finds row 42 first too.
    (code,), = sql_results[0]
    assert code.dimensions() == 4096 and len(code.indices()) == 32
    assert sql_results[1][0][0] == "42" and len(sql_results[1]) == 5
    # SQLAlchemy printed the same best row; the Alembic migration's functions are defined.
    out = capsys.readouterr().out
    assert "('42'," in out
    # The Alembic migration's functions, run as Alembic runs them: downgrade detaches the code column, upgrade
    # attaches it again, by the catalog.
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=NullPool)
    for step, attached in (("downgrade", False), ("upgrade", True)):
        with engine.connect() as connection:
            ctx = MigrationContext.configure(connection)
            with ctx.begin_transaction(), Operations.context(ctx):
                namespace[step]()
        assert code_columns(conn) == ([("embedding_sae", "items-sae")] if attached else []), step
    engine.dispose()


def code_columns(conn) -> list[tuple[str, str]]:
    """(column, model name) of every code column attached to items that items still has."""
    return conn.execute("SELECT a.code_column, m.name FROM compressae.attachments a JOIN compressae.models m ON m.id = a.model_id"
                        " JOIN pg_attribute c ON c.attrelid = 'items'::regclass AND c.attname = a.code_column AND NOT c.attisdropped"
                        " WHERE a.table_oid = 'items'::regclass").fetchall()
