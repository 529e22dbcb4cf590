"""Where the database comes from, and the embedded server's lifecycle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg

from compressae_pg import _migrate
from compressae_pg.server import EmbeddedServer, resolve_dsn


def test_dsn_beats_database_url_beats_embedded(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-env/db")
    assert resolve_dsn("postgresql://explicit/db") == "postgresql://explicit/db"
    assert resolve_dsn() == "postgresql://from-env/db"


def test_embedded_server_falls_back_when_nothing_is_set(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("COMPRESSAE_PG_DATA", str(tmp_path / "pg"))
    try:
        url = resolve_dsn()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").fetchone()
            # the server started is the one in $COMPRESSAE_PG_DATA, not the session's nor the per-user default
            assert Path(conn.execute("SHOW data_directory").fetchone()[0]).resolve() == (tmp_path / "pg").resolve()
    finally:
        EmbeddedServer(tmp_path / "pg").stop()


def test_server_cli_start_status_url_stop(tmp_path):
    env = {"COMPRESSAE_PG_DATA": str(tmp_path / "pg"), "PATH": "/usr/bin:/bin"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "compressae_pg.cli", "server", *a], capture_output=True, text=True, env=env, check=True)  # noqa: E731
    assert json.loads(run("status", "--json").stdout)["running"] is False
    url = json.loads(run("start", "--json").stdout)["url"]
    assert run("url").stdout.strip() == url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert json.loads(run("stop", "--json").stdout)["stopped"] is True
    assert json.loads(run("status", "--json").stdout)["running"] is False


def test_db_upgrade_and_downgrade_round_trip(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert _migrate.current(conn) == _migrate.head()
    _migrate.downgrade(dsn, "base")
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('compressae.models')").fetchone() == (None,)
    _migrate.upgrade(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert _migrate.current(conn) == _migrate.head()
        assert conn.execute("SELECT to_regclass('compressae.models')").fetchone()[0] is not None
