"""Partitioned tables (declarative hash, range, sub-partitioned): training reads every partition, the
HNSW index is built per partition concurrently under one partitioned index, search uses each
partition's index, status and verify sum over the partitions, and a partition added later is covered.
Every check is against the catalog, counts taken partition by partition, or numpy's brute force."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from psycopg import sql

from compressae_pg import CompressaeError, CompressedColumn, backfill, build_index, registry, status, verify
from compressae_pg.cli import main
from compressae_pg.columns import attachments
from compressae_pg.training.stream import VectorReader

from ..support.models import stored
from ..support.partitions import create_partitioned, insert, leaf_indexes, leaves, rows_per_leaf
from ..support.processes import ResultThread, cancelled_build, wait_for
from ..support.truth import assert_top, brute_force, check_codes

ROWS = 400
INDEX = "items_embedding_sae_hnsw"


def filled(conn, dsn, layout: str, model, vectors, graph: str = "sketch") -> attachments.Attachment:
    """``items`` partitioned as ``layout``, attached without an index and backfilled."""
    create_partitioned(conn, layout, vectors)
    registry.save(conn, "m", model)
    att = attachments.attach("items", "embedding", "m@1", graph=graph, conn=conn)
    assert backfill("items", "embedding", dsn=dsn, progress=False, workers=2, index=False).rows == len(vectors)
    return att


@pytest.mark.parametrize("layout", ["hash", "range"])
def test_training_streams_every_partition(conn, real_vectors, layout):
    create_partitioned(conn, layout, real_vectors[:ROWS])
    per_leaf = rows_per_leaf(conn)
    assert len(per_leaf) in (3, 4) and min(per_leaf.values()) > 0 and sum(per_leaf.values()) == ROWS
    train = np.concatenate(list(VectorReader(conn, "items", "embedding", split="train", validation=0.25).read_pass()))
    val = np.concatenate(list(VectorReader(conn, "items", "embedding", split="validation", validation=0.25).read_pass()))
    assert len(train) + len(val) == ROWS and 0.15 < len(val) / ROWS < 0.35
    got = {v.tobytes() for v in np.concatenate([train, val])}
    assert got == {v.tobytes() for v in real_vectors[:ROWS]}  # every row of every partition, once


@pytest.mark.parametrize("layout, graph", [("hash", "sketch"), ("range", "sparse"), ("sub", "sketch")])
def test_the_index_is_built_per_partition_and_attached_to_the_partitioned_index(conn, dsn, model, real_vectors, layout, graph):
    att = filled(conn, dsn, layout, model, real_vectors[:ROWS], graph)
    assert att.index_name == INDEX and status(conn=conn)[0]["index_valid"] is None  # attach built none
    result = build_index("items", "embedding", dsn=dsn, m=8, ef_construction=32)
    assert (result.built, result.valid, result.concurrently) == (True, True, True)
    kind, valid = conn.execute("SELECT c.relkind, i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
                               " WHERE c.oid = to_regclass(%s)", (INDEX,)).fetchone()
    assert (kind, valid) == ("I", True)  # a partitioned index, valid: every partition's index is attached
    per_leaf = leaf_indexes(conn, INDEX)
    assert sorted(per_leaf) == [name for _oid, name in leaves(conn)]
    column, opclass = ("embedding_sae_sketch", "bit_hamming_ops") if graph == "sketch" else ("embedding_sae", "sparsevec_cosine_ops")
    for _idx, leaf_valid, size, definition in per_leaf.values():
        assert leaf_valid and size > 0 and f"USING hnsw ({column} {opclass}) WITH (m='8', ef_construction='32')" in definition
    assert result.bytes == sum(size for _i, _v, size, _d in per_leaf.values())
    named = conn.execute("SELECT n.nspname || '.' || c.relname FROM pg_partition_tree('items') t JOIN pg_class c ON c.oid = t.relid"
                         " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE t.isleaf").fetchall()
    assert sorted(p["partition"] for p in result.partitions) == sorted(r[0] for r in named)
    st = status(conn=conn)[0]
    assert (st["index_valid"], st["index_bytes"]) == (True, result.bytes)
    kept = build_index("items", "embedding", dsn=dsn)
    assert (kept.built, kept.valid, kept.bytes) == (False, True, result.bytes)
    rebuilt = build_index("items", "embedding", dsn=dsn, rebuild=True, m=12, ef_construction=40)
    assert (rebuilt.built, rebuilt.valid) == (True, True)
    assert all("m='12'" in d for _i, _v, _s, d in leaf_indexes(conn, INDEX).values())


def test_an_interrupted_partition_build_is_finished_by_index_again(conn, dsn, model, real_vectors, capsys):
    filled(conn, dsn, "hash", model, real_vectors[:ROWS])
    failure = cancelled_build(conn, dsn, "UPDATE items_h1 SET category = category WHERE id = (SELECT min(id) FROM items_h1)",
                              "SELECT pid FROM pg_stat_progress_create_index WHERE command = 'CREATE INDEX CONCURRENTLY'"
                              " AND phase LIKE 'waiting%'")  # a writer on one partition (not the parent)
    assert len(failure) == 1 and isinstance(failure[0], CompressaeError) and "left an invalid index" in str(failure[0])
    assert status(conn=conn)[0]["index_valid"] is False  # the partitioned index: not every partition's is attached
    invalid = conn.execute("SELECT count(*) FROM pg_index i JOIN pg_partition_tree('items') t ON t.relid = i.indrelid"
                           " WHERE NOT i.indisvalid AND t.isleaf").fetchone()[0]
    assert invalid == 1
    assert main(["index", "--table", "items", "--column", "embedding", "--dsn", dsn]) == 0
    said = capsys.readouterr().out
    assert "built (replacing an invalid index), valid=True" in said and "over 4 partitions" in said, said
    per_leaf = leaf_indexes(conn, INDEX)
    assert len(per_leaf) == 4 and all(v for _i, v, _s, _d in per_leaf.values())
    assert conn.execute("SELECT count(*) FROM pg_index i JOIN pg_partition_tree('items') t ON t.relid = i.indrelid"
                        " WHERE NOT i.indisvalid").fetchone()[0] == 0  # the leftover was dropped, none is left invalid
    assert status(conn=conn)[0]["index_valid"] is True


def search_plan(conn, q: np.ndarray, n: int) -> str:
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL enable_seqscan = off")  # a small table: the planner would rather sort; the plan's shape is the point
        return "\n".join(r[0] for r in conn.execute(
            "EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding_sae_sketch <~> compressae.sketch(%s::vector, 2) LIMIT %s",
            ("[" + ",".join(map(repr, map(float, q))) + "]", n)).fetchall())


@pytest.mark.parametrize("layout", ["hash", "sub"])
def test_search_runs_across_partitions_through_each_partitions_index(conn, dsn, model, real_vectors, layout):
    filled(conn, dsn, layout, model, real_vectors[:ROWS])
    build_index("items", "embedding", dsn=dsn, m=8, ef_construction=32)
    plan = search_plan(conn, real_vectors[5000], 20)
    assert "Merge Append" in plan and "Limit" in plan
    for idx, *_ in leaf_indexes(conn, INDEX).values():
        assert f"Index Scan using {idx.split('.')[-1].strip(chr(34))} on" in plan, plan
    keys, codes, sources = stored(conn)
    column = CompressedColumn(conn, "items", "embedding")
    recall = []
    for q in real_vectors[5000:5004]:
        truth = brute_force(model, model.compress(q).dense()[0], q, codes, sources, "reconstructed")
        assert_top(column.search(q, k=10, candidates=ROWS, ef_search=ROWS), keys, truth, 10)  # every row a candidate: exact
        best = {keys[i] for i in np.argsort(-truth)[:10]}
        recall.append(len(best & {h.key for h in column.search(q, k=10, candidates=100)}) / 10)
    assert np.mean(recall) >= 0.7, recall  # 100 index candidates out of 400 rows find most of the true top 10


def test_status_and_verify_sum_over_the_partitions(conn, dsn, model, real_vectors):
    filled(conn, dsn, "range", model, real_vectors[:ROWS])
    build_index("items", "embedding", dsn=dsn, m=8, ef_construction=32)
    conn.execute("UPDATE items SET embedding_sae = NULL WHERE id IN (5, 150, 300)")  # one code missing in each partition
    st = status(exact=True, conn=conn)[0]
    coded = rows_per_leaf(conn, "embedding_sae IS NOT NULL")
    assert (st["rows"], st["rows_coded"], st["rows_missing"]) == (ROWS, sum(coded.values()), 3)
    assert st["partitions"] == 3 and st["index_partitions"] == 3
    sizes = conn.execute("SELECT sum(pg_relation_size(t.relid)) FROM pg_partition_tree(%s) t WHERE t.isleaf", (INDEX,)).fetchone()[0]
    assert st["index_bytes"] == sizes > 0
    checked = verify("items", "embedding", sample=None, dsn=dsn)
    assert (checked.checked, checked.matching, checked.missing) == (ROWS, ROWS - 3, 3)
    assert sorted(checked.missing_keys, key=int) == ["5", "150", "300"]


def test_a_partition_added_later_gets_the_code_columns_and_its_index(conn, dsn, model, real_vectors):
    filled(conn, dsn, "range", model, real_vectors[:ROWS])
    build_index("items", "embedding", dsn=dsn, m=8, ef_construction=32)
    conn.execute("ALTER TABLE \"other \"\"schema\"\"\".\"hi; drop table items; --\" RENAME TO items_hi")
    conn.execute('ALTER TABLE items DETACH PARTITION "other ""schema""".items_hi')
    conn.execute('ALTER TABLE items ATTACH PARTITION "other ""schema""".items_hi FOR VALUES FROM (250) TO (1000)')
    conn.execute("CREATE TABLE items_top PARTITION OF items FOR VALUES FROM (1000) TO (MAXVALUE)")
    columns = conn.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'items_top'::regclass"
                           " AND attnum > 0 AND NOT attisdropped ORDER BY attnum").fetchall()
    assert ("embedding_sae", "sparsevec(1024)") in columns and ("embedding_sae_sketch", "bit(768)") in columns  # 2 planes
    per_leaf = leaf_indexes(conn, INDEX)
    assert "items_top" in per_leaf and per_leaf["items_top"][1]  # PostgreSQL built and attached it
    assert status(conn=conn)[0]["index_valid"] is True
    new = real_vectors[5100:5140]
    insert(conn, range(1000, 1040), new)
    swept = backfill("items", "embedding", dsn=dsn, progress=False)
    assert swept.rows_swept == 40
    assert rows_per_leaf(conn, "embedding_sae IS NULL")["items_top"] == 0
    column = CompressedColumn(conn, "items", "embedding")
    assert column.search(new[7], k=1, rerank="dense")[0].key == 1007  # the new partition's index serves search
    again = build_index("items", "embedding", dsn=dsn)
    assert (again.built, again.valid, len(again.partitions)) == (False, True, 4)


def test_a_partition_index_name_taken_by_another_relation_is_refused(conn, dsn, model, real_vectors):
    filled(conn, dsn, "hash", model, real_vectors[:100])
    (oid,) = conn.execute("SELECT 'items_h2'::regclass::oid::bigint").fetchone()
    conn.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(f"{INDEX}_p{oid}")))
    with pytest.raises(CompressaeError, match="is taken by a relation that is not an index of public.items_h2"):
        build_index("items", "embedding", dsn=dsn)
    assert conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{INDEX}_p{oid}",)).fetchone()[0]


def job_rows(conn) -> dict[str, int]:
    """Rows done per partition by the latest run's range jobs, keyed as the catalog names the partition."""
    rows = conn.execute("SELECT format('%I.%I', part_schema, part_name)::regclass::text, sum(rows_done) FROM compressae.backfill_jobs"
                        " WHERE kind = 'range' AND run = (SELECT max(run) FROM compressae.backfill_jobs) GROUP BY 1").fetchall()
    return dict(rows)


@pytest.mark.parametrize("layout", ["hash", "sub"])
def test_the_backfill_runs_per_partition_with_workers_across_them(conn, dsn, model, real_vectors, layout):
    create_partitioned(conn, layout, real_vectors[:ROWS])
    registry.save(conn, "m", model)
    attachments.attach("items", "embedding", "m@1", conn=conn)
    paused = backfill("items", "embedding", dsn=dsn, progress=False, workers=2, batch_size=40, max_rows=120)
    assert paused.status == "paused" and 80 <= paused.rows <= 120  # a budget, not exact: a partition's last batch may be short
    done = backfill("items", "embedding", dsn=dsn, progress=False, workers=2, batch_size=40)
    assert (done.mode, done.status, done.workers) == ("resume", "done", 2)
    assert job_rows(conn) == rows_per_leaf(conn)  # one range job per leaf partition, each filled exactly its rows
    assert paused.rows_written + done.rows_written == ROWS
    check_codes(conn, model)
    more = backfill("items", "embedding", dsn=dsn, progress=False, workers=7, mode="restart")
    ranges = conn.execute("SELECT count(*) FROM compressae.backfill_jobs WHERE kind = 'range' AND run = (SELECT max(run)"
                          " FROM compressae.backfill_jobs)").fetchone()[0]
    assert (more.rows, more.rows_written, more.workers) == (ROWS, 0, 7) and ranges >= 7  # partitions cut further for 7 workers
    assert job_rows(conn) == rows_per_leaf(conn)


def test_a_job_row_naming_another_table_is_never_resumed(conn, dsn, model, real_vectors):
    create_partitioned(conn, "hash", real_vectors[:ROWS])
    registry.save(conn, "m", model)
    attachments.attach("items", "embedding", "m@1", conn=conn)
    conn.execute("CREATE TABLE victim (id bigint PRIMARY KEY, embedding vector(384), category text,"
                 " embedding_sae sparsevec(1024), embedding_sae_sketch bit(384))")
    conn.execute("INSERT INTO victim (id, embedding) SELECT id, embedding FROM items")
    backfill("items", "embedding", dsn=dsn, progress=False, batch_size=40, max_rows=40)
    conn.execute("UPDATE compressae.backfill_jobs SET part_schema = 'public', part_name = 'victim' WHERE kind = 'range'")
    result = backfill("items", "embedding", dsn=dsn, progress=False)
    assert result.mode == "full" and any("not leaf partitions of public.items" in n for n in result.notes)
    assert conn.execute("SELECT count(*) FROM victim WHERE embedding_sae IS NOT NULL").fetchone()[0] == 0
    check_codes(conn, model)


def test_the_catalog_steps_never_hold_the_applications_writes_for_long(conn, dsn, model, real_vectors):
    """The ON ONLY index needs a SHARE lock on the table. Queued behind a long write, it would stop every write
    after it; under its 2 s lock_timeout it steps aside and retries, and the application's INSERT goes through."""
    filled(conn, dsn, "range", model, real_vectors[:100])
    writer = psycopg.connect(dsn)  # a long write through the partitioned table: a ROW EXCLUSIVE lock on it
    writer.execute("UPDATE items SET category = category WHERE id = 3")
    thread = ResultThread(build_index, "items", "embedding", dsn=dsn)
    thread.start()
    try:
        wait_for(lambda: not thread.is_alive() or conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = 'items'::regclass AND mode = 'ShareLock' AND NOT granted)"
        ).fetchone()[0], "the build to queue for its SHARE lock")
        assert thread.is_alive(), f"the build ended before it asked for its SHARE lock: {thread.error}"
        with psycopg.connect(dsn, autocommit=True) as app:
            # Queued behind the build's SHARE lock, which waits for the writer until the test commits it, this INSERT
            # would wait as long; the build's 2 s lock_timeout lets it through. 20 s is ten times that: a generous
            # bound, and a statement timeout, not a clock the test reads.
            app.execute("SET statement_timeout = '20s'")
            app.execute("INSERT INTO items (id, embedding) SELECT 5000, embedding FROM items WHERE id = 1")
    finally:
        writer.commit()
        writer.close()
        thread.join()
    built = thread.outcome()
    assert built.valid and built.built
