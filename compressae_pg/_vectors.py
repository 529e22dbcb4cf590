"""What makes a vector encodable, written once: the right dimension, finite, not all zeros.

Python callers get :func:`check` (an InvalidVectorError naming the first bad row); bulk paths
(backfill, training, verify, evaluate) get :func:`usable`, a mask, and leave the bad rows' codes NULL.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidVectorError


def as_array(x: Any) -> np.ndarray:
    """``x`` as a float32 2-D array: numpy, lists, torch, or pgvector's Vector/HalfVector values."""
    if x is None:
        raise InvalidVectorError("the vector is None")
    items = x if isinstance(x, (list, tuple)) else [x] if hasattr(x, "to_numpy") else None
    if items is not None and any(hasattr(q, "to_numpy") or q is None for q in items):
        if any(q is None for q in items):
            raise InvalidVectorError("a vector is None")
        x = [q.to_numpy() if hasattr(q, "to_numpy") else q for q in items]
    try:
        a = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorError(f"vectors must be numbers of one dimension: {exc}") from exc
    return a[None, :] if a.ndim == 1 else a


def finite_and_nonzero(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``a``: every entry finite; some entry non-zero."""
    return np.isfinite(a).all(axis=1), a.any(axis=1)


def usable(a: np.ndarray) -> np.ndarray:
    """Per row of ``a``: encodable (finite and not all zeros)."""
    finite, nonzero = finite_and_nonzero(a)
    return finite & nonzero


def check(x: Any, dim: int | None) -> np.ndarray:
    """``x`` as a float32 (n, dim) array (any dim when ``dim`` is None), or InvalidVectorError naming the first bad row."""
    a = as_array(x)
    if a.ndim != 2 or (dim is not None and a.shape[1] != dim):
        got = a.shape[-1] if a.ndim >= 1 else 0
        raise InvalidVectorError(f"expected vectors of dimension {dim}, got {got}")
    finite, nonzero = finite_and_nonzero(a)
    if not finite.all():
        raise InvalidVectorError(f"vector at row {int(np.flatnonzero(~finite)[0])} contains NaN or Inf")
    if not nonzero.all():
        raise InvalidVectorError(f"vector at row {int(np.flatnonzero(~nonzero)[0])} is all zeros and has no direction to encode")
    return a
