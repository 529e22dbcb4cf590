"""Streaming vectors out of tables: binary COPY decoding, samples, splits, bad rows, privileges."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from psycopg import sql

from compressae_pg import InvalidVectorError, UnknownTableError
from compressae_pg.training.stream import VectorReader, decode_tuples, shuffled_batches

from ..support.tables import create_table


def _read_all(reader: VectorReader) -> np.ndarray:
    return np.concatenate(list(reader.read_pass()))


@pytest.mark.parametrize("type_, dim, atol", [("vector", 384, 0), ("vector", 7, 0), ("halfvec", 384, 1e-3), ("halfvec", 1000, 1e-3)])
def test_reads_vector_and_halfvec_of_any_dimension(conn, real_vectors, type_, dim, atol):
    rng = np.random.default_rng(0)
    x = real_vectors[:300] if dim == 384 else rng.standard_normal((300, dim)).astype(np.float32)
    create_table(conn, "t", x, type_=f"{type_}({dim})")
    got = _read_all(VectorReader(conn, "t", "embedding", chunk_rows=64))
    order = np.lexsort(got.T[::-1])
    want = x.astype(np.float16).astype(np.float32) if type_ == "halfvec" else x
    assert got.shape == (300, dim)
    assert np.allclose(got[order], want[np.lexsort(want.T[::-1])], atol=atol)


def test_reads_in_bounded_chunks(conn, real_vectors):
    create_table(conn, "t", real_vectors[:2000])
    reader = VectorReader(conn, "t", "embedding", chunk_rows=256)
    sizes = [len(c) for c in reader.read_pass()]
    assert sum(sizes) == 2000
    assert len(sizes) >= 6 and max(sizes) <= 2 * 256  # many short statements, none holding the table


def test_nulls_zeros_and_other_dimensions_are_skipped_and_counted(conn):
    rows = [np.ones(3), None, np.zeros(3), np.array([1.0, 2.0]), np.array([0.5, 0.5, 0.5]), None]
    create_table(conn, "t", rows, type_="vector")  # an untyped vector column may mix dimensions
    reader = VectorReader(conn, "t", "embedding")
    got = _read_all(reader)
    assert got.shape == (2, 3)
    s = reader.stats
    assert (s.rows, s.null, s.zero, s.wrong_dim, s.nonfinite) == (2, 2, 1, 1, 0)
    assert s.skipped == 4 and s.as_dict()["skipped_null"] == 2


def test_a_leading_null_does_not_decide_an_undeclared_dimension(conn):
    create_table(conn, "t", [None, np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0])], type_="vector")
    reader = VectorReader(conn, "t", "embedding")
    got = _read_all(reader)
    assert got.tolist() == [[1.0, 2.0, 3.0]] and reader.dim == 3
    assert (reader.stats.null, reader.stats.wrong_dim) == (1, 1)


def test_nan_and_inf_rows_are_counted_not_returned():
    # pgvector refuses NaN/Inf on input, so build the wire rows by hand: nf=1, len, dim, unused, floats
    def row(values):
        body = np.array(values, dtype=">f4").tobytes()
        return (1).to_bytes(2, "big") + (4 + len(body)).to_bytes(4, "big") + len(values).to_bytes(2, "big") + b"\0\0" + body

    null = (1).to_bytes(2, "big") + (-1).to_bytes(4, "big", signed=True)  # a NULL field: length -1, no body
    arr, wrong, nulls = decode_tuples(row([1, 2]) + row([np.nan, 1]) + null + row([1, 2, 3]), "vector", 2)
    assert (wrong, nulls) == (1, 1) and arr.shape == (2, 2) and np.isnan(arr[1, 0])
    arr, wrong, nulls = decode_tuples(row([1, 2]) + row([np.inf, 3]), "vector", 2)  # the one-frombuffer path
    assert (wrong, nulls) == (0, 0) and arr.tolist()[0] == [1, 2] and np.isinf(arr[1, 0])


def test_sample_and_split_are_deterministic_disjoint_and_complete(conn, real_vectors):
    create_table(conn, "t", real_vectors[:3000])
    train = _read_all(VectorReader(conn, "t", "embedding", split="train", validation=0.2))
    val = _read_all(VectorReader(conn, "t", "embedding", split="validation", validation=0.2))
    assert len(train) + len(val) == 3000
    assert 0.15 < len(val) / 3000 < 0.25
    as_set = lambda a: {r.tobytes() for r in a}  # noqa: E731
    assert not as_set(train) & as_set(val)
    again = _read_all(VectorReader(conn, "t", "embedding", split="validation", validation=0.2))
    assert np.array_equal(val, again)

    sampled = VectorReader(conn, "t", "embedding", sample=0.25, seed=3)
    first, second = np.concatenate(list(sampled.read_pass(0))), np.concatenate(list(sampled.read_pass(1)))
    assert 0.2 < len(first) / 3000 < 0.3
    assert as_set(first) != as_set(second)  # each pass draws a new sample


def test_partitioned_tables_and_hostile_names(conn, real_vectors):
    conn.execute('CREATE SCHEMA "we""ird; schema"')
    conn.execute('CREATE TABLE "we""ird; schema"."x""; drop table t; --" (id int, embedding vector(384)) PARTITION BY RANGE (id)')
    conn.execute('CREATE TABLE "we""ird; schema".p1 PARTITION OF "we""ird; schema"."x""; drop table t; --" FOR VALUES FROM (0) TO (100)')
    conn.execute('CREATE TABLE "we""ird; schema".p2 PARTITION OF "we""ird; schema"."x""; drop table t; --" FOR VALUES FROM (100) TO (1000)')
    with conn.cursor().copy('COPY "we""ird; schema"."x""; drop table t; --" FROM STDIN (FORMAT binary)') as copy:
        copy.set_types(["int4", "vector"])
        for i in range(250):
            copy.write_row((i, real_vectors[i]))
    reader = VectorReader(conn, 'we"ird; schema.x"; drop table t; --', "embedding")
    assert len(_read_all(reader)) == 250


def test_unknown_tables_columns_and_types_are_named(conn):
    conn.execute("CREATE TABLE t (id int, label text, embedding vector(3))")
    conn.execute("CREATE VIEW v AS SELECT * FROM t")
    with pytest.raises(UnknownTableError, match="'nope' does not exist"):
        VectorReader(conn, "nope", "embedding")
    with pytest.raises(UnknownTableError, match="column 'missing'"):
        VectorReader(conn, "t", "missing")
    with pytest.raises(UnknownTableError, match="type text"):
        VectorReader(conn, "t", "label")
    with pytest.raises(UnknownTableError, match="view"):
        VectorReader(conn, "v", "embedding")


def test_a_role_with_only_select_can_stream(conn, dsn, login_role, real_vectors):
    create_table(conn, "t", real_vectors[:100])
    conn.execute(sql.SQL("GRANT SELECT ON t TO {}").format(sql.Identifier(login_role)))
    with psycopg.connect(dsn, user=login_role, autocommit=True) as ro:
        assert len(_read_all(VectorReader(ro, "t", "embedding", split="train", validation=0.1, sample=0.5))) > 0


def test_shuffle_buffer_streams_a_table_larger_than_the_buffer(conn, real_vectors):
    create_table(conn, "t", real_vectors[:3000])
    reader = VectorReader(conn, "t", "embedding", chunk_rows=200)
    batches = shuffled_batches(reader, 100, buffer_rows=500, seed=0)
    seen = [next(batches) for _ in range(60)]  # 6,000 rows: two passes through a 500-row buffer
    assert all(b.shape == (100, 384) for b in seen)
    assert reader.stats.passes >= 2
    assert len({r.tobytes() for b in seen for r in b}) > 2500


def test_small_table_is_held_in_memory_and_read_once(conn, real_vectors):
    create_table(conn, "t", real_vectors[:50])
    reader = VectorReader(conn, "t", "embedding")
    batches = shuffled_batches(reader, 64, buffer_rows=1000, seed=0)
    for _ in range(10):
        assert next(batches).shape == (64, 384)
    assert reader.stats.passes == 1


def test_an_empty_table_gives_a_clear_error(conn):
    create_table(conn, "t", [None, np.zeros(3)], type_="vector")
    with pytest.raises(InvalidVectorError, match="no usable vectors.*1 all-zero"):
        next(shuffled_batches(VectorReader(conn, "t", "embedding"), 8))
