"""compressae-pg: CompresSAE sparse compression of pgvector embeddings, inside PostgreSQL.

The data path, one subpackage per stage: ``training`` (stream a table's vectors, fit a model),
``registry`` (models in the database), ``columns`` (attach a code column, index it), ``fill``
(backfill it on a live table), ``search`` (sparse candidates, rerank), ``evaluation`` (what it buys),
with the front doors ``cli``, ``alembic`` and ``sqlalchemy``. Every public function takes the
database as ``conn=`` or ``dsn=`` (:mod:`compressae_pg.server`).
"""

from __future__ import annotations

from importlib import import_module

from . import errors as _errors
from ._version import __version__ as __version__  # re-exported

# Every exception a user can meet, exported as errors.py defines it (each named *Error, tests/test_package.py).
_ERRORS = {name: obj for name, obj in vars(_errors).items()
           if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == _errors.__name__}
globals().update(_ERRORS)

# Every other public name, and the module it lives in: it loads on first use (PEP 562), so that
# `import compressae_pg.alembic` in an application's migrations does not pay for torch.
_LAZY = {
    "Attachment": "_attachment",
    "attach": "columns.attachments",
    "detach": "columns.attachments",
    "IndexResult": "columns.indexes",
    "build_index": "columns.indexes",
    "status": "fill.state",
    "AsyncCompressedColumn": "search.async_column",
    "CompressedColumn": "search.column",
    "Hit": "search.plans",
    "Explanation": "search.explain",
    "Contribution": "search.explain",
    "Label": "search.explain",
    "AtomLabels": "search.labels",
    "AtomRow": "search.labels",
    "label_atoms": "search.labels",
    "atom_labels": "search.labels",
    "atom_rows": "search.labels",
    "BackfillConfig": "fill.coordinator",
    "BackfillResult": "fill.coordinator",
    "backfill": "fill.coordinator",
    "RecompressResult": "fill.new_version",
    "recompress": "fill.new_version",
    "VerifyResult": "fill.checks",
    "verify": "fill.checks",
    "Evaluation": "evaluation.run",
    "evaluate_column": "evaluation.run",
    "TrainConfig": "training.loop",
    "TrainResult": "training.trainer",
    "train": "training.trainer",
    "Codes": "_codes",
    "CompresSAE": "model",
    "Encoding": "model",
    "ModelInfo": "registry",
    "drop_model": "registry",
    "list_models": "registry",
    "export_model": "_model_files",
    "import_model": "_model_files",
    "connect": "server",
    "SyncResult": "fill.queue",
    "sync": "fill.queue",
}


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'compressae_pg' has no attribute {name!r}")
    value = getattr(import_module(f".{target}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = sorted([*_ERRORS, *_LAZY])  # the public names: listed once, in errors.py and _LAZY
