"""sql/functions/ holds the current text of every function of the compressae schema: a fresh database upgraded to
head defines exactly those texts, no more and no fewer (tools/sql_functions.py writes them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "sql_functions.py"


def _tool():
    spec = importlib.util.spec_from_file_location("sql_functions", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_a_database_at_head_defines_exactly_the_texts_of_sql_functions(empty_dsn):
    tool = _tool()
    tool.install_head(empty_dsn)
    files = tool.definitions(empty_dsn)
    assert "search.sql" in files and "RETURNS @vector_schema@.vector" in files["decode.sql"]  # pgvector's schema, as revisions write it
    assert tool.stale(files) == [], "run python tools/sql_functions.py: a revision changed these functions since it last ran"


def test_an_edited_or_missing_file_is_stale():
    tool = _tool()
    files = {p.name: p.read_text(encoding="utf-8") for p in tool.TARGET.glob("*.sql")}
    assert tool.stale(files) == []
    edited = {**files, "search.sql": files["search.sql"].replace("LIMIT", "LIMIT 1 +", 1), "gone.sql": "x"}
    del edited["encode.sql"]
    assert tool.stale(edited) == ["encode.sql", "gone.sql", "search.sql"]
