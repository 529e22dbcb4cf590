"""compressae-pg: CompresSAE sparse compression of pgvector embeddings, inside PostgreSQL.

Train a model by streaming vectors out of a table (:func:`train`), store compact ``sparsevec``
codes beside them, index and search them from SQL, Python, SQLAlchemy or the CLI.
"""

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

from .errors import (
    BusyError,
    CompressaeError,
    InvalidVectorError,
    ModelInUseError,
    NotAttachedError,
    UnknownKeyError,
    UnknownModelError,
    UnknownTableError,
)

# Public names load their module on first use, so that `import compressae_pg.alembic` in an
# application's migrations does not pay for torch.
_LAZY = {
    "AsyncCompressedColumn": "asearch",
    "BackfillConfig": "backfill",
    "BackfillResult": "backfill",
    "backfill": "backfill",
    "TrainConfig": "fit",
    "build_index": ("index", "build"),
    "Codes": "model",
    "CompresSAE": "model",
    "Encoding": "model",
    "evaluate_column": "measure",
    "Hit": "retrieval",
    "recompress": "recompress",
    "CompressedColumn": "search",
    "connect": "server",
    "status": "status",
    "SyncResult": "sync",
    "sync": "sync",
    "TrainResult": "train",
    "train": "train",
    "VerifyResult": "verify",
    "verify": "verify",
}


class _Package(ModuleType):
    """Keeps ``compressae_pg.train`` (and ``backfill``, ``status``, ``recompress``) the function.

    Importing a submodule binds it on its package; where a public function has its module's
    name, that would replace the function by the module for everyone once anything imports it.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, ModuleType) and _LAZY.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'compressae_pg' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from .asearch import AsyncCompressedColumn
    from .backfill import BackfillConfig, BackfillResult, backfill
    from .fit import TrainConfig
    from .index import build as build_index
    from .measure import evaluate_column
    from .model import Codes, CompresSAE, Encoding
    from .recompress import recompress
    from .retrieval import Hit
    from .search import CompressedColumn
    from .server import connect
    from .status import status
    from .sync import SyncResult, sync
    from .train import TrainResult, train
    from .verify import VerifyResult, verify

__version__ = "0.1.0"

__all__ = [
    "AsyncCompressedColumn",
    "BackfillConfig",
    "BackfillResult",
    "BusyError",
    "Codes",
    "CompresSAE",
    "CompressedColumn",
    "CompressaeError",
    "Encoding",
    "Hit",
    "InvalidVectorError",
    "ModelInUseError",
    "NotAttachedError",
    "SyncResult",
    "TrainConfig",
    "TrainResult",
    "UnknownKeyError",
    "UnknownModelError",
    "UnknownTableError",
    "VerifyResult",
    "backfill",
    "build_index",
    "connect",
    "evaluate_column",
    "recompress",
    "status",
    "sync",
    "train",
    "verify",
]
