"""A model turning rows into the codes a backfill stores: bit for bit the same whatever the batch."""

from __future__ import annotations

import numpy as np
import torch

from .. import _residual, _wire
from .._codes import Codes
from ..model import CompresSAE

# BLAS takes another code path for a single row; encoding at least this many rows at once makes a
# row's code independent of the batch it happens to be in (bit for bit), so a re-run rewrites nothing.
MIN_ENCODE_ROWS = 8


class Encoder:
    """The attachment's model on a device, turning a batch of rows into the COPY stream of their codes."""

    def __init__(self, model: CompresSAE, device: str | None = None) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self._decoder: np.ndarray | None = None

    def codes(self, x: np.ndarray) -> Codes:
        """The codes of finite, non-zero ``(n, dim)`` vectors, exactly as a backfill stores them."""
        n = len(x)
        if n == 0:
            return Codes(np.zeros((0, self.model.k), np.int64), np.zeros((0, self.model.k), np.float32), self.model.h)
        padded = np.concatenate([x, np.repeat(x[:1], MIN_ENCODE_ROWS - n, axis=0)]) if n < MIN_ENCODE_ROWS else x
        full = self.model.compress(padded)
        return Codes(full.indices[:n], full.values[:n], full.h)

    def residuals(self, x: np.ndarray, codes: Codes, planes: int) -> np.ndarray:
        """The packed residual sketches of rows ``x`` given their codes (:func:`compressae_pg._residual.sketch`)."""
        if self._decoder is None:
            self._decoder = self.model.decoder.detach().cpu().numpy().astype(np.float64)
        decoded = np.einsum("nk,nkd->nd", codes.values.astype(np.float64), self._decoder[codes.indices])
        return _residual.sketch(x, decoded, planes)

    def __call__(self, batch: _wire.RowBatch, planes: int = 0) -> tuple[bytes, np.ndarray]:
        """The COPY stream of the batch's codes (with ``planes`` > 0, and their residual sketches), and which rows got a code."""
        codes = self.codes(batch.vectors)
        residuals = None
        if planes and len(codes):
            residuals = (self.residuals(batch.vectors, codes, planes), _residual.bits_length(self.model.dim, planes))
        return _wire.encode_codes(batch.identity, batch.valid, codes, residuals)
