"""Training from a table: the stored model, versions, metrics, the CLI, and bad tables."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from compressae_pg import CompresSAE, InvalidVectorError, UnknownTableError, registry, train
from compressae_pg.server import connect

from ..support.tables import create_table
from ..support.truth import held_out_rows, reconstruction_cosines

SMALL = dict(h=256, k=8, steps=25, batch_size=256, lr=5e-3, progress=False)


def test_train_stores_a_model_that_reconstructs_held_out_rows(conn, real_vectors):
    create_table(conn, "items", real_vectors[:3000])
    result = train("items", "embedding", "items-sae", conn=conn, **SMALL)
    m = result.metrics
    assert result.info.ref == "items-sae@1"
    held = held_out_rows(conn, "items")
    assert m["validation"] == "held-out rows" and m["validation_rows"] == len(held)
    assert m["rows_seen"] + m["validation_rows"] == 3000
    info, model = registry.load(conn, "items-sae")
    # val_cosine is numpy's mean over the held-out rows; and rows never in the table reconstruct as well
    # (600 cosines of spread ~0.08: their mean is within 0.03 of the held-out one, several standard errors)
    assert m["val_cosine"] == pytest.approx(reconstruction_cosines(model, held).mean(), abs=1e-4)
    unseen = reconstruction_cosines(model, real_vectors[5000:5600]).mean()
    assert unseen > 0.5 and abs(unseen - m["val_cosine"]) < 0.03  # 25 small steps (h=256, k=8); untrained scores ~0.1

    assert (info.dim, info.h, info.k) == (384, 256, 8)
    atoms = conn.execute("SELECT idx, decoder, encoder, bias FROM compressae.atoms WHERE model_id = %s ORDER BY idx", (info.id,)).fetchall()
    assert len(atoms) == 256
    dec = np.stack([a[1].to_numpy() for a in atoms])
    assert np.array_equal(dec, model.decoder.detach().numpy())
    assert np.allclose(np.linalg.norm(dec, axis=1), 1, atol=1e-6)
    assert np.array_equal(np.array([a[3] for a in atoms], dtype=np.float32), model.encoder_bias.detach().numpy())


def test_dead_atoms_are_those_that_no_training_row_picked(conn, real_vectors):
    """One step on one batch that is the whole table: the atoms it trained are each row's top k by |pre-activation|
    under the seeded initial model (tied: encoder = decoder, zero bias), which numpy finds; the rest are dead."""
    rows = real_vectors[:50].astype(np.float64)
    create_table(conn, "items", rows)
    m = train("items", "embedding", "m", conn=conn, h=1024, k=8, steps=1, batch_size=50, validation_rows=0, progress=False).metrics
    assert (m["validation_rows"], m["rows_seen"]) == (0, 50)  # the precondition: the one batch is every row, once
    init = CompresSAE(384, 1024, 8, seed=0).decoder.detach().double().numpy()
    pre = np.abs((rows / np.linalg.norm(rows, axis=1, keepdims=True)) @ init.T)
    picked = np.unique(np.argsort(-pre, axis=1)[:, :8])
    assert m["dead_atoms"] == pytest.approx(1 - len(picked) / 1024, abs=1e-6)


def test_training_the_same_name_again_makes_a_new_version(conn, real_vectors):
    create_table(conn, "items", real_vectors[:1000])
    first = train("items", "embedding", "m", conn=conn, **SMALL)
    second = train("items", "embedding", "m", conn=conn, **{**SMALL, "seed": 1})
    assert (first.info.version, second.info.version) == (1, 2)
    assert registry.get(conn, "m").version == 2
    assert registry.get(conn, "m@1").id == first.info.id


def test_same_seed_same_model(conn, real_vectors):
    create_table(conn, "items", real_vectors[:1000])
    a = train("items", "embedding", "a", conn=conn, **SMALL)
    b = train("items", "embedding", "b", conn=conn, **SMALL)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)


def test_bad_rows_are_skipped_and_counted(conn, real_vectors):
    rows = [*real_vectors[:500], None, np.zeros(384, dtype=np.float32), None]
    create_table(conn, "items", rows)
    result = train("items", "embedding", "m", conn=conn, **SMALL)
    m = result.metrics  # the whole table fits the shuffle buffer: one pass, so each bad row counts once
    assert m["skipped"] == {"skipped_null": 2, "skipped_nonfinite": 0, "skipped_zero": 1, "skipped_wrong_dim": 0}
    assert m["rows_skipped"] == 3
    assert m["rows_seen"] + m["validation_rows"] == 500
    assert registry.get(conn, "m").metrics["skipped"]["skipped_null"] == 2  # stored with the model too


def test_one_row_table_trains_and_says_it_could_not_hold_out(conn, real_vectors):
    create_table(conn, "one", real_vectors[:1])
    result = train("one", "embedding", "m", conn=conn, **{**SMALL, "steps": 3})
    # The one row (ctid (0,1)) hashes into the training split, so nothing is left to validate on.
    assert result.metrics["rows_seen"] == 1
    assert result.metrics["validation_rows"] == 0
    assert result.metrics["validation"] == "training rows (table too small to hold out)"


def test_empty_or_missing_tables_fail_clearly_and_store_nothing(conn):
    create_table(conn, "empty", [])
    with pytest.raises(InvalidVectorError, match="no usable vectors"):
        train("empty", "embedding", "m", conn=conn, **SMALL)
    with pytest.raises(UnknownTableError):
        train("missing", "embedding", "m", conn=conn, **SMALL)
    with pytest.raises(ValueError, match="invalid model name"):
        train("empty", "embedding", "bad@name", conn=conn, **SMALL)
    assert registry.list_models(conn=conn) == []


def test_cli_train_prints_one_json_object(dsn, real_vectors):
    with connect(dsn, autocommit=True) as conn:
        create_table(conn, "items", real_vectors[:1500])
    out = subprocess.run(
        [sys.executable, "-m", "compressae_pg.cli", "train", "--table", "items", "--column", "embedding", "--name", "cli",
         "--h", "256", "--k", "8", "--steps", "10", "--batch-size", "256", "--dsn", dsn, "--json"],
        capture_output=True, text=True, check=True,
    )
    result = json.loads(out.stdout)
    with connect(dsn) as conn:
        info, model = registry.load(conn, "cli")
        held = held_out_rows(conn, "items")
    assert (result["model"], result["version"]) == (info.name, info.version) == ("cli", 1)
    assert result["val_cosine"] == pytest.approx(reconstruction_cosines(model, held).mean(), abs=1e-4)  # of the model it stored
    assert result["rows_seen"] + len(held) == 1500
    assert result["dead_atoms"] * 256 == pytest.approx(round(result["dead_atoms"] * 256), abs=1e-3)  # a share of the 256 atoms
    assert result["seconds"] > 0


def test_cli_reports_errors_without_a_traceback(dsn):
    out = subprocess.run(
        [sys.executable, "-m", "compressae_pg.cli", "train", "--table", "nope", "--column", "c", "--name", "x", "--dsn", dsn],
        capture_output=True, text=True,
    )
    assert out.returncode == 2
    assert "error: table 'nope' does not exist" in out.stderr and "Traceback" not in out.stderr


def test_a_connection_opened_before_the_extension_exists_can_store_models(server_dsn):
    import uuid

    import psycopg
    from psycopg import sql

    from compressae_pg import CompresSAE, _migrate

    from ..fixtures.database import with_db

    name = f"fresh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with connect(with_db(server_dsn, name), autocommit=True) as conn:  # no vector extension yet
            _migrate.ensure(conn)  # creates the extension and the schema
            assert registry.save(conn, "m", CompresSAE(4, 64, 4, seed=0)).version == 1
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
