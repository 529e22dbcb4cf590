"""Re-compressing with a new model version: backfill a staged column, then swap it in under the same names."""

from __future__ import annotations

import numpy as np
import pytest

from compressae_pg import CompresSAE, CompressaeError, backfill, build_index, recompress, registry, sync
from compressae_pg.columns import attachments

from ..support.models import DIM, H, K, attach_model
from ..support.tables import create_table, insert_rows
from ..support.truth import check_codes, check_residuals, numpy_sketch

COLUMNS = "SELECT attname FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
INDEXES = "SELECT indexrelid::regclass::text, indisvalid FROM pg_index WHERE indrelid = 'items'::regclass AND NOT indisprimary"


def test_recompress_swaps_a_new_models_codes_in_under_the_same_names(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:800], key="wide bigint")
    old, _m1 = attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    build_index("items", "embedding", dsn=dsn, m=8, ef_construction=32)
    m2 = CompresSAE(DIM, H, K, seed=1).eval()
    registry.save(conn, "m", m2)
    result = recompress("items", "embedding", "m@2", dsn=dsn, batch_size=100, progress=False)
    assert (result.swapped, result.old_model, result.new_model) == (True, "m@1", "m@2")
    assert (result.backfill.rows, result.index.valid, result.catch_up.mode) == (800, True, "sweep")
    assert conn.execute(COLUMNS).fetchall() == [("id",), ("embedding",), ("embedding_sae",), ("embedding_sae_sketch",), ("embedding_sae_residual",)]
    assert conn.execute(INDEXES).fetchall() == [(old.index_name, True)]
    now = attachments.get(conn, "items", "embedding")
    assert (now.code_column, now.sketch_column, now.model.ref, now.index_name) == ("embedding_sae", "embedding_sae_sketch", "m@2", old.index_name)
    signs = conn.execute("SELECT embedding_sae_sketch::text, embedding::text FROM items").fetchall()
    assert all(bits == "".join("1" if b else "0" for b in numpy_sketch(np.array(vec.strip("[]").split(","), np.float32))) for bits, vec in signs)
    assert check_codes(conn, m2) == 800 and check_residuals(conn, m2) == 800
    assert backfill("items", "embedding", dsn=dsn, progress=False).rows_written == 0
    with pytest.raises(CompressaeError, match="already holds codes of m@2"):
        recompress("items", "embedding", "m@2", dsn=dsn, progress=False)


def test_an_unfinished_recompress_continues_where_it_stopped(conn, dsn, real_vectors):
    keys = create_table(conn, "items", real_vectors[:500], key="wide bigint")
    attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    m2 = CompresSAE(DIM, H, K, seed=1).eval()
    registry.save(conn, "m", m2)
    first = recompress("items", "embedding", "m@2", dsn=dsn, batch_size=100, max_rows=200, progress=False)
    assert (first.swapped, first.backfill.status, first.staged_column) == (False, "paused", "embedding_sae_next")
    assert first.index is None  # the current column has no index, so none is built
    conn.execute("UPDATE items SET embedding = %s WHERE id = %s", (real_vectors[600], keys[10]))
    second = recompress("items", "embedding", "m@2", dsn=dsn, batch_size=100, progress=False)
    assert (second.swapped, second.backfill.mode, second.backfill.rows, second.backfill.rows_swept) == (True, "resume", 301, 1)
    assert conn.execute(COLUMNS).fetchall() == [("id",), ("embedding",), ("embedding_sae",), ("embedding_sae_sketch",), ("embedding_sae_residual",)]
    check_codes(conn, m2)


@pytest.mark.parametrize("mode", ["trigger", "queue"])
def test_a_table_moved_to_another_schema_before_the_swap_keeps_syncing_and_detach_leaves_no_function(conn, dsn, real_vectors, mode):
    x = real_vectors
    create_table(conn, "items", x[:30], schema="staged_here")
    attach_model(conn, table="staged_here.items", sync=mode)
    backfill("staged_here.items", "embedding", dsn=dsn, progress=False)
    m2 = CompresSAE(DIM, H, K, seed=1).eval()
    registry.save(conn, "m", m2)
    first = recompress("staged_here.items", "embedding", "m@2", dsn=dsn, batch_size=10, max_rows=10, progress=False)
    assert not first.swapped
    conn.execute("ALTER TABLE staged_here.items SET SCHEMA public")
    assert recompress("items", "embedding", "m@2", dsn=dsn, batch_size=100, progress=False).swapped
    insert_rows(conn, [31, 32], [x[31], x[32]])
    conn.execute("UPDATE items SET embedding = %s WHERE id = 1", (x[40],))
    if mode == "queue":
        assert sync("items", "embedding", dsn=dsn, progress=False).rows_written == 3
    assert check_codes(conn, m2) == 32
    functions = "SELECT p.pronamespace::regnamespace::text, count(*) FROM pg_proc p WHERE p.proname LIKE 'compressae\\_sync\\_%%' GROUP BY 1"
    # the swapped-in attachment's row function, none behind (a queue's pending index, built for the staged column, finds its rows)
    assert conn.execute(functions).fetchall() == [("public", 1)]
    attachments.detach("items", "embedding_sae", conn=conn)
    assert conn.execute(functions).fetchall() == []
