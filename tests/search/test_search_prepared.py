"""compressae.search's prepared statement (revision 0018): planned once per session, used only while its text is the
one search would write now, and the projection it reads is the decoder times the query in float32 (numpy's)."""

from __future__ import annotations

import numpy as np
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from compressae_pg import CompressedColumn, Hit, backfill, registry
from compressae_pg.columns import attachments
from compressae_pg.server import connect

from ..support.models import searchable, stored
from ..support.tables import create_table
from ..support.truth import assert_top, brute_force, sql_query_levels

SEARCH = "SELECT key, score FROM compressae.search('items', 'embedding', %s, k => 5, candidates => 200)"
PREPARED = "SELECT name, statement, generic_plans FROM pg_prepared_statements WHERE name LIKE 'compressae\\_search\\_%%'"


def truth(conn, model, q) -> tuple[list, np.ndarray]:
    keys, codes, sources = stored(conn)
    return keys, brute_force(model, None, q, codes, sources, "reconstructed", residual_query=sql_query_levels(q))


def hits(rows) -> list[Hit]:
    return [Hit(int(key), score) for key, score in rows]


def test_the_projection_is_the_decoder_times_the_query_in_float32(conn, model, real_vectors):
    info = registry.save(conn, "m", model)
    decoder = model.decoder.detach().numpy().astype(np.float32)
    for q in real_vectors[5000:5003]:
        got = conn.execute("SELECT compressae.projection(%s, %s)", (info.id, q)).fetchone()[0].to_numpy()
        np.testing.assert_allclose(got, decoder @ q.astype(np.float32), atol=1e-6, rtol=0)
        assert conn.execute("SELECT compressae.project('m', %s) = compressae.projection(%s, %s)", (q, info.id, q)).fetchone()[0]


def test_the_projection_reads_its_model_through_the_primary_key_without_a_sort(conn, model, real_vectors):
    """Whatever the statistics say (here: none yet, two models just stored), the plan reads one model's decoder rows in
    idx order, so the aggregate sorts nothing and no other model's rows are read."""
    registry.save(conn, "other", model)
    info = registry.save(conn, "m", model)
    plans = []
    conn.add_notice_handler(lambda d: plans.append(d.message_primary))
    conn.execute("LOAD 'auto_explain'")
    conn.execute("SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice")
    conn.execute("SELECT compressae.projection(%s, %s)", (info.id, real_vectors[5000])).fetchone()
    [plan] = [p for p in plans if "decoder_atoms" in p]
    assert "Index Scan using decoder_atoms_pkey" in plan and "Sort" not in plan, plan


def test_search_prepares_once_a_session_and_replaces_a_statement_that_is_not_its_own(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:200], model)
    q, other = real_vectors[5000], real_vectors[5001]
    first = conn.execute(SEARCH, (q,)).fetchall()
    assert_top(hits(first), *truth(conn, model, q), 5)
    conn.execute(SEARCH, (other,)).fetchall()
    [(name, statement, generic)] = conn.execute(PREPARED).fetchall()
    assert generic == 2  # one statement, planned once, for both queries
    # Another role of the session (or the application) may have prepared anything under that name: search
    # uses a statement only when its text is the one it writes, and prepares its own again otherwise.
    conn.execute(sql.SQL("DEALLOCATE {}").format(sql.Identifier(name)))
    conn.execute(sql.SQL("PREPARE {} (vector, jsonb) AS SELECT 'planted'::text, 2::float8").format(sql.Identifier(name)))
    assert conn.execute(SEARCH, (q,)).fetchall() == first
    assert conn.execute(PREPARED).fetchall() == [(name, statement, 1)]
    with conn.transaction():  # PREPARE, EXECUTE and DEALLOCATE are allowed where nothing may be written (a standby too)
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute(sql.SQL("DEALLOCATE {}").format(sql.Identifier(name)))
        assert conn.execute(SEARCH, (q,)).fetchall() == first


def test_a_prepared_search_reads_the_table_that_has_the_name_now(conn, dsn, model, real_vectors):
    """The same text (table, columns, model) over a new table of the same name: the server plans the statement again."""
    searchable(conn, dsn, real_vectors[:200], model)
    q = real_vectors[5000]
    conn.execute(SEARCH, (q,)).fetchall()
    conn.execute("SELECT compressae.detach('items'::regclass, 'embedding_sae')")
    conn.execute("DROP TABLE items")
    create_table(conn, "items", real_vectors[1000:1200], category="category")
    attachments.attach("items", "embedding", "m@1", conn=conn)
    backfill("items", "embedding", dsn=dsn, progress=False, m=8, ef_construction=32)
    after = conn.execute(SEARCH, (q,)).fetchall()
    assert len(conn.execute(PREPARED).fetchall()) == 1
    assert_top(hits(after), *truth(conn, model, q), 5)


def test_a_select_only_role_gets_the_python_apis_rows_and_numpys_scores(conn, dsn, model, real_vectors, login_role):
    searchable(conn, dsn, real_vectors[:300], model)
    conn.execute(sql.SQL("GRANT SELECT ON items TO {}").format(sql.Identifier(login_role)))
    reader = make_conninfo(**{**conninfo_to_dict(dsn), "user": login_role})
    with connect(reader, autocommit=True) as rc:
        for q in real_vectors[5000:5003]:
            rows = rc.execute("SELECT key, score FROM compressae.search('items', 'embedding', %s, k => 10, filter => '{\"category\": \"rare\"}')",
                              (q,)).fetchall()
            python = CompressedColumn(rc, "items", "embedding").search(q, k=10, where={"category": "rare"})
            assert [int(key) for key, _ in rows] == [h.key for h in python]
            # SQL sums the query over a residual's bits from its 8 bit planes, Python from the query itself
            np.testing.assert_allclose([s for _, s in rows], [h.score for h in python], atol=1e-3, rtol=0)
            rare = {r[0] for r in conn.execute("SELECT id FROM items WHERE category = 'rare'")}
            assert_top(hits(rows), *truth(conn, model, q), 10, rare)
