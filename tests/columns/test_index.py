"""The HNSW index of a code column: built concurrently, kept when valid, rebuilt when a build was interrupted."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest

from compressae_pg import CompressaeError, backfill, build_index, status

from ..support.models import attach_model
from ..support.processes import cancelled_build
from ..support.tables import create_table

INDEX = "SELECT indisvalid, pg_get_indexdef(indexrelid) FROM pg_index WHERE indexrelid = to_regclass(%s)"


def test_the_index_is_built_concurrently_then_kept_until_asked_to_rebuild(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:600], key="wide bigint")
    att, _model = attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False, index=False)  # this test is about the index command itself
    built = build_index("items", "embedding", dsn=dsn, m=8, ef_construction=32, maintenance_work_mem="64MB", parallel_workers=0)
    assert (built.built, built.valid, built.rebuilt_invalid, built.concurrently) == (True, True, False, True)
    valid, indexdef = conn.execute(INDEX, (att.index_name,)).fetchone()
    assert valid and "USING hnsw (embedding_sae_sketch bit_hamming_ops) WITH (m='8', ef_construction='32')" in indexdef
    assert built.bytes == conn.execute("SELECT pg_relation_size(to_regclass(%s))", (att.index_name,)).fetchone()[0] > 0
    kept = build_index("items", "embedding", dsn=dsn)
    assert (kept.built, kept.valid) == (False, True)
    again = build_index("items", "embedding", dsn=dsn, rebuild=True, concurrently=False)
    assert (again.built, again.valid) == (True, True)
    assert "m='16'" in conn.execute(INDEX, (att.index_name,)).fetchone()[1]
    assert status(conn=conn)[0]["index_valid"] is True


def test_an_interrupted_concurrent_build_leaves_an_invalid_index_that_index_rebuilds(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:600], key="wide bigint")
    att, _model = attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False, index=False)
    failure = cancelled_build(conn, dsn, "UPDATE items SET embedding = embedding WHERE id = (SELECT min(id) FROM items)",
                              "SELECT pid FROM pg_stat_progress_create_index WHERE relid = 'items'::regclass"
                              " AND phase LIKE 'waiting%'")  # past the commit of the invalid index's catalog entry
    assert len(failure) == 1 and isinstance(failure[0], CompressaeError)
    assert "left an invalid index" in str(failure[0])
    assert conn.execute(INDEX, (att.index_name,)).fetchone()[0] is False
    assert status(conn=conn)[0]["index_valid"] is False

    cli = subprocess.run([sys.executable, "-m", "compressae_pg.cli", "index", "--table", "items", "--column", "embedding",
                          "--dsn", dsn, "--json"], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    report = json.loads(cli.stdout)
    assert (report["built"], report["rebuilt_invalid"], report["valid"]) == (True, True, True)
    assert report["bytes"] > 0 and report["seconds"] > 0
    assert conn.execute(INDEX, (att.index_name,)).fetchone()[0] is True


def test_a_build_in_progress_or_bad_parameters_are_refused(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:50], key="wide bigint")
    attach_model(conn)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="HNSW needs"):
        build_index("items", "embedding", dsn=dsn, m=40, ef_construction=64)
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        build_index("items", "embedding", dsn=dsn, maintenance_work_mem="lots")
