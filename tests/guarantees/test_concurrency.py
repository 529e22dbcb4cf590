"""Concurrency: the sync trigger under racing updates of the same rows, and searches that keep
answering while a backfill runs and while the index is rebuilt concurrently."""

from __future__ import annotations

import random
import threading

import pytest

from compressae_pg import CompressedColumn, _locks, backfill, build_index, verify
from compressae_pg.server import connect

from ..support.models import attach_model
from ..support.processes import ResultThread, wait_for
from ..support.tables import create_table
from ..support.truth import check_codes

pytestmark = pytest.mark.slow


def test_racing_updates_of_the_same_rows_leave_every_code_matching_its_source(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:20])
    _att, model = attach_model(conn, sync="trigger")
    backfill("items", "embedding", dsn=dsn, progress=False)
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with connect(dsn, autocommit=True) as c:
                for _ in range(60):
                    ids = sorted(rng.sample(range(1, 6), 2))  # a few hot rows, locked in key order
                    with c.transaction():
                        for i in ids:
                            c.execute("UPDATE items SET embedding = %s WHERE id = %s", (real_vectors[rng.randrange(100, 3000)], i))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert verify("items", "embedding", sample=None, dsn=dsn).ok
    check_codes(conn, model)


def _searching(dsn: str, query, while_: threading.Event, answered: list, failed: list) -> ResultThread:
    """Search until ``while_`` is set: each best key into ``answered``, each failed search into ``failed``; failing to
    connect at all is the thread's outcome."""
    def run() -> None:
        with connect(dsn, autocommit=True) as c:
            column = CompressedColumn(c, "items", "embedding")
            while not while_.is_set():
                try:
                    answered.append(column.search(query, k=5, rerank="dense")[0].key)
                except Exception as exc:  # noqa: BLE001 - counted, the test asserts there are none
                    failed.append(exc)
    thread = ResultThread(run)
    thread.start()
    return thread


def test_searches_answer_during_a_backfill_and_during_a_concurrent_index_rebuild(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:2000])
    att, _model = attach_model(conn)
    backfill("items", "embedding", dsn=dsn, max_rows=500, progress=False)
    stop, answered, failed = threading.Event(), [], []
    searcher = _searching(dsn, real_vectors[10], stop, answered, failed)
    try:
        # The last row stays locked until searches have overlapped the run, so its last batch waits and
        # retries: the overlap is ordered by the lock, not left to the thread scheduler.
        with connect(dsn) as last_row:
            last_row.execute("SELECT 1 FROM items WHERE id = 2000 FOR UPDATE")
            run = ResultThread(backfill, "items", "embedding", dsn=dsn, batch_size=50, lock_timeout="100ms",
                               max_retries=10_000, progress=False)
            run.start()
            wait_for(lambda: _locks.holder(conn, "backfill", att.id), "the backfill to start")
            during = len(answered)
            wait_for(lambda: len(answered) > during + 3, "searches during the backfill")
            assert run.is_alive() and _locks.holder(conn, "backfill", att.id) is not None
            last_row.rollback()
        filled = run.outcome()
        assert (filled.mode, filled.status, filled.rows_written) == ("resume", "done", 1500)  # the 1,500 rows left
        build_index("items", "embedding", dsn=dsn, m=8, ef_construction=32)

        # An open transaction that read the table holds its index: the concurrent drop and build wait for it,
        # so the rebuild is under way while we search.
        with connect(dsn) as blocker:
            blocker.execute("SELECT 1 FROM items LIMIT 1")
            rebuild = ResultThread(build_index, "items", "embedding", dsn=dsn, m=8, ef_construction=32, rebuild=True)
            rebuild.start()
            wait_for(lambda: _locks.holder(conn, "index", att.id), "the rebuild to start")
            during = len(answered)
            wait_for(lambda: len(answered) > during + 3, "searches during the rebuild")
            assert rebuild.is_alive()
            blocker.rollback()
        rebuilt = rebuild.outcome()
        assert rebuilt.built and rebuilt.valid and rebuilt.concurrently
    finally:
        stop.set()
        searcher.join()
    assert searcher.outcome() is None and failed == [] and set(answered) == {11}
    assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass", (att.index_name,)).fetchone() == (True,)
