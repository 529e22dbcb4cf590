"""A superuser's commands run no code of a table's owner (the third review's H1): planning any query on a table
evaluates its owner's IMMUTABLE index predicates with the planning role's rights, so every command that reads a table
another role owns refuses in a superuser's session, as the commands that write its codes do."""

from __future__ import annotations

import pytest
from psycopg import sql

from compressae_pg import CompresSAE, CompressedColumn, OwnerCodeError, backfill
from compressae_pg.cli import main
from compressae_pg.server import connect

from ..support.models import attach_model
from ..support.roles import as_user, grant, role  # noqa: F401  (role is a fixture)
from ..support.tables import create_table

BAIT = ("CREATE FUNCTION note_caller() RETURNS void LANGUAGE sql AS $$ INSERT INTO public.ran VALUES (current_user) $$",
        "CREATE FUNCTION bait() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM public.note_caller(); RETURN true; END$$")

HNSW = "SELECT count(*) FROM pg_indexes WHERE tablename = %s AND indexdef LIKE '%% USING hnsw %%'"


@pytest.fixture
def planted(conn, dsn, role, capsys, real_vectors):
    """``items`` (attached and backfilled) and ``bare`` (not attached), each of the owner's with an index whose predicate
    records who evaluated it in ``ran``; the owner's own query runs it, as the check that the bait works."""
    owner = role("owner")
    grant(capsys, dsn, owner, "--train")
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        oc.execute("CREATE TABLE ran (who name)")
        oc.execute("GRANT INSERT ON ran TO PUBLIC")
        for statement in BAIT:
            oc.execute(statement)
        for table in ("items", "bare"):
            create_table(oc, table, real_vectors[:30])
            oc.execute(sql.SQL("CREATE INDEX {} ON {} (id) WHERE bait()").format(sql.Identifier(f"{table}_bait"), sql.Identifier(table)))
        attach_model(oc, model=CompresSAE(384, 256, 8, seed=0).eval(), name="m")
        backfill("items", "embedding", conn=oc, progress=False)
        oc.execute("TRUNCATE ran")
        oc.execute("SELECT count(*) FROM items WHERE id > 0")
        assert oc.execute("SELECT count(*) FROM ran").fetchone()[0] > 0
        oc.execute("TRUNCATE ran")
    capsys.readouterr()
    return owner


@pytest.mark.parametrize("command", [
    ["search", "--table", "items", "--column", "embedding", "--key", "1", "--k", "3"],
    ["atoms", "--table", "items", "--column", "embedding", "--top", "2"],
    ["evaluate", "--table", "items", "--column", "embedding", "--queries", "3"],
    ["verify", "--table", "items", "--column", "embedding"],
    ["train", "--table", "bare", "--column", "embedding", "--name", "theirs", "--h", "256", "--k", "8", "--steps", "2"],
], ids=lambda c: c[0])
def test_a_superusers_command_that_reads_another_roles_table_refuses_and_runs_none_of_its_code(conn, dsn, planted, capsys, command):
    assert main([*command, "--dsn", dsn]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: public.{command[2]} belongs to {planted}: reading it runs code of {planted}'s"), err
    assert "\n" not in err
    assert conn.execute("SELECT who FROM ran").fetchall() == []


def test_a_superusers_search_from_python_refuses_and_the_owners_runs(conn, dsn, planted, real_vectors):
    with pytest.raises(OwnerCodeError, match=f"belongs to {planted}"):
        CompressedColumn(conn, "items", "embedding").search(real_vectors[0], k=3)
    assert conn.execute("SELECT who FROM ran").fetchall() == []
    with connect(as_user(dsn, planted), autocommit=True) as oc:
        hits = CompressedColumn(oc, "items", "embedding").search(real_vectors[0], k=3)
        assert hits[0].key == 1  # the row itself, found by the owner (whose own code ran, as the owner)


def test_a_superusers_attach_apply_decides_the_index_from_the_catalog(conn, dsn, planted, capsys):
    """The Alembic op left the index to the backfill when the table had a row, which it found with a query on the
    table: now by the table's size in the catalog."""
    assert main(["attach", "--table", "bare", "--column", "embedding", "--model", "m", "--apply", "--dsn", dsn]) == 0, capsys.readouterr().err
    assert conn.execute("SELECT who FROM ran").fetchall() == []
    assert conn.execute(HNSW, ("bare",)).fetchone() == (0,)  # left to the backfill
    conn.execute("CREATE TABLE empty_one (id int PRIMARY KEY, embedding vector(384))")
    assert main(["attach", "--table", "empty_one", "--column", "embedding", "--model", "m", "--apply", "--dsn", dsn]) == 0
    assert conn.execute(HNSW, ("empty_one",)).fetchone() == (1,)  # built with the attachment
