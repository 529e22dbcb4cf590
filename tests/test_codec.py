"""The binary COPY rows of a backfill, checked against what PostgreSQL reads and writes."""

from __future__ import annotations

import numpy as np

from compressae_pg import Codes, _sql, _wire
from compressae_pg.fill.worker import create_batch_table

from .support.tables import create_table

READ = "COPY (SELECT tableoid, ctid, xmin, id::text, embedding FROM items ORDER BY id) TO STDOUT (FORMAT binary)"


def test_rows_read_by_copy_decode_to_identity_keys_and_vectors(conn, real_vectors):
    rows = [real_vectors[0], None, np.zeros(384), np.ones(5), real_vectors[1]]
    create_table(conn, "items", rows, type_="vector", key="text")
    with conn.cursor().copy(READ) as copy:
        batch = _wire.decode_batch(_wire.strip_framing([bytes(d) for d in copy]), "vector", 384)
    expected = conn.execute("SELECT tableoid::oid::bigint, ctid::text, xmin::text::bigint, id FROM items ORDER BY id").fetchall()
    got = [(int(r["tbl"]), f"({r['block']},{r['offset']})", int(r["xmin"]), k.decode()) for r, k in zip(batch.identity, batch.keys)]
    assert got == expected
    assert batch.valid.tolist() == [True, False, False, False, True]
    assert batch.invalid.tolist() == [False, False, True, True, False]  # NULL is neither
    np.testing.assert_array_equal(batch.vectors, real_vectors[:2])
    assert batch.last_key == expected[-1][3]


def test_codes_written_by_copy_are_what_postgres_reads_back_zeros_dropped(conn):
    identity = np.array([(42, 0, 1, 3), (42, 7, 2, 4), (42, 2**32 - 2, 3, 5), (42, 3, 65535, 6)],
                        dtype=[("tbl", "u4"), ("block", "u4"), ("offset", "u2"), ("xmin", "u4")])
    valid = np.array([True, False, True, True])
    codes = Codes(indices=np.array([[0, 5, 9], [1, 2, 3], [4, 6, 8]]),  # one row per valid row
                  values=np.array([[0.5, -0.25, 1.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32), h=10)
    data, coded = _wire.encode_codes(identity, valid, codes)
    assert coded.tolist() == [True, False, True, False]  # an invalid row and an all-zero code get NULL
    create_batch_table(conn)
    with conn.transaction():
        with conn.cursor().copy(_sql.query("backfill_copy_in")) as copy:
            copy.write(data)
        back = conn.execute("SELECT tbl::bigint, tid::text, row_xmin::text, code::text FROM pg_temp.compressae_batch ORDER BY row_xmin::text::int").fetchall()
    assert back == [
        (42, "(0,1)", "3", "{1:0.5,6:-0.25,10:1}/10"),
        (42, "(7,2)", "4", None),
        (42, "(4294967294,3)", "5", "{3:2}/10"),
        (42, "(3,65535)", "6", None),
    ]
