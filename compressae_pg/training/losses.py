"""The one training term that sees neighbours: ``TrainConfig.contrast_codes``, off by default.

The paper's loss only asks each row to reconstruct itself; a table searched by the codes' own cosine
(``ORDER BY code <=> compressae.encode(...)``) ranks rows against each other. On a sub-batch of ``rows``
vectors this term is an InfoNCE on the cosines C = ẑ ẑᵀ of the unit-norm k-sparse codes whose positive is
each row's dense nearest neighbour in the sub-batch (CSR-style, "Beyond Matryoshka", Wen et al., ICML 2025).
At weight 0.01 it trades asymmetric recall for sparse-cosine recall (docs/method.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """The (n, n-1) matrix of ``m`` without its diagonal (each row's similarity to itself)."""
    n = len(m)
    return m[~torch.eye(n, dtype=torch.bool, device=m.device)].view(n, n - 1)


def code_cosines(values: torch.Tensor, indices: torch.Tensor, h: int) -> torch.Tensor:
    """Cosines between the sparse codes (values, indices) of width h, differentiable in the values."""
    dense = torch.zeros(len(values), h, dtype=values.dtype, device=values.device).scatter(1, indices, values)
    unit = F.normalize(dense, dim=1)
    return unit @ unit.t()


def neighbour_contrast(x: torch.Tensor, values: torch.Tensor, indices: torch.Tensor, h: int, *, temperature: float) -> torch.Tensor:
    """InfoNCE on the codes' cosines over ``temperature`` whose positive is each row's nearest dense neighbour (self excluded).

    ``values``/``indices`` are the rows' k-sparse training codes.
    """
    xn = F.normalize(x, dim=1)
    scores = _off_diagonal(code_cosines(values, indices, h)) / temperature
    return F.cross_entropy(scores, _off_diagonal(xn @ xn.t()).argmax(dim=1))
