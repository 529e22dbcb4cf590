"""Bad vectors at the entry points not covered elsewhere: the sync trigger, a backfill of an empty or
one-row table, and the CLI search. (The stream, training, SQL functions and Python search have theirs
in test_stream, test_train, test_sql_functions and test_search; README's outcome table lists them all.)"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from compressae_pg import CompressedColumn, InvalidVectorError, backfill, verify
from compressae_pg.cli import main

from ..support.models import attach_model
from ..support.tables import create_table
from ..support.truth import check_codes


def test_the_trigger_refuses_a_write_it_cannot_encode_and_leaves_the_row_as_it_was(conn, dsn, real_vectors):
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector)")  # no dimension: any length goes in
    _att, model = attach_model(conn, sync="trigger")
    conn.execute("INSERT INTO items VALUES (1, %s), (2, NULL)", (real_vectors[0],))
    for bad, message in ((np.zeros(384), "all-zero vector"), (np.ones(3), "expects 384-dimensional vectors, got 3")):
        with pytest.raises(psycopg.errors.DataException, match=message):
            conn.execute("UPDATE items SET embedding = %s WHERE id = 1", (bad,))
        with pytest.raises(psycopg.errors.DataException, match=message):
            conn.execute("INSERT INTO items VALUES (3, %s), (4, %s)", (real_vectors[1], bad))  # the whole statement
    with pytest.raises(psycopg.errors.DataException, match="NaN not allowed"):
        conn.execute("UPDATE items SET embedding = '[NaN,1,2]' WHERE id = 1")  # pgvector refuses it first
    assert conn.execute("SELECT id FROM items ORDER BY id").fetchall() == [(1,), (2,)]
    assert check_codes(conn, model) == 2  # row 1 keeps its code, NULL source keeps NULL
    conn.execute("UPDATE items SET embedding = %s::halfvec::vector WHERE id = 2", (real_vectors[2],))
    assert verify("items", "embedding", sample=None, dsn=dsn).ok


@pytest.mark.parametrize("rows", [0, 1])
def test_an_empty_or_one_row_table_backfills(conn, dsn, real_vectors, rows):
    create_table(conn, "items", real_vectors[:rows])
    _att, model = attach_model(conn)
    result = backfill("items", "embedding", dsn=dsn, workers=2, progress=False)
    assert (result.status, result.rows, result.rows_written, result.rows_skipped) == ("done", rows, rows, 0)
    assert check_codes(conn, model) == rows
    assert len(CompressedColumn(conn, "items", "embedding").search(real_vectors[0], k=5)) == rows
    assert verify("items", "embedding", dsn=dsn).checked == rows


def test_a_backfill_names_every_kind_of_unencodable_row_and_writes_the_rest(conn, dsn, real_vectors):
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector)")
    conn.execute("INSERT INTO items SELECT g, %s FROM generate_series(1, 50) g", (real_vectors[0],))
    conn.execute("INSERT INTO items VALUES (51, NULL), (52, %s), (53, %s), (54, %s)",
                 (np.zeros(384), np.ones(383), np.ones(385)))
    _att, model = attach_model(conn)
    result = backfill("items", "embedding", dsn=dsn, batch_size=7, progress=False)
    assert (result.rows, result.rows_written, result.rows_skipped) == (54, 50, 3)
    assert sorted(result.skipped_keys) == ["52", "53", "54"]
    assert check_codes(conn, model) == 54


def test_search_refuses_bad_queries_by_name_in_python_and_the_cli(conn, dsn, capsys, real_vectors):
    create_table(conn, "items", real_vectors[:30])
    attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    column = CompressedColumn(conn, "items", "embedding")
    for bad, message in ((np.zeros(384), "all zeros"), (np.full(384, np.inf), "NaN or Inf"), (np.ones(5), "has 5 dimensions")):
        with pytest.raises(InvalidVectorError, match=message):
            column.search(bad)
    assert column.search(real_vectors[3].astype(np.float16), k=1, rerank="dense")[0].key == 4  # a halfvec-like query
    for text in ("[0, 0, 0]", "[1, NaN]", "not json", "[]"):
        capsys.readouterr()
        assert main(["search", "--table", "items", "--column", "embedding", "--vector", text, "--dsn", dsn]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err
