"""verify: a sample of codes re-encoded in Python; wrong, missing and orphan codes are named by key."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pgvector import SparseVector

from compressae_pg import backfill, verify
from compressae_pg.cli import main

from ..support.models import attach_model
from ..support.tables import create_table

TAMPER = "UPDATE items SET embedding_sae = (SELECT embedding_sae FROM items WHERE id = %s) WHERE id = %s"


def test_backfilled_codes_verify_and_every_kind_of_damage_is_named(conn, dsn, real_vectors):
    rows = [*real_vectors[:200], None, np.zeros(384)]
    create_table(conn, "items", rows)
    attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    clean = verify("items", "embedding", sample=None, dsn=dsn)
    assert (clean.ok, clean.checked, clean.matching, clean.unencodable) == (True, 202, 202, 1)

    conn.execute(TAMPER, (2, 1))                                             # another row's code
    conn.execute("UPDATE items SET embedding_sae = NULL WHERE id = 3")       # lost
    conn.execute(TAMPER, (4, 201))                                           # a NULL source given a code
    conn.execute("UPDATE items SET embedding_sae = '{7:0.5}/1024' WHERE id = 5")  # one atom, other values
    found = verify("items", "embedding", sample=None, dsn=dsn)
    assert not found.ok and (found.checked, found.mismatches, found.missing) == (202, 3, 1)
    assert found.missing_keys == ["3"]
    problems = {m["key"]: m["problem"] for m in found.mismatched}
    assert set(problems) == {"1", "201", "5"}
    assert problems["201"] == "a code, but the source is NULL"
    assert problems["1"].startswith("other atoms")


def nudge(conn, key: int, atom_rank: int, delta: float) -> float:
    """Add ``delta`` to one value of row ``key``'s stored code (same atoms) and return the value it had."""
    code = conn.execute("SELECT embedding_sae FROM items WHERE id = %s", (key,)).fetchone()[0]
    values = dict(zip(code.indices(), code.values()))
    atom = code.indices()[atom_rank]
    old = values[atom]
    values[atom] = old + delta
    conn.execute("UPDATE items SET embedding_sae = %s WHERE id = %s", (SparseVector(values, code.dimensions()), key))
    return old


def test_a_value_corrupted_on_purpose_is_measured_and_reported_by_its_size(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:50])
    attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    # The stored code is float32: the error to expect is the nudge after that rounding.
    stored_error = lambda old, delta: abs(float(np.float32(np.float32(old) + delta) - np.float32(old)))  # noqa: E731
    original = conn.execute("SELECT embedding_sae FROM items WHERE id = 10").fetchone()[0]
    big = stored_error(nudge(conn, 10, 3, 0.01), 0.01)
    small = stored_error(nudge(conn, 20, 0, 3e-5), 3e-5)
    found = verify("items", "embedding", sample=None, dsn=dsn)
    assert (found.ok, found.checked, found.mismatches, found.matching) == (False, 50, 1, 49)
    assert found.mismatched == [{"key": "10", "problem": f"values differ by up to {big:.3g}"}]
    assert found.max_value_error == pytest.approx(big, rel=1e-6)
    assert 0.0099 < found.max_value_error < 0.0101
    conn.execute("UPDATE items SET embedding_sae = %s WHERE id = 10", (original,))
    fixed = verify("items", "embedding", sample=None, dsn=dsn)
    assert fixed.ok and fixed.max_value_error == pytest.approx(small, rel=1e-6)  # under the 1e-4 tolerance: still ok
    assert 2.9e-5 < fixed.max_value_error < 3.1e-5


def test_a_sample_checks_at_most_that_many_rows(conn, dsn, real_vectors):
    create_table(conn, "items", real_vectors[:300])
    attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    assert verify("items", "embedding", sample=50, dsn=dsn).checked == 50


def test_codes_written_by_the_sql_trigger_verify_within_the_default_tolerance(conn, dsn, real_vectors):
    create_table(conn, "items", [])
    _att, model = attach_model(conn, sync="trigger")
    conn.execute("INSERT INTO items (id, embedding) SELECT g, %s FROM generate_series(1, 1) g", (real_vectors[0],))
    for i, v in enumerate(real_vectors[1:40], start=2):
        conn.execute("INSERT INTO items (id, embedding) VALUES (%s, %s)", (i, v))
    result = verify("items", "embedding", sample=None, dsn=dsn)
    assert result.ok and result.checked == 40 and 0 < result.max_value_error < 1e-4
    # The error verify reports is the largest |SQL value - torch value| over the rows, computed here directly.
    stored = dict(conn.execute("SELECT id, embedding_sae FROM items").fetchall())
    want = model.compress(real_vectors[:40])
    errors = []
    for i in range(40):
        code = stored[i + 1]
        assert code.indices() == want.indices[i].tolist()
        errors.append(np.abs(np.asarray(code.values(), dtype=np.float32) - want.values[i]).max())
    assert result.max_value_error == pytest.approx(float(max(errors)), rel=1e-6)


def test_cli_exits_1_and_names_the_key_of_a_wrong_code(conn, dsn, capsys, real_vectors):
    create_table(conn, "items", real_vectors[:60])
    attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    assert main(["verify", "--table", "items", "--column", "embedding", "--dsn", dsn]) == 0
    assert capsys.readouterr().out.startswith("ok: public.items.embedding_sae (m@1): 60 rows checked")
    conn.execute(TAMPER, (2, 7))
    assert main(["verify", "--table", "items", "--column", "embedding", "--sample", "0", "--dsn", dsn, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and [m["key"] for m in report["mismatched"]] == ["7"]
