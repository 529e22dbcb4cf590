"""What a search needs of a model, in numpy: its weights read from safetensors without importing torch.

A search probes the sketch graph with the query's sign bits and reranks by ``W_dec q̂ · s``, so it
needs the decoder alone: :class:`Weights` keeps it as float32 and projects a query with one matrix
product. Encoding a query into a code (the sparse graph, the symmetric rerank) is
:meth:`CompresSAE.compress <compressae_pg.model.CompresSAE.compress>`, built from the same bytes
the first time it is asked for, so a process that never needs a code never imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from safetensors.numpy import load as load_safetensors

from .._codes import Codes
from .._vectors import check

if TYPE_CHECKING:
    from ..model import CompresSAE


@dataclass
class Weights:
    """A stored model's shape and float32 decoder (h, d), from the bytes of ``CompresSAE.to_bytes``."""

    data: bytes = field(repr=False)
    dim: int
    h: int
    k: int
    decoder: np.ndarray = field(repr=False)
    _model: CompresSAE | None = field(default=None, repr=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> Weights:
        size = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + size]).get("__metadata__", {})
        decoder = np.ascontiguousarray(load_safetensors(data)["decoder"], dtype=np.float32)
        return cls(data, int(meta["dim"]), int(meta["h"]), int(meta["k"]), decoder)

    def project(self, x: np.ndarray) -> np.ndarray:
        """``W_dec x`` for each row of ``x`` (n, d): the query on every atom, so ``x · x̂ = project(x) · s``."""
        return check(x, self.dim) @ self.decoder.T

    def decompress(self, codes: Codes) -> np.ndarray:
        """The decoded vectors ``W_decᵀ s`` of codes: (n, d)."""
        return np.einsum("nk,nkd->nd", codes.values, self.decoder[codes.indices])

    def compress(self, x: np.ndarray) -> Codes:
        """:meth:`CompresSAE.compress <compressae_pg.model.CompresSAE.compress>` (the torch model, loaded once)."""
        if self._model is None:
            from ..model import CompresSAE

            self._model = CompresSAE.from_bytes(self.data).eval()
        return self._model.compress(x)
