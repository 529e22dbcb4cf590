"""models export / import: a model trained in one database serves search in another, bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save as save_numpy

from compressae_pg import (
    CompresSAE,
    CompressedColumn,
    Encoding,
    InvalidModelNameError,
    ModelFileError,
    UnknownModelError,
    backfill,
    export_model,
    import_model,
    registry,
)
from compressae_pg.cli import main
from compressae_pg.columns import attachments
from compressae_pg.server import connect

from .fixtures.database import TEMPLATE, _database
from .support.tables import create_table

PARAMS = {"steps": 40, "lr": 0.001, "batch_size": 256, "seed": 3}
METRICS = {"val_cosine": 0.91, "dead_atoms": 0.02}


@pytest.fixture
def other(server_dsn, template_dsn):
    """A second fresh database (production, where the model is shipped) and a connection to it."""
    with _database(server_dsn, TEMPLATE) as url, connect(url, autocommit=True) as c:
        yield url, c


@pytest.fixture
def stored(conn):
    """Model ``m@1`` (refit and one pursuit atom: the encoding travels too), with settings and metrics."""
    model = CompresSAE(384, 256, 8, seed=0, encoding=Encoding(refit=True, pursuit=1))
    return registry.save(conn, "m", model, source="public.items.embedding", params=PARAMS, metrics=METRICS), model


def weights(conn, ref: str) -> dict[str, np.ndarray]:
    """A stored model's tensors as raw 32-bit patterns, so that equality is bit-exact (NaN and -0.0 included)."""
    return {k: v.numpy().view(np.uint32) for k, v in registry.load(conn, ref)[1].state_dict().items()}


def atoms(conn, ref: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bias, encoder rows, decoder rows) of ``compressae.atoms`` by index, as 32-bit patterns."""
    rows = conn.execute("SELECT a.bias, a.encoder::real[], a.decoder::real[] FROM compressae.atoms a JOIN compressae.models m ON m.id = a.model_id"
                        " WHERE m.name || '@' || m.version = %s ORDER BY a.idx", (ref,)).fetchall()
    return tuple(np.array(column, dtype=np.float32).view(np.uint32) for column in zip(*rows))  # float4 is exact as a Python float


def counts(conn) -> tuple:
    return conn.execute("SELECT (SELECT count(*) FROM compressae.models), (SELECT count(*) FROM compressae.encoder_atoms),"
                        " (SELECT count(*) FROM compressae.decoder_atoms)").fetchone()


def test_a_model_exported_from_one_database_searches_the_same_in_another(conn, dsn, other, stored, real_vectors, tmp_path):
    info, model = stored
    other_dsn, prod = other
    registry.save(prod, "m", CompresSAE(384, 256, 8, seed=9))  # production already has an m: the import is m@2
    exported = export_model("m", tmp_path / "m.safetensors", conn=conn)
    assert (exported.model.ref, exported.created) == ("m@1", True)

    moved = import_model(tmp_path / "m.safetensors", conn=prod)
    assert (moved.model.ref, moved.created, moved.sha256) == ("m@2", True, exported.sha256)
    assert (moved.model.dim, moved.model.h, moved.model.k, moved.model.source, moved.model.metrics) == (384, 256, 8, info.source, METRICS)
    assert moved.model.params == {**PARAMS, "imported_from": {"ref": "m@1", "sha256": exported.sha256,
                                                              "created_at": info.created_at.isoformat()}}
    assert prod.execute("SELECT refit, pursuit FROM compressae.models WHERE name = 'm' AND version = 2").fetchone() == (True, 1)

    original = {k: v.detach().numpy().view(np.uint32) for k, v in model.state_dict().items()}
    for got in (weights(conn, "m@1"), weights(prod, "m@2")):
        assert got.keys() == original.keys() and all(np.array_equal(got[k], original[k]) for k in original)
    for a, b in zip(atoms(conn, "m@1"), atoms(prod, "m@2"), strict=True):
        assert a.shape[0] == 256 and np.array_equal(a, b)
    bias, enc, dec = atoms(prod, "m@2")
    assert np.array_equal(enc, original["encoder"]) and np.array_equal(dec, original["decoder"]) and np.array_equal(bias, original["encoder_bias"])

    vectors, queries = real_vectors[:300], real_vectors[300:310]
    for c, url, ref in ((conn, dsn, "m@1"), (prod, other_dsn, "m@2")):
        create_table(c, "items", vectors)
        attachments.attach("items", "embedding", ref, conn=c)
        assert backfill("items", "embedding", dsn=url, progress=False, m=8, ef_construction=32).status == "done"
    codes = [c.execute("SELECT id, embedding_sae::text FROM items ORDER BY id").fetchall() for c in (conn, prod)]
    assert codes[0] == codes[1] and len(codes[0]) == 300
    here, there = CompressedColumn(conn, "items", "embedding"), CompressedColumn(prod, "items", "embedding")
    for q in queries:
        a, b = here.search(q, k=10, candidates=300, ef_search=300), there.search(q, k=10, candidates=300, ef_search=300)
        assert [(h.key, h.score) for h in a] == [(h.key, h.score) for h in b] and len(a) == 10


def test_importing_the_same_file_again_is_idempotent_and_a_new_name_is_a_new_model(conn, other, stored, tmp_path):
    _dsn, prod = other
    path = export_model("m@1", tmp_path / "m.safetensors", conn=conn).path
    first = import_model(path, conn=prod)
    before = counts(prod)
    again = import_model(path, conn=prod)
    assert (again.created, again.model.ref, counts(prod)) == (False, first.model.ref, before)
    assert import_model(path, conn=conn).model.ref == "m@1"  # back into its own database: the weights are already there
    renamed = import_model(path, name="m-prod", conn=prod)
    assert (renamed.created, renamed.model.ref) == (True, "m-prod@1")
    registry.save(conn, "m", CompresSAE(384, 256, 8, seed=1))  # other weights under the same name: a new version
    newer = import_model(export_model("m", tmp_path / "m2.safetensors", conn=conn).path, conn=prod)
    assert (newer.created, newer.model.ref) == (True, "m@2")


def _corrupt(data: bytes, how: str) -> bytes:
    size = int.from_bytes(data[:8], "little")
    if how == "truncated":
        return data[: len(data) // 2]
    if how == "short by one value":
        return data[:-4]
    if how == "header cut":
        return data[: 8 + size // 2]
    flipped = bytearray(data)
    flipped[8 + size + 1000] ^= 0x01  # one bit of one weight
    return bytes(flipped)


@pytest.mark.parametrize(("how", "message"), [
    ("truncated", "corrupt or truncated"),
    ("short by one value", "corrupt or truncated"),
    ("header cut", "not a safetensors file, or is truncated"),
    ("one bit flipped", "do not match the SHA-256"),
])
def test_a_damaged_file_is_refused_and_nothing_is_written(conn, other, stored, tmp_path, how, message):
    _dsn, prod = other
    good = tmp_path / "m.safetensors"
    export_model("m", good, conn=conn)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(_corrupt(good.read_bytes(), how))
    before = counts(prod)
    with pytest.raises(ModelFileError, match=message):
        import_model(bad, conn=prod)
    assert counts(prod) == before


def test_foreign_files_are_refused_by_what_they_are(other, tmp_path):
    _dsn, prod = other
    files = {
        "other.safetensors": (save_numpy({"weight": np.zeros((4, 4), dtype=np.float32)}, metadata={"format": "pt"}), "not a compressae-pg model export"),
        "weights.safetensors": (CompresSAE(8, 16, 2, seed=0).to_bytes(), "not a compressae-pg model export"),
        "notes.txt": (b"these are not the weights you are looking for", "not a safetensors file"),
        "empty.bin": (b"", "not a safetensors file"),
        "list.safetensors": ((2).to_bytes(8, "little") + b"[]", "header is not a JSON object"),
    }
    before = counts(prod)
    for name, (data, message) in files.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ModelFileError, match=message):
            import_model(tmp_path / name, conn=prod)
    with pytest.raises(ModelFileError, match="cannot read .*missing.safetensors"):
        import_model(tmp_path / "missing.safetensors", conn=prod)
    assert counts(prod) == before


RECORD = json.dumps({"export": {"name": "m", "ref": "m@1", "sha256": "0" * 64, "source": None, "params": {}, "metrics": {},
                                 "created_at": "2026-12-03T00:00:00+00:00"}})


def _claiming(dim: int, h: int, tensors: dict | None = None, extra: str = RECORD) -> bytes:
    """An export whose header claims a dim x h model (with the tensor table ``tensors``) over 16 bytes of data."""
    meta = {"format": "compressae-pg/1", "dim": str(dim), "h": str(h), "k": "8", "extra": extra}
    table = tensors if tensors is not None else {name: {"dtype": "F32", "shape": shape, "data_offsets": [0, 4 * int(np.prod(shape))]}
                                                 for name, shape in (("encoder", [h, dim]), ("decoder", [h, dim]), ("encoder_bias", [h]))}
    header = json.dumps({"__metadata__": meta, **table}).encode()
    return len(header).to_bytes(8, "little") + header + bytes(16)


def test_a_small_file_cannot_make_the_importer_allocate_a_large_model_or_recurse(other, tmp_path):
    _dsn, prod = other
    files = {
        "claims 1 GB": (_claiming(8192, 16384), "tensors do not fill the 16 bytes"),
        "claims 6 GB": (_claiming(16000, 100_000), "tensors do not fill the 16 bytes"),
        "too wide": (_claiming(20_000, 64), "out of range"),
        "missing tensors": (_claiming(8, 16, tensors={}), "holds the tensors"),
        "nested extra": (_claiming(8, 16, extra="[" * 100_000 + "]" * 100_000), "not a compressae-pg model export"),
        "nested header": ((200_000).to_bytes(8, "little") + b"[" * 100_000 + b"]" * 100_000, "header is not JSON"),
    }
    before = counts(prod)
    for name, (data, message) in files.items():
        (tmp_path / "f.safetensors").write_bytes(data)
        with pytest.raises(ModelFileError, match=message):
            import_model(tmp_path / "f.safetensors", conn=prod)
    assert counts(prod) == before


def test_hostile_names_are_stored_as_text_or_refused_before_anything_is_written(conn, other, stored, tmp_path):
    _dsn, prod = other
    path = export_model("m", tmp_path / "m.safetensors", conn=conn).path
    hostile = "m'); DROP TABLE compressae.models; -- \"%s\" ünï"
    assert import_model(path, name=hostile, conn=prod).model.ref == f"{hostile}@1"
    assert prod.execute("SELECT name FROM compressae.models").fetchall() == [(hostile,)]
    before = counts(prod)
    for bad in ("", "a@1", "nul\x00byte", "x" * 201):
        with pytest.raises(InvalidModelNameError, match="invalid model name"):
            import_model(path, name=bad, conn=prod)
    assert counts(prod) == before


def test_the_commands_export_and_import_and_say_what_they_did(conn, other, stored, tmp_path, capsys, dsn):
    other_dsn, prod = other
    out = tmp_path / "m.safetensors"

    def cli(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        got = capsys.readouterr()
        return code, got.out, got.err

    code, text, err = cli("models", "export", "m@1", "--output", str(out), "--dsn", dsn, "--json")
    assert code == 0, err
    assert {k: json.loads(text)[k] for k in ("ref", "path", "created")} == {"ref": "m@1", "path": str(out), "created": True}
    code, text, err = cli("models", "import", str(out), "--name", "shipped", "--dsn", other_dsn)
    assert (code, text.split(" (")[0]) == (0, "imported shipped@1")
    code, text, err = cli("models", "import", str(out), "--name", "shipped", "--dsn", other_dsn)
    assert (code, text.split(" (")[0]) == (0, "already there: shipped@1")
    assert [m.ref for m in registry.list_models(conn=prod)] == ["shipped@1"]

    code, text, err = cli("models", "import", str(out), "--name", "a@b", "--dsn", other_dsn)
    assert code == 2 and err.startswith("error: invalid model name 'a@b'") and len(err.strip().splitlines()) == 1
    assert cli("models", "export", "m", "--dsn", dsn)[2] == "error: models export needs --output FILE\n"
    assert cli("models", "import", "--dsn", dsn)[2] == "error: models import needs a file\n"
    code, text, err = cli("models", "export", "nope", "--output", str(tmp_path / "nope.safetensors"), "--dsn", dsn)
    assert code == 2 and "no model 'nope'" in err and not (tmp_path / "nope.safetensors").exists()
    code, text, err = cli("models", "export", "m", "--output", str(tmp_path / "no" / "such" / "dir.safetensors"), "--dsn", dsn)
    assert code == 2 and err.startswith("error: cannot write") and list(tmp_path.iterdir()) == [out]
    with pytest.raises(UnknownModelError):
        export_model("m@7", tmp_path / "x.safetensors", conn=conn)
