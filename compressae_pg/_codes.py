"""What a code is, in numpy: the types every floor above shares, and a row's sign bits.

:class:`Codes` is a batch of k-sparse codes as the model makes them (fixed k per row);
:class:`SparseRows` is codes read back from the database (each row its own length), flattened for
the rerank's gather. :func:`sketch_bits` is the sketch the default HNSW graph is built over. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._defaults import SKETCH_PLANE_COUNTS


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


def sketch_bits(x: np.ndarray, planes: int) -> list[str]:
    """Each row's sketch in ``planes`` planes as bit text, as ``compressae.sketch`` writes it (sql/revisions/0016_sketch/).

    One plane is :func:`sign_bits`. Two are sign(x) ‖ sign(y), y = ((x − σ₁x) + σ_{d/4}x) − σ_{5d/9}x in
    float32, left to right, σ_s the cyclic shift left by s mod d ((σ_s x)_i = x_{(i+s) mod d}): differences
    of near and far components whose signs the first plane does not tell, with no stored matrix.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float32))
    if planes not in SKETCH_PLANE_COUNTS:
        raise ValueError(f"a sketch has 1 or 2 planes, not {planes!r}")
    if planes == 1:
        return sign_bits(x)
    d = x.shape[1]
    shifted = lambda s: np.roll(x, -(s % d), axis=1)  # noqa: E731
    y = ((x - shifted(1)) + shifted(d // 4)) - shifted(5 * d // 9)
    return [a + b for a, b in zip(sign_bits(x), sign_bits(y))]


_BIT_TEXT = bytes.maketrans(b"\x00\x01", b"01")
