"""Per-dimension quantizers that need no model, kept as bit planes and scored with ``bit_count``: the peers
``sign`` and ``sq2`` / ``sq4`` / ``sq8`` of :mod:`.peers`.

A row x (unit norm) is stored as codes u_i in [0, 2^B − 1], bit j of every u_i in plane j (d bits), the
planes one after the other in one ``bit(B·d)``; it stands for x̃_i = s · (lo_i + step_i · u_i).

- ``sqB``: lo_i and step_i fitted per dimension on the table's sample: B-bit uniform levels over the
  dimension's range clipped at the quantile p, for the p of :data:`CLIPS` with the least squared error
  (p = 0 is min–max; for B = 2 the best clip is within 1% of the error of Lloyd–Max levels, and the
  levels stay linear in the bits, which is what ``bit_count`` needs); s = 1.
- ``sign``: B = 1, u_i = [x_i > 0] (the sketch itself, ``binary_quantize``), lo_i = −1, step_i = 2, and one
  scale a row s = ‖x‖₁ / d, so x̃ = s · sign(x).

A query q's score of a row is q · x̃ = s · (q · lo + Σ_i w_i u_i), w = q ⊙ step. In SQL w is quantized too,
to :data:`QUERY_PLANES` bits, symmetric around 0: w̃_i = Δ · v_i, v_i a two's complement integer, so
Σ_i w̃_i u_i = Δ · Σ_{p, j} ±2^(p + j) · bit_count(query plane p AND row plane j). The (p, j) of one weight
share one ``bit(B·d)`` string: at most QUERY_PLANES + 2B − 2 of them per query (:meth:`Quantizer.probe`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._codes import sign_bits

QUERY_PLANES = 8  # bits of the query's weights w = q ⊙ step: its error is at most max |w| / 254 a dimension
CLIPS = (0.0, 1e-4, 1e-3, 3e-3, 0.01, 0.02, 0.035, 0.05, 0.07, 0.1, 0.15)  # quantiles a dimension's range is clipped at


@dataclass(frozen=True)
class Probe:
    """A query's score of a row with codes u: ``scale · (constant + Σ coef · bit_count(plane AND u's planes))``."""

    constant: float
    terms: list[tuple[float, str]]  # (coefficient, bit text of B·d bits)


@dataclass(frozen=True)
class Quantizer:
    """B-bit levels lo_i + step_i · u_i per dimension, and whether each row also keeps its scale ‖x‖₁ / d."""

    bits: int
    lo: np.ndarray  # (d,) float64
    step: np.ndarray  # (d,) float64
    row_scale: bool = False

    def codes(self, x: np.ndarray) -> np.ndarray:
        """u (n, d) of unit rows ``x``, in [0, 2^B − 1]."""
        if self.row_scale:
            return (np.asarray(x) > 0).astype(np.int64)
        u = np.rint((np.asarray(x, np.float64) - self.lo) / self.step)
        return np.clip(u, 0, 2**self.bits - 1).astype(np.int64)

    def scales(self, x: np.ndarray) -> np.ndarray:
        """s (n,) of unit rows ``x``: ‖x‖₁ / d with a row scale, else 1."""
        x = np.atleast_2d(np.asarray(x, np.float64))
        return np.abs(x).sum(axis=1) / x.shape[1] if self.row_scale else np.ones(len(x))

    def texts(self, x: np.ndarray) -> list[str]:
        """Each row's planes as bit text, plane 0 (the least significant bit of every u_i) first."""
        u = self.codes(x)
        return sign_bits(np.concatenate([(u >> j) & 1 for j in range(self.bits)], axis=1))

    def weights(self, q: np.ndarray) -> tuple[float, np.ndarray]:
        """Δ and the integers v (d,) in [−(2^(P−1) − 1), 2^(P−1) − 1] of w̃ = Δ · v ≈ q ⊙ step, P = QUERY_PLANES."""
        w = np.asarray(q, np.float64) * self.step
        delta = float(np.abs(w).max()) / (2 ** (QUERY_PLANES - 1) - 1) or 1.0
        return delta, np.rint(w / delta).astype(np.int64)

    def probe(self, q: np.ndarray) -> Probe:
        """The :class:`Probe` of a unit query ``q`` (d,): its weights in QUERY_PLANES two's complement planes."""
        delta, v = self.weights(q)
        v = v & (2**QUERY_PLANES - 1)  # two's complement: plane P−1 weighs −2^(P−1)
        planes = [(v >> p) & 1 for p in range(QUERY_PLANES)]
        zero = np.zeros_like(v)
        terms = []
        for t in range(QUERY_PLANES + self.bits - 1):
            for sign, wanted in ((1.0, range(QUERY_PLANES - 1)), (-1.0, (QUERY_PLANES - 1,))):
                segments = [planes[t - j] if t - j in wanted else zero for j in range(self.bits)]
                if any(s.any() for s in segments):
                    terms.append((sign * delta * 2.0**t, sign_bits(np.concatenate(segments))[0]))
        return Probe(float(np.asarray(q, np.float64) @ self.lo), terms)

    def scores(self, q: np.ndarray, u: np.ndarray, s: np.ndarray) -> np.ndarray:
        """The score :meth:`probe` gives SQL, s · (q · lo + w̃ · u), of rows with codes ``u`` (n, d) and scales ``s``
        (n,): the full scan in numpy."""
        delta, v = self.weights(q)
        return s * (float(np.asarray(q, np.float64) @ self.lo) + delta * (u @ v).astype(np.float64))


def fit(sample: np.ndarray, bits: int) -> Quantizer:
    """The per-dimension B-bit levels with the least squared error on ``sample`` (n, d): clipped at each of
    :data:`CLIPS`, the best clip for each dimension."""
    x = np.asarray(sample, np.float64)
    best_err = np.full(x.shape[1], np.inf)
    lo_best, step_best = np.zeros(x.shape[1]), np.ones(x.shape[1])
    for p in CLIPS:
        lo, hi = np.quantile(x, p, axis=0), np.quantile(x, 1 - p, axis=0)
        step = np.where(hi > lo, (hi - lo) / (2**bits - 1), 1.0)  # a constant dimension keeps lo exactly
        q = Quantizer(bits, lo, step)
        err = ((x - (lo + step * q.codes(x))) ** 2).sum(axis=0)
        better = err < best_err
        best_err, lo_best, step_best = np.where(better, err, best_err), np.where(better, lo, lo_best), np.where(better, step, step_best)
    return Quantizer(bits, lo_best, step_best)


def signs(dim: int) -> Quantizer:
    """The sign bits of each row and its scale ‖x‖₁ / d: x̃ = s · (−1 + 2 · [x_i > 0])."""
    return Quantizer(1, np.full(dim, -1.0), np.full(dim, 2.0), row_scale=True)
