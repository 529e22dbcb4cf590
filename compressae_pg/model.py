"""The CompresSAE model: encoder, TopK-by-magnitude, unit-norm decoder, loss, and weight I/O.

All of the maths lives here, exactly as the paper defines it (Kasalický et al., RecSys 2025):
input L2-normalised, ``e = W_enc x + b_enc``, keep the k entries of largest |e| with their signs,
``x̂ = W_decᵀ s`` with no bias and unit-norm decoder rows, loss
``(1 - cos(x, x̂_k)) + (1 - cos(x, x̂_4k)) / 8``.  The SQL functions in ``sql/`` compute the same
numbers from the atoms tables; the tests prove they agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from . import _vectors
from ._codes import Codes
from ._defaults import NONZEROS, H

FORMAT = "compressae-pg/1"
_CPU_CHUNK = 1024  # rows per pre-activation block in training's TopK on CPU
RIDGE = 1e-4  # added to the Gram matrix of a support before solving: duplicate atoms stay solvable


@dataclass(frozen=True)
class Encoding:
    """How stored codes are computed from the trained weights.

    The paper's encoding (both off) keeps the encoder's TopK values. ``refit`` replaces the values
    by the least-squares fit of x on the chosen atoms. ``pursuit`` > 0 lets the encoder choose only
    k - pursuit atoms and adds the ``pursuit`` atoms most correlated with what is left unexplained
    (matching pursuit), then refits; it needs ``refit``. ``stages`` splits those atoms into equal
    stages, each refitting before it looks at the residual: closer to orthogonal matching pursuit,
    at one more pass over the atoms per stage (benchmarks/pursuit_probe.py measures both).
    """

    refit: bool = False
    pursuit: int = 0
    stages: int = 1

    def __post_init__(self) -> None:
        if self.pursuit < 0 or (self.pursuit and not self.refit):
            raise ValueError(f"pursuit must be >= 0 and needs refit (got refit={self.refit}, pursuit={self.pursuit})")
        if self.stages < 1 or (self.stages > 1 and (not self.pursuit or self.pursuit % self.stages)):
            raise ValueError(f"stages must be >= 1 and divide pursuit (got stages={self.stages}, pursuit={self.pursuit})")


PAPER = Encoding()


def check_vectors(x: np.ndarray | torch.Tensor, dim: int) -> torch.Tensor:
    """Return ``x`` as a float32 (n, dim) tensor, or raise naming the first bad row and its problem.

    The checks are :func:`compressae_pg._vectors.check` (a tensor goes through numpy for them).
    """
    device = x.device if torch.is_tensor(x) else None
    array = x.detach().cpu().numpy() if torch.is_tensor(x) else x
    return torch.as_tensor(_vectors.check(array, dim), device=device)


class _TopKPreActivations(torch.autograd.Function):
    """The n largest-|e| pre-activations of ``x W_encᵀ + b`` with a sparse backward.

    TopK passes gradient through only n entries per row, so the encoder gradient is an
    (h × batch) sparse matrix times x: O(batch · n · d) instead of the dense O(batch · h · d).
    Values and gradients equal the dense computation up to float rounding (a test proves it).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, n):  # type: ignore[override]
        # On CPU, rows go in cache-sized chunks: no batch × h matrix, and ~15% faster steps here.
        chunk = len(x) if x.is_cuda else _CPU_CHUNK
        values, indices = [], []
        for rows in x.split(chunk):
            pre = torch.addmm(bias, rows, weight.t())
            top = pre.abs().topk(n, dim=1).indices
            values.append(pre.gather(1, top))
            indices.append(top)
        indices = torch.cat(indices)
        ctx.save_for_backward(x, indices)
        ctx.h = weight.shape[0]
        ctx.mark_non_differentiable(indices)
        return torch.cat(values), indices

    @staticmethod
    def backward(ctx, grad_values, _grad_indices):  # type: ignore[override]
        x, indices = ctx.saved_tensors
        batch, n = indices.shape
        flat_idx = indices.reshape(-1)
        flat_grad = grad_values.reshape(-1)
        rows = torch.arange(batch, device=x.device).repeat_interleave(n)
        g = torch.sparse_coo_tensor(torch.stack([flat_idx, rows]), flat_grad, (ctx.h, batch), check_invariants=False)
        grad_weight = torch.sparse.mm(g, x)
        grad_bias = torch.zeros(ctx.h, dtype=x.dtype, device=x.device).index_add_(0, flat_idx, flat_grad)
        return None, grad_weight, grad_bias, None


class CompresSAE(nn.Module):
    """Sparse autoencoder that compresses d-dim embeddings into k-of-h sparse codes."""

    def __init__(
        self, dim: int, h: int = H, k: int = NONZEROS, *, seed: int | None = None, encoding: Encoding = PAPER
    ) -> None:
        super().__init__()
        if dim < 1 or h < 1 or k < 1:
            raise ValueError(f"dim, h and k must be positive (got dim={dim}, h={h}, k={k})")
        if 4 * k > h:
            raise ValueError(f"the 4k loss term needs 4k <= h (got k={k}, h={h})")
        if k > 1000:
            raise ValueError(f"pgvector indexes sparsevecs of at most 1000 non-zeros (got k={k})")
        if encoding.pursuit >= k:
            raise ValueError(f"pursuit must leave the encoder at least one atom (k={k}, pursuit={encoding.pursuit})")
        self.dim, self.h, self.k = dim, h, k
        self.encoding = encoding
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        # Kaiming-uniform as in the reference code: the encoder is initialised as a (d, h) matrix.
        enc = nn.init.kaiming_uniform_(torch.empty(dim, h), generator=gen)
        dec = nn.init.kaiming_uniform_(torch.empty(h, dim), generator=gen)
        self.encoder = nn.Parameter(enc.t().contiguous())  # (h, d): one row per atom
        self.encoder_bias = nn.Parameter(torch.zeros(h))
        self.decoder = nn.Parameter(F.normalize(dec, dim=1))  # (h, d), unit-norm rows, no bias

    # ---- the forward maths -------------------------------------------------------------------
    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Dense ``W_enc x̃ + b_enc`` for L2-normalised x̃: (n, h)."""
        return torch.addmm(self.encoder_bias, F.normalize(x, dim=1), self.encoder.t())

    def topk(self, x: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The k pre-activations of largest magnitude, signs kept: (values, indices), by |value| desc."""
        return _TopKPreActivations.apply(F.normalize(x, dim=1), self.encoder, self.encoder_bias, k or self.k)

    def decode_sparse(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """``W_decᵀ s`` for sparse s given as (values, indices): a gather of k atoms per row."""
        return F.embedding_bag(indices, self.decoder, per_sample_weights=values, mode="sum")

    def least_squares(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """Values v minimising |x̃ - Σ v_j W_dec[indices_j]|² + RIDGE |v|², one row at a time.

        The Gram matrix and right-hand side are float32 products (within 2e-6 of float64 ones on
        trained weights), solved by Cholesky in float64: under half the time of the float64 products
        and LU this replaced, in every backfill, sync and evaluation.
        """
        atoms, rhs = self._support(F.normalize(x, dim=1), indices)
        gram = torch.bmm(atoms, atoms.transpose(1, 2)).double()
        gram.diagonal(dim1=1, dim2=2).add_(RIDGE)
        return torch.cholesky_solve(rhs.double().unsqueeze(2), torch.linalg.cholesky(gram)).squeeze(2).to(x.dtype)

    def _support(self, xn: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The atoms ``indices`` name, (n, k, d), and their dot products with ``xn``, (n, k).

        On CPU both go through numpy, whose gather and batched dot products are 4-7× torch's there.
        """
        if self.decoder.device.type != "cpu":
            atoms = self.decoder.index_select(0, indices.reshape(-1)).view(*indices.shape, self.dim)
            return atoms, torch.einsum("nkd,nd->nk", atoms, xn)
        atoms = self.decoder.detach().numpy()[indices.numpy()]
        return torch.from_numpy(atoms), torch.from_numpy(np.einsum("nkd,nd->nk", atoms, xn.numpy()))

    @torch.no_grad()
    def select(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The unscaled code of each row under :attr:`encoding`: (values, indices)."""
        enc = self.encoding
        values, indices = self.topk(x, self.k - enc.pursuit)
        for _stage in range(enc.stages if enc.pursuit else 0):
            residual = F.normalize(x, dim=1) - self.decode_sparse(self.least_squares(x, indices), indices)
            corr = (residual @ self.decoder.t()).abs().scatter_(1, indices, -1.0)
            indices = torch.cat([indices, corr.topk(enc.pursuit // enc.stages, dim=1).indices], dim=1)
        if enc.refit:
            values = self.least_squares(x, indices)
        return values, indices

    def loss(self, x: torch.Tensor, *, keep: bool = False) -> dict[str, torch.Tensor]:
        """The paper's loss and its parts: ``loss``, ``cosine`` (k) and ``cosine_4k`` (batch means).

        With ``keep``, also the 4k ``values`` and ``indices`` (by |value| desc) and the k-sparse
        ``reconstruction``, for training terms that build on them.
        """
        k = self.k
        values, indices = self.topk(x, 4 * k)
        rec_k = self.decode_sparse(values[:, :k], indices[:, :k])
        rec_4k = rec_k + self.decode_sparse(values[:, k:], indices[:, k:])
        cos_k = F.cosine_similarity(x, rec_k, dim=1).mean()
        cos_4k = F.cosine_similarity(x, rec_4k, dim=1).mean()
        parts = {"loss": (1 - cos_k) + (1 - cos_4k) / 8, "cosine": cos_k, "cosine_4k": cos_4k}
        if keep:
            parts.update(values=values, indices=indices, reconstruction=rec_k)
        return parts

    # ---- keeping decoder rows on the unit sphere -------------------------------------------------
    @torch.no_grad()
    def project_decoder_grad(self) -> None:
        """Remove from each atom's gradient its component parallel to the atom (before a step)."""
        g, w = self.decoder.grad, self.decoder
        if g is not None:
            g -= (g * w).sum(dim=1, keepdim=True) * w

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Put every decoder row back on the unit sphere (after a step)."""
        self.decoder.copy_(F.normalize(self.decoder, dim=1))

    # ---- inference on numpy, for the database side ----------------------------------------------
    @torch.no_grad()
    def compress(self, x: np.ndarray | torch.Tensor) -> Codes:
        """Codes to store: :meth:`select` of each vector, scaled so that its decoded vector has unit norm.

        Raises InvalidVectorError for NaN/Inf, zero vectors or the wrong dimension.
        """
        t = check_vectors(x, self.dim).to(self.decoder.device)
        values, indices = self.select(t)
        norms = self.decode_sparse(values, indices).norm(dim=1, keepdim=True)
        values = values / norms.clamp_min(torch.finfo(torch.float32).tiny)
        order = indices.argsort(dim=1)
        return Codes(
            indices=indices.gather(1, order).cpu().numpy(),
            values=values.gather(1, order).cpu().numpy().astype(np.float32),
            h=self.h,
        )

    @torch.no_grad()
    def decompress(self, codes: Codes) -> np.ndarray:
        """The decoded (reconstructed) vectors of stored codes: (n, d)."""
        values = torch.as_tensor(codes.values, device=self.decoder.device)
        indices = torch.as_tensor(codes.indices, device=self.decoder.device)
        return self.decode_sparse(values, indices).cpu().numpy()

    @torch.no_grad()
    def project(self, q: np.ndarray | torch.Tensor) -> np.ndarray:
        """``W_dec q``: the query on every atom, so that ``q · x̂ = project(q) · s`` in O(k)."""
        t = check_vectors(q, self.dim).to(self.decoder.device)
        return (t @ self.decoder.t()).cpu().numpy()

    # ---- weights --------------------------------------------------------------------------------
    def to_bytes(self, metadata: dict[str, Any] | None = None) -> bytes:
        """The weights as safetensors bytes, bit-exact, with dim/h/k in the header."""
        meta = {
            "format": FORMAT,
            "dim": str(self.dim),
            "h": str(self.h),
            "k": str(self.k),
            "refit": str(int(self.encoding.refit)),
            "pursuit": str(self.encoding.pursuit),
        }
        if self.encoding.stages > 1:  # absent means one stage: files written before stages existed read the same
            meta["stages"] = str(self.encoding.stages)
        if metadata:
            meta["extra"] = json.dumps(metadata, sort_keys=True)
        tensors = {name: p.detach().cpu().contiguous() for name, p in self.state_dict().items()}
        return save_safetensors(tensors, metadata=meta)

    @classmethod
    def from_bytes(cls, data: bytes) -> "CompresSAE":
        """Load weights written by :meth:`to_bytes`.

        The header is checked against the bytes that follow it before anything is allocated: a small
        file cannot claim a large model (ValueError).
        """
        meta = _checked_header(data)
        encoding = Encoding(refit=meta.get("refit", "0") == "1", pursuit=int(meta.get("pursuit", "0")),
                            stages=int(meta.get("stages", "1")))
        model = cls(int(meta["dim"]), int(meta["h"]), int(meta["k"]), encoding=encoding)
        model.load_state_dict(load_safetensors(data))
        return model


MAX_DIM = 16_000  # pgvector's vector holds at most 16,000 dimensions
MAX_ATOMS = 1 << 20


def safetensors_header(data: bytes) -> dict[str, Any]:
    """A safetensors file's JSON header (8 bytes of its length, then the header); ValueError saying what is wrong."""
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    if size < 0 or 8 + size > len(data):
        raise ValueError(f"not a safetensors file, or is truncated ({len(data)} bytes)")
    try:
        header = json.loads(data[8 : 8 + size])
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not a safetensors file: its header is not JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise ValueError("not a safetensors file: its header is not a JSON object")
    return header


def _checked_header(data: bytes) -> dict[str, str]:
    """The metadata of a model file whose header names exactly the tensors a model of its dim and h holds,
    float32, laid end to end in the bytes that follow; ValueError naming what is wrong."""
    header = safetensors_header(data)
    size = int.from_bytes(data[:8], "little")
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"not a compressae-pg model (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    try:
        dim, h, k = (int(meta[key]) for key in ("dim", "h", "k"))
    except (KeyError, TypeError, ValueError):
        raise ValueError("its header has no valid dim, h and k") from None
    if not (1 <= dim <= MAX_DIM and 1 <= h <= MAX_ATOMS and 1 <= k <= h):
        raise ValueError(f"dim={dim}, h={h}, k={k} is out of range (dim <= {MAX_DIM}, h <= {MAX_ATOMS}, k <= h)")
    shapes = {"encoder": [h, dim], "encoder_bias": [h], "decoder": [h, dim]}
    tensors = {name: t for name, t in header.items() if name != "__metadata__"}
    if tensors.keys() != shapes.keys():
        raise ValueError(f"it holds the tensors {sorted(tensors)}, not {sorted(shapes)}")
    spans = []
    for name, want in shapes.items():
        t = tensors[name]
        offsets = t.get("data_offsets") if isinstance(t, dict) else None
        if (t.get("dtype") if isinstance(t, dict) else None) != "F32" or t.get("shape") != want or not (
                isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and offsets[1] - offsets[0] == 4 * int(np.prod(want))):
            raise ValueError(f"its tensor {name!r} is not float32 of shape {want}")
        spans.append(offsets)
    if sorted(spans)[0][0] != 0 or any(a[1] != b[0] for a, b in zip(sorted(spans), sorted(spans)[1:])) \
            or sorted(spans)[-1][1] != len(data) - 8 - size:
        raise ValueError(f"its tensors do not fill the {len(data) - 8 - size} bytes after the header")
    return meta
