"""Retrain in place (issue 28, item 4): the operations.md flow, train the same name → recompress, on a live table.

A writer thread inserts and updates rows through the whole recompress. Afterwards every row it wrote is there,
and every code is what the new version encodes for the row's current vector (checked by encoding in Python).
"""

from __future__ import annotations

import json
import threading

import numpy as np
import psycopg
import pytest

from compressae_pg import backfill, registry
from compressae_pg.cli import main

from ..support.models import attach_model, train_small
from ..support.processes import ResultThread
from ..support.tables import create_table
from ..support.truth import check_codes


def test_train_the_same_name_then_recompress_a_live_table_loses_no_row_and_leaves_no_stale_code(conn, dsn, capsys, real_vectors):
    keys = create_table(conn, "items", real_vectors[:600])
    attach_model(conn, model=train_small(real_vectors[3000:5000]), sync="trigger")
    backfill("items", "embedding", dsn=dsn, progress=False)
    target = ["--table", "items", "--column", "embedding", "--dsn", dsn, "--json"]
    assert main(["train", *target[:4], "--name", "m", "--h", "1024", "--k", "16", "--steps", "20", "--batch-size", "256",
                 "--device", "cpu", *target[4:]]) in (0, None)
    assert json.loads(capsys.readouterr().out)["ref"] == "m@2"

    stop, fresh, written = threading.Event(), iter(real_vectors[1000:3000]), {}

    def writer() -> None:
        with psycopg.connect(dsn, autocommit=True) as w:
            from pgvector.psycopg import register_vector

            register_vector(w)
            n = 0
            while not stop.is_set():
                vector = next(fresh)
                if n % 2:
                    w.execute("INSERT INTO items (id, embedding) VALUES (%s, %s)", (10_000 + n, vector))
                    written[10_000 + n] = vector
                else:
                    w.execute("UPDATE items SET embedding = %s WHERE id = %s", (vector, keys[n % 600]))
                    written[keys[n % 600]] = vector
                n += 1
                stop.wait(0.01)

    thread = ResultThread(writer)
    thread.start()
    try:
        code = main(["recompress", *target, "--model", "m@2", "--batch-size", "50", "--sleep", "0.02"])
    finally:
        stop.set()
        thread.join()
    thread.outcome()
    assert code == 0 and json.loads(capsys.readouterr().out)["swapped"] is True
    assert len(written) > 20
    rows = dict(conn.execute("SELECT id, embedding FROM items").fetchall())
    assert set(rows) == set(keys) | {k for k in written if k >= 10_000}  # no row lost
    assert all(np.array_equal(rows[k].to_numpy(), v) for k, v in written.items())
    _info, m2 = registry.load(conn, "m@2")
    assert check_codes(conn, m2) == len(rows)  # every code is m@2's code of the row's current vector
