"""compressae-pg: CompresSAE sparse compression of pgvector embeddings, inside PostgreSQL.

Train a model by streaming vectors out of a table (:func:`train`), store compact ``sparsevec``
codes beside them, index and search them from SQL, Python, SQLAlchemy or the CLI.
"""

from .asearch import AsyncCompressedColumn
from .backfill import BackfillConfig, BackfillResult, backfill
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
from .fit import TrainConfig
from .index import build as build_index
from .model import Codes, CompresSAE, Encoding
from .recompress import recompress
from .retrieval import Hit
from .search import CompressedColumn
from .server import connect
from .status import status
from .train import TrainResult, train

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
    "TrainConfig",
    "TrainResult",
    "UnknownKeyError",
    "UnknownModelError",
    "UnknownTableError",
    "backfill",
    "build_index",
    "connect",
    "recompress",
    "status",
    "train",
]
