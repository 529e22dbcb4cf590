"""What the tests of ``evaluate --compare`` and of the peers' bit planes share: the rows and queries they measure,
how close to numpy's recall the server's must come, the query that finds leftover peer schemas, and the numpy side."""

from __future__ import annotations

import numpy as np

ROWS, QUERIES = 1500, 20
# The server scores in float32, numpy here in float64: a near-tie at the 10th place may fall either way,
# one answer of the QUERIES x 10 (0.005); anything more is a real difference.
TOLERANCE = 1.01 / (QUERIES * 10)
LEFTOVERS = ("SELECT n.nspname, count(c.oid) FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid "
             "WHERE n.nspname LIKE 'compressae\\_peers\\_%' GROUP BY 1")


def row(result, method: str, setting: str) -> dict:
    return next(r for r in result.results if r["method"] == method and r["setting"] == setting)


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def recall(truth: np.ndarray, scores: np.ndarray) -> float:
    """Mean overlap of each query's top 10 by ``scores`` (queries x rows, higher is nearer) with its ``truth``."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    return float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, top)]))
