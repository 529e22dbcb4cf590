"""The compressae history: frozen revisions, step by step equal to one go, downgrades that restore,
and a database made by the previous release (0003) that upgrades with its data and keeps searching."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from compressae_pg import CompresSAE, CompressaeError, CompressedColumn, Encoding, Hit, _migrate, registry, sync
from compressae_pg.columns import attachments
from compressae_pg.server import connect

from ..support.models import stored
from ..support.tables import create_table, insert_rows
from ..support.truth import assert_top, brute_force, check_codes, sql_query_levels

REVISIONS = ["0001_registry", "0002_functions", "0003_hardening", "0004_index_path", "0005_partitions", "0006_sync_queue",
             "0007_queue_capture", "0008_pursuit_stages", "0009_trust", "0010_residual", "0011_search", "0012_queue",
             "0013_atoms", "0014_swap", "0015_queue_upkeep",
             "0016_sketch", "0017_attachments_by_oid",
             "0018_prepared_search", "0019_filter_ids_keys",
             "0020_restorable_queue", "0021_default_candidates",
             "0022_no_table_locks", "0023_unguessable_sync_functions",
             "0024_queue_by_marks", "0025_secret_lock_keys"]
# Released before downgrades restored definitions: 0003's downgrade keeps its attach and detach, by
# design (its docstring: 0002 needs nothing they lack). A released revision is not changed to undo that.
KEPT_ON_DOWNGRADE = {"0003_hardening": {"compressae.attach(regclass,name,text,name,text)", "compressae.detach(regclass,name)"}}


def without(snap: dict, functions: set[str]) -> dict:
    return {**snap, "functions": [f for f in snap["functions"] if f[0] not in functions]}


def snapshot(conn: psycopg.Connection) -> dict:
    """What a revision defines: every compressae function's definition, the tables' columns, constraints, policies and
    triggers, and the comments on them."""
    q = lambda text: conn.execute(text).fetchall()  # noqa: E731
    return {
        "functions": q("SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p"
                       " WHERE p.pronamespace = 'compressae'::regnamespace ORDER BY 1"),
        "columns": q("SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)"
                     " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
                     " LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum"
                     " WHERE c.relnamespace = 'compressae'::regnamespace AND c.relname <> 'compressae_alembic_version' ORDER BY 1, 2"),
        "constraints": q("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
                         " WHERE connamespace = 'compressae'::regnamespace ORDER BY 1, 2"),
        "policies": q("SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'compressae' ORDER BY 1, 2"),
        "rls": q("SELECT relname, relrowsecurity FROM pg_class WHERE relnamespace = 'compressae'::regnamespace AND relkind = 'r' ORDER BY 1"),
        "comments": q("SELECT d.classoid::regclass::text, CASE WHEN d.classoid = 'pg_proc'::regclass THEN d.objoid::regprocedure::text"
                      " ELSE d.objoid::regclass::text END, d.objsubid, d.description FROM pg_description d"
                      " WHERE d.classoid = 'pg_proc'::regclass AND d.objoid IN (SELECT oid FROM pg_proc WHERE pronamespace = 'compressae'::regnamespace)"
                      " OR d.classoid = 'pg_class'::regclass AND d.objoid IN (SELECT oid FROM pg_class WHERE relnamespace = 'compressae'::regnamespace)"
                      " ORDER BY 1, 2, 3"),
        "triggers": q("SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
                      " JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'compressae'::regnamespace AND NOT t.tgisinternal"
                      " ORDER BY 1, 2"),
    }


def test_the_history_step_by_step_is_the_history_in_one_go(empty_dsn, dsn):
    for revision in REVISIONS:
        _migrate.upgrade(empty_dsn, revision)
    with connect(empty_dsn) as stepped, connect(dsn) as at_once:
        assert _migrate.current(stepped) == _migrate.head() == REVISIONS[-1]
        assert snapshot(stepped) == snapshot(at_once)


def test_every_downgrade_restores_what_the_revision_before_defined(empty_dsn):
    _migrate.upgrade(empty_dsn, REVISIONS[0])
    for before, after in zip(REVISIONS, REVISIONS[1:]):
        with connect(empty_dsn) as conn:
            was = snapshot(conn)
        _migrate.upgrade(empty_dsn, after)
        with connect(empty_dsn) as conn:
            assert snapshot(conn) != was
        _migrate.downgrade(empty_dsn, before)
        kept = KEPT_ON_DOWNGRADE.get(after, set())
        with connect(empty_dsn) as conn:
            assert without(snapshot(conn), kept) == without(was, kept), f"downgrade {after} → {before}"
        _migrate.upgrade(empty_dsn, after)


def test_a_database_of_the_previous_release_upgrades_and_keeps_searching(empty_dsn, real_vectors, model):
    """At 0003 (what the last release shipped), attach, fill and index a code column with 0003's own SQL;
    after the upgrade it is a 'sparse' attachment that every front door still searches."""
    model.encoding = Encoding(refit=True, pursuit=model.encoding.pursuit)  # one stage: 0003 stores no stages
    _migrate.upgrade(empty_dsn, "0003_hardening")
    with connect(empty_dsn, autocommit=True) as conn:
        create_table(conn, "items", real_vectors[:200], key="wide bigint")
        registry.save(conn, "m", model)
        (aid,) = conn.execute("SELECT compressae.attach('items'::regclass, 'embedding', 'm')").fetchone()
        conn.execute("UPDATE items SET embedding_sae = compressae.encode('m', embedding)")
        (ddl,) = conn.execute("SELECT compressae.index_ddl(%s)", (aid,)).fetchone()
        conn.execute(ddl)
    _migrate.upgrade(empty_dsn)
    with connect(empty_dsn, autocommit=True) as conn:
        graph, sketch, opclass = conn.execute("SELECT graph, sketch_column, opclass FROM compressae.attachments").fetchone()
        assert (graph, sketch, opclass) == ("sparse", None, "sparsevec_cosine_ops")
        keys, codes, sources = stored(conn)
        assert len(keys) == 200  # 0003's UPDATE coded every row, and the upgrade kept them
        q = real_vectors[5000]
        search = "SELECT key, score FROM compressae.search('items', 'embedding', %s, k => 5, candidates => 200, rerank => %s)"
        for mode in ("none", "reconstructed", "symmetric", "dense"):
            scores = brute_force(model, model.compress(q).dense()[0], q, codes, sources, mode, "sparse")
            assert_top(CompressedColumn(conn, "items", "embedding").search(q, k=5, candidates=200, rerank=mode), keys, scores, 5)
            assert_top([Hit(int(key), score) for key, score in conn.execute(search, (q, mode))], keys, scores, 5)


def test_an_attachment_of_0010_searches_the_same_after_the_upgrade_and_takes_a_filter(empty_dsn, real_vectors, model):
    """Coded, sketched and given residual sketches by 0010's own SQL; 0011's search ranks it as numpy does, filtered too."""
    _migrate.upgrade(empty_dsn, "0010_residual")
    search = "SELECT key, score FROM compressae.search('items', 'embedding', %s, k => 5, candidates => 150)"
    with connect(empty_dsn, autocommit=True) as conn:
        create_table(conn, "items", real_vectors[:150], category="category")
        registry.save(conn, "m", model)
        (aid,) = conn.execute("SELECT compressae.attach('items'::regclass, 'embedding', 'm')").fetchone()
        conn.execute("UPDATE items SET embedding_sae = compressae.encode('m', embedding), embedding_sae_sketch = binary_quantize(embedding)")
        conn.execute("UPDATE items SET embedding_sae_residual = compressae.residual('m', embedding, embedding_sae, 2)")
        (ddl,) = conn.execute("SELECT compressae.index_ddl(%s)", (aid,)).fetchone()
        conn.execute(ddl)
        q = real_vectors[5000]
        before = conn.execute(search, (q,)).fetchall()
    _migrate.upgrade(empty_dsn)
    with connect(empty_dsn, autocommit=True) as conn:
        keys, codes, sources = stored(conn)
        scores = brute_force(model, None, q, codes, sources, "reconstructed", residual_query=sql_query_levels(q))
        after = conn.execute(search, (q,)).fetchall()
        assert_top([Hit(int(key), score) for key, score in after], keys, scores, 5)
        assert [key for key, _ in after] == [key for key, _ in before]
        rare = {r[0] for r in conn.execute("SELECT id FROM items WHERE category = 'rare'")}
        kept = conn.execute("SELECT key, score FROM compressae.search('items', 'embedding', %s, k => 5, candidates => 150,"
                            " filter => '{\"category\": \"rare\"}')", (q,)).fetchall()
        assert_top([Hit(int(key), score) for key, score in kept], keys, scores, 5, rare)


def test_a_sketch_attachment_of_0014_keeps_its_one_plane_and_searches_and_syncs_after_the_upgrade(empty_dsn, real_vectors, model):
    """Attached, trigger-synced and indexed by 0014's own SQL (bit(d) sign bits); after the upgrade it records 1 plane,
    its trigger still writes the sign bits, both searches rank as before, and the downgrade refuses a 2-plane one."""
    _migrate.upgrade(empty_dsn, "0014_swap")
    search = "SELECT key, score FROM compressae.search('items', 'embedding', %s, k => 5, candidates => 150)"
    with connect(empty_dsn, autocommit=True) as conn:
        create_table(conn, "items", real_vectors[:0])
        registry.save(conn, "m", model)
        (aid,) = conn.execute("SELECT compressae.attach('items'::regclass, 'embedding', 'm', sync => 'trigger')").fetchone()
        insert_rows(conn, list(range(1, 151)), real_vectors[:150])
        (ddl,) = conn.execute("SELECT compressae.index_ddl(%s)", (aid,)).fetchone()
        conn.execute(ddl)
        q = real_vectors[5000]
        before = conn.execute(search, (q,)).fetchall()
    _migrate.upgrade(empty_dsn)
    signs = lambda v: "".join("1" if c > 0 else "0" for c in np.asarray(v, np.float32))  # noqa: E731
    with connect(empty_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT sketch_planes FROM compressae.attachments").fetchone() == (1,)
        assert conn.execute(search, (q,)).fetchall() == before
        assert [h.key for h in CompressedColumn(conn, "items", "embedding").search(q, k=5, candidates=150)] == [int(k) for k, _ in before]
        insert_rows(conn, [151], [real_vectors[151]])
        conn.execute("UPDATE items SET embedding = %s WHERE id = 2", (real_vectors[152],))
        got = dict(conn.execute("SELECT id, embedding_sae_sketch::text FROM items WHERE id IN (2, 151)").fetchall())
        assert got == {2: signs(real_vectors[152]), 151: signs(real_vectors[151])}
        conn.execute("SELECT compressae.attach('items'::regclass, 'embedding', 'm', code_column => 'two')")
    with pytest.raises(Exception, match="2-plane sketch"):
        _migrate.downgrade(empty_dsn, "0015_queue_upkeep")


def test_an_attachment_of_0016_searches_the_same_after_the_upgrade_and_in_a_session_that_searched_before(empty_dsn, real_vectors, model):
    """Attached, trigger-synced (2-plane sketch, residual) and indexed by 0016's own SQL; 0018's prepared search gives the
    rows and scores 0016's gave, filtered too, in one session that searched before and after the upgrade."""
    _migrate.upgrade(empty_dsn, "0016_sketch")
    search = "SELECT key, score FROM compressae.search('items', 'embedding', %s, k => 5, candidates => 150, filter => %s)"
    with connect(empty_dsn, autocommit=True) as conn:
        create_table(conn, "items", real_vectors[:0], category="category")
        registry.save(conn, "m", model)
        (aid,) = conn.execute("SELECT compressae.attach('items'::regclass, 'embedding', 'm', sync => 'trigger')").fetchone()
        insert_rows(conn, list(range(1, 151)), real_vectors[:150])
        conn.execute("UPDATE items SET category = CASE WHEN id % 7 = 0 THEN 'rare' ELSE 'common' END")
        (ddl,) = conn.execute("SELECT compressae.index_ddl(%s)", (aid,)).fetchone()
        conn.execute(ddl)
        q = real_vectors[5000]
        before = [conn.execute(search, (q, f)).fetchall() for f in (None, '{"category": "rare"}')]
        _migrate.upgrade(empty_dsn)
        after = [conn.execute(search, (q, f)).fetchall() for f in (None, '{"category": "rare"}')]
        for old, new in zip(before, after):
            assert [key for key, _ in new] == [key for key, _ in old]
            np.testing.assert_allclose([s for _, s in new], [s for _, s in old], atol=1e-12, rtol=0)
        keys, codes, sources = stored(conn)
        scores = brute_force(model, None, q, codes, sources, "reconstructed", residual_query=sql_query_levels(q))
        assert_top([Hit(int(key), score) for key, score in after[0]], keys, scores, 5)


def _queue_functions(conn: psycopg.Connection, attachment_id: int | None = None) -> list[tuple[str, str]]:
    """The trigger functions queue attachments (or the one of ``attachment_id``) made in public, by name, with their
    definitions (the table's oid, which the queue function checks since 0009, as its name) and comments; the random
    tag 0023 puts in a new function's name is left out of its name and definition."""
    like = "compressae\\_sync\\_%" if attachment_id is None else f"compressae\\_sync\\_{attachment_id}%"
    return conn.execute("SELECT regexp_replace(p.proname, %(tag)s, '\\1'),"
                        " regexp_replace(replace(pg_get_functiondef(p.oid), 'items'::regclass::oid::text || '::oid', 'items'), %(tag)s, '\\1', 'g'),"
                        " obj_description(p.oid, 'pg_proc') FROM pg_proc p"
                        " WHERE p.pronamespace = 'public'::regnamespace AND p.proname LIKE %(like)s ORDER BY 1",
                        {"tag": "(compressae_sync_[0-9]+)_[0-9a-f]{12}", "like": like}).fetchall()


def test_a_queue_attachment_of_0006_upgrades_to_what_a_fresh_attach_makes(empty_dsn, dsn, real_vectors, model):
    """0007 rewrites a queue attachment's trigger function in place: the same as one attached at the head, and
    it still queues; the downgrade gives back 0006's."""
    model.encoding = Encoding(refit=True, pursuit=model.encoding.pursuit)  # one stage: 0006 stores no stages
    def attach(url: str) -> None:
        with connect(url, autocommit=True) as conn:
            create_table(conn, "items", real_vectors[:20])
            registry.save(conn, "m", model)
            conn.execute("SELECT compressae.attach('items'::regclass, 'embedding', 'm', sync => 'queue')")

    _migrate.upgrade(empty_dsn, "0006_sync_queue")
    attach(empty_dsn)
    with connect(empty_dsn) as conn:
        at_0006 = _queue_functions(conn)
    _migrate.upgrade(empty_dsn)
    attach(dsn)
    with connect(empty_dsn, autocommit=True) as old, connect(dsn) as fresh:
        assert _queue_functions(old) == _queue_functions(fresh) != at_0006
        old.execute("INSERT INTO items (id, embedding) SELECT id + 100, embedding FROM items WHERE id <= 5")
        (keys,) = old.execute("SELECT keys FROM compressae.sync_queue ORDER BY id DESC LIMIT 1").fetchone()
        assert sorted(map(int, keys)) == [101, 102, 103, 104, 105]
    _migrate.downgrade(empty_dsn, "0006_sync_queue")
    with connect(empty_dsn) as conn:
        assert _queue_functions(conn) == at_0006


def test_the_downgrade_of_0023_gives_an_attachments_sync_functions_the_names_0022_finds_them_by(empty_dsn, real_vectors, model):
    _migrate.upgrade(empty_dsn)
    with connect(empty_dsn, autocommit=True) as conn:
        create_table(conn, "items", real_vectors[:20])
        registry.save(conn, "m", model)
        (att,) = conn.execute("SELECT compressae.attach('items'::regclass, 'embedding', 'm', sync => 'queue')").fetchone()
        functions = "SELECT array_agg(tgfoid::regproc::text ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'items'::regclass"
        row, queue = conn.execute(functions).fetchone()[0][:2]
        assert (row, queue) != (f"compressae_sync_{att}", f"compressae_sync_{att}_queue") and queue == row + "_queue"
    _migrate.downgrade(empty_dsn, "0022_no_table_locks")
    with connect(empty_dsn, autocommit=True) as conn:
        assert [name for (name, _, _) in _queue_functions(conn)] == [f"compressae_sync_{att}", f"compressae_sync_{att}_queue"]
        assert conn.execute(functions).fetchone()[0] == [f"compressae_sync_{att}"] + [f"compressae_sync_{att}_queue"] * 2
        conn.execute("INSERT INTO items (id, embedding) SELECT id + 100, embedding FROM items WHERE id <= 2")
        assert conn.execute("SELECT keys FROM compressae.sync_queue").fetchall() == [(["101", "102"],)]
        conn.execute("SELECT compressae.detach('items', 'embedding_sae')")
        assert _queue_functions(conn) == []


def test_a_model_in_pursuit_stages_blocks_the_downgrade_that_cannot_encode_it(dsn, model):
    staged = CompresSAE.from_bytes(model.to_bytes())
    staged.encoding = Encoding(refit=True, pursuit=4, stages=2)
    with connect(dsn, autocommit=True) as conn:
        registry.save(conn, "staged", staged)
        assert conn.execute("SELECT stages FROM compressae.models WHERE name = 'staged'").fetchone() == (2,)
        assert registry.load(conn, "staged")[1].encoding == staged.encoding
    with pytest.raises(Exception, match="several pursuit stages"):
        _migrate.downgrade(dsn, "0007_queue_capture")
    with connect(dsn) as conn:
        assert _migrate.current(conn) == _migrate.head()  # one transaction: nothing was undone


def test_an_attachment_of_0016_follows_its_table_by_oid_after_the_upgrade_and_a_dropped_tables_record_goes(
        empty_dsn, dsn, real_vectors, model):
    """At 0016: a queue attachment coded by 0016's own SQL, and the records of two tables dropped without a detach, whose
    names a new table and a view then took. The upgrade binds the first to its table's oid (the same attachment and queue
    function that a fresh attach makes) and deletes the others with their queue entries; renamed after, the table keeps
    its attachment: its writes are queued, sync codes them as numpy does, and search ranks as numpy does."""
    x = real_vectors
    _migrate.upgrade(empty_dsn, "0016_sketch")
    attach = "SELECT compressae.attach(%s::regclass, 'embedding', 'm', sync => 'queue')"
    with connect(empty_dsn, autocommit=True) as conn:
        registry.save(conn, "m", model)
        for gone in ("gone", "seen"):
            create_table(conn, gone, x[:5])
            conn.execute(attach, (gone,))
            conn.execute(sql.SQL("UPDATE {} SET embedding = %s WHERE id = 1").format(sql.Identifier(gone)), (x[9],))
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(gone)))
        create_table(conn, "gone", x[:5])
        conn.execute("CREATE VIEW seen AS SELECT 1 AS id, NULL::vector(384) AS embedding, NULL::sparsevec AS embedding_sae")
        create_table(conn, "items", x[:100])
        (aid,) = conn.execute(attach, ("items",)).fetchone()
        conn.execute("UPDATE items SET embedding_sae = compressae.encode('m', embedding), embedding_sae_sketch = compressae.sketch(embedding, 2)")
        conn.execute("UPDATE items SET embedding_sae_residual = compressae.residual('m', embedding, embedding_sae, 2)")
        assert conn.execute("SELECT count(*) FROM compressae.sync_queue").fetchone() == (2,)  # the dropped tables' entries
    _migrate.upgrade(empty_dsn)
    with connect(dsn, autocommit=True) as fresh:
        create_table(fresh, "items", x[:0])
        registry.save(fresh, "m", model)
        fresh.execute(sql.SQL("ALTER TABLE compressae.attachments ALTER COLUMN id RESTART WITH {}").format(sql.Literal(aid)))
        fresh.execute(attach, ("items",))
        made = fresh.execute("SELECT source_column, code_column, sync, index_name, opclass, graph, sketch_column, residual_column,"
                             " residual_planes, sketch_planes FROM compressae.attachments").fetchall()
        made_functions = _queue_functions(fresh, aid)
    with connect(empty_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT id, table_oid::oid = 'items'::regclass::oid, source_column, code_column, sync, index_name, opclass,"
                            " graph, sketch_column, residual_column, residual_planes, sketch_planes"
                            " FROM compressae.attachments").fetchall() == [(aid, True, *made[0])]
        assert _queue_functions(conn, aid) == made_functions  # (the dropped tables' functions are left: their owners' to drop)
        assert conn.execute("SELECT count(*) FROM compressae.sync_queue").fetchone() == (0,)
        assert attachments.list_attachments(conn, "gone") == []
        conn.execute("ALTER TABLE items RENAME TO renamed")
        insert_rows(conn, [101, 102], [x[101], x[102]], table="renamed")
        conn.execute("UPDATE renamed SET embedding = %s WHERE id = 3", (x[103],))
        result = sync("renamed", "embedding", conn=conn, progress=False)
        assert (result.rows_written, result.rows_failed, result.queue_left) == (3, 0, 0)
        assert check_codes(conn, model, table="renamed") == 102
        keys, codes, sources = stored(conn, table="renamed")
        q = x[5000]
        scores = brute_force(model, None, q, codes, sources, "reconstructed")
        assert_top(CompressedColumn(conn, "renamed", "embedding").search(q, k=5, candidates=200), keys, scores, 5)
        scores = brute_force(model, None, q, codes, sources, "reconstructed", residual_query=sql_query_levels(q))
        hits = conn.execute("SELECT key, score FROM compressae.search('renamed', 'embedding', %s, k => 5, candidates => 200)", (q,))
        assert_top([Hit(int(key), score) for key, score in hits], keys, scores, 5)
        assert [a.table.qualified for a in attachments.list_attachments(conn)] == ["public.renamed"]


def test_an_upgrade_runs_no_function_a_role_planted_and_refuses_one_in_pgvectors_schema(empty_dsn, real_vectors, model, login_role):
    """0016's upgrade calls format(unknown, text, text) for each queue attachment, which a format(text, text, text)
    of another role's outranks: one in a schema on the upgrading superuser's path never runs (the revisions' path is
    pinned), and one in pgvector's schema (on that path) stops the upgrade before anything changes, named."""
    _migrate.upgrade(empty_dsn, "0015_queue_upkeep")
    try:
        with connect(empty_dsn, autocommit=True) as conn:  # 0001 creates the extension in the path's first schema, as ever
            assert conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'vector'").fetchone() == ("public",)
        _plant_and_upgrade(empty_dsn, real_vectors, model, login_role)
    finally:
        with connect(empty_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(login_role)))


def _plant_and_upgrade(empty_dsn: str, real_vectors, model, login_role: str) -> None:
    planter = sql.Identifier(login_role)
    with connect(empty_dsn, autocommit=True) as conn:
        create_table(conn, "items", real_vectors[:5])
        registry.save(conn, "m", model)
        conn.execute("SELECT compressae.attach('items'::regclass, 'embedding', 'm', sync => 'queue')")
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(planter))
        conn.execute(sql.SQL("CREATE SCHEMA evil AUTHORIZATION {}").format(planter))
    plant = ("CREATE FUNCTION {}.format(f text, a text, b text) RETURNS text LANGUAGE sql AS "
             "$$ INSERT INTO evil.calls VALUES (current_user); SELECT pg_catalog.format(f, a, b) $$")
    with connect(make_conninfo(empty_dsn, user=login_role), autocommit=True) as pc:
        pc.execute("CREATE TABLE evil.calls (caller name)")
        pc.execute("GRANT USAGE ON SCHEMA evil TO PUBLIC")
        pc.execute("GRANT INSERT ON evil.calls TO PUBLIC")
        pc.execute(plant.format("evil"))
        pc.execute("SET search_path = evil, public")
        pc.execute("SELECT format('%I.%I', 'a'::text, 'b'::text)")  # the plant does win a plain call on its path
        assert pc.execute("SELECT count(*) FROM evil.calls").fetchone() == (1,)
        pc.execute("TRUNCATE evil.calls")
    _migrate.upgrade(make_conninfo(empty_dsn, options="-c search_path=evil,public"))
    with connect(empty_dsn, autocommit=True) as conn:
        assert _migrate.current(conn) == REVISIONS[-1]
        assert conn.execute("SELECT caller FROM evil.calls").fetchall() == []
    _migrate.downgrade(empty_dsn, "0015_queue_upkeep")
    with connect(make_conninfo(empty_dsn, user=login_role), autocommit=True) as pc:
        pc.execute(plant.format("public"))
    with pytest.raises(CompressaeError, match=r"function public\.format\(f text, a text, b text\)"):
        _migrate.upgrade(empty_dsn)
    with connect(empty_dsn, autocommit=True) as conn:
        assert _migrate.current(conn) == "0015_queue_upkeep"  # refused before any revision ran
        assert conn.execute("SELECT caller FROM evil.calls").fetchall() == []
        conn.execute("DROP FUNCTION public.format(text, text, text)")
    _migrate.upgrade(empty_dsn)
    with connect(empty_dsn, autocommit=True) as conn:
        assert _migrate.current(conn) == REVISIONS[-1]
