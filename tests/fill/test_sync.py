"""sync='queue': the trigger clears and queues in the application's transaction, never failing its write;
`sync` workers drain the queue into codes equal to the backfill's (and numpy's), share it without
double work, record the rows they cannot encode, and re-encode a row changed while it was encoded."""

from __future__ import annotations

import json
import re
import threading
import time

import numpy as np
import psycopg
import pytest

from compressae_pg import backfill, status, sync
from compressae_pg._retry import Limits
from compressae_pg.cli import main
from compressae_pg.errors import NotQueuedError
from compressae_pg.fill.encoder import Encoder
from compressae_pg.fill.queue import QueueWorker
from compressae_pg.fill.worker import fillable

from ..support.models import attach_model, queue_by, queueing_keys
from ..support.processes import ResultThread, wait_for
from ..support.tables import catalog, codes_by_key, create_table, insert_rows, trigger_function
from ..support.truth import check_codes


def queued(conn: psycopg.Connection) -> list:
    """The queue as the catalog has it: (key, times queued) per queued row."""
    return conn.execute("SELECT k, count(*) FROM compressae.sync_queue, unnest(keys) AS k GROUP BY k ORDER BY k").fetchall()


def to_encode(conn: psycopg.Connection) -> list[str]:
    """The rows a worker has to encode: the keys queued, and the rows its pending index finds by their NULL code (0024)."""
    rows = conn.execute("SELECT id FROM items WHERE embedding_sae IS NULL AND embedding IS NOT NULL").fetchall()
    return sorted({k for k, _n in queued(conn)} | {str(k) for (k,) in rows})


def failures(conn: psycopg.Connection) -> dict:
    return dict(conn.execute("SELECT key, reason FROM compressae.sync_failures").fetchall())


def sketch_and_code(conn: psycopg.Connection) -> dict:
    return {k: (c is None, s is None) for k, c, s in conn.execute("SELECT id, embedding_sae, embedding_sae_sketch FROM items")}


@pytest.mark.parametrize("by", ["marks", "keys"])
def test_the_trigger_clears_the_code_on_insert_update_and_copy_and_the_worker_finds_the_row(conn, dsn, real_vectors, by):
    x = real_vectors
    create_table(conn, "items", x[:20], key="integer")
    with queue_by(conn, dsn, by) as (_att, model):
        assert queued(conn) == []  # rows already there are the backfill's
        backfill("items", "embedding", dsn=dsn, progress=False)
        assert check_codes(conn, model) == 20 and to_encode(conn) == []  # a worker's own writes change nothing
        conn.execute("INSERT INTO items VALUES (21, %s)", (x[21],))
        insert_rows(conn, [22, 23, 24], [x[22], None, x[24]])  # COPY; a NULL source needs no code
        conn.execute("UPDATE items SET embedding = %s WHERE id IN (3, 4)", (x[30],))
        conn.execute("UPDATE items SET embedding = embedding WHERE id = 5")  # set to itself: unchanged, not queued (0012)
        with conn.transaction():
            conn.execute("UPDATE items SET embedding = %s WHERE id = 6", (x[31],))
            conn.execute("UPDATE items SET embedding = %s WHERE id = 6", (x[32],))  # twice: two entries, one row
        changed = sorted(["21", "22", "24", "3", "4", "6"])
        assert to_encode(conn) == changed
        assert queued(conn) == ([(k, 2 if k == "6" else 1) for k in changed] if by == "keys" else [])
        state = sketch_and_code(conn)
        assert all(state[k] == (True, True) for k in (3, 4, 6, 21, 22, 24))
        assert all(state[k] == (False, False) for k in (1, 2, 5, 7, 20))  # untouched rows keep code and sketch
        with conn.transaction():  # a write rolled back changes nothing
            conn.execute("UPDATE items SET embedding = %s WHERE id = 7", (x[33],))
            raise psycopg.Rollback()
        result = sync("items", "embedding", dsn=dsn, progress=False)
        changes = 7 if by == "keys" else 6  # queued changes (row 6 twice) or changed rows; row 5, set to itself, in neither
        assert (result.changes, result.rows, result.rows_written, result.rows_failed, result.queue_left) == (changes, 6, 6, 0, 0)
        assert to_encode(conn) == [] and queued(conn) == [] and check_codes(conn, model) == 24


def test_a_bulk_statement_queues_its_keys_in_entries_of_at_most_1000(conn, dsn, real_vectors):
    """One statement's keys, each once, in 1,000-key entries (a worker takes an entry whole or trims it)."""
    create_table(conn, "items", real_vectors[:5])
    with queueing_keys(conn, dsn):
        conn.execute("INSERT INTO items SELECT g, (SELECT embedding FROM items WHERE id = 1) FROM generate_series(10, 2509) AS g")
    sizes = [n for (n,) in conn.execute("SELECT cardinality(keys) FROM compressae.sync_queue ORDER BY id")]
    assert sizes == [1000, 1000, 500]
    assert queued(conn) == sorted((str(k), 1) for k in range(10, 2510))
    conn.execute("UPDATE items SET embedding = embedding WHERE id < 5")  # rows 1..4, without codes: one entry
    assert [n for (n,) in conn.execute("SELECT cardinality(keys) FROM compressae.sync_queue ORDER BY id")] == [1000, 1000, 500, 4]

def test_a_large_entry_is_split_once_so_each_batch_touches_at_most_1000_keys(conn, dsn, real_vectors):
    """Finding 12 of #26: one entry of 12,000 keys (an owner may append one) costs its size, not its square.

    Trimming a large entry batch by batch re-read and rewrote the whole rest of its array each time; the
    worker splits it once, and every later batch claims entries of at most 1,000 keys."""
    create_table(conn, "items", real_vectors[:5])
    att, model = attach_model(conn, sync="queue")
    backfill("items", "embedding", dsn=dsn, progress=False)  # rows 1..5
    conn.execute("INSERT INTO items SELECT g, (SELECT embedding FROM items WHERE id = 1) FROM generate_series(10, 12009) AS g")
    conn.execute("DELETE FROM compressae.sync_queue")
    conn.execute("INSERT INTO compressae.sync_queue (attachment_id, keys, enqueued_at, attempts) "
                 "SELECT %s, array_agg(g::text ORDER BY g), now() - interval '1 hour', 2 FROM generate_series(10, 12009) AS g", (att.id,))
    worker = QueueWorker(conn, fillable(att), Encoder(model), Limits(batch_size=500), threading.Event())
    assert worker.batch(500).changes == 500
    entries = conn.execute("SELECT cardinality(keys), keys[1], now() - enqueued_at > interval '59 minutes', attempts "
                           "FROM compressae.sync_queue ORDER BY id").fetchall()
    assert [n for n, *_ in entries] == [500] + [1000] * 11  # the first piece trimmed once, the rest whole
    assert [k for _n, k, *_ in entries] == ["510"] + [str(k) for k in range(1010, 12010, 1000)]  # in key order
    assert all(old and tries == 2 for _n, _k, old, tries in entries)  # the lag and the attempts carried over
    assert queued(conn) == [(str(k), 1) for k in sorted(range(510, 12010), key=str)]
    result = sync("items", "embedding", dsn=dsn, batch_size=500, progress=False)
    assert (result.changes, result.rows_written, result.queue_left) == (11500, 11500, 0)
    assert check_codes(conn, model) == 12005 and conn.execute("SELECT count(*) FROM items WHERE embedding_sae IS NULL").fetchone() == (0,)


def test_a_key_with_no_row_is_dropped_and_a_key_that_does_not_parse_is_one_failure(conn, dsn, real_vectors):
    """Finding 12 of #26: a key that names no row is a deleted row (nothing to code, no record); a key that
    is not a value of the key type is recorded once, however often it is queued."""
    create_table(conn, "items", real_vectors[:5])
    att, model = attach_model(conn, sync="queue")
    backfill("items", "embedding", dsn=dsn, progress=False)
    conn.execute("UPDATE items SET embedding = %s WHERE id = 3", (real_vectors[9],))  # queued by the trigger
    conn.execute("DELETE FROM items WHERE id = 4")
    for _ in range(2):
        conn.execute("INSERT INTO compressae.sync_queue (attachment_id, keys) VALUES (%s, ARRAY['999999', 'abc', '4'])", (att.id,))
        result = sync("items", "embedding", dsn=dsn, progress=False)
        assert result.queue_left == 0 and result.failed_keys == ["abc"]
    assert failures(conn) == {"abc": "the key is not a value of the table's primary key type"}
    assert check_codes(conn, model) == 4


def test_worker_codes_equal_the_backfills_bit_for_bit(conn, dsn, real_vectors):
    x = real_vectors[:700]
    conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(384))")
    create_table(conn, "twin", x, key="wide bigint")
    _att, model = attach_model(conn, sync="queue")
    attach_model(conn, table="twin", model=model, name="m")  # the same model, as version 2
    insert_rows(conn, range(len(x)), x)  # queued by the trigger
    sync("items", "embedding", dsn=dsn, batch_size=96, progress=False)
    backfill("twin", "embedding", dsn=dsn, batch_size=250, progress=False)
    ours = conn.execute("SELECT id, embedding_sae::text, embedding_sae_sketch::text FROM items ORDER BY id").fetchall()
    theirs = conn.execute("SELECT (id - 10000000000) / 7, embedding_sae::text, embedding_sae_sketch::text FROM twin ORDER BY id").fetchall()
    assert len(ours) == 700 and ours == theirs
    assert check_codes(conn, model) == 700


def test_two_workers_share_the_queue_without_double_work_or_loss(conn, dsn, real_vectors):
    conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(384))")
    _att, model = attach_model(conn, sync="queue")
    insert_rows(conn, range(3000), real_vectors[:3000])
    encoder = Encoder(model, "cpu")
    results = [None, None]

    def run(i: int) -> None:
        results[i] = sync("items", "embedding", dsn=dsn, batch_size=100, encoder=encoder, progress=False)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = results
    assert a.changes > 0 and b.changes > 0, (a.changes, b.changes)  # both took part
    assert a.changes + b.changes == 3000 and a.rows + b.rows == 3000  # each queued change and row exactly once
    assert queued(conn) == [] and check_codes(conn, model) == 3000


class UpdatingEncoder(Encoder):
    """Encodes as usual, but the first time, before returning, an application commits a new vector for ``key``
    (which waits for nothing: the worker locks no row it is encoding)."""

    def __init__(self, model, dsn: str, key: int, vector: np.ndarray) -> None:
        super().__init__(model, "cpu")
        self.dsn, self.key, self.vector, self.calls = dsn, key, vector, 0

    def __call__(self, batch, planes=0):
        out = super().__call__(batch, planes)
        self.calls += 1
        if self.calls == 1:
            with psycopg.connect(self.dsn, autocommit=True) as app:
                app.execute("SET lock_timeout = '2s'")
                app.execute("UPDATE items SET embedding = %s::text::vector WHERE id = %s", (str(self.vector.tolist()), self.key))
        return out


@pytest.mark.parametrize("by", ["marks", "keys"])
def test_a_row_updated_while_it_is_encoded_is_encoded_again(conn, dsn, real_vectors, by):
    create_table(conn, "items", real_vectors[:0], key="integer")
    with queue_by(conn, dsn, by) as (_att, model):
        insert_rows(conn, range(1, 51), real_vectors[:50])
        encoder = UpdatingEncoder(model, dsn, 7, real_vectors[100])
        result = sync("items", "embedding", dsn=dsn, encoder=encoder, progress=False)
    assert encoder.calls == 2  # the second batch is row 7 again: its new entry, or its code still NULL
    assert (result.changes, result.rows, result.rows_written) == (51, 51, 50)
    got = codes_by_key(conn)[7]
    np.testing.assert_array_equal(got[0].to_numpy(), real_vectors[100])
    assert to_encode(conn) == [] and check_codes(conn, model) == 50  # row 7's code is the new vector's


def test_bad_vectors_get_a_null_code_and_a_failure_and_the_queue_moves_on(conn, dsn, real_vectors):
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector)")  # no dimension: any length goes in
    _att, model = attach_model(conn, sync="queue")
    rows = [(1, real_vectors[0]), (2, np.ones(3)), (3, np.zeros(384)), (4, real_vectors[1])]
    for key, v in rows:  # the application's writes never fail
        conn.execute("INSERT INTO items VALUES (%s, %s)", (key, v))
    conn.execute("INSERT INTO compressae.sync_queue (attachment_id, keys) VALUES (1, '{not a number}')")  # junk: anyone may queue
    result = sync("items", "embedding", dsn=dsn, batch_size=2, progress=False)
    assert (result.changes, result.rows, result.rows_written, result.rows_failed) == (5, 4, 2, 3)
    assert failures(conn) == {
        "2": "the source has 3 dimensions; model m@1 expects 384",
        "3": "the source is the zero vector",
        "not a number": "the key is not a value of the table's primary key type",
    }
    assert queued(conn) == [] and check_codes(conn, model) == 4
    conn.execute("UPDATE items SET embedding = %s WHERE id IN (2, 3)", (real_vectors[5],))  # fixed by the application
    sync("items", "embedding", dsn=dsn, progress=False)
    assert set(failures(conn)) == {"not a number"} and check_codes(conn, model) == 4


@pytest.mark.parametrize("by", ["marks", "keys"])
def test_follow_wakes_on_notify_or_its_poll_and_status_shows_depth_and_lag(conn, dsn, real_vectors, by):
    create_table(conn, "items", real_vectors[:0], key="integer")
    with queue_by(conn, dsn, by) as (att, model):
        insert_rows(conn, range(1, 31), real_vectors[:30])
        time.sleep(1.1)
        (row,) = status("items", conn=conn)
        queue = row["queue"]
        assert queue["depth"] == 30 == len(to_encode(conn)) and queue["failures"] == 0
        if by == "keys":
            assert queue["queued"] == 30 and queue["entries"] == 1 and 1.0 <= queue["lag_s"] < 60  # one COPY, one entry
            assert (queue["pending"], queue["pending_index"], queue["statement_triggers"]) == (0, None, True)
        else:  # a row found by its NULL code has no age
            assert (queue["queued"], queue["pending"], queue["entries"], queue["lag_s"]) == (0, 30, 0, 0.0)
            assert queue["pending_index"] is not None and queue["statement_triggers"] is False
        stop = threading.Event()
        # a poll of an hour: within wait_for's two minutes only the NOTIFY (keys) or the pending index's poll (marks,
        # MARK_POLL) can wake the follower for row 31
        worker = ResultThread(sync, "items", "embedding", dsn=dsn, follow=True, poll=3600, stop=stop, progress=False)
        worker.start()
        try:
            wait_for(lambda: to_encode(conn) == [], "the first 30 encoded")
            assert worker.is_alive(), worker.error  # following, not returned or failed
            insert_rows(conn, [31], real_vectors[30:31])
            wait_for(lambda: codes_by_key(conn)[31][1] is not None, "the follower to wake for row 31")
        finally:
            stop.set()
            worker.join(60)  # stop is looked at every second: the bound is only against hanging
        assert not worker.is_alive()
        result = worker.outcome()
        assert result.changes == 31 and result.mode == "follow"
        assert check_codes(conn, model) == 31
        (row,) = status("items", conn=conn)
        assert {k: row["queue"][k] for k in ("depth", "queued", "pending", "entries", "lag_s", "failures")} == {
            "depth": 0, "queued": 0, "pending": 0, "entries": 0, "lag_s": 0.0, "failures": 0}


def test_cli_attach_sync_and_detach_leave_nothing_behind(conn, dsn, real_vectors, capsys):
    create_table(conn, "items", real_vectors[:10], key="integer")
    before = catalog(conn, "items")
    _att, model = attach_model(conn)
    conn.execute("SELECT compressae.detach('items', 'embedding_sae')")
    assert main(["attach", "--table", "items", "--column", "embedding", "--model", "m", "--sync", "queue", "--no-index",
                 "--apply", "--dsn", dsn]) == 0, capsys.readouterr().err
    attached = catalog(conn, "items")
    assert attached["triggers"] == [("compressae_sync_2",), ("compressae_sync_2_insert",)]  # row triggers: the pending index finds rows
    assert sum("WHERE ((embedding_sae IS NULL) AND (embedding IS NOT NULL))" in i for (i,) in attached["indexes"]) == 1  # the pending index
    made = {f for (f,) in set(attached["functions"]) - set(before["functions"])}
    assert {f"public.{f}" for f in made} == {trigger_function(conn, "items", t) for t in ("compressae_sync_2", "compressae_sync_2_insert")}
    assert {re.sub("_[0-9a-f]{12}", "_<tag>", f) for f in made} == {"compressae_sync_2_<tag>()"}
    conn.execute("UPDATE items SET embedding = %s WHERE id = 1", (real_vectors[50],))
    capsys.readouterr()
    assert main(["sync", "--table", "items", "--column", "embedding", "--once", "--json", "--dsn", dsn]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["changes"], out["rows"], out["queue_left"]) == (10, 10, 0)  # every row without a code, backfilled or not
    assert main(["status", "--table", "items", "--dsn", dsn]) == 0
    assert "queue_depth" in capsys.readouterr().out
    conn.execute("UPDATE items SET embedding = %s WHERE id = 2", (real_vectors[51],))  # left queued at detach
    assert main(["detach", "--table", "items", "--column", "embedding", "--dsn", dsn]) == 0
    assert catalog(conn, "items") == before and queued(conn) == []
    _att, _ = attach_model(conn, name="n")
    with pytest.raises(NotQueuedError, match="attach it with --sync queue"):
        sync("items", "embedding", dsn=dsn, progress=False)


@pytest.mark.parametrize("by", ["marks", "keys"])
def test_a_row_whose_write_keeps_failing_moves_to_the_failures_and_the_queue_moves_on(conn, dsn, real_vectors, by):
    """A queued key is tried MAX_ATTEMPTS batches; a row found by its NULL code is recorded with the version that
    failed at once, and skipped until it changes."""
    create_table(conn, "items", real_vectors[:0], key="integer")
    with queue_by(conn, dsn, by) as (_att, model):
        conn.execute("CREATE FUNCTION refuse_13() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN IF NEW.id = 13 AND NEW.embedding_sae "
                     "IS NOT NULL THEN RAISE EXCEPTION 'row 13 is frozen'; END IF; RETURN NEW; END$$")
        conn.execute("CREATE TRIGGER refuse_13 BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION refuse_13()")
        for key in range(1, 21):
            conn.execute("INSERT INTO items VALUES (%s, %s)", (key, real_vectors[key]))
        result = sync("items", "embedding", dsn=dsn, batch_size=8, progress=False)
        assert (result.changes, result.rows_written, result.queue_left) == (19, 19, 0)
        (reason,) = failures(conn).values()
        assert list(failures(conn)) == ["13"]
        assert reason.startswith("failed 5 batches, the last with: row 13 is frozen" if by == "keys" else "its write failed: row 13 is frozen")
        assert sync("items", "embedding", dsn=dsn, progress=False).changes == 0  # not tried again while unchanged
        conn.execute("DROP TRIGGER refuse_13 ON items")
        conn.execute("UPDATE items SET embedding = embedding WHERE id = 13")
        sync("items", "embedding", dsn=dsn, progress=False)
        assert failures(conn) == {} and check_codes(conn, model) == 20


def test_status_counts_pending_rows_up_to_its_cap_and_sync_counts_them_all(conn, dsn, real_vectors, monkeypatch, capsys):
    """A freshly attached large table has every row pending, and each count is an index scan: status stops at a cap."""
    from compressae_pg.fill import queue

    create_table(conn, "items", real_vectors[:30], key="integer")
    with queue_by(conn, dsn, "marks"):
        monkeypatch.setattr(queue, "STATUS_PENDING_CAP", 10)
        (row,) = status("items", conn=conn)
        assert (row["queue"]["pending"], row["queue"]["pending_capped"], row["queue"]["depth"]) == (10, True, 10)
        assert main(["status", "--table", "items", "--dsn", dsn]) == 0
        assert re.search(r"\b10\+", capsys.readouterr().out)
        monkeypatch.setattr(queue, "STATUS_PENDING_CAP", 30)
        (row,) = status("items", conn=conn)
        assert (row["queue"]["pending"], row["queue"]["pending_capped"]) == (30, False)  # exactly the cap: all counted
        monkeypatch.setattr(queue, "STATUS_PENDING_CAP", 10)
        done = sync("items", "embedding", dsn=dsn, progress=False)
        assert (done.rows_written, done.queue_left) == (30, 0)  # past the cap
