"""sync='queue' by marks (0024): a changed row's NULL code is its mark, found through the attachment's pending index.

A table upgraded from 0023 (or attached inside a transaction) queues keys until `sync` builds the index and switches;
a build that cannot run is a note, never a lost row; an interrupted build is dropped and made again; the downgrade
queues every row still without a code and restores the statement triggers."""

from __future__ import annotations

import numpy as np
import psycopg

from compressae_pg import _migrate, sync
from compressae_pg.columns import pending

from ..support.models import attach_model, queueing_keys
from ..support.tables import catalog, create_table, insert_rows, trigger_function
from ..support.truth import check_codes

QUEUED = "SELECT k FROM compressae.sync_queue, unnest(keys) AS k ORDER BY k::int"
PENDING = "SELECT id FROM items WHERE embedding_sae IS NULL AND embedding IS NOT NULL ORDER BY id"


def keys(conn: psycopg.Connection, query: str) -> list[int]:
    return [int(k) for (k,) in conn.execute(query)]


def triggers(conn: psycopg.Connection) -> list[str]:
    return [t for (t,) in catalog(conn, "items")["triggers"]]


def pending_indexes(conn: psycopg.Connection, att) -> list[tuple[str, bool]]:
    return [(str(i), v) for i, v in conn.execute("SELECT index, valid FROM compressae.pending_indexes(%s)", (att.id,))]


def test_sync_switches_a_queue_of_keys_to_marks_and_drains_both(conn, dsn, real_vectors):
    x = real_vectors
    create_table(conn, "items", x[:10], key="integer")
    with queueing_keys(conn, dsn) as (att, model):
        insert_rows(conn, [11, 12], x[11:13])
        conn.execute("UPDATE items SET embedding = %s WHERE id = 3", (x[20],))
        assert keys(conn, QUEUED) == [3, 11, 12] and pending_indexes(conn, att) == []
        held = sync("items", "embedding", dsn=dsn, progress=False)  # another session holds the build: a note, the queue served
        assert held.rows_written == 3 and held.notes and "keeps its sync queue's statement triggers for now" in held.notes[0]
        queue_fn = trigger_function(conn, "items", f"compressae_sync_{att.id}_update")
        conn.execute("UPDATE items SET embedding = %s WHERE id = 4", (x[21],))
    result = sync("items", "embedding", dsn=dsn, progress=False)  # builds, switches, then finds rows 1..10 by their NULL code too
    assert result.notes == [] and result.queue_left == 0 and result.rows_written == 9  # rows 1..10 but 3, uncoded since the attach
    assert [valid for _name, valid in pending_indexes(conn, att)] == [True]
    assert triggers(conn) == [f"compressae_sync_{att.id}", f"compressae_sync_{att.id}_insert"]
    assert queue_fn.removeprefix("public.") not in {f for (f,) in catalog(conn, "items")["functions"]}  # dropped with its triggers
    insert_rows(conn, [13], x[13:14])
    conn.execute("UPDATE items SET embedding = %s WHERE id = 5", (x[22],))
    assert keys(conn, QUEUED) == [] and keys(conn, PENDING) == [5, 13]
    assert sync("items", "embedding", dsn=dsn, progress=False).rows_written == 2
    assert check_codes(conn, model) == 13


def test_an_insert_that_brings_a_code_of_its_own_has_it_cleared_and_encoded(conn, dsn, real_vectors):
    x = real_vectors
    create_table(conn, "items", x[:3], key="integer")
    att, model = attach_model(conn, sync="queue")
    sync("items", "embedding", dsn=dsn, progress=False)
    (code, sketch) = conn.execute("SELECT embedding_sae, embedding_sae_sketch FROM items WHERE id = 1").fetchone()
    conn.execute("INSERT INTO items (id, embedding, embedding_sae, embedding_sae_sketch) VALUES (4, %s, %s, %s)", (x[4], code, sketch))
    assert keys(conn, PENDING) == [4]  # the code row 1 has, not row 4's: cleared
    assert sync("items", "embedding", dsn=dsn, progress=False).rows_written == 1
    assert check_codes(conn, model) == 4


def test_an_interrupted_build_is_dropped_and_made_again(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:5], key="integer")
    with conn.transaction():
        att, model = attach_model(conn, sync="queue")
    _name, ddl = conn.execute("SELECT index_name, ddl FROM compressae.pending_index_ddl(%s)", (att.id,)).fetchone()
    conn.execute(ddl)
    (left,) = pending_indexes(conn, att)
    conn.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", (left[0],))  # as a cancelled CIC leaves it
    assert pending_indexes(conn, att) == [(left[0], False)]
    assert conn.execute("SELECT compressae.pending_index(%s)", (att.id,)).fetchone() == (None,)
    assert pending.build(conn, att) is None
    (made,) = pending_indexes(conn, att)
    assert made[1] and made[0] != left[0]
    assert sync("items", "embedding", dsn=dsn, progress=False).rows_written == 5 and check_codes(conn, model) == 5


def test_the_downgrade_queues_every_row_without_a_code_and_an_upgrade_and_sync_switch_back(conn, dsn, real_vectors):
    x = real_vectors
    create_table(conn, "items", x[:6], key="integer")
    att, model = attach_model(conn, sync="queue")
    sync("items", "embedding", dsn=dsn, progress=False)
    conn.execute("UPDATE items SET embedding = %s WHERE id IN (2, 5)", (x[30],))
    conn.execute("INSERT INTO items VALUES (7, %s), (8, NULL)", (x[7],))
    (index,) = pending_indexes(conn, att)
    _migrate.downgrade(dsn, "0023_unguessable_sync_functions")
    assert keys(conn, QUEUED) == [2, 5, 7] and keys(conn, PENDING) == [2, 5, 7]
    assert triggers(conn) == [f"compressae_sync_{att.id}", f"compressae_sync_{att.id}_insert", f"compressae_sync_{att.id}_update"]
    assert conn.execute("SELECT to_regclass(%s)", (index[0],)).fetchone()[0] is not None  # left, named in a NOTICE
    conn.execute("UPDATE items SET embedding = %s WHERE id = 1", (x[31],))  # 0023's triggers queue it
    assert keys(conn, QUEUED) == [1, 2, 5, 7]
    _migrate.upgrade(dsn)
    assert f"compressae_sync_{att.id}_update" in triggers(conn)  # until sync switches
    result = sync("items", "embedding", dsn=dsn, progress=False)
    assert result.notes == [] and result.rows_written == 4 and pending_indexes(conn, att) == [index]  # the index kept is used
    assert triggers(conn) == [f"compressae_sync_{att.id}", f"compressae_sync_{att.id}_insert"]
    assert keys(conn, QUEUED) == [] and check_codes(conn, model) == 8  # row 8, without a source, has no code
    np.testing.assert_array_equal(conn.execute("SELECT embedding FROM items WHERE id = 1").fetchone()[0].to_numpy(), x[31])
