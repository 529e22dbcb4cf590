"""Drift: verify and ``status --drift`` measure the stored codes' cosine against the model's recorded held-out one.

The model is trained on rows 1,000-5,000; its record is the cosine of rows 0-500 (never trained on), computed
here. Rows written later through the trigger are either more of the same rows (5,000-5,300) or those rows
turned by a random rotation: the first must not ask for a new version, the second must. Each reported cosine
is checked against numpy: the stored sparsevec codes decoded with the decoder read from the model's bytes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from psycopg import sql
from safetensors.numpy import load as load_safetensors

from compressae_pg import backfill, registry, verify
from compressae_pg.cli import main
from compressae_pg.columns import attachments

from ..support.tables import create_table

LATER = slice(5000, 5300)


def held_out_cosine(model, vectors: np.ndarray) -> float:
    """Mean cosine of ``vectors`` with the decoded codes the model stores for them."""
    decoded = model.decompress(model.compress(vectors))
    return float(np.mean(np.sum(decoded * vectors, 1) / np.linalg.norm(decoded, axis=1) / np.linalg.norm(vectors, axis=1)))


def numpy_cosine(conn, table: str) -> tuple[float, int]:
    """Mean cosine of each row's stored code, decoded with the stored model's decoder, with its source; and the rows used."""
    (weights,) = conn.execute("SELECT weights FROM compressae.models WHERE name = 'm'").fetchone()
    decoder = load_safetensors(bytes(weights))["decoder"].astype(np.float64)
    rows = conn.execute(sql.SQL("SELECT embedding, embedding_sae FROM {} WHERE embedding IS NOT NULL AND embedding_sae IS NOT NULL")
                        .format(sql.Identifier(table))).fetchall()
    cosines = []
    for source, code in rows:
        x = source.to_numpy().astype(np.float64)
        dense = np.zeros(code.dimensions())
        dense[code.indices()] = code.values()
        decoded = dense @ decoder
        cosines.append(decoded @ x / np.linalg.norm(decoded) / np.linalg.norm(x))
    return float(np.mean(cosines)), len(rows)


@pytest.fixture
def tables(conn, model, real_vectors):
    """``same`` and ``turned`` (rows written after attaching, coded by the trigger, one NULL source and one lost code each)
    beside a model whose recorded held-out cosine is that of rows 0-500."""
    registry.save(conn, "m", model, metrics={"val_cosine": held_out_cosine(model, real_vectors[:500])})
    rotation = np.linalg.qr(np.random.default_rng(7).standard_normal((384, 384)))[0].astype(np.float32)  # orthogonal
    for name, rows in (("same", real_vectors[LATER]), ("turned", real_vectors[LATER] @ rotation)):
        create_table(conn, name, [])
        attachments.attach(name, "embedding", "m@1", sync="trigger", conn=conn)
        ident = sql.Identifier(name)
        with conn.cursor() as cur:
            cur.executemany(sql.SQL("INSERT INTO {} (id, embedding) VALUES (%s, %s)").format(ident), list(enumerate(rows, start=1)))
            cur.execute(sql.SQL("INSERT INTO {} (id, embedding) VALUES (0, NULL)").format(ident))
            cur.execute(sql.SQL("UPDATE {} SET embedding_sae = NULL WHERE id = 1").format(ident))
    return model


def test_verify_reports_the_drift_of_turned_rows_and_none_for_more_of_the_same(conn, dsn, tables):
    recorded = registry.get(conn, "m").metrics["val_cosine"]
    same = verify("same", "embedding", sample=None, dsn=dsn).drift
    turned = verify("turned", "embedding", sample=None, dsn=dsn).drift
    for table, found in (("same", same), ("turned", turned)):
        want, used = numpy_cosine(conn, table)
        assert (found.rows, found.left_out) == (used, 2) == (299, 2)
        assert found.cosine == pytest.approx(want, abs=1e-5)
        assert found.recorded == recorded and found.difference == pytest.approx(want - recorded, abs=1e-5)
    assert abs(same.difference) < 0.02 and not same.retrain and "no new version needed" in same.verdict
    assert turned.difference < -0.1 and turned.retrain
    assert ("a new version would pay: `compressae-pg train --table public.turned --column embedding --name m` then "
            "`compressae-pg recompress --table public.turned --column embedding --model m`") in turned.verdict


def test_status_shows_drift_only_when_asked_and_the_cli_prints_the_verdict(conn, dsn, tables, capsys):
    main(["status", "--dsn", dsn, "--json"])
    assert all("drift" not in r for r in json.loads(capsys.readouterr().out))
    main(["status", "--dsn", dsn, "--json", "--drift", "1000"])
    drift = {r["table"]: r["drift"] for r in json.loads(capsys.readouterr().out)}
    for table in ("same", "turned"):
        want, used = numpy_cosine(conn, table)
        assert drift[f"public.{table}"]["cosine"] == pytest.approx(want, abs=1e-5) and drift[f"public.{table}"]["rows"] == used
    assert (drift["public.same"]["retrain"], drift["public.turned"]["retrain"]) == (False, True)
    main(["status", "--dsn", dsn, "--table", "turned", "--drift"])  # the default sample: 200 of the 301 rows
    text = capsys.readouterr().out
    assert "drift: public.turned.embedding_sae: stored codes reach cosine" in text and "a new version would pay" in text
    assert "left out: NULL code or source)" in text
    main(["verify", "--table", "same", "--column", "embedding", "--dsn", dsn])
    assert "drift: stored codes reach cosine" in capsys.readouterr().out


def test_a_model_without_a_record_says_so(conn, dsn, model, real_vectors):
    registry.save(conn, "m", model)
    create_table(conn, "items", real_vectors[:20])
    attachments.attach("items", "embedding", "m@1", conn=conn)
    backfill("items", "embedding", dsn=dsn, progress=False)
    found = verify("items", "embedding", sample=None, dsn=dsn).drift
    assert found.rows == 20 and found.recorded is None and found.difference is None and not found.retrain
    assert "records no held-out cosine" in found.verdict
