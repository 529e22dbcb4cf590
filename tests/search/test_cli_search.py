"""compressae-pg search: the same hits as CompressedColumn and numpy's brute force, as JSON or a table; errors on stderr."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compressae_pg import CompressedColumn, Hit
from compressae_pg.cli import main

from ..support.models import searchable, stored
from ..support.truth import assert_top, brute_force


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def hits(out: str) -> list[Hit]:
    return [Hit(h["key"], h["score"]) for h in json.loads(out)]


def test_search_by_vector_and_by_key(conn, dsn, capsys, model, real_vectors):
    """The CLI's hits are CompressedColumn's for the same arguments, and with every row a candidate numpy's top k."""
    searchable(conn, dsn, real_vectors[:150], model, key_type="text", keys=[f"k{i}" for i in range(150)])
    keys, codes, sources = stored(conn)
    column = CompressedColumn(conn, "items", "embedding")
    q = real_vectors[5000]
    base = ["search", "--dsn", dsn, "--table", "items", "--column", "embedding"]
    for mode in ("none", "reconstructed", "symmetric", "dense"):
        code, out, err = cli(capsys, *base, "--vector", json.dumps(q.tolist()), "--k", "4", "--candidates", "60",
                             "--rerank", mode, "--json")
        assert code == 0, err
        assert json.loads(out) == [h.as_dict() for h in column.search(q, k=4, candidates=60, rerank=mode)]
        code, out, err = cli(capsys, *base, "--vector", json.dumps(q.tolist()), "--k", "4", "--candidates", "150",
                             "--rerank", mode, "--json")
        assert code == 0, err
        assert_top(hits(out), keys, brute_force(model, model.compress(q).dense()[0], q, codes, sources, mode), 4)
    code, out, err = cli(capsys, *base, "--key", "k7", "--json")
    assert code == 0, err
    assert json.loads(out) == [h.as_dict() for h in column.similar("k7")]
    code, out, err = cli(capsys, *base, "--key", "k7", "--candidates", "150", "--json")
    assert code == 0, err
    row = keys.index("k7")  # the default rerank of a key: symmetric, the row itself left out
    assert_top(hits(out), keys, brute_force(model, codes[row], sources[row], codes, sources, "symmetric"), 10, set(keys) - {"k7"})
    code, out, _ = cli(capsys, *base, "--key", "k7", "--k", "2")
    assert out.splitlines()[0].split() == ["key", "score"] and len(out.splitlines()) == 4

    piped = subprocess.run([sys.executable, "-m", "compressae_pg.cli", *base, "--vector", "-", "--k", "3", "--json"],
                           input=json.dumps(q.tolist()), capture_output=True, text=True)
    assert piped.returncode == 0, piped.stderr
    assert [h["key"] for h in json.loads(piped.stdout)] == [h.key for h in column.search(q, k=3)]


def test_errors_name_the_problem(conn, dsn, capsys, model, real_vectors):
    searchable(conn, dsn, real_vectors[:30], model, index=False)
    base = ["search", "--dsn", dsn, "--table", "items", "--column", "embedding"]
    cases = [
        (["--vector", "[1, 2, 3]"], "the query has 3 dimensions"),
        (["--vector", "[1, 2"], "--vector must be a JSON array"),
        (["--vector", json.dumps([0.0] * 384)], "all zeros"),
        (["--key", "999"], "no row of public.items has id = '999'"),
        (["--key", "1", "--k", "0"], "k must be a positive integer"),
    ]
    for args, message in cases:
        code, out, err = cli(capsys, *base, *args)
        assert code == 2 and out == "" and message in err, (args, err)
    code, _, err = cli(capsys, "search", "--dsn", dsn, "--table", "items", "--column", "category", "--key", "1")
    assert code == 2 and "no compressed code column is attached to public.items.category" in err
    with pytest.raises(SystemExit):
        main(base)  # --vector or --key is required
