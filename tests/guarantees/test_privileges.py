"""Least privilege: a table's owner without superuser runs everything after `db grant`; a reader can
search and nothing more; a hostile search_path cannot reach inside the compressae functions."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from compressae_pg import CompresSAE, CompressedColumn, ModelOwnerError, backfill, build_index, registry, verify
from compressae_pg.cli import main
from compressae_pg.server import connect

from ..support.models import attach_model
from ..support.tables import create_table
from ..support.truth import check_codes


def as_user(dsn: str, user: str) -> str:
    return make_conninfo(**{**conninfo_to_dict(dsn), "user": user})


@pytest.fixture
def roles(conn):
    """Two login roles, neither superuser: (owner, reader); dropped with what they own afterwards."""
    names = (f"owner_{uuid.uuid4().hex[:8]}", f"reader_{uuid.uuid4().hex[:8]}")
    for name in names:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(sql.Identifier(name)))
    conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(names[0])))
    yield names
    for name in names:
        conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_an_owner_without_superuser_runs_everything_and_a_reader_only_searches(conn, dsn, roles, capsys, real_vectors):
    owner, reader = roles
    assert main(["db", "grant", owner, "--train", "--dsn", dsn]) == 0, capsys.readouterr().err
    owner_dsn, reader_dsn = as_user(dsn, owner), as_user(dsn, reader)
    with connect(owner_dsn, autocommit=True) as oc:
        assert not oc.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        create_table(oc, "items", real_vectors[:300])
        attach_model(oc, sync="trigger")
        oc.execute(sql.SQL("GRANT SELECT ON items TO {}").format(sql.Identifier(reader)))
    result = backfill("items", "embedding", dsn=owner_dsn, workers=2, batch_size=64, progress=False, m=8, ef_construction=32)
    assert (result.status, result.rows_written) == ("done", 300), result.errors
    assert result.index["built"] and result.index["valid"]  # the owner's finished backfill built the index
    assert build_index("items", "embedding", dsn=owner_dsn).valid
    with connect(owner_dsn, autocommit=True) as oc:
        oc.execute("INSERT INTO items (id, embedding) VALUES (301, %s)", (real_vectors[400],))  # the trigger encodes it
        assert CompressedColumn(oc, "items", "embedding").search(real_vectors[400], k=1, rerank="dense")[0].key == 301
    assert verify("items", "embedding", sample=None, dsn=owner_dsn).ok

    with connect(reader_dsn, autocommit=True) as rc:
        assert CompressedColumn(rc, "items", "embedding").search(real_vectors[5], k=1, rerank="dense")[0].key == 6
        assert rc.execute("SELECT key FROM compressae.search('items', 'embedding', %s, k => 1, rerank => 'dense')", (real_vectors[5],)).fetchone() == ("6",)
        some = list(range(100, 300, 2))
        filtered = rc.execute("SELECT key FROM compressae.search('items', 'embedding', %s, k => 3, filter => jsonb_build_object('id', %s::int[]))",
                              (real_vectors[5], some)).fetchall()
        assert [int(k) for (k,) in filtered] == [h.key for h in CompressedColumn(rc, "items", "embedding").search(
            real_vectors[5], k=3, where={"id": some})]
        for statement in ("UPDATE items SET embedding_sae = NULL", "DELETE FROM compressae.models",
                          "UPDATE compressae.attachments SET model_id = model_id",
                          "UPDATE compressae.encoder_atoms SET bias = 0", "INSERT INTO compressae.backfill_jobs DEFAULT VALUES"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                rc.execute(statement)
        with pytest.raises(ModelOwnerError):  # another role's name
            registry.save(rc, "m", CompresSAE(384, 64, 4))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a name of its own, without `db grant --train`
            registry.save(rc, "mine", CompresSAE(384, 64, 4))
    assert main(["backfill", "--table", "items", "--column", "embedding", "--restart", "--dsn", reader_dsn]) == 2
    assert capsys.readouterr().err.startswith("error: permission denied")
    assert verify("items", "embedding", sample=None, dsn=owner_dsn).ok  # the reader changed nothing


SHADOWS = ["vector_norm(vector)", "vector_dims(vector)", "l2_normalize(vector)", "array_fill(real, integer[])",
           "abs(double precision)"]


def test_a_hostile_search_path_cannot_reach_into_the_functions_or_the_trigger(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:20])
    attach_model(conn, sync="trigger")
    backfill("items", "embedding", dsn=dsn, progress=False)
    normal = conn.execute("SELECT compressae.encode('m', %s)::text", (real_vectors[30],)).fetchone()[0]
    conn.execute("CREATE SCHEMA evil; CREATE TABLE evil.calls (f text)")
    conn.execute("CREATE FUNCTION evil.spy(text) RETURNS void LANGUAGE sql AS $$ INSERT INTO evil.calls VALUES ($1) $$")
    for signature in SHADOWS:
        name = signature.split("(")[0]
        args = signature[len(name) + 1 : -1].split(", ")
        params = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(f"a{i}"), sql.SQL(t)) for i, t in enumerate(args))
        returns = {"vector_norm": "float8", "vector_dims": "int", "l2_normalize": "vector", "array_fill": "real[]",
                   "abs": "float8"}[name]
        body = sql.SQL("BEGIN PERFORM evil.spy({}); RETURN NULL; END").format(sql.Literal(name)).as_string(conn)
        conn.execute(sql.SQL("CREATE FUNCTION evil.{}({}) RETURNS {} LANGUAGE plpgsql AS {}").format(
            sql.Identifier(name), params, sql.SQL(returns), sql.Literal(body)))
    conn.execute("CREATE FUNCTION evil.ip(vector, vector) RETURNS float8 LANGUAGE plpgsql AS "
                 "$$ BEGIN PERFORM evil.spy('<#>'); RETURN 0; END $$")
    conn.execute("CREATE OPERATOR evil.<#> (LEFTARG = vector, RIGHTARG = vector, FUNCTION = evil.ip)")
    conn.execute("SET search_path = evil, public, pg_catalog")
    assert conn.execute("SELECT vector_dims(%s::vector)", (real_vectors[0],)).fetchone() == (None,)  # the shadows work
    conn.execute("TRUNCATE evil.calls")

    assert conn.execute("SELECT compressae.encode('m', %s)::text", (real_vectors[30],)).fetchone()[0] == normal
    conn.execute("INSERT INTO items (id, embedding) VALUES (100, %s)", (real_vectors[30],))
    conn.execute("UPDATE items SET embedding = %s WHERE id = 1", (real_vectors[31],))
    conn.execute("SELECT * FROM compressae.search('items', 'embedding', %s, k => 3)", (real_vectors[3],)).fetchall()
    conn.execute("SELECT compressae.similarity('m', embedding_sae, embedding_sae), compressae.decode('m', embedding_sae),"
                 " compressae.project('m', embedding) FROM items").fetchall()
    assert conn.execute("SELECT f FROM evil.calls").fetchall() == []
    conn.execute("RESET search_path")
    assert conn.execute("SELECT embedding_sae::text FROM items WHERE id = 100").fetchone()[0] == normal
    assert verify("items", "embedding", sample=None, dsn=dsn).ok


def test_a_role_that_fills_a_table_it_does_not_own_is_told_who_builds_the_index(conn, dsn, roles, capsys, real_vectors):
    _owner, operator = roles
    assert main(["db", "grant", operator, "--dsn", dsn]) == 0, capsys.readouterr().err
    create_table(conn, "items", real_vectors[:100])  # owned by the test's superuser
    attach_model(conn)
    conn.execute(sql.SQL("GRANT SELECT, UPDATE ON items TO {}").format(sql.Identifier(operator)))
    result = backfill("items", "embedding", dsn=as_user(dsn, operator), progress=False)
    assert (result.status, result.rows_written, result.index) == ("done", 100, None)
    assert any("the current role does not own the table: build it with `compressae-pg index`" in n for n in result.notes)
    assert conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'items'::regclass AND NOT indisprimary").fetchone() == (0,)


def test_a_granted_role_may_draw_a_backfill_run_but_not_move_the_sequence_and_a_regrant_takes_old_update_back(
        conn, dsn, roles, capsys, real_vectors):
    owner, other = roles
    conn.execute(sql.SQL("GRANT UPDATE ON SEQUENCE compressae.backfill_runs TO {}").format(sql.Identifier(other)))  # an older grant
    for name, flags in ((owner, ["--train"]), (other, [])):
        assert main(["db", "grant", name, *flags, "--dsn", dsn]) == 0, capsys.readouterr().err
    assert conn.execute("SELECT has_sequence_privilege(%s, 'compressae.backfill_runs', 'UPDATE'), "
                        "has_sequence_privilege(%s, 'compressae.backfill_runs', 'USAGE')", (other, other)).fetchone() == (False, True)
    with connect(as_user(dsn, other), autocommit=True) as c:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT setval('compressae.backfill_runs', 9223372036854775807)")
    with connect(as_user(dsn, owner), autocommit=True) as oc:
        create_table(oc, "items", real_vectors[:20])
        model = attach_model(oc)[1]
    result = backfill("items", "embedding", dsn=as_user(dsn, owner), progress=False)
    assert (result.status, result.rows_written) == ("done", 20), result.errors
    assert check_codes(conn, model) == 20
