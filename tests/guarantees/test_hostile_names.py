"""Hostile names: schemas, tables, columns and models named with quotes, spaces, semicolons, %, mixed
case and non-ASCII go through train, attach, backfill, index, search and verify, and inject nothing."""

from __future__ import annotations

import pytest
from psycopg import sql

from compressae_pg import CompressedColumn, backfill, build_index, train, verify
from compressae_pg.cli import main

INJECTION = 'x"; drop table t; --'
NAMES = {
    "injection": ("Sch;ema", INJECTION, 'co"l; drop table t; --', "m'); drop table t; --"),
    "percent": ("p%s", "Ta%(x)s ble%", "c%d%%", "m%s%"),
    "unicode": ("Schéma Ü", "Tâble Ŋame", "Émbed ding", "modèle ü"),
}


def _make(conn, schema: str, table: str, column: str, vectors) -> None:
    ident = sql.Identifier(schema, table)
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, {} vector(384))").format(ident, sql.Identifier(column)))
    with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(ident)) as copy:
        for i, v in enumerate(vectors):
            copy.write_row((i + 1, "[" + ",".join(repr(float(a)) for a in v) + "]"))
    conn.execute(sql.SQL("ANALYZE {}").format(ident))


@pytest.mark.parametrize("names", NAMES.values(), ids=NAMES.keys())
def test_every_front_door_takes_hostile_names(conn, dsn, capsys, real_vectors, names):
    schema, table, column, model = names
    conn.execute("CREATE TABLE t (x int)")
    _make(conn, schema, table, column, real_vectors[:400])
    qualified = f"{schema}.{table}"
    trained = train(qualified, column, model, dsn=dsn, steps=3, h=512, k=16, batch_size=128, progress=False)
    assert trained.info.name == model
    assert main(["attach", "--table", qualified, "--column", column, "--model", model, "--apply", "--no-index",
                 "--sync", "trigger", "--dsn", dsn]) == 0, capsys.readouterr().err
    result = backfill(qualified, column, dsn=dsn, workers=2, batch_size=64, progress=False, m=8, ef_construction=32)
    assert (result.status, result.rows_written) == ("done", 400), result.errors
    assert result.index["valid"] and result.index["built"]  # the fast flow: the finished backfill built it
    assert build_index(qualified, column, dsn=dsn).built is False  # the index it built is the one it finds
    hits = CompressedColumn(conn, qualified, column).search(real_vectors[7], k=3, rerank="dense")
    assert hits[0].key == 8
    regclass = conn.execute("SELECT format('%%I.%%I', %s::text, %s::text)", (schema, table)).fetchone()[0]
    rows = conn.execute("SELECT key FROM compressae.search(%s::regclass, %s, %s, k => 3)",
                        (regclass, column, real_vectors[7])).fetchall()
    assert rows[0][0] == "8"
    conn.execute(sql.SQL("UPDATE {} SET {} = {} WHERE id = 1").format(
        sql.Identifier(schema, table), sql.Identifier(column), sql.Literal(str(list(map(float, real_vectors[500]))))))
    assert verify(qualified, column, sample=None, dsn=dsn).ok
    assert main(["detach", "--table", qualified, "--column", column, "--dsn", dsn]) == 0
    assert conn.execute("SELECT to_regclass('public.t') IS NOT NULL").fetchone()[0]  # nothing injected


def test_index_names_of_long_table_names_fit_and_stay_apart(conn, dsn, real_vectors):
    """A 60-byte table name with two code columns: "<table>_<code>_hnsw" is over the 63-byte identifier
    limit, and cut there both would be the same name. Each index is found, valid, and its own."""
    from ..support.models import attach_model

    table = "é" * 30
    _make(conn, "public", table, "embedding", real_vectors[:50])
    for code in ("code_a", "code_b"):
        attach_model(conn, table=table, name=code, code_column=code)
        built = backfill(table, "embedding", code_column=code, dsn=dsn, progress=False, m=8, ef_construction=32).index
        assert built["valid"] and built["built"] and len(built["index"].encode()) <= 63
    indexes = conn.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass",
                           (f'"{table}"',)).fetchall()
    assert sorted(d.split("USING hnsw ")[1].split()[0] for (d,) in indexes if "hnsw" in d) == ["(code_a_sketch", "(code_b_sketch"]


def test_model_names_are_refused_cleanly_when_they_cannot_be_names(conn):
    from compressae_pg import CompresSAE, registry

    for bad in ("", "a@b", "x" * 201):
        with pytest.raises(ValueError, match="invalid model name"):
            registry.save(conn, bad, CompresSAE(8, 16, 2))


def test_no_query_composes_identifiers_and_takes_parameters():
    """psycopg reads '%' in a composed identifier as a placeholder when the query has parameters."""
    import re
    from importlib.resources import files

    mixed = [p.name for p in files("compressae_pg.sql").joinpath("queries").iterdir() if p.name.endswith(".sql")
             and re.search(r"\{[a-z_]+\}", t := p.read_text()) and re.search(r"%\(|%s", t)]
    assert mixed == []
