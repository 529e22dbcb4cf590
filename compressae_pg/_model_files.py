"""Models that travel: export a stored model version to a safetensors file, import it into another database.

A common setup trains on a replica or a staging copy and ships the model to production. The file is
the model's own weights format (:meth:`CompresSAE.to_bytes`: dim, h, k and the encoding in the
header) with an ``export`` record beside them: the source model's name, version and ref, its source
column, training settings (``params``), metrics, creation time, and a SHA-256 of the weights.

Import checks the file before it writes anything (a truncated, corrupt or foreign file raises
ModelFileError), then stores the model as a new version with its atoms in one transaction. It is
idempotent: when a version of the target name already holds the same weights and encoding (the
same digest), that version is returned and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import torch
from safetensors import SafetensorError

from . import registry
from ._version import __version__
from .errors import ModelFileError
from .model import FORMAT, CompresSAE, safetensors_header
from .registry import ModelInfo
from .server import takes_database

if TYPE_CHECKING:
    from os import PathLike


@dataclass(frozen=True)
class Transfer:
    """A model version written to (export) or read from (import) a file; ``created`` is False for an import already there."""

    model: ModelInfo
    path: str
    sha256: str
    created: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {**self.model.as_dict(), "path": self.path, "sha256": self.sha256, "created": self.created}


def digest(model: CompresSAE) -> str:
    """SHA-256 of what makes a model's codes: dim, h, k, the encoding, and every weight's exact bytes.

    Computed from the tensors, not from a serialised file, so it is the same however the file was written.
    """
    what = {"dim": model.dim, "h": model.h, "k": model.k, "refit": model.encoding.refit, "pursuit": model.encoding.pursuit}
    if model.encoding.stages > 1:  # only then: the digests of one-stage models stay what they were
        what["stages"] = model.encoding.stages
    h = hashlib.sha256(json.dumps(what, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        h.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def _export_model(conn: psycopg.Connection, ref: str, output: str | PathLike[str]) -> Transfer:
    """Write model ``ref`` ('name' for the newest version, or 'name@version') to ``output``.

    The file appears whole or not at all: it is written beside ``output`` and renamed over it.
    """
    info, model = registry.load(conn, ref)
    sha = digest(model)
    record = {"name": info.name, "version": info.version, "ref": info.ref, "source": info.source, "params": info.params,
              "metrics": info.metrics, "created_at": info.created_at.isoformat(), "sha256": sha, "package": __version__}
    path = Path(output)
    part = path.with_name(path.name + ".part")
    try:
        part.write_bytes(model.to_bytes({"export": record}))
        os.replace(part, path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise ModelFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return Transfer(info, str(path), sha)


def _import_model(conn: psycopg.Connection, path: str | PathLike[str], *, name: str | None = None) -> Transfer:
    """Store the model in ``path`` as a new version of ``name`` (default: the name it was exported under).

    Returns the version already there, with ``created=False``, when one of that name has the same digest (two
    imports of one file at the same moment may both store it: no lock that another role could hold stalls an import).
    """
    model, record = read(path)
    target = registry.check_name(record["name"] if name is None else name)
    with conn.transaction():
        for info in registry.list_models(target, conn=conn):
            if (info.dim, info.h, info.k) == (model.dim, model.h, model.k) and digest(registry.load(conn, info.ref)[1]) == record["sha256"]:
                return Transfer(info, str(path), record["sha256"], created=False)
        imported = {"ref": record["ref"], "sha256": record["sha256"], "created_at": record["created_at"]}
        info = registry.save(conn, target, model, source=record["source"], metrics=record["metrics"],
                             params={**record["params"], "imported_from": imported})
    return Transfer(info, str(path), record["sha256"])


def read(path: str | PathLike[str]) -> tuple[CompresSAE, dict[str, Any]]:
    """The model and export record in ``path``, checked whole; ModelFileError naming what is wrong."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    meta = _header(data, path).get("__metadata__") or {}
    try:
        record = json.loads(meta["extra"])["export"] if meta.get("format") == FORMAT else None
    except (KeyError, TypeError, ValueError, RecursionError):
        record = None
    fields = {"name", "ref", "sha256", "source", "params", "metrics", "created_at"}
    if not (isinstance(record, dict) and fields <= record.keys() and isinstance(record["params"], dict)
            and isinstance(record["metrics"], dict)):
        raise ModelFileError(f"{path} is a safetensors file but not a compressae-pg model export "
                             f"(format {meta.get('format')!r}); write one with `compressae-pg models export`")
    try:
        model = CompresSAE.from_bytes(data)
    except (SafetensorError, RuntimeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path} is corrupt or truncated: {exc}") from exc
    if not all(torch.isfinite(t).all() for t in model.state_dict().values()):
        raise ModelFileError(f"{path} is corrupt: its weights hold NaN or infinite values")
    if digest(model) != record["sha256"]:
        raise ModelFileError(f"{path} is corrupt: its weights do not match the SHA-256 recorded when it was exported")
    return model, record


def _header(data: bytes, path: str | PathLike[str]) -> dict[str, Any]:
    """The safetensors JSON header; ModelFileError naming the file and what is wrong."""
    try:
        return safetensors_header(data)
    except ValueError as exc:
        raise ModelFileError(f"{path} is {exc}") from None


export_model = takes_database(_export_model, "export_model")
import_model = takes_database(_import_model, "import_model")
