"""Read pgvector's binary values into numpy: vectors per row, and a whole batch of codes at once.

A search fetches a hundred codes per query. pgvector's own loaders build Python lists element by
element; here a code is kept as its raw bytes and :func:`sparse_rows` reads all of a query's
candidates with one ``np.frombuffer``. The loaders are installed on the cursors that fetch
candidates only, so the connection needs no ``register_vector``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
from psycopg.adapt import AdaptersMap, Loader
from psycopg.pq import Format

from .rerank import SparseRows

_SPARSE_HEADER = 12  # int32 dimensions, int32 non-zeros, int32 unused; then indices, then values
_DENSE_HEADER = struct.Struct(">HH")  # dimensions, unused


class SparsevecBytesLoader(Loader):
    """``sparsevec`` (binary) → its bytes, for :func:`sparse_rows`."""

    format = Format.BINARY

    def load(self, data) -> bytes:
        return bytes(data)


class VectorLoader(Loader):
    """``vector`` (binary) → float32 array."""

    format = Format.BINARY
    element = ">f4"

    def load(self, data) -> np.ndarray:
        (dim, _) = _DENSE_HEADER.unpack_from(data)
        return np.frombuffer(data, self.element, dim, 4).astype(np.float32)


class HalfvecLoader(VectorLoader):
    """``halfvec`` (binary) → float32 array."""

    element = ">f2"


def sparse_rows(raws: Sequence[bytes]) -> SparseRows:
    """Binary ``sparsevec`` values as flat 0-based indices and values (one read when all have the same size)."""
    sizes = {len(r) for r in raws}
    if len(sizes) == 1:
        nnz = (sizes.pop() - _SPARSE_HEADER) // 8
        layout = np.dtype([("head", ">i4", 3), ("idx", ">i4", nnz), ("val", ">f4", nnz)])
        rows = np.frombuffer(b"".join(raws), layout)
        return SparseRows(rows["idx"].astype(np.int64).ravel(), rows["val"].astype(np.float32).ravel(),
                          np.full(len(raws), nnz, dtype=np.int64))
    lengths = np.array([(len(r) - _SPARSE_HEADER) // 8 for r in raws], dtype=np.int64)
    parts = [(np.frombuffer(r, ">i4", n, _SPARSE_HEADER), np.frombuffer(r, ">f4", n, _SPARSE_HEADER + 4 * n))
             for r, n in zip(raws, lengths.tolist())]
    return SparseRows(np.concatenate([i for i, _ in parts] or [np.zeros(0)]).astype(np.int64),
                      np.concatenate([v for _, v in parts] or [np.zeros(0)]).astype(np.float32), lengths)


def install(adapters: AdaptersMap, oids: dict[str, int]) -> None:
    """Register the loaders for the type oids found in the database (``sparsevec``, ``vector``, ``halfvec``)."""
    for name, loader in (("sparsevec", SparsevecBytesLoader), ("vector", VectorLoader), ("halfvec", HalfvecLoader)):
        if oids.get(name):
            adapters.register_loader(oids[name], loader)
