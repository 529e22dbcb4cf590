"""The sync queue's keys and row triggers (0012, issue 26 findings 10 and 11): a key written under any
session settings names its row for a worker under any others, and a source set by the application's own
BEFORE trigger is re-encoded (in both sync modes), while an UPDATE of other columns encodes and queues nothing."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from compressae_pg import backfill, sync
from compressae_pg._defaults import QUEUE_KEY_SETTINGS

from ..support.models import attach_model, queue_by, queueing_keys
from ..support.tables import insert_rows, trigger_function
from ..support.truth import check_codes

WRITER = ["SET DateStyle = 'SQL, MDY'", "SET IntervalStyle = 'sql_standard'", "SET TimeZone = 'Asia/Kathmandu'",
          "SET extra_float_digits = -3"]
WORKER = "-c DateStyle=ISO,DMY -c IntervalStyle=iso_8601 -c TimeZone=America/New_York -c extra_float_digits=0"
KEYS = {  # values whose text in the writer's settings the worker's would read as another value
    "date": ["2026-03-04", "2026-12-01", "2026-01-02"],
    "timestamptz": ["2026-03-04 10:15:00+00", "2026-05-06 23:59:59.5+00", "2026-01-02 00:00:00+00"],
    "interval": ["-1 day -2 hours", "3 days -04:00:00", "1 mon -1 day"],
    "float8": ["0.3333333333333333", "1e-300", "2.718281828459045"],
}


@pytest.mark.parametrize("by", ["marks", "keys"])
@pytest.mark.parametrize("key_type", list(KEYS))
def test_keys_written_under_any_settings_name_their_rows_for_a_worker_under_others(conn, dsn, real_vectors, key_type, by):
    x = real_vectors
    key = sql.SQL(key_type)  # a type name of KEYS, not an identifier
    conn.execute(sql.SQL("CREATE TABLE items (id {} PRIMARY KEY, embedding vector(384))").format(key))
    with queue_by(conn, dsn, by) as (_att, model), psycopg.connect(dsn, autocommit=True) as app:
        for statement in WRITER:
            app.execute(statement)
        for i, k in enumerate(KEYS[key_type]):
            with app.cursor() as cur:  # the key parsed as the application's session parses it
                cur.execute(sql.SQL("INSERT INTO items VALUES (%s::text::{}, %s::text::vector)").format(key),
                            (k, "[" + ",".join(repr(float(a)) for a in x[i]) + "]"))
        worker = make_conninfo(**{**conninfo_to_dict(dsn), "options": WORKER})
        result = sync("items", "embedding", dsn=worker, progress=False)
    assert result.failed_keys == [] and result.queue_left == 0
    assert conn.execute("SELECT count(*) FROM items WHERE embedding_sae IS NULL").fetchone()[0] == 0
    assert check_codes(conn, model) == 3


def test_the_queue_function_is_pinned_to_the_workers_key_settings(conn, dsn, real_vectors):
    conn.execute("CREATE TABLE items (id integer PRIMARY KEY, embedding vector(384))")
    with queueing_keys(conn, dsn) as (att, _model):
        function = trigger_function(conn, "items", f"compressae_sync_{att.id}_insert")
    (config,) = conn.execute("SELECT proconfig FROM pg_proc WHERE oid = %s::regprocedure", (function,)).fetchone()
    settings = dict(c.split("=", 1) for c in config)
    assert {k.lower(): v for k, v in settings.items() if k != "search_path"} == {k.lower(): v for k, v in QUEUE_KEY_SETTINGS.items()}


def _app_table(conn: psycopg.Connection, x) -> None:
    """items with a note column, and the application's own BEFORE trigger (named to fire first) that sets
    the source from a staging table whenever a row is updated."""
    conn.execute("CREATE TABLE items (id integer PRIMARY KEY, embedding vector(384), note text)")
    conn.execute("CREATE TABLE staged (id integer PRIMARY KEY, v vector(384))")
    insert_rows(conn, list(range(1, 11)), x[:10])
    conn.execute("CREATE FUNCTION app_embed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                 "NEW.embedding := coalesce((SELECT s.v FROM public.staged s WHERE s.id = NEW.id), NEW.embedding); "
                 "RETURN NEW; END $$")
    conn.execute("CREATE TRIGGER app_embed BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION app_embed()")


def _calls(conn: psycopg.Connection, function: str, statement: str) -> int:
    """How many times ``statement`` called ``function`` (in one transaction, by the transaction's function statistics)."""
    with conn.transaction():
        conn.execute("SET LOCAL track_functions = 'pl'")
        conn.execute(statement)
        return conn.execute("SELECT coalesce(pg_stat_get_xact_function_calls(%s::regprocedure), 0)", (function,)).fetchone()[0]


@pytest.mark.parametrize("mode", ["trigger", "queue"])
def test_a_source_set_by_the_applications_trigger_is_re_encoded_and_other_updates_cost_nothing(conn, dsn, real_vectors, mode):
    x = real_vectors
    _app_table(conn, x)
    att, model = attach_model(conn, sync=mode)
    backfill("items", "embedding", dsn=dsn, progress=False)
    function = trigger_function(conn, "items", f"compressae_sync_{att.id}")
    assert _calls(conn, function, "UPDATE items SET note = 'plain'") == 0  # the source unchanged: nothing encoded or cleared
    assert conn.execute("SELECT count(*) FROM compressae.sync_queue").fetchone()[0] == 0  # nor queued
    insert_rows(conn, [1, 2], [x[20], x[21]], table="staged", column="v")
    assert _calls(conn, function, "UPDATE items SET note = 'restaged' WHERE id IN (1, 2, 3)") == 2
    if mode == "queue":
        assert conn.execute("SELECT count(*) FROM items WHERE embedding_sae IS NULL").fetchone()[0] == 2
        sync("items", "embedding", dsn=dsn, progress=False)
    assert conn.execute("SELECT count(*) FROM items WHERE embedding_sae IS NULL").fetchone()[0] == 0
    assert check_codes(conn, model) == 10
