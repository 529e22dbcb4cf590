"""The opclass injection of the review (issue 17): a role granted `db grant` plants SQL in
compressae.attachments.opclass, and a superuser then runs `compressae-pg index`. Nothing it planted
may run: the CHECK refuses the value, row-level security hides other roles' attachments from its
UPDATE, and index_ddl only emits an operator class that pg_opclass knows, quoted."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from compressae_pg import CompresSAE, registry
from compressae_pg.cli import main
from compressae_pg.columns import attachments
from compressae_pg.server import connect

from ..support.models import DIM, H, K, attach_model
from ..support.tables import create_table

PAYLOAD = "sparsevec_cosine_ops); drop table sentinel; --"


@pytest.fixture
def evil(conn):
    """A login role with only what `db grant` gives; dropped afterwards."""
    name = f"evil_{uuid.uuid4().hex[:8]}"
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(sql.Identifier(name)))
    conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(name)))
    yield name
    conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(name)))
    conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_a_granted_role_cannot_plant_sql_for_the_dba_to_run(conn, dsn, evil, capsys, real_vectors):
    conn.execute("CREATE TABLE sentinel (x int)")
    create_table(conn, "items", real_vectors[:40], key="wide bigint")
    attach_model(conn, graph="sparse")  # the superuser's attachment, indexed over its codes by opclass
    assert main(["db", "grant", evil, "--dsn", dsn]) == 0, capsys.readouterr().err
    evil_dsn = make_conninfo(**{**conninfo_to_dict(dsn), "user": evil})
    with connect(evil_dsn, autocommit=True) as ec:
        # Another role's attachment is not the granted role's to change: row-level security leaves it no row.
        assert ec.execute("UPDATE compressae.attachments SET opclass = %s", (PAYLOAD,)).rowcount == 0
        # Its own attachment, on a table it owns: the CHECK refuses anything but a known operator class.
        create_table(ec, "mine", real_vectors[:10], key="wide bigint")
        own = attachments.attach("mine", "embedding", "m@1", graph="sparse", conn=ec)
        with pytest.raises(psycopg.errors.CheckViolation, match="attachments_graph_opclass"):
            ec.execute("UPDATE compressae.attachments SET opclass = %s WHERE id = %s", (PAYLOAD, own.id))
        # Nor can it re-point the superuser's attachment at another model (no granted role updates model_id), or delete it.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ec.execute("UPDATE compressae.attachments SET model_id = model_id WHERE table_oid = 'items'::regclass")
        assert ec.execute("UPDATE compressae.attachments SET doomed = true WHERE table_oid = 'items'::regclass").rowcount == 0
    for args in (["index", "--table", "items", "--column", "embedding", "--rebuild", "--dsn", dsn],
                 ["index", "--table", "items", "--column", "embedding", "--rebuild", "--no-concurrently", "--dsn", dsn]):
        assert main(args) == 0, capsys.readouterr().err
    assert conn.execute("SELECT to_regclass('sentinel')").fetchone()[0] == "sentinel"


def test_the_opclass_check_and_index_ddl_refuse_what_is_not_an_operator_class(conn, real_vectors):
    conn.execute("CREATE TABLE sentinel (x int)")
    create_table(conn, "items", real_vectors[:20], key="wide bigint")
    att, _ = attach_model(conn, graph="sparse")
    with pytest.raises(psycopg.errors.CheckViolation, match="attachments_graph_opclass"):
        conn.execute("UPDATE compressae.attachments SET opclass = %s WHERE id = %s", (PAYLOAD, att.id))
    # Even past the CHECK (its owner drops it), index_ddl emits only an operator class pg_opclass has.
    conn.execute("ALTER TABLE compressae.attachments DROP CONSTRAINT attachments_graph_opclass")
    conn.execute("UPDATE compressae.attachments SET opclass = %s WHERE id = %s", (PAYLOAD, att.id))
    with pytest.raises(psycopg.errors.UndefinedObject, match="is not an hnsw operator class"):
        conn.execute("SELECT compressae.index_ddl(%s)", (att.id,))
    conn.execute("UPDATE compressae.attachments SET opclass = 'bit_hamming_ops' WHERE id = %s", (att.id,))
    with pytest.raises(psycopg.errors.UndefinedObject, match="is not an hnsw operator class"):  # not one for a sparsevec
        conn.execute("SELECT compressae.index_ddl(%s)", (att.id,))
    conn.execute("UPDATE compressae.attachments SET opclass = 'sparsevec_ip_ops' WHERE id = %s", (att.id,))
    (ddl,) = conn.execute("SELECT compressae.index_ddl(%s)", (att.id,)).fetchone()
    assert ddl.endswith('USING hnsw (embedding_sae public.sparsevec_ip_ops) WITH (m = 16, ef_construction = 64)')
    assert conn.execute("SELECT to_regclass('sentinel')").fetchone()[0] == "sentinel"


def test_names_an_attachment_row_holds_reach_no_other_table(conn, dsn, evil, capsys, real_vectors):
    """The review's second round: a granted role points its own attachment's index name at another
    owner's index, and a trigger of the sync trigger's name at another owner's function. The DBA's
    index, recompress and detach leave both alone."""
    conn.execute("CREATE TABLE victim (x int)")
    conn.execute("CREATE INDEX victim_x_idx ON victim (x)")
    conn.execute("CREATE FUNCTION victim_audit() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'")
    registry.save(conn, "m", CompresSAE(DIM, H, K, seed=0))
    assert main(["db", "grant", evil, "--dsn", dsn]) == 0, capsys.readouterr().err
    evil_dsn = make_conninfo(**{**conninfo_to_dict(dsn), "user": evil})
    with connect(evil_dsn, autocommit=True) as ec:
        create_table(ec, "mine", real_vectors[:10], key="wide bigint")
        own = attachments.attach("mine", "embedding", "m@1", conn=ec)
        ec.execute("UPDATE compressae.attachments SET index_name = 'victim_x_idx' WHERE id = %s", (own.id,))
        ec.execute(sql.SQL("CREATE TRIGGER {} BEFORE INSERT ON mine FOR EACH ROW EXECUTE FUNCTION public.victim_audit()").format(
            sql.Identifier(f"compressae_sync_{own.id}")))
    assert main(["index", "--table", "mine", "--column", "embedding", "--rebuild", "--dsn", dsn]) == 2
    assert "is taken by a relation that is not an index of public.mine" in capsys.readouterr().err
    assert main(["detach", "--table", "mine", "--column", "embedding", "--dsn", dsn]) == 0, capsys.readouterr().err
    assert conn.execute("SELECT to_regclass('victim_x_idx')::text, to_regprocedure('victim_audit()')::text").fetchone() == (
        "victim_x_idx", "victim_audit()")


def test_a_function_planted_in_pgvectors_schema_is_not_what_attach_runs(conn, dsn, evil, real_vectors):
    """CVE-2018-1058's shape: pgvector lives in public, where the granted role may create. A public.format
    that matches attach's call better than pg_catalog's variadic one would run its text as the DBA."""
    conn.execute("CREATE TABLE sentinel (x int)")
    evil_dsn = make_conninfo(**{**conninfo_to_dict(dsn), "user": evil})
    with connect(evil_dsn, autocommit=True) as ec:
        create_table(ec, "mine", real_vectors[:10], key="wide bigint")
        ec.execute("CREATE FUNCTION public.format(text, regclass, name, name, integer) RETURNS text"
                   " LANGUAGE sql AS $$ SELECT 'DROP TABLE sentinel' $$")
        ec.execute("CREATE FUNCTION public.format(text, regclass, name, integer) RETURNS text"
                   " LANGUAGE sql AS $$ SELECT 'DROP TABLE sentinel' $$")
    registry.save(conn, "m", CompresSAE(DIM, H, K, seed=0))
    conn.execute(sql.SQL("ALTER TABLE mine OWNER TO {}").format(sql.Identifier(conn.info.user)))  # the DBA attaches it
    att = attachments.attach("mine", "embedding", "m@1", conn=conn)
    assert att.sketch_column == "embedding_sae_sketch"
    assert conn.execute("SELECT to_regclass('sentinel')").fetchone()[0] == "sentinel"
