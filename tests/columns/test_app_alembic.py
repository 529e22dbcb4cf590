"""A sample application's own Alembic environment includes the compressae history, and a revision
written by ``compressae-pg attach --alembic`` adds and removes a compressed column through it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compressae_pg import CompresSAE, registry
from compressae_pg.cli import main
from compressae_pg.server import connect

from ..support.tables import catalog

SAMPLE_APP = Path(__file__).parents[1] / "sample_app"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@pytest.fixture
def app(tmp_path, empty_dsn):
    """A copy of the sample application, and a function running one of its commands (alembic) in its directory."""
    root = tmp_path / "app"
    shutil.copytree(SAMPLE_APP, root, ignore=shutil.ignore_patterns("__pycache__"))

    def run(*argv: str, driver: str = "psycopg") -> subprocess.CompletedProcess:
        env = {**os.environ, "SAMPLE_APP_DSN": empty_dsn, "SAMPLE_APP_DRIVER": driver}
        env.pop("DATABASE_URL", None)
        done = subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=root, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise AssertionError(f"{argv} failed:\n{done.stdout}\n{done.stderr}")
        return done

    return root, run


def cli(capsys, *argv: str) -> str:
    """Run ``compressae-pg argv...`` in this process; its stdout."""
    capsys.readouterr()
    assert main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _versions(dsn: str) -> set[str]:
    with connect(dsn, autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT version_num FROM alembic_version").fetchall()}


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_an_application_adds_and_drops_a_compressed_column_through_its_own_alembic(app, empty_dsn, real_vectors, driver, capsys):
    root, run = app
    run("alembic", "upgrade", "heads", driver=driver)  # the app's table and, by the same history, the compressae schema
    with connect(empty_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('compressae.models') IS NOT NULL").fetchone() == (True,)
        assert conn.execute("SELECT to_regclass('compressae.compressae_alembic_version')").fetchone() == (None,)
        for i, v in enumerate(real_vectors[:20]):
            conn.execute("INSERT INTO items (id, embedding) VALUES (%s, %s)", (i, v))
        registry.save(conn, "items-sae", CompresSAE(384, 256, 8, seed=0))
        before = catalog(conn, "items")
    compressae_head = _versions(empty_dsn) - {"a1_items"}

    rev = json.loads(cli(capsys, "attach", "--table", "items", "--column", "embedding", "--model", "items-sae@1",
                         "--sync", "trigger", "--concurrently", "--m", "8", "--alembic", str(root), "--json"))
    text = Path(rev["path"]).read_text()
    assert Path(rev["path"]).parent == root / "versions"
    assert (rev["down_revision"], {rev["depends_on"]}) == ("a1_items", compressae_head)
    assert "import compressae_pg.alembic" in text
    assert "op.add_compressed_column('items', 'embedding', model='items-sae@1', sync='trigger', concurrently=True, m=8)" in text
    assert "op.drop_compressed_column('items', 'embedding')" in text

    run("alembic", "upgrade", "heads", driver=driver)
    assert _versions(empty_dsn) == {rev["revision"]}  # it depends on the compressae head, which Alembic then leaves implied
    with connect(empty_dsn, autocommit=True) as conn:
        after = catalog(conn, "items")
        assert ("embedding_sae", "sparsevec(256)", False, 4) in after["columns"]
        assert not any("hnsw" in i for (i,) in after["indexes"])  # the table has rows: the backfill builds the index
    filled = json.loads(cli(capsys, "backfill", "--table", "items", "--column", "embedding", "--m", "8", "--dsn", empty_dsn, "--json"))
    assert (filled["status"], filled["rows_written"], filled["index"]["built"]) == ("done", 20, True)
    with connect(empty_dsn, autocommit=True) as conn:
        indexes = [i for (i,) in catalog(conn, "items")["indexes"]]
        assert any("USING hnsw (embedding_sae_sketch bit_hamming_ops) WITH (m='8'" in i for i in indexes)
        conn.execute("INSERT INTO items (id, embedding) VALUES (100, %s)", (real_vectors[100],))
        assert conn.execute(
            "SELECT embedding_sae = compressae.encode('items-sae@1', embedding) FROM items WHERE id = 100").fetchone() == (True,)

    run("alembic", "downgrade", "a1_items", driver=driver)
    assert _versions(empty_dsn) == {"a1_items"} | compressae_head
    with connect(empty_dsn, autocommit=True) as conn:
        assert catalog(conn, "items") == before
        assert conn.execute("SELECT count(*) FROM compressae.attachments").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (21,)

    run("alembic", "upgrade", "heads", driver=driver)  # and up again
    assert _versions(empty_dsn) == {rev["revision"]}


def test_attach_writes_a_standalone_revision_when_the_history_is_not_included(app, capsys):
    root, _ = app
    ini = root / "alembic.ini"
    ini.write_text(ini.read_text().replace(" compressae_pg.migrations:versions", ""))
    out = cli(capsys, "attach", "--table", "shop.items", "--column", "embedding", "--model", "m", "--alembic", str(ini))
    assert "compressae-pg db upgrade" in out
    (written,) = [p for p in (root / "versions").glob("*.py") if p.name != "a1_items.py"]
    text = written.read_text()
    assert "depends_on = None" in text and "down_revision = 'a1_items'" in text
    assert "op.add_compressed_column('items', 'embedding', model='m', schema='shop')" in text


def test_attach_alembic_errors_name_the_problem(app, tmp_path, capsys):
    root, _ = app
    attach = ("attach", "--table", "items", "--column", "embedding", "--model", "m")
    assert main([*attach, "--alembic", str(tmp_path / "nowhere")]) == 2
    assert "error: no alembic.ini at" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(list(attach))
    assert exit_.value.code == 2 and "one of the arguments --alembic --apply is required" in capsys.readouterr().err
    shutil.copy(root / "versions" / "a1_items.py", root / "versions" / "a2_other.py")
    (root / "versions" / "a2_other.py").write_text(
        (root / "versions" / "a2_other.py").read_text().replace('revision = "a1_items"', 'revision = "a2_other"'))
    assert main([*attach, "--alembic", str(root)]) == 2
    assert "several heads (a1_items, a2_other)" in capsys.readouterr().err
    assert list((root / "versions").glob("*compress*")) == []
