"""compressae_pg/_defaults.py is the one home of the shared defaults and enumerations: the SQL functions agree with it.

The SQL side is read from a database at head (its catalog, and calls to the functions), never from the
revision files, so a revision that replaces a function is checked as it lands. The Python side reads the
module by construction; the signature checks below catch a front door that types its own value again.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import fields

import psycopg
import pytest
from psycopg import sql

from compressae_pg import AsyncCompressedColumn, BackfillConfig, CompresSAE, CompressedColumn, registry
from compressae_pg import _defaults as d
from compressae_pg import sqlalchemy as csa
from compressae_pg._retry import Limits
from compressae_pg.alembic import AddCompressedColumnOp
from compressae_pg.cli.parser import build_parser
from compressae_pg.columns import attachments

from .support.models import DIM, H, K, searchable
from .support.tables import create_table

SEARCH = "SELECT count(*) FROM compressae.search('items'::regclass, 'embedding', %s, rerank => %s)"
ATTACH = ("SELECT compressae.attach('items'::regclass, 'embedding', %(model)s, sync => %(sync)s, graph => %(graph)s, "
          "residual_planes => %(bits)s, sketch_planes => %(planes)s)")


def sql_defaults(conn: psycopg.Connection, function: str) -> dict[str, object]:
    """``{argument: default value}`` of the one function ``compressae.<function>`` at head, each DEFAULT evaluated."""
    (args,) = conn.execute("SELECT pg_get_function_arguments(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                           "WHERE n.nspname = 'compressae' AND p.proname = %s", (function,)).fetchall()
    found = {}
    for arg in re.split(r",\s*(?![^()]*\))", args[0]):  # commas outside a type's parentheses
        name, _, default = arg.partition(" DEFAULT ")
        if default:
            found[name.split()[0]] = conn.execute(sql.SQL("SELECT {}").format(sql.SQL(default))).fetchone()[0]
    return found


def test_the_sql_functions_defaults_are_the_packages(conn):
    assert sql_defaults(conn, "search") == {"k": d.K, "candidates": d.CANDIDATES, "rerank": d.RERANK, "filter": None}
    attach = sql_defaults(conn, "attach")
    assert (attach["sync"], attach["graph"], attach["residual_planes"]) == (d.SYNC, d.GRAPH, None)
    assert attach["sketch_planes"] == d.SKETCH_PLANES


def test_sql_search_takes_every_rerank_mode_and_no_other(conn, dsn, real_vectors):
    searchable(conn, dsn, real_vectors[:30], CompresSAE(DIM, H, K, seed=0).eval(), index=False)
    q = real_vectors[5000]
    for mode in d.RERANK_MODES:
        assert conn.execute(SEARCH, (q, mode)).fetchone()[0] == d.K, mode
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="rerank must be"):
        conn.execute(SEARCH, (q, "exact"))


def test_sql_attach_takes_every_sync_mode_graph_residual_width_and_sketch_planes_and_no_other(conn, real_vectors):
    create_table(conn, "items", real_vectors[:5])
    registry.save(conn, "m", CompresSAE(DIM, H, K, seed=0).eval())
    base = {"model": registry.list_models("m", conn=conn)[-1].ref, "sync": d.SYNC, "graph": d.GRAPH, "bits": None,
            "planes": d.SKETCH_PLANES}
    cases = [{"sync": s} for s in d.SYNC_MODES] + [{"graph": g} for g in d.GRAPHS] + [{"bits": b} for b in d.RESIDUAL_BITS]
    cases += [{"planes": n} for n in d.SKETCH_PLANE_COUNTS]
    for case in cases:
        with conn.transaction(force_rollback=True):
            assert conn.execute(ATTACH, {**base, **case}).fetchone()[0] > 0, case
    for case, error in (({"sync": "later"}, "sync must be"), ({"graph": "ivf"}, "graph must be"),
                        ({"bits": max(d.RESIDUAL_BITS) + 1}, "residual_planes must be"),
                        ({"planes": max(d.SKETCH_PLANE_COUNTS) + 1}, "sketch_planes must be")):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=error), conn.transaction():
            conn.execute(ATTACH, {**base, **case})


def _defaults_of(fn) -> dict[str, object]:
    return {n: p.default for n, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}


def test_every_front_door_takes_its_defaults_from_the_module():
    for search in (CompressedColumn.search, CompressedColumn.search_many, AsyncCompressedColumn.search, csa.search):
        assert {n: _defaults_of(search)[n] for n in ("k", "candidates", "rerank")} == {"k": d.K, "candidates": d.CANDIDATES,
                                                                                    "rerank": d.RERANK}, search
    assert _defaults_of(CompressedColumn.similar)["rerank"] == d.SIMILAR_RERANK
    for attach in (AddCompressedColumnOp.__init__, attachments.attach):
        assert (_defaults_of(attach)["sync"], _defaults_of(attach)["graph"]) == (d.SYNC, d.GRAPH)
        assert _defaults_of(attach)["sketch_planes"] == d.SKETCH_PLANES
    shared = {f.name for f in fields(Limits)} & {f.name for f in fields(BackfillConfig)}
    assert shared == {"batch_size", "lock_timeout", "statement_timeout", "sleep", "max_retries"}
    assert {n: getattr(Limits(), n) for n in shared} == {n: getattr(BackfillConfig(), n) for n in shared}


def test_the_cli_offers_the_modules_choices_and_defaults():
    parser = build_parser()
    subs = next(a for a in parser._actions if a.dest == "command").choices
    options = {(cmd, a.dest): a for cmd, p in subs.items() for a in p._actions}
    assert tuple(options["search", "rerank"].choices) == d.RERANK_MODES
    assert tuple(options["attach", "sync"].choices) == d.SYNC_MODES and options["attach", "sync"].default == d.SYNC
    assert tuple(options["attach", "graph"].choices) == d.GRAPHS and options["attach", "graph"].default == d.GRAPH
    assert tuple(options["attach", "residual_bits"].choices) == d.RESIDUAL_BITS
    planes = options["attach", "sketch_planes"]
    assert (tuple(planes.choices), planes.default) == (d.SKETCH_PLANE_COUNTS, d.SKETCH_PLANES)
    assert (options["search", "k"].default, options["search", "candidates"].default) == (d.K, d.CANDIDATES)
    assert options["evaluate", "rerank"].default == list(d.RERANK_MODES)
    for cmd in ("attach", "backfill", "index", "recompress"):
        assert (options[cmd, "m"].default, options[cmd, "ef_construction"].default) == (d.HNSW_M, d.HNSW_EF_CONSTRUCTION)
    args = parser.parse_args(["search", "--table", "t", "--column", "c", "--key", "1"])
    assert args.rerank is None  # the method's own default applies: d.SIMILAR_RERANK for a key, d.RERANK for a vector
    assert (options["verify", "sample"].default, options["verify", "tolerance"].default) == (d.VERIFY_SAMPLE, d.VERIFY_TOLERANCE)
