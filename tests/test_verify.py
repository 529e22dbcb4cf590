"""verify: a sample of codes re-encoded in Python; wrong, missing and orphan codes are named by key."""

from __future__ import annotations

import json

import numpy as np

from compressae_pg import backfill, verify
from compressae_pg.cli import main

from .livetable import attach_model, create_items

TAMPER = "UPDATE items SET embedding_sae = (SELECT embedding_sae FROM items WHERE id = %s) WHERE id = %s"


def test_backfilled_codes_verify_and_every_kind_of_damage_is_named(conn, dsn, real_vectors):
    rows = [*real_vectors[:200], None, np.zeros(384)]
    create_items(conn, rows, key="integer")
    attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    clean = verify("items", "embedding", sample=None, dsn=dsn)
    assert (clean.ok, clean.checked, clean.matching, clean.unencodable) == (True, 202, 202, 1)
    assert clean.max_value_error == 0.0  # the backfill's codes are the model's, bit for bit

    conn.execute(TAMPER, (2, 1))                                             # another row's code
    conn.execute("UPDATE items SET embedding_sae = NULL WHERE id = 3")       # lost
    conn.execute(TAMPER, (4, 201))                                           # a NULL source given a code
    conn.execute("UPDATE items SET embedding_sae = '{7:0.5}/512' WHERE id = 5")  # one atom, other values
    found = verify("items", "embedding", sample=None, dsn=dsn)
    assert not found.ok and (found.checked, found.mismatches, found.missing) == (202, 3, 1)
    assert found.missing_keys == ["3"]
    problems = {m["key"]: m["problem"] for m in found.mismatched}
    assert set(problems) == {"1", "201", "5"}
    assert problems["201"] == "a code, but the source is NULL"
    assert problems["1"].startswith("other atoms")


def test_a_sample_checks_at_most_that_many_rows(conn, dsn, real_vectors):
    create_items(conn, real_vectors[:300], key="integer")
    attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    assert verify("items", "embedding", sample=50, dsn=dsn).checked == 50


def test_codes_written_by_the_sql_trigger_verify_within_the_default_tolerance(conn, dsn, real_vectors):
    create_items(conn, [], key="integer")
    attach_model(conn, sync="trigger")
    conn.execute("INSERT INTO items (id, embedding) SELECT g, %s FROM generate_series(1, 1) g", (real_vectors[0],))
    for i, v in enumerate(real_vectors[1:40], start=2):
        conn.execute("INSERT INTO items (id, embedding) VALUES (%s, %s)", (i, v))
    result = verify("items", "embedding", sample=None, dsn=dsn)
    assert result.ok and result.checked == 40 and 0 < result.max_value_error < 1e-4


def test_cli_exits_1_and_names_the_key_of_a_wrong_code(conn, dsn, capsys, real_vectors):
    create_items(conn, real_vectors[:60], key="integer")
    attach_model(conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    assert main(["verify", "--table", "items", "--column", "embedding", "--dsn", dsn]) == 0
    assert capsys.readouterr().out.startswith("ok: public.items.embedding_sae (m@1): 60 rows checked")
    conn.execute(TAMPER, (2, 7))
    assert main(["verify", "--table", "items", "--column", "embedding", "--sample", "0", "--dsn", dsn, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and [m["key"] for m in report["mismatched"]] == ["7"]
