"""Retrieval quality against the exact dense answer: the pure maths, shared by benchmarks and CLI."""

from __future__ import annotations

import numpy as np


def topk_rows(q: np.ndarray, x: np.ndarray, k: int, *, chunk: int = 256) -> np.ndarray:
    """Indices of the k largest inner products ``q @ x.T`` per row, best first, in bounded memory."""
    out = np.empty((len(q), k), dtype=np.int64)
    for start in range(0, len(q), chunk):
        scores = q[start : start + chunk] @ x.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
        out[start : start + chunk] = np.take_along_axis(part, order, axis=1)
    return out


class RunningTopK:
    """The k best (score, key) of each query over a stream of item chunks, in O(queries x k) memory.

    Keys can be anything hashable (a table's primary keys, as text); a chunk's ``scores`` is
    (queries, items) and ``-inf`` marks an item a query must not count (itself, say).
    """

    def __init__(self, queries: int, k: int) -> None:
        self.k = k
        self.scores = np.full((queries, k), -np.inf)
        self.keys = np.full((queries, k), None, dtype=object)

    def update(self, scores: np.ndarray, keys: np.ndarray) -> None:
        """Merge one chunk: ``scores[i, j]`` of query i with item ``keys[j]``."""
        both = np.concatenate([self.scores, scores], axis=1)
        names = np.concatenate([self.keys, np.broadcast_to(np.asarray(keys, dtype=object), scores.shape)], axis=1)
        part = np.argpartition(-both, self.k - 1, axis=1)[:, : self.k]
        self.scores = np.take_along_axis(both, part, axis=1)
        self.keys = np.take_along_axis(names, part, axis=1)

    def result(self) -> np.ndarray:
        """Keys of each query's top k, best first (None where fewer than k items were seen)."""
        order = np.argsort(-self.scores, axis=1, kind="stable")
        return np.take_along_axis(self.keys, order, axis=1)


def recall_at_k(found: np.ndarray | list, truth: np.ndarray, k: int = 10) -> float:
    """Mean fraction of the true top-k found in the first k results of each query."""
    hits = [len(set(list(f)[:k]) & set(t[:k].tolist())) / k for f, t in zip(found, truth)]
    return float(np.mean(hits)) if hits else float("nan")


def ndcg_at_k(found: np.ndarray | list, truth: np.ndarray, k: int = 10) -> float:
    """Mean nDCG@k with the true rank as graded relevance (rank 1 gains k, rank k gains 1)."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = float((np.arange(k, 0, -1) * discounts).sum())
    scores = []
    for f, t in zip(found, truth):
        gain = {item: k - rank for rank, item in enumerate(np.asarray(t)[:k].tolist())}
        scores.append(sum(gain.get(item, 0) * discounts[r] for r, item in enumerate(list(f)[:k])) / ideal)
    return float(np.mean(scores)) if scores else float("nan")
