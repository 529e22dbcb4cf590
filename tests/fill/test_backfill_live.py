"""Backfill against real processes: kill -9 and resume, concurrent writers, conflicting locks, the CLI."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess

import numpy as np
import psycopg
import pytest

from compressae_pg import backfill, status
from compressae_pg.fill.coordinator import APPLICATION_NAME
from compressae_pg.fill.jobs import latest_run
from compressae_pg.server import connect

from ..support.models import attach_model
from ..support.processes import CLI, ENV, PROGRESS, ResultThread, wait_for
from ..support.tables import create_table
from ..support.truth import check_codes

pytestmark = pytest.mark.slow
ACTIVE = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s"


def test_kill_9_mid_run_then_resume_writes_every_row_exactly_once(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:3000])
    att, model = attach_model(conn)
    conn.execute("CREATE TABLE writes (id int, code sparsevec)")
    conn.execute("CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS "
                 "$$ BEGIN INSERT INTO writes VALUES (NEW.id, NEW.embedding_sae); RETURN NULL; END $$")
    conn.execute("CREATE TRIGGER log AFTER UPDATE OF embedding_sae ON items FOR EACH ROW EXECUTE FUNCTION log_write()")
    args = ["backfill", "--table", "items", "--column", "embedding", "--dsn", dsn, "--workers", "2",
            "--batch-size", "50", "--sleep", "0.02", "--json"]
    proc = subprocess.Popen([*CLI, *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: conn.execute(PROGRESS).fetchone()[0] >= 1000, "1000 rows checkpointed")
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: conn.execute(ACTIVE, (APPLICATION_NAME,)).fetchone()[0] == 0, "the killed run's backends to go")
    done_at_kill = conn.execute(PROGRESS).fetchone()[0]
    assert 1000 <= done_at_kill < 3000, "the run finished before it could be killed; slow it down"
    assert status(conn=conn)[0]["backfill"]["state"] == "interrupted"

    result = backfill("items", "embedding", dsn=dsn, mode="resume", workers=2, batch_size=50, progress=False)
    assert (result.mode, result.status) == ("resume", "done")
    assert result.rows == 3000 - done_at_kill and result.rows_swept == 0  # nothing checkpointed is read again
    assert check_codes(conn, model) == 3000
    per_row = dict(conn.execute("SELECT id, count(*) FROM writes GROUP BY id").fetchall())
    assert len(per_row) == 3000 and set(per_row.values()) == {1}  # every row written exactly once
    assert sum(j.rows_done for j in latest_run(conn, att.id) if j.kind == "range") == 3000


def test_ctrl_c_pauses_the_run_at_a_checkpoint(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:2000])
    _att, model = attach_model(conn)
    args = ["backfill", "--table", "items", "--column", "embedding", "--dsn", dsn, "--workers", "2",
            "--batch-size", "50", "--sleep", "0.1"]  # about 2 s in all: the SIGINT lands mid-run
    proc = subprocess.Popen([*CLI, *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: conn.execute(PROGRESS).fetchone()[0] >= 300, "300 rows checkpointed")
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "checkpointed" in err
    assert status(conn=conn)[0]["backfill"]["state"] == "paused"
    done = conn.execute(PROGRESS).fetchone()[0]
    result = backfill("items", "embedding", dsn=dsn, progress=False)
    assert (result.mode, result.rows) == ("resume", 2000 - done)
    check_codes(conn, model)


def test_concurrent_inserts_updates_and_deletes_end_up_correct(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:3000])
    conn.execute("ALTER TABLE items ADD COLUMN note text")
    _att, model = attach_model(conn)
    fresh = itertools.cycle(real_vectors[3000:6000])
    log: dict = {"ops": 0}

    def frontier(w) -> int:
        keys = [int(k) for (k,) in w.execute("SELECT last_key FROM compressae.backfill_jobs WHERE kind = 'range' AND last_key IS NOT NULL")]
        return keys[log["ops"] % len(keys)] if keys else 0

    def writer() -> None:
        rng = np.random.default_rng(1)
        with connect(dsn, autocommit=True) as w:
            wait_for(lambda: w.execute(PROGRESS).fetchone()[0] > 0, "the first checkpoint")
            while w.execute(PROGRESS).fetchone()[0] < 1500:
                edge, anywhere = frontier(w) + int(rng.integers(1, 60)), int(rng.integers(1, 3000))
                op = log["ops"] % 6
                if op == 0:  # races the batch in flight: read before, written after
                    w.execute("UPDATE items SET embedding = %s WHERE id = %s", (next(fresh), edge))
                elif op == 1:
                    w.execute("UPDATE items SET embedding = %s WHERE id = %s", (next(fresh), anywhere))
                elif op == 2:  # another column: a new row version, the same source
                    w.execute("UPDATE items SET note = 'touched' WHERE id = %s", (anywhere,))
                elif op == 3:  # behind every range, and ahead of them
                    w.execute("INSERT INTO items (id, embedding) VALUES (%s, %s), (%s, %s)",
                              (-log["ops"], next(fresh), 10_000 + log["ops"], next(fresh)))
                elif op == 4:
                    w.execute("DELETE FROM items WHERE id = %s", (anywhere,))
                else:
                    w.execute("UPDATE items SET embedding = NULL WHERE id = %s", (edge,))
                log["ops"] += 1
            log["end"] = w.execute("SELECT clock_timestamp()").fetchone()[0]

    thread = ResultThread(writer)
    thread.start()
    try:
        result = backfill("items", "embedding", dsn=dsn, workers=2, batch_size=50, sleep=0.03, progress=False)
    finally:
        thread.join()
    thread.outcome()  # the writer's own failure, raised here
    assert result.status == "done" and log["ops"] >= 6
    (sweep_started,) = conn.execute("SELECT started_at FROM compressae.backfill_jobs WHERE kind = 'sweep'").fetchone()
    assert sweep_started > log["end"], "the writer outlived the key ranges; the test needs a slower backfill"
    check_codes(conn, model)
    assert result.rows_swept > 0


@pytest.mark.parametrize("lock", ["LOCK TABLE items IN SHARE MODE", "SELECT 1 FROM items WHERE id <= 400 FOR UPDATE"])
def test_a_conflicting_lock_makes_batches_back_off_and_retry(conn, dsn, real_vectors, lock):
    create_table(conn, "items", real_vectors[:1000])
    att, model = attach_model(conn)
    waiting = ("SELECT query_start FROM pg_stat_activity WHERE datname = current_database() "
               "AND application_name = %s AND wait_event_type = 'Lock'")
    holder = psycopg.connect(dsn)
    holder.execute(lock)

    def release_after_a_retry() -> None:
        waits: set = set()  # statement start times of lock waits: a second one means a retry

        def retried() -> bool:
            waits.update(started for (started,) in watch.execute(waiting, (APPLICATION_NAME,)))
            return len(waits) >= 2

        with psycopg.connect(dsn, autocommit=True) as watch:
            wait_for(retried, "a batch to wait, time out and wait again")
        holder.commit()

    thread = ResultThread(release_after_a_retry)
    thread.start()
    try:
        result = backfill("items", "embedding", dsn=dsn, batch_size=200, lock_timeout="100ms", max_retries=1000, progress=False)
    finally:
        thread.join()
        holder.close()
    thread.outcome()
    assert result.status == "done" and result.retries >= 1
    assert sum(j.retries for j in latest_run(conn, att.id)) == result.retries
    check_codes(conn, model)


def test_cli_reports_json_and_refuses_what_it_cannot_do(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:300], key="wide bigint")
    _att, model = attach_model(conn)
    conn.execute("CREATE TABLE nokey (id int, embedding vector(384))")
    attach_model(conn, table="nokey", name="n")
    run = lambda *a: subprocess.run([*CLI, *a, "--dsn", dsn], env=ENV, capture_output=True, text=True)  # noqa: E731
    out = run("backfill", "--table", "items", "--column", "embedding", "--batch-size", "64", "--workers", "2",
              "--lock-timeout", "500ms", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert {"rows", "seconds", "rows_per_s", "batches", "retries"} <= report.keys()
    assert (report["rows"], report["status"], report["workers"]) == (300, "done", 2)
    check_codes(conn, model)
    refused = run("backfill", "--table", "nokey", "--column", "embedding")
    assert refused.returncode == 2 and refused.stderr.startswith("error: table public.nokey has no primary key")
    listed = json.loads(run("status", "--json").stdout)
    assert [(r["table"], r["backfill"]["state"]) for r in listed] == [("public.items", "done"), ("public.nokey", "never")]
