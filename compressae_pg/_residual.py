"""The residual sketch: what a row's code misses, in 1 or 2 bits per dimension and two scales.

A code's reconstruction x̂ (unit norm) holds most of a unit row x: c = x · x̂. The rest, r = x − c·x̂,
is what a bit or two per dimension encodes best (the principle of IVF + RaBitQ and of residual PQ).
The sketch keeps ``planes`` bit planes of r: its signs (1 where r_i > 0, as ``binary_quantize``), and
with 2 planes where |r_i| > T·σ, σ = |r|/√d: L_i = ±1 (1 plane), or ±1 and ±M (2 planes), the 2-bit
Lloyd–Max quantizer of a normal variable (T = 0.9816, M = 3.336; benchmarks/residual_probe.py measured it
against the row's median with levels 1 and 3, and other quantiles and levels). With a = (r · L) / (L · L),
the least-squares scale, a row's score for a unit query q is

    c · (q · x̂) + a · (q · L)   ≈   q · x

It is stored as one ``bit(planes·d + 32)``: the planes, then c and a·√d as 16-bit fractions of 1
(both lie in [0, 1]: c is the cosine of x with its least-squares reconstruction, and a ≤ |r| / |L| ≤ 1/√d).
SQL computes the same bits (``compressae.residual``) and the same score (``compressae.search``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._defaults import RESIDUAL_BITS

THRESHOLD = 0.9816  # the 2-bit Lloyd-Max quantizer of N(0, 1): |r_i| > THRESHOLD·σ takes the outer level
OUTER = 3.336  # its outer level, in units of the inner one
SCALE = 65535  # a 16-bit fraction of 1
SCALE_BITS = 32  # c and a·√d, 16 bits each, after the planes


def bits_length(dim: int, planes: int) -> int:
    """Bits of one row's residual sketch: its planes and its two scales."""
    return planes * dim + SCALE_BITS


@dataclass(frozen=True)
class Residuals:
    """Residual sketches of n rows: their sign plane and outer plane (n, d) as 0/1 float32 (the outer plane all 0
    with 1 plane), and the scales c and a (n,), float64."""

    signs: np.ndarray
    outer: np.ndarray
    c: np.ndarray
    a: np.ndarray

    @property
    def levels(self) -> np.ndarray:
        """L (n, d): ±1, and ±OUTER on the outer plane."""
        return (2.0 * self.signs.astype(np.float64) - 1.0) * (1.0 + (OUTER - 1.0) * self.outer.astype(np.float64))

    def scores(self, query: np.ndarray, base: np.ndarray) -> np.ndarray:
        """``c · base + a · (q · L)`` for a unit query ``q`` and each row's ``base`` = q · x̂.

        q · L = (2·q·s − Σq) + (OUTER − 1)·(2·q·(s∘o) − q·o) for the sign plane s and the outer plane o. The
        residual's term estimates q · r; r ⟂ x̂ and |r| = √(1 − c²), so |q · r| <= √(1 − c²)·√(1 − base²): it is
        clipped there, and a code whose own score is at most 1 keeps its row at most 1.
        """
        q = np.asarray(query, dtype=np.float32)
        ql = 2.0 * (self.signs @ q).astype(np.float64) - float(q.sum(dtype=np.float64))
        if self.outer.any():
            ql += (OUTER - 1.0) * (2.0 * ((self.signs * self.outer) @ q).astype(np.float64) - (self.outer @ q))
        base = np.asarray(base, dtype=np.float64)
        bound = np.sqrt(np.maximum(1.0 - self.c**2, 0.0)) * np.sqrt(np.maximum(1.0 - base**2, 0.0))
        return self.c * base + np.clip(self.a * ql, -bound, bound)


def levels(r: np.ndarray, planes: int) -> np.ndarray:
    """L of residuals ``r`` (n, d): sign(r) (−1 where r <= 0), times OUTER where |r_i| > THRESHOLD·σ with 2 planes."""
    out = np.where(r > 0, 1.0, -1.0)
    if planes == 2:
        sigma = np.linalg.norm(r, axis=1, keepdims=True) / np.sqrt(r.shape[1])
        out = np.where(np.abs(r) > THRESHOLD * sigma, out * OUTER, out)
    return out


def sketch(x: np.ndarray, decoded: np.ndarray, planes: int) -> np.ndarray:
    """The packed residual sketches (n, ⌈(planes·d + 32) / 8⌉) uint8 of rows ``x`` and their decoded codes.

    Both are normalised first, in float64. The bytes are a PostgreSQL ``bit`` value's, most significant bit first.
    """
    if planes not in RESIDUAL_BITS[1:]:
        raise ValueError(f"a residual sketch has 1 or 2 planes, not {planes!r}")
    x64, xh = (_unit(np.asarray(v, dtype=np.float64)) for v in (x, decoded))
    c = np.einsum("nd,nd->n", x64, xh)
    r = x64 - c[:, None] * xh
    lv = levels(r, planes)
    a = np.einsum("nd,nd->n", r, lv) / np.einsum("nd,nd->n", lv, lv)
    d = x64.shape[1]
    fields = [lv > 0]
    if planes == 2:
        fields.append(np.abs(lv) > 1)
    scales = np.stack([_fraction(c), _fraction(a * np.sqrt(d))], axis=1).astype(">u2")
    fields.append(np.unpackbits(scales.view(np.uint8), axis=1).astype(bool))
    return np.packbits(np.concatenate(fields, axis=1), axis=1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _fraction(v: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(v, 0.0, 1.0) * SCALE)


def unpack(packed: np.ndarray, dim: int, planes: int) -> Residuals:
    """The :class:`Residuals` of packed sketches (n, bytes) as :func:`sketch` writes them."""
    bits = np.unpackbits(np.atleast_2d(packed), axis=1)[:, : bits_length(dim, planes)]
    signs = bits[:, :dim].astype(np.float32)
    outer = bits[:, dim : 2 * dim].astype(np.float32) if planes == 2 else np.zeros_like(signs)
    scales = np.packbits(bits[:, planes * dim :], axis=1).view(">u2").astype(np.float64) / SCALE
    return Residuals(signs, outer, scales[:, 0], scales[:, 1] / np.sqrt(dim))


def unpack_sized(packed: Sequence[bytes | None], dim: int, planes: int) -> tuple[list[int], Residuals | None]:
    """The positions of ``packed`` holding a sketch of the size ``(dim, planes)`` gives, and those sketches unpacked (None if none)."""
    size = (bits_length(dim, planes) + 7) // 8
    have = [i for i, p in enumerate(packed) if p is not None and len(p) == size]
    if not have:
        return have, None
    found = np.frombuffer(b"".join(packed[i] for i in have), dtype=np.uint8).reshape(len(have), -1)
    return have, unpack(found, dim, planes)


def texts(packed: np.ndarray, dim: int, planes: int) -> list[str]:
    """Packed sketches as PostgreSQL's bit text ('0110…'), as ``residual::text`` reads them."""
    bits = np.unpackbits(np.atleast_2d(packed), axis=1)[:, : bits_length(dim, planes)]
    return [row.tobytes().translate(_BIT_TEXT).decode() for row in bits]


_BIT_TEXT = bytes.maketrans(b"\x00\x01", b"01")
