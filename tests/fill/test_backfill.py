"""Backfill of a code column: every row right, for any key type, resumable, idempotent, refusing what it cannot do."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from compressae_pg import BusyError, CompressaeError, NoPrimaryKeyError, UnknownTableError, _locks, backfill, status
from compressae_pg.fill.jobs import latest_run

from ..support.models import attach_model
from ..support.tables import codes_by_key, create_table, insert_rows, row_versions
from ..support.truth import check_codes


@pytest.mark.parametrize("key", ["integer", "bigint", "wide bigint", "uuid", "text"])
def test_every_row_gets_its_models_code_for_any_key_type(conn, dsn, real_vectors, key):
    create_table(conn, "items", real_vectors[:1500], key=key)
    att, model = attach_model(conn)
    result = backfill("items", "embedding", dsn=dsn, workers=2, batch_size=128, progress=False)
    assert (result.status, result.mode, result.rows, result.rows_written) == ("done", "full", 1500, 1500)
    assert result.workers == 2 and result.batches >= 1500 // 128
    assert check_codes(conn, model) == 1500
    run = latest_run(conn, att.id)
    ranges = [j for j in run if j.kind == "range"]
    assert len(ranges) == 2 and sum(j.rows_done for j in ranges) == 1500
    assert all(j.status == "done" for j in run) and [j.kind for j in run].count("sweep") == 1


def test_a_trained_refined_code_model_backfills_the_codes_numpy_computes(conn, dsn, real_vectors, model):
    create_table(conn, "items", [*real_vectors[4000:4600], None, np.zeros(384)])
    _att, model = attach_model(conn, model=model)
    result = backfill("items", "embedding", dsn=dsn, workers=2, batch_size=128, progress=False)
    assert (result.status, result.rows, result.rows_written, result.rows_skipped) == ("done", 602, 600, 1)
    assert check_codes(conn, model) == 602


def test_a_halfvec_source_is_encoded_from_its_half_precision_values(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:300], type_="halfvec(384)", key="wide bigint")
    _att, model = attach_model(conn)
    assert backfill("items", "embedding", dsn=dsn, progress=False).rows_written == 300
    assert check_codes(conn, model) == 300


def test_running_again_changes_nothing(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:800], key="wide bigint")
    _att, model = attach_model(conn)
    backfill("items", "embedding", dsn=dsn, batch_size=100, progress=False)
    before = row_versions(conn)
    again = backfill("items", "embedding", dsn=dsn, progress=False)
    assert (again.mode, again.status, again.rows, again.rows_written) == ("sweep", "done", 0, 0)
    full = backfill("items", "embedding", dsn=dsn, mode="restart", batch_size=64, progress=False)
    assert (full.mode, full.rows, full.rows_written) == ("full", 800, 0)
    assert row_versions(conn) == before  # not one row version rewritten
    check_codes(conn, model)


def test_rows_that_cannot_be_encoded_keep_a_null_code_and_are_reported(conn, dsn, real_vectors):
    rows = [real_vectors[0], None, np.zeros(384), np.ones(3), real_vectors[1], real_vectors[2]]
    create_table(conn, "items", rows, type_="vector")  # an untyped column may hold other dimensions
    _att, model = attach_model(conn)
    first = backfill("items", "embedding", dsn=dsn, progress=False)
    assert (first.rows, first.rows_written, first.rows_skipped) == (6, 3, 2)
    assert sorted(first.skipped_keys) == ["3", "4"]
    conn.execute("UPDATE items SET embedding = NULL WHERE id = 5")  # its code is now stale
    second = backfill("items", "embedding", dsn=dsn, progress=False)
    assert (second.mode, second.rows_swept, second.rows_written) == ("sweep", 1, 1)
    assert codes_by_key(conn)[5] == (None, None)
    check_codes(conn, model)


def test_a_paused_run_resumes_and_covers_rows_changed_in_between(conn, dsn, real_vectors):
    keys = create_table(conn, "items", real_vectors[:1000], key="wide bigint")
    att, model = attach_model(conn)
    first = backfill("items", "embedding", dsn=dsn, batch_size=100, max_rows=450, progress=False)
    assert (first.status, first.rows) == ("paused", 450)
    assert status(conn=conn)[0]["backfill"]["state"] == "paused"
    extra = real_vectors[1000:1010]
    conn.execute("UPDATE items SET embedding = %s WHERE id = %s", (extra[0], keys[3]))   # already done
    conn.execute("UPDATE items SET embedding = %s WHERE id = %s", (extra[1], keys[900]))  # not reached yet
    conn.execute("DELETE FROM items WHERE id = %s", (keys[5],))
    conn.execute("UPDATE items SET embedding_sae = NULL WHERE id = %s", (keys[6],))  # someone clobbers a code
    insert_rows(conn, [0, keys[-1] + 1], extra[2:4])  # one behind the checkpoint, one ahead
    resumed = backfill("items", "embedding", dsn=dsn, batch_size=100, progress=False)
    assert (resumed.mode, resumed.status) == ("resume", "done")
    assert resumed.rows_swept == 3  # keys[3], keys[6] and 0: everything else was written once, by the run
    assert check_codes(conn, model) == 1001
    with pytest.raises(CompressaeError, match="nothing to resume"):
        backfill("items", "embedding", dsn=dsn, mode="resume", progress=False)
    assert status(conn=conn)[0]["backfill"]["state"] == "done"
    assert backfill("items", "embedding", dsn=dsn, progress=False).rows == 0
    assert [j.kind for j in latest_run(conn, att.id)] == ["sweep"]


def test_restart_abandons_the_unfinished_run(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:300], key="wide bigint")
    att, model = attach_model(conn)
    backfill("items", "embedding", dsn=dsn, batch_size=50, max_rows=100, progress=False)
    paused_run = latest_run(conn, att.id)[0].run
    result = backfill("items", "embedding", dsn=dsn, mode="restart", batch_size=50, progress=False)
    assert (result.mode, result.rows, result.rows_written) == ("full", 300, 200)
    statuses = {s for (s,) in conn.execute("SELECT status FROM compressae.backfill_jobs WHERE run = %s", (paused_run,))}
    assert statuses == {"cancelled"}
    check_codes(conn, model)


def test_a_partitioned_table_is_filled_across_its_partitions(conn, dsn, real_vectors):
    conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(384)) PARTITION BY RANGE (id)")
    conn.execute("CREATE TABLE items_a PARTITION OF items FOR VALUES FROM (MINVALUE) TO (300)")
    conn.execute("CREATE TABLE items_b PARTITION OF items FOR VALUES FROM (300) TO (MAXVALUE)")
    insert_rows(conn, range(1, 601), real_vectors[:600])  # both partitions are loaded by one transaction
    _att, model = attach_model(conn)
    result = backfill("items", "embedding", dsn=dsn, workers=2, batch_size=64, progress=False)
    assert (result.rows, result.rows_written) == (600, 600)
    check_codes(conn, model)
    # PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned parent: the index is built per partition
    # (ON ONLY the parent, CONCURRENTLY on each, then attached), and the parent's index is valid
    assert result.index is not None and result.index["valid"]
    parts = conn.execute("SELECT count(*) FROM pg_inherits i JOIN pg_index x ON x.indexrelid = i.inhrelid"
                         " WHERE i.inhparent = %s::regclass AND x.indisvalid", (result.index["index"],)).fetchone()
    assert parts == (2,)
    conn.execute("UPDATE items SET embedding = %s WHERE id IN (10, 500)", (real_vectors[700],))
    assert backfill("items", "embedding", dsn=dsn, progress=False).rows_swept == 2
    check_codes(conn, model)


def test_hostile_names_work(conn, dsn, real_vectors):
    table, column = 'we"ird; DROP TABLE x; --.ta ble', "Emb ed'ding"
    create_table(conn, table, real_vectors[:200], column=column, key="text")
    att, model = attach_model(conn, table=table, column=column)
    result = backfill(table, column, dsn=dsn, workers=2, batch_size=32, progress=False)
    assert (result.status, result.rows) == ("done", 200)
    check_codes(conn, model, table=table, column=column, code=att.code_column)


def test_tables_without_a_single_column_primary_key_are_refused(conn, dsn):
    conn.execute("CREATE TABLE nokey (id bigint, embedding vector(384))")
    conn.execute("CREATE TABLE pair (a int, b int, embedding vector(384), PRIMARY KEY (a, b))")
    for table in ("nokey", "pair"):
        attach_model(conn, table=table, name=table)
    with pytest.raises(NoPrimaryKeyError, match="has no primary key"):
        backfill("nokey", "embedding", dsn=dsn, progress=False)
    with pytest.raises(NoPrimaryKeyError, match="composite primary key"):
        backfill("pair", "embedding", dsn=dsn, progress=False)
    assert conn.execute("SELECT count(*) FROM compressae.backfill_jobs").fetchone() == (0,)


def test_a_source_column_dropped_since_attaching_is_named(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:10])
    attach_model(conn)
    conn.execute("ALTER TABLE items DROP COLUMN embedding")
    with pytest.raises(UnknownTableError, match=r"column 'embedding' does not exist in table public\.items$"):
        backfill("items", "embedding", dsn=dsn, progress=False)
    assert conn.execute("SELECT count(*) FROM compressae.backfill_jobs").fetchone() == (0,)


def test_a_second_backfill_of_the_same_column_is_refused(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:10], key="wide bigint")
    att, _model = attach_model(conn)
    with psycopg.connect(dsn, autocommit=True, application_name="the other one") as other:
        with _locks.exclusive(other, "backfill", att.id):
            pid = other.info.backend_pid
            with pytest.raises(BusyError, match=f"pid {pid} \\(the other one"):
                backfill("items", "embedding", dsn=dsn, progress=False)
            assert status(conn=conn)[0]["backfill"]["state"] == "never"
    assert backfill("items", "embedding", dsn=dsn, progress=False).rows == 10


def test_the_model_option_must_match_the_attachment(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:10], key="wide bigint")
    attach_model(conn)
    attach_model(conn, name="other", code_column="other_codes")
    with pytest.raises(CompressaeError, match="several code columns"):
        backfill("items", "embedding", dsn=dsn, progress=False)
    assert backfill("items", "embedding", model="other", dsn=dsn, progress=False).attachment["code_column"] == "other_codes"
    with pytest.raises(ValueError, match="batch_size"):
        backfill("items", "embedding", model="m", dsn=dsn, batch_size=0, progress=False)
