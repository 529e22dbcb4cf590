"""`compressae-pg db ...` answers in one line at every revision, base included, and base leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from compressae_pg import _migrate
from compressae_pg.cli import main

REVISIONS = ["0001_registry", "0002_functions", "0003_hardening", "0004_index_path", "0005_partitions", "0006_sync_queue",
             "0007_queue_capture", "0008_pursuit_stages", "0009_trust", "0010_residual", "0011_search", "0012_queue",
             "0013_atoms", "0014_swap", "0015_queue_upkeep",
             "0016_sketch", "0017_attachments_by_oid",
             "0018_prepared_search", "0019_filter_ids_keys",
             "0020_restorable_queue", "0021_default_candidates",
             "0022_no_table_locks", "0023_unguessable_sync_functions",
             "0024_queue_by_marks", "0025_secret_lock_keys"]


def db(capsys, dsn: str, *args: str) -> tuple[int, str]:
    """Run ``compressae-pg db ARGS`` in process; return (exit code, its only line of output)."""
    rc = main(["db", *args, "--dsn", dsn])
    out, err = capsys.readouterr()
    lines = (out + err).splitlines()
    assert len(lines) == 1, (args, out, err)
    return rc, lines[0]


def leftovers(dsn: str) -> list[tuple[str, str]]:
    """Everything of the compressae schema still in the database: the schema itself, relations, functions, types."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT 'schema', nspname::text FROM pg_namespace WHERE nspname = 'compressae'"
            " UNION ALL SELECT 'relation', c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            "  WHERE n.nspname = 'compressae'"
            " UNION ALL SELECT 'function', p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            "  WHERE n.nspname = 'compressae'"
            " UNION ALL SELECT 'type', t.typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
            "  WHERE n.nspname = 'compressae'").fetchall()


def test_the_history_in_the_test_is_the_packages():
    assert REVISIONS[-1] == _migrate.head()


def test_downgrade_to_base_from_head_by_the_installed_command_leaves_nothing(dsn):
    done = subprocess.run([sys.executable, "-m", "compressae_pg.cli", "db", "downgrade", "base", "--dsn", dsn],
                          capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"compressae schema at base (head {_migrate.head()})\n", "")
    assert leftovers(dsn) == []


def test_every_db_subcommand_answers_in_one_line_at_base(capsys, dsn):
    assert db(capsys, dsn, "downgrade", "base") == (0, f"compressae schema at base (head {_migrate.head()})")
    assert leftovers(dsn) == []
    assert db(capsys, dsn, "current") == (0, f"compressae schema at base (head {_migrate.head()})")
    assert db(capsys, dsn, "downgrade", "base") == (0, f"compressae schema at base (head {_migrate.head()})")
    rc, line = db(capsys, dsn, "downgrade")
    assert rc == 2 and line.startswith("error: the compressae schema is not installed (at base)")
    rc, line = db(capsys, dsn, "downgrade", "0002_functions")
    assert rc == 2 and line.startswith("error: ")
    assert leftovers(dsn) == []  # refusing to downgrade created nothing either
    rc, line = db(capsys, dsn, "upgrade", "no_such_revision")
    assert rc == 2 and line.startswith("error: cannot move the compressae schema to 'no_such_revision'")
    assert leftovers(dsn) == []
    assert db(capsys, dsn, "upgrade") == (0, f"compressae schema at {_migrate.head()} (head {_migrate.head()})")
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert _migrate.current(conn) == _migrate.head()
        assert conn.execute("SELECT to_regclass('compressae.models')").fetchone()[0] is not None


@pytest.mark.parametrize("at", REVISIONS)
def test_every_db_subcommand_answers_in_one_line_at_each_revision(capsys, dsn, at):
    assert db(capsys, dsn, "downgrade", "base")[0] == 0
    assert db(capsys, dsn, "upgrade", at) == (0, f"compressae schema at {at} (head {_migrate.head()})")
    assert db(capsys, dsn, "current") == (0, f"compressae schema at {at} (head {_migrate.head()})")
    rc, line = db(capsys, dsn, "grant", "nobody_here")
    assert rc == 2 and line.startswith("error: ")  # below head: run db upgrade; at head: no such role
    rc, line = db(capsys, dsn, "upgrade", "no_such_revision")
    assert rc == 2 and line.startswith("error: cannot move")
    below = REVISIONS.index(at) - 1
    assert db(capsys, dsn, "downgrade") == (0, f"compressae schema at {REVISIONS[below] if below >= 0 else 'base'} (head {_migrate.head()})")
    if below < 0:
        assert leftovers(dsn) == []


def test_a_database_left_by_the_old_downgrade_is_read_and_cleaned(capsys, dsn):
    """Before the fix, base left an empty version table in the schema: current said nothing useful and crashed."""
    _migrate.downgrade(dsn, "base")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA compressae")
        conn.execute("CREATE TABLE compressae.compressae_alembic_version (version_num varchar(32) PRIMARY KEY)")
    assert db(capsys, dsn, "current") == (0, f"compressae schema at base (head {_migrate.head()})")
    assert db(capsys, dsn, "downgrade", "base") == (0, f"compressae schema at base (head {_migrate.head()})")
    assert leftovers(dsn) == []
