"""Training terms that see neighbours: the in-batch dense similarities, taught to the scores we rank by.

The paper's loss only asks each row to reconstruct itself; retrieval ranks rows against each other.
On a sub-batch of ``rows`` vectors these terms compare the dense similarity matrix S = x̃ x̃ᵀ with

- the asymmetric score A = x̃ · x̂ᵀ/|x̂| (a full query against decoded items, what
  ``rerank="reconstructed"`` and the asymmetric full scan rank by), and
- the codes' own cosine C = ẑ ẑᵀ with ẑ the unit-norm k-sparse code (what
  ``ORDER BY code <=> compressae.encode(...)`` ranks by),

row by row, as KL(softmax(S/τ) ‖ softmax(·/τ)) with each row's own column left out: the soft
neighbour ranking of the dense space, distilled. ``contrast`` is the hard, CSR-style variant
("Beyond Matryoshka", Wen et al., ICML 2025): an InfoNCE on the codes' cosines whose positive is the
row's dense nearest neighbour in the sub-batch. None of them is part of the paper's recipe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """The (n, n-1) matrix of ``m`` without its diagonal (each row's similarity to itself)."""
    n = len(m)
    return m[~torch.eye(n, dtype=torch.bool, device=m.device)].view(n, n - 1)


def similarity_kl(target: torch.Tensor, scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over rows of KL(softmax(target/τ) ‖ softmax(scores/τ)), the diagonals left out."""
    t = _off_diagonal(target) / temperature
    s = _off_diagonal(scores) / temperature
    return (t.softmax(dim=1) * (t.log_softmax(dim=1) - s.log_softmax(dim=1))).sum(dim=1).mean()


def neighbour_contrast(target: torch.Tensor, scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE on ``scores/τ`` whose positive is each row's nearest neighbour by ``target`` (self excluded)."""
    return F.cross_entropy(_off_diagonal(scores) / temperature, _off_diagonal(target).argmax(dim=1))


def code_cosines(values: torch.Tensor, indices: torch.Tensor, h: int) -> torch.Tensor:
    """Cosines between the sparse codes (values, indices) of width h, differentiable in the values."""
    dense = torch.zeros(len(values), h, dtype=values.dtype, device=values.device).scatter(1, indices, values)
    unit = F.normalize(dense, dim=1)
    return unit @ unit.t()


def neighbour_terms(
    x: torch.Tensor,
    values: torch.Tensor,
    indices: torch.Tensor,
    reconstruction: torch.Tensor,
    h: int,
    *,
    rows: int,
    temperature: float,
    asym: bool = False,
    codes: bool = False,
    contrast: bool = False,
) -> dict[str, torch.Tensor]:
    """The requested terms on the first ``rows`` rows: ``distill_asym``, ``distill_codes``, ``contrast_codes``.

    ``values``/``indices`` are the k-sparse training codes and ``reconstruction`` their decoded rows.
    """
    xn = F.normalize(x[:rows], dim=1)
    target = xn @ xn.t()
    out: dict[str, torch.Tensor] = {}
    if asym:
        out["distill_asym"] = similarity_kl(target, xn @ F.normalize(reconstruction[:rows], dim=1).t(), temperature)
    if codes or contrast:
        cos = code_cosines(values[:rows], indices[:rows], h)
        if codes:
            out["distill_codes"] = similarity_kl(target, cos, temperature)
        if contrast:
            out["contrast_codes"] = neighbour_contrast(target, cos, temperature)
    return out
