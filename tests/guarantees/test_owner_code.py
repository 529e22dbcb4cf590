"""A superuser's commands run no code of a table's owner (the third review's H1): planning any query on a table
evaluates its owner's IMMUTABLE index predicates with the planning role's rights, so every command that reads a table
another role owns refuses in a superuser's session, as the commands that write its codes do."""

from __future__ import annotations

import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from compressae_pg import CompresSAE, CompressedColumn, OwnerCodeError, backfill
from compressae_pg.cli import main
from compressae_pg.server import connect

from ..support.models import attach_model
from ..support.partitions import create_partitioned
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


def test_a_superusers_read_of_its_own_partitioned_table_refuses_a_leaf_another_role_owns(conn, dsn, role, capsys, real_vectors):
    """The review of the change (F1): the check looked at the parent alone, and planning a query on it plans each leaf's
    index predicates."""
    create_partitioned(conn, "range", real_vectors[:300])
    attach_model(conn, model=CompresSAE(384, 256, 8, seed=0).eval())
    backfill("items", "embedding", conn=conn, progress=False)
    owner = _baited_child(conn, dsn, role, "items_mid")
    capsys.readouterr()
    assert main(["search", "--table", "items", "--column", "embedding", "--key", "1", "--k", "3", "--dsn", dsn]) == 2
    assert capsys.readouterr().err.startswith(f"error: public.items_mid belongs to {owner}: reading it runs code of {owner}'s")
    assert conn.execute("SELECT who FROM ran").fetchall() == []


def test_a_superusers_evaluate_refuses_queries_from_another_roles_table(conn, dsn, planted, capsys, real_vectors):
    """F2: ``--queries-from`` reads a second table, which needs the same check as the attachment's."""
    create_table(conn, "mine", real_vectors[:30])
    attach_model(conn, table="mine", model=CompresSAE(384, 256, 8, seed=0).eval(), name="mine")
    backfill("mine", "embedding", conn=conn, progress=False)
    command = ["evaluate", "--table", "mine", "--column", "embedding", "--queries", "3", "--dsn", dsn]
    assert main([*command, "--queries-from", "bare.embedding"]) == 2
    assert capsys.readouterr().err.startswith(f"error: public.bare belongs to {planted}: reading it")
    assert conn.execute("SELECT who FROM ran").fetchall() == []
    assert main(command) == 0  # its own table's queries


def test_a_superuser_logged_in_under_another_role_is_still_a_superuser(conn, dsn, planted, capsys, role):
    """F3: the check looked at the current role, so a superuser's session with its role set to a granted role (or to
    the owner) passed, and the owner's code, with RESET ROLE, ran as the superuser."""
    reader = role("reader")
    conn.execute(sql.SQL("GRANT SELECT ON items TO {}").format(sql.Identifier(reader)))
    for current in (reader, planted):
        as_role = make_conninfo(dsn, options=f"-c role={current}")
        assert main(["search", "--table", "items", "--column", "embedding", "--key", "1", "--k", "3", "--dsn", as_role]) == 2
        assert f"belongs to {planted}" in capsys.readouterr().err
    assert conn.execute("SELECT who FROM ran").fetchall() == []
    assert main(["search", "--table", "items", "--column", "embedding", "--key", "1", "--k", "3", "--dsn", as_user(dsn, reader)]) == 0


def test_an_inheritance_child_another_role_owns_is_read_and_written_through_its_parent(conn, dsn, role, capsys, real_vectors):
    """The third look (N1): a query on a parent reads and writes its inheritance children too, which are no partitions."""
    create_table(conn, "items", real_vectors[:30])
    conn.execute("CREATE TABLE items_kid () INHERITS (items)")
    owner = _baited_child(conn, dsn, role, "items_kid")
    attach_model(conn, model=CompresSAE(384, 256, 8, seed=0).eval())
    capsys.readouterr()
    for command in (["backfill"], ["search", "--key", "1"]):
        assert main([command[0], "--table", "items", "--column", "embedding", *command[1:], "--dsn", dsn]) == 2
        assert capsys.readouterr().err.startswith(f"error: public.items_kid belongs to {owner}")
    assert conn.execute("SELECT who FROM ran").fetchall() == []


def test_a_superuser_under_set_session_authorization_is_still_a_superuser(conn, dsn, planted, real_vectors):
    """N2: SET SESSION AUTHORIZATION makes the session's user the owner, but the owner's code can set it back to the
    login role: the login role decides."""
    with connect(dsn, autocommit=True) as c:
        c.execute(sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(planted)))
        with pytest.raises(OwnerCodeError, match=f"belongs to {planted}"):
            CompressedColumn(c, "items", "embedding").search(real_vectors[0], k=3)
    assert conn.execute("SELECT who FROM ran").fetchall() == []


def test_a_worker_that_may_run_server_programs_counts_as_a_superuser(conn, dsn, planted, role, capsys):
    """N4: pg_execute_server_program (and the server-file roles) reach a superuser's rights: COPY ... TO PROGRAM."""
    worker = role("worker")
    grant(capsys, dsn, worker)
    conn.execute(sql.SQL("GRANT pg_execute_server_program TO {}").format(sql.Identifier(worker)))
    with connect(as_user(dsn, planted), autocommit=True) as oc:
        oc.execute(sql.SQL("GRANT SELECT, UPDATE ON items TO {}").format(sql.Identifier(worker)))
    assert main(["backfill", "--table", "items", "--column", "embedding", "--restart", "--dsn", as_user(dsn, worker)]) == 2
    assert capsys.readouterr().err.startswith(f"error: public.items belongs to {planted}: writing its codes fires")
    assert conn.execute("SELECT who FROM ran").fetchall() == []


def _baited_child(conn, dsn, role, child: str) -> str:
    """Give ``child`` (a partition or child of the superuser's ``items``) to a new role, which plants a predicate on it."""
    owner = role("owner")
    conn.execute("CREATE TABLE ran (who name)")
    conn.execute("GRANT INSERT ON ran TO PUBLIC")
    conn.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.Identifier(child), sql.Identifier(owner)))
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        for statement in BAIT:
            oc.execute(statement)
        oc.execute(sql.SQL("CREATE INDEX ON {} (id) WHERE bait()").format(sql.Identifier(child)))  # the build runs it, as the owner
    conn.execute("TRUNCATE ran")
    return owner


def test_a_view_is_no_queries_from_table(conn, dsn, planted, capsys):
    """The final review: the check sees the relation named, and a view plans the tables under it."""
    conn.execute("CREATE VIEW qv AS SELECT id, embedding FROM bare")
    assert main(["evaluate", "--table", "items", "--column", "embedding", "--queries-from", "qv.embedding", "--dsn", as_user(dsn, planted)]) == 2
    assert "--queries-from reads a table or materialized view" in capsys.readouterr().err
