"""What a code is, in numpy: the types every floor above shares, and a row's sign bits.

:class:`Codes` is a batch of k-sparse codes as the model makes them (fixed k per row);
:class:`SparseRows` is codes read back from the database (each row its own length), flattened for
the rerank's gather. :func:`sign_bits` is the sketch the default HNSW graph is built over. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Codes:
    """A batch of k-sparse codes: ``indices`` (n, k) int64 ascending, ``values`` (n, k) float32."""

    indices: np.ndarray
    values: np.ndarray
    h: int

    def __len__(self) -> int:
        return len(self.indices)

    def dense(self) -> np.ndarray:
        """The codes as a dense (n, h) array."""
        out = np.zeros((len(self.indices), self.h), dtype=np.float32)
        np.put_along_axis(out, self.indices, self.values, axis=1)
        return out


@dataclass(frozen=True)
class SparseRows:
    """Sparse codes of several rows, flattened: row i owns the next ``lengths[i]`` entries."""

    indices: np.ndarray  # int64, 0-based atom indices
    values: np.ndarray  # float32
    lengths: np.ndarray  # int64, entries per row

    def __len__(self) -> int:
        return len(self.lengths)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, values) of row ``i``."""
        start = int(self.lengths[:i].sum())
        end = start + int(self.lengths[i])
        return self.indices[start:end], self.values[start:end]


def sign_bits(x: np.ndarray) -> list[str]:
    """Each row's ``binary_quantize`` as bit text ('0110…'): 1 where a component is positive."""
    return [row.tobytes().translate(_BIT_TEXT).decode() for row in (np.atleast_2d(x) > 0).astype(np.uint8)]


_BIT_TEXT = bytes.maketrans(b"\x00\x01", b"01")
