"""compressae-pg attach --apply / detach / models, in this process against a real database."""

from __future__ import annotations

import json

import pytest

from compressae_pg import CompresSAE, registry
from compressae_pg.cli import main

from ..support.tables import catalog, create_table


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_attach_apply_then_models_refuse_to_drop_until_detached(conn, dsn, capsys, real_vectors):
    conn.execute("CREATE SCHEMA shop")
    create_table(conn, "items", real_vectors[:10], schema="shop")
    registry.save(conn, "m", CompresSAE(384, 256, 8, seed=0), metrics={"val_cosine": 0.9, "dead_atoms": 0.01})
    before = catalog(conn, "shop.items")

    code, out, err = cli(capsys, "attach", "--dsn", dsn, "--table", "shop.items", "--column", "embedding", "--model", "m",
                         "--sync", "trigger", "--concurrently", "--json", "--apply")
    assert code == 0, err
    assert json.loads(out) == {"table": "shop.items", "column": "embedding", "code_column": "embedding_sae", "model": "m@1",
                               "sync": "trigger", "index": "items_embedding_sae_hnsw", "opclass": "bit_hamming_ops",
                               "graph": "sketch", "sketch_column": "embedding_sae_sketch", "residual_column": "embedding_sae_residual",
                               "residual_bits": 2, "sketch_planes": 2,
                               "index_built": "deferred", "notes": []}
    assert conn.execute("SELECT to_regclass('shop.items_embedding_sae_hnsw')").fetchone() == (None,)  # rows: left to the backfill
    code, out, err = cli(capsys, "backfill", "--dsn", dsn, "--table", "shop.items", "--column", "embedding")
    assert code == 0 and "10 written" in out and "built items_embedding_sae_hnsw CONCURRENTLY" in out, (out, err)
    assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'shop.items_embedding_sae_hnsw'::regclass").fetchone() == (True,)

    # a second code column for the same source (a re-compression) is reported as itself
    code, out, err = cli(capsys, "attach", "--dsn", dsn, "--table", "shop.items", "--column", "embedding", "--model", "m@1",
                         "--code-column", "v2", "--no-index", "--json", "--apply")
    assert (code, json.loads(out)["code_column"], json.loads(out)["index"], json.loads(out)["index_built"]) == (0, "v2", "items_v2_hnsw", "none")
    assert conn.execute("SELECT to_regclass('shop.items_v2_hnsw')").fetchone() == (None,)
    code, out, err = cli(capsys, "detach", "--dsn", dsn, "--table", "shop.items", "--column", "embedding", "--code-column", "v2")
    assert code == 0, err

    code, out, err = cli(capsys, "models", "--dsn", dsn, "--json")
    (listed,) = json.loads(out)
    assert {k: listed[k] for k in ("ref", "version", "dim", "h", "k", "val_cosine", "dead_atoms")} == {
        "ref": "m@1", "version": 1, "dim": 384, "h": 256, "k": 8, "val_cosine": 0.9, "dead_atoms": 0.01}
    code, out, err = cli(capsys, "models", "--dsn", dsn)
    assert code == 0 and "m@1" in out and "val_cosine" in out

    code, out, err = cli(capsys, "models", "drop", "m", "--dsn", dsn)
    assert code == 2
    assert err.strip() == ("error: model m@1 is used by shop.items.embedding_sae (role postgres); drop those compressed columns first "
                           "(their tables' owners can)")
    assert len(registry.list_models(conn=conn)) == 1

    code, out, err = cli(capsys, "detach", "--dsn", dsn, "--table", "items", "--schema", "shop", "--column", "embedding")
    assert code == 0, err
    assert catalog(conn, "shop.items") == before
    code, out, err = cli(capsys, "models", "drop", "m@1", "--dsn", dsn, "--json")
    assert (code, json.loads(out)) == (0, {"dropped": ["m@1"]})
    assert registry.list_models(conn=conn) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (("attach", "--table", "missing", "--column", "e", "--model", "m", "--apply"), 'error: relation "missing" does not exist'),
        (("attach", "--table", "items", "--column", "embedding", "--model", "nope", "--apply"), "error: unknown model 'nope'"),
        (("attach", "--table", "items", "--column", "embedding", "--model", "m", "--m", "1", "--apply"), "error: HNSW needs 2 <= m"),
        (("detach", "--table", "items", "--column", "embedding"), "error: no compressed code column is attached to public.items.embedding"),
        (("models", "drop", "nope"), "error: no model 'nope' in compressae.models (known: m)"),
    ],
)
def test_cli_errors_are_one_clear_line_and_change_nothing(conn, dsn, capsys, real_vectors, argv, message):
    create_table(conn, "items", real_vectors[:3])
    registry.save(conn, "m", CompresSAE(384, 256, 8, seed=0))
    before = catalog(conn, "items")
    code, out, err = cli(capsys, *argv, "--dsn", dsn)
    assert code == 2 and err.startswith(message), err
    assert "Traceback" not in err
    assert catalog(conn, "items") == before
    assert conn.execute("SELECT count(*) FROM compressae.attachments").fetchone() == (0,)


def test_index_now_builds_on_a_table_with_rows_and_cannot_be_combined_with_no_index(conn, dsn, capsys, real_vectors):
    create_table(conn, "items", real_vectors[:10])
    registry.save(conn, "m", CompresSAE(384, 256, 8, seed=0))
    target = ("attach", "--dsn", dsn, "--table", "items", "--column", "embedding", "--model", "m", "--apply")
    with pytest.raises(SystemExit) as refused:
        main([*target, "--no-index", "--index-now"])
    assert refused.value.code == 2 and conn.execute("SELECT count(*) FROM compressae.attachments").fetchone() == (0,)
    code, out, err = cli(capsys, *target, "--index-now", "--m", "8")
    assert code == 0 and "index items_embedding_sae_hnsw: built" in out, err
    (indexdef,) = conn.execute("SELECT pg_get_indexdef('items_embedding_sae_hnsw'::regclass)").fetchone()
    assert "USING hnsw (embedding_sae_sketch bit_hamming_ops) WITH (m='8'" in indexdef
