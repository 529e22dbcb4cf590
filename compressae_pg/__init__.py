"""compressae-pg: CompresSAE sparse compression of pgvector embeddings, inside PostgreSQL.

The data path, one subpackage per stage: ``training`` (stream a table's vectors, fit a model),
``registry`` (models in the database), ``columns`` (attach a code column, index it), ``fill``
(backfill it on a live table), ``search`` (sparse candidates, rerank), ``evaluation`` (what it buys),
with the front doors ``cli``, ``alembic`` and ``sqlalchemy``. Every public function takes the
database as ``conn=`` or ``dsn=`` (:mod:`compressae_pg.server`).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from ._version import __version__ as __version__  # re-exported
from .errors import (
    AttachmentChangedError,
    BusyError,
    CompressaeError,
    InvalidModelNameError,
    InvalidVectorError,
    ModelFileError,
    ModelInUseError,
    ModelOwnerError,
    NoLabelsError,
    NoPrimaryKeyError,
    NotAttachedError,
    NotQueuedError,
    OwnerCodeError,
    RetriesExhaustedError,
    RowSecurityError,
    StaleAttachmentError,
    UnknownKeyError,
    UnknownModelError,
    UnknownPeerError,
    UnknownTableError,
)

# Public names load their module on first use (PEP 562), so that `import compressae_pg.alembic` in an
# application's migrations does not pay for torch.
_LAZY = {
    "Attachment": "_attachment",
    "attach": "columns.attachments",
    "detach": "columns.attachments",
    "IndexResult": "columns.indexes",
    "build_index": ("columns.indexes", "build"),
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
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


if TYPE_CHECKING:
    from ._attachment import Attachment
    from ._codes import Codes
    from ._model_files import export_model, import_model
    from .columns.attachments import attach, detach
    from .columns.indexes import IndexResult
    from .columns.indexes import build as build_index
    from .evaluation.run import Evaluation, evaluate_column
    from .fill.checks import VerifyResult, verify
    from .fill.coordinator import BackfillConfig, BackfillResult, backfill
    from .fill.new_version import RecompressResult, recompress
    from .fill.queue import SyncResult, sync
    from .fill.state import status
    from .model import CompresSAE, Encoding
    from .registry import ModelInfo, drop_model, list_models
    from .search.async_column import AsyncCompressedColumn
    from .search.column import CompressedColumn
    from .search.explain import Contribution, Explanation, Label
    from .search.labels import AtomLabels, AtomRow, atom_labels, atom_rows, label_atoms
    from .search.plans import Hit
    from .server import connect
    from .training.loop import TrainConfig
    from .training.trainer import TrainResult, train


__all__ = [
    "AsyncCompressedColumn",
    "AtomLabels",
    "AtomRow",
    "Attachment",
    "AttachmentChangedError",
    "BackfillConfig",
    "BackfillResult",
    "BusyError",
    "Codes",
    "CompresSAE",
    "CompressaeError",
    "CompressedColumn",
    "Contribution",
    "Encoding",
    "Evaluation",
    "Explanation",
    "Hit",
    "IndexResult",
    "InvalidModelNameError",
    "InvalidVectorError",
    "Label",
    "ModelFileError",
    "ModelInUseError",
    "ModelInfo",
    "ModelOwnerError",
    "NoLabelsError",
    "NoPrimaryKeyError",
    "NotAttachedError",
    "NotQueuedError",
    "OwnerCodeError",
    "RecompressResult",
    "RetriesExhaustedError",
    "RowSecurityError",
    "StaleAttachmentError",
    "SyncResult",
    "TrainConfig",
    "TrainResult",
    "UnknownKeyError",
    "UnknownModelError",
    "UnknownPeerError",
    "UnknownTableError",
    "VerifyResult",
    "atom_labels",
    "atom_rows",
    "attach",
    "backfill",
    "build_index",
    "connect",
    "detach",
    "drop_model",
    "evaluate_column",
    "export_model",
    "import_model",
    "label_atoms",
    "list_models",
    "recompress",
    "status",
    "sync",
    "train",
    "verify",
]
