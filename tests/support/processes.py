"""Running the package's CLI as a separate process, and waiting for what it does to show in the database."""

from __future__ import annotations

import os
import sys
import threading
import time

import psycopg

from compressae_pg.server import EmbeddedServer

CLI = [sys.executable, "-m", "compressae_pg.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
PROGRESS = "SELECT coalesce(sum(rows_done), 0) FROM compressae.backfill_jobs WHERE kind = 'range'"


class ResultThread(threading.Thread):
    """A thread that keeps what its target returned or raised, for the test to assert on (a bare Thread drops both)."""

    def __init__(self, target, *args, **kwargs) -> None:
        super().__init__()
        self._call = (target, args, kwargs)
        self.result = None
        self.error: BaseException | None = None

    def run(self) -> None:
        target, args, kwargs = self._call
        try:
            self.result = target(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - raised again by outcome(), in the test's thread
            self.error = exc

    def outcome(self):
        """Wait for the thread; what its target returned, or raise what it raised."""
        self.join()
        if self.error is not None:
            raise self.error
        return self.result


def wait_for(predicate, what: str, timeout: float = 120.0):
    """Poll until ``predicate()`` is truthy (a deadline only against hanging forever, not a timing check)."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)
    return value


def restart(srv: EmbeddedServer) -> str:
    """Stop the server and start it again; its (new) URL."""
    srv.stop()
    return srv.start()


def cancelled_build(conn: psycopg.Connection, dsn: str, blocker: str, waiting: str) -> list[BaseException]:
    """Start ``build_index("items", "embedding")`` in a thread while ``blocker`` (a write) holds a transaction open,
    cancel the concurrent build once ``waiting`` (a pg_stat_progress_create_index query) finds its pid, and
    return what the build raised."""
    from compressae_pg import build_index

    writer = psycopg.connect(dsn)  # an open writing transaction: the concurrent build waits for it
    writer.execute(blocker)
    failure: list[BaseException] = []

    def build() -> None:
        try:
            build_index("items", "embedding", dsn=dsn)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    try:
        pid = None
        while pid is None and thread.is_alive():  # only CONCURRENTLY waits for a writer
            row = conn.execute(waiting).fetchone()
            pid = row[0] if row else time.sleep(0.02)
        assert pid is not None, f"the build ended before it could be interrupted: {failure}"
        conn.execute("SELECT pg_cancel_backend(%s)", (pid,))
        thread.join()
    finally:
        writer.rollback()
        writer.close()
    return failure
