"""The rerank maths, in numpy: scores of candidate codes against a query, and the top k.

Stored codes are scaled so that their decoded vector x̂ = W_decᵀ s has unit norm (DESIGN.md), so:

- ``reconstructed`` (asymmetric): cos(q, x̂) = (W_dec q̂) · s with q̂ = q / |q|. The projection W_dec q̂
  is computed once per query; each candidate then costs O(k): a gather of its k atoms.
- ``symmetric``: cos(q̂_rec, x̂) = s_qᵀ K s / √(s_qᵀ K s_q) with K = W_dec W_decᵀ (the paper's kernel
  trick). K s_q = W_dec (W_decᵀ s_q) = W_dec decode(s_q), so the same O(k) gather serves it, with the
  projection of the query's own normalised reconstruction instead of the query.
- ``dense``: the exact cosine with the source vectors.
- ``none``: 1 − the sparse cosine distance that the index ordered by.
"""

from __future__ import annotations

import numpy as np

from .._codes import SparseRows


def code_scores(projection: np.ndarray, codes: SparseRows) -> np.ndarray:
    """``projection · s`` for each sparse code ``s``: O(non-zeros) per code."""
    rows = np.repeat(np.arange(len(codes)), codes.lengths)
    weights = projection.astype(np.float64)[codes.indices] * codes.values.astype(np.float64)
    return np.bincount(rows, weights=weights, minlength=len(codes))


def cosine(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Cosine of ``query`` with each row of ``vectors`` (rows of norm 0 score 0)."""
    q = np.asarray(query, dtype=np.float64)
    x = np.asarray(vectors, dtype=np.float64).reshape(-1, q.shape[0])
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(q)
    dots = x @ q
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, best first; ties keep candidate order."""
    return np.argsort(-np.asarray(scores), kind="stable")[:k]
