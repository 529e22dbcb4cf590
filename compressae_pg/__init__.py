"""compressae-pg: CompresSAE sparse compression of pgvector embeddings, inside PostgreSQL.

Train a model by streaming vectors out of a table (:func:`train`), store compact ``sparsevec``
codes beside them, index and search them from SQL, Python, SQLAlchemy or the CLI.
"""

from .errors import (
    BusyError,
    CompressaeError,
    InvalidVectorError,
    ModelInUseError,
    NotAttachedError,
    UnknownModelError,
    UnknownTableError,
)
from .fit import TrainConfig
from .model import Codes, CompresSAE, Encoding
from .server import connect
from .train import TrainResult, train

__version__ = "0.1.0"

__all__ = [
    "BusyError",
    "Codes",
    "CompresSAE",
    "CompressaeError",
    "Encoding",
    "InvalidVectorError",
    "ModelInUseError",
    "NotAttachedError",
    "TrainConfig",
    "TrainResult",
    "UnknownModelError",
    "UnknownTableError",
    "connect",
    "train",
]
