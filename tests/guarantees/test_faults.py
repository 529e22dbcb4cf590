"""Faults during a backfill or an index build: the attachment replaced under it, a statement timeout,
the server stopped and started again. Each fails with a clear message, and a rerun completes."""

from __future__ import annotations

import subprocess
import threading
import uuid

import numpy as np
import psycopg
import pytest
from psycopg import sql

from compressae_pg import CompresSAE, backfill, registry, status, verify
from compressae_pg.columns import attachments
from compressae_pg.server import connect

from ..fixtures.database import with_db
from ..support.models import DIM, H, K, attach_model
from ..support.processes import CLI, ENV, PROGRESS, ResultThread, restart, wait_for
from ..support.tables import create_table
from ..support.truth import check_codes

pytestmark = pytest.mark.slow


@pytest.fixture
def own_db(own_server):
    """A fresh database of the test's own on the module's server, cloned from its migrated ``postgres``, dropped
    afterwards: a restart test sees no other test's tables, jobs or models. Returns its name."""
    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(with_db(own_server.url(), "template1"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE postgres").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(with_db(own_server.url(), "template1"), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_an_attachment_replaced_during_a_backfill_stops_it_and_no_old_code_lands(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:1500])
    att, _m1 = attach_model(conn, name="m1")
    with pytest.raises(psycopg.errors.RestrictViolation):  # an attached model cannot be deleted at all
        conn.execute("DELETE FROM compressae.models WHERE id = %s", (att.model.id,))
    outcome: list = []
    run = threading.Thread(target=lambda: outcome.append(
        backfill("items", "embedding", dsn=dsn, batch_size=20, sleep=0.02, progress=False)))
    run.start()
    wait_for(lambda: conn.execute(PROGRESS).fetchone()[0] >= 200, "200 rows checkpointed")
    with conn.transaction():  # at once: the column is never missing, only its model changes
        attachments.detach("items", "embedding_sae", conn=conn)
        _att2, m2 = attach_model(conn, name="m2", seed=1)
    run.join()
    (result,) = outcome
    assert result.status == "failed" and "no longer attached with model m1@1" in result.errors[0]
    partial = verify("items", "embedding", sample=None, dsn=dsn)
    assert partial.mismatches == 0 and partial.missing == 1500  # not one m1 code in m2's column
    assert backfill("items", "embedding", dsn=dsn, progress=False).status == "done"
    check_codes(conn, m2)


def test_a_model_changed_in_place_during_a_backfill_stops_it_and_the_rerun_starts_over(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:1500])
    att, _m1 = attach_model(conn, name="m1")
    m2 = CompresSAE(DIM, H, K, seed=1).eval()
    info = registry.save(conn, "m2", m2)
    run = ResultThread(backfill, "items", "embedding", dsn=dsn, batch_size=20, sleep=0.02, progress=False)
    run.start()
    wait_for(lambda: conn.execute(PROGRESS).fetchone()[0] >= 200, "200 rows checkpointed")
    with conn.transaction():  # a DBA points the column at another model by hand, and clears it
        conn.execute("UPDATE compressae.attachments SET model_id = %s WHERE id = %s", (info.id, att.id))
        conn.execute("UPDATE items SET embedding_sae = NULL")
    stopped = run.outcome()
    assert stopped.status == "failed" and "m1@1" in stopped.errors[0], stopped.errors  # it stopped, naming the model it had
    assert verify("items", "embedding", sample=None, dsn=dsn).mismatches == 0  # no m1 code after the change
    again = backfill("items", "embedding", dsn=dsn, progress=False)
    assert (again.mode, again.status, again.rows) == ("full", "done", 1500)  # m1's unfinished run is not resumed
    check_codes(conn, m2)


def test_a_statement_timeout_fails_the_range_and_a_rerun_resumes_it(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:300])
    _att, model = attach_model(conn)
    with connect(dsn) as blocker:
        blocker.execute("SELECT 1 FROM items WHERE id = 120 FOR UPDATE")  # the write of its batch waits on it
        # 1 s: some twenty times what a batch of 50 takes on a loaded CI machine, yet well under the 10 s lock_timeout,
        # so that only the batch waiting on the locked row runs out of time
        result = backfill("items", "embedding", dsn=dsn, batch_size=50, lock_timeout="10s", statement_timeout="1s",
                          max_retries=2, progress=False)
        blocker.rollback()
    assert result.status == "failed" and "statement timeout" in result.errors[0]
    assert result.rows == 100  # the two batches before the locked row are in
    assert status(conn=conn)[0]["backfill"]["state"] == "failed"
    again = backfill("items", "embedding", dsn=dsn, progress=False)
    assert (again.mode, again.status, again.rows) == ("resume", "done", 200)
    check_codes(conn, model)


def test_a_server_restart_mid_backfill_is_a_clear_error_and_a_rerun_completes(own_server, own_db, real_vectors):
    url = with_db(own_server.url(), own_db)
    with connect(url, autocommit=True) as c:
        create_table(c, "restart_backfill", real_vectors[:2000])
        _att, model = attach_model(c, table="restart_backfill")
    args = [*CLI, "backfill", "--table", "restart_backfill", "--column", "embedding", "--batch-size", "50", "--sleep", "0.02",
            "--workers", "2", "--dsn", url]
    proc = subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with connect(url, autocommit=True) as c:
        wait_for(lambda: c.execute(PROGRESS).fetchone()[0] >= 300, "300 rows checkpointed")
    url = with_db(restart(own_server), own_db)
    _out, err = proc.communicate(timeout=120)
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in err and last.startswith("error: lost the database"), err
    assert last.endswith("run the same command again to resume")
    rerun = subprocess.run(args[:-1] + [url, "--json"], env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    with connect(url, autocommit=True) as c:
        assert check_codes(c, model, table="restart_backfill") == 2000
        assert status("restart_backfill", conn=c)[0]["backfill"]["state"] == "done"


def test_a_server_restart_mid_index_build_leaves_an_invalid_index_that_a_rerun_rebuilds(own_server, own_db, real_vectors):
    url = with_db(own_server.url(), own_db)
    with connect(url, autocommit=True) as c:
        create_table(c, "restart_index", real_vectors[:500])
        attach_model(c, table="restart_index")
    backfill("restart_index", "embedding", dsn=url, progress=False, index=False)  # the index command is what is tested
    args = [*CLI, "index", "--table", "restart_index", "--column", "embedding", "--m", "8", "--ef-construction", "32"]
    writer = connect(url)  # an open write: the concurrent build waits for it, after creating its index
    writer.execute("UPDATE restart_index SET id = id WHERE id = 1")
    proc = subprocess.Popen([*args, "--dsn", url], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with connect(url, autocommit=True) as c:
        wait_for(lambda: c.execute("SELECT count(*) FROM pg_stat_progress_create_index WHERE datname = current_database()"
                                   ).fetchone()[0], "the build")
    url = with_db(restart(own_server), own_db)
    writer.close()
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in err and err.startswith("error: lost the database"), err
    with connect(url, autocommit=True) as c:
        assert status("restart_index", conn=c)[0]["index_valid"] is False
    rerun = subprocess.run([*args, "--dsn", url, "--json"], env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert '"rebuilt_invalid": true' in rerun.stdout and '"valid": true' in rerun.stdout


def test_a_server_restart_mid_training_is_a_clear_error_stores_nothing_and_a_rerun_completes(own_server, own_db):
    url = with_db(own_server.url(), own_db)
    rows = 70_000  # more than the shuffle buffer holds, so training keeps reading the table
    vectors = np.random.default_rng(0).standard_normal((rows, 8)).astype(np.float32)
    with connect(url, autocommit=True) as c:
        create_table(c, "restart_train", vectors, type_="vector(8)")
    args = [*CLI, "train", "--table", "restart_train", "--column", "embedding", "--name", "restart-sae",
            "--h", "64", "--k", "4", "--batch-size", "256", "--dsn", url]
    proc = subprocess.Popen([*args, "--steps", "1000000"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with connect(url, autocommit=True) as c:
        # the trainer's connection after a chunk's COMMIT (each chunk is read in a transaction of its own)
        seen = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'compressae-pg train' AND query = 'COMMIT'")
        wait_for(lambda: c.execute(seen).fetchone()[0], "training to read the table")
    url = with_db(restart(own_server), own_db)
    _out, err = proc.communicate(timeout=120)
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in err and last.startswith("error: lost the database"), err
    with connect(url, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM compressae.models WHERE name = 'restart-sae'").fetchone()[0] == 0
    rerun = subprocess.run([*args, "--steps", "20", "--json"], env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert '"version": 1' in rerun.stdout
