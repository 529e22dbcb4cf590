"""The readers of ``heap_parts``, ``model_list`` and ``model_find`` read rows by column name: the same results when
each query's columns come in the reverse order, so a .sql file's column order is no contract."""

from __future__ import annotations

import pytest
from psycopg import sql

from compressae_pg import _catalog, _sql, registry

from .support.partitions import create_partitioned
from .support.tables import create_table


def reversed_columns(conn, name: str, params: dict) -> str:
    """``sql/queries/<name>.sql`` wrapped so that it returns its columns last first."""
    original = _sql.text(f"queries/{name}.sql")
    with conn.cursor() as cur:
        cur.execute(sql.SQL(original), params)
        names = [d.name for d in cur.description]
    assert len(names) > 2
    outer = sql.SQL(", ").join(sql.Identifier(n) for n in reversed(names)).as_string(conn)
    return f"SELECT {outer} FROM ({original}\n) AS reordered"


@pytest.mark.parametrize("layout", [None, "range"])
def test_every_reader_gets_the_same_rows_when_the_columns_come_in_another_order(conn, monkeypatch, model, real_vectors, layout):
    if layout:  # three leaves, one in a schema of a hostile name
        create_partitioned(conn, layout, real_vectors[:300])
    else:
        create_table(conn, "items", real_vectors[:40])
    conn.execute("ANALYZE items")
    registry.save(conn, "m", model, source="table items", metrics={"val_cosine": 0.9})
    registry.save(conn, "m", model)
    table = _catalog.resolve_table(conn, "items")
    read = lambda: (_catalog.heap_parts(conn, table), _catalog.estimated_rows(conn, table, 384),  # noqa: E731
                    registry.list_models(conn=conn), registry.get(conn, "m@1"))
    before = read()
    assert len(before[0]) == (3 if layout else 1) and all(p.pages > 0 for p in before[0]) and before[1] > 0
    params = {"heap_parts": {"oid": table.oid}, "model_list": {"name": None}, "model_find": {"name": "m", "version": 1}}
    texts = {f"queries/{n}.sql": reversed_columns(conn, n, p) for n, p in params.items()}
    original = _sql.text
    monkeypatch.setattr(_sql, "text", lambda path: texts.get(path) or original(path))
    assert read() == before
