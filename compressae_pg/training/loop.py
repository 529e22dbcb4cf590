"""The optimisation loop: the paper's recipe, and the improvements this package trains with by default.

``TrainConfig.paper()`` reproduces the paper exactly: Kaiming-uniform init, Adam at a constant
learning rate, the ``k + 4k/8`` cosine loss, codes from the encoder's TopK. The defaults add, each
measured on its own in BENCHMARKS.md: the encoder initialised as the decoder's transpose, an AuxK
loss that revives dead atoms, and codes refined at encode time
(:class:`~compressae_pg.model.Encoding`). The method itself (TopK by magnitude, unit-norm atoms with
gradient projection, bias-free decoder, the paper's loss) is the same in both. Off in both: the
contrastive term of :mod:`compressae_pg.training.losses` (``contrast_codes``), a trade for tables searched by
the codes' own cosine (docs/method.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .._defaults import NONZEROS, H
from ..model import CompresSAE, Encoding, _TopKPreActivations
from .losses import neighbour_contrast

_DEAD_WINDOW_ROWS = 100_000
_MIN_GAIN = 1e-4  # the least rise of a check's score that counts as a gain


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; the defaults train a good 4096/32 model in about 6 minutes on 2 CPU cores."""

    h: int = H
    k: int = NONZEROS
    steps: int = 2000  # of batch_size rows: 4M samples, as the 1,000 of 4,096 before, and better on
    batch_size: int = 2048  # every measure on two seeds at 1.2x the minutes (BENCHMARKS.md, "At the default's budget")
    lr: float = 1e-3
    seed: int = 0
    device: str | None = None
    validation_rows: int = 2048
    buffer_rows: int = 65536
    init: str = "tied"  # "kaiming" (paper) or "tied": the encoder starts as the decoder's transpose
    schedule: str = "constant"  # "constant" (paper) or "cosine": linear warm-up, cosine decay to 10%
    warmup: int = 50  # steps (at most a tenth of the run)
    aux_k: float = 1 / 32  # weight of the AuxK loss on dead atoms (0: paper)
    refit: bool = True  # stored codes: least-squares values on the support (False: paper)
    pursuit: int | None = None  # stored codes: atoms picked from the residual (None: k // 2; 0: paper)
    pursuit_stages: int | None = None  # ... in this many equal stages, each refitting first (None: 2 with the
    #                                    default pursuit, when it is even, else 1; measured at k=32 only)
    contrast_codes: float = 0.0  # weight of the InfoNCE on the codes' cosine (compressae_pg.training.losses; 0: off,
    #                              paper; 0.01: sparse recall +4 points for asymmetric -1.6, 1.6x the training time)
    contrast_rows: int = 1024  # the sub-batch it compares
    contrast_temperature: float = 0.05
    check_every: int = 100  # steps between checks of the held-out rows' cosine (the stored codes'), with patience
    patience: int | None = None  # stop after this many checks without a gain, keeping the best weights (None: run
    #                              every step; 3 stopped a 5k-row 768-d table at 300 steps, -0.001 held-out cosine, BENCHMARKS.md)

    def __post_init__(self) -> None:
        if self.init not in ("kaiming", "tied"):
            raise ValueError(f"init must be 'kaiming' or 'tied' (got {self.init!r})")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine' (got {self.schedule!r})")
        if self.steps < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("steps, batch_size and lr must be positive")
        if not 0 <= self.encoding.pursuit < self.k:
            raise ValueError(f"pursuit must be in [0, k) (got {self.pursuit} for k={self.k})")
        if self.contrast_codes < 0:
            raise ValueError(f"contrast_codes is a weight: it must be >= 0 (got {self.contrast_codes})")
        if self.contrast_rows < 2 or self.contrast_temperature <= 0:
            raise ValueError(f"contrast_rows must be >= 2 and contrast_temperature > 0 "
                             f"(got {self.contrast_rows}, {self.contrast_temperature})")
        if self.check_every < 1 or (self.patience is not None and self.patience < 1):
            raise ValueError(f"check_every and patience must be >= 1 (got {self.check_every}, {self.patience})")

    @classmethod
    def paper(cls, **settings: Any) -> "TrainConfig":
        """The paper's recipe, exactly (other settings may still be given)."""
        exact = dict(init="kaiming", schedule="constant", aux_k=0.0, refit=False, pursuit=0, pursuit_stages=1,
                     contrast_codes=0.0, patience=None)
        return replace(cls(), **{**exact, **settings})

    @property
    def encoding(self) -> Encoding:
        """How the trained model computes stored codes."""
        default = self.pursuit is None and self.refit
        pursuit = self.k // 2 if default else (self.pursuit or 0)
        stages = self.pursuit_stages or (2 if default and pursuit >= 2 and pursuit % 2 == 0 else 1)
        return Encoding(refit=self.refit, pursuit=pursuit, stages=stages)

    def resolved_device(self) -> torch.device:
        if self.device:
            return torch.device(self.device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def new_model(dim: int, cfg: TrainConfig) -> CompresSAE:
    """A freshly initialised model for ``cfg`` (seeded)."""
    model = CompresSAE(dim, cfg.h, cfg.k, seed=cfg.seed, encoding=cfg.encoding)
    if cfg.init == "tied":
        with torch.no_grad():
            model.encoder.copy_(model.decoder)
    return model


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """Multiplier of the base learning rate at ``step``."""
    if cfg.schedule == "constant":
        return 1.0
    warm = min(1.0, (step + 1) / max(1, min(cfg.warmup, cfg.steps // 10)))
    return warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps)))


def aux_k_loss(model: CompresSAE, x: torch.Tensor, rec_k: torch.Tensor, dead: torch.Tensor) -> torch.Tensor:
    """AuxK (Gao et al. 2024): the dead atoms' own TopK reconstructs what the live code misses.

    The residual is x̃ minus its projection on the (detached) reconstruction; the loss is its
    normalised squared error, so dead atoms get gradient toward directions the code cannot reach.
    """
    xn = F.normalize(x, dim=1)
    unit = F.normalize(rec_k.detach(), dim=1)
    residual = xn - unit * (xn * unit).sum(dim=1, keepdim=True)
    dead_idx = dead.nonzero().squeeze(1)
    n = min(len(dead_idx), 2 * model.k)
    values, picked = _TopKPreActivations.apply(xn, model.encoder[dead_idx], model.encoder_bias[dead_idx], n)
    aux = model.decode_sparse(values, dead_idx[picked])
    return ((aux - residual) ** 2).sum(dim=1).mean() / (residual**2).sum(dim=1).mean().clamp_min(1e-12)


def fit(batches: Iterator[np.ndarray], model: CompresSAE, cfg: TrainConfig, *, progress: bool = True,
        check: Callable[[CompresSAE], float] | None = None) -> dict[str, Any]:
    """Train ``model`` on ``cfg.steps`` batches: Adam, gradient projection, renormalised atoms.

    ``check`` scores the model on rows it does not train on (higher is better), every
    ``cfg.check_every`` steps. With ``cfg.patience``, training stops after that many checks without a
    gain and the model keeps its best-scoring weights. On this package's data the held-out score never
    falls, so stopping saves time, not quality (BENCHMARKS.md, "Rows written after training").
    """
    device = cfg.resolved_device()
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    window = max(1, -(-_DEAD_WINDOW_ROWS // cfg.batch_size))
    last_used = torch.full((model.h,), -1, dtype=torch.long, device=device)
    parts: dict[str, torch.Tensor] = {}
    checks: list[tuple[int, float]] = []
    best: tuple[float, int, dict[str, torch.Tensor] | None] = (-math.inf, 0, None)  # score, step, weights
    since_best, step = 0, -1
    with tqdm(total=cfg.steps, desc="train", unit="step", disable=not progress, dynamic_ncols=True) as bar:  # closed on errors too
        for step in range(cfg.steps):
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(cfg, step)
            x = torch.from_numpy(next(batches)).to(device)
            parts = model.loss(x, keep=True)
            with torch.no_grad():
                last_used[parts["indices"][:, : model.k].reshape(-1)] = step
            loss = parts["loss"]
            if cfg.contrast_codes:
                n = cfg.contrast_rows
                parts["contrast_codes"] = neighbour_contrast(x[:n], parts["values"][:n, :model.k], parts["indices"][:n, :model.k], model.h,
                                                             temperature=cfg.contrast_temperature)
                loss = loss + cfg.contrast_codes * parts["contrast_codes"]
            del parts["values"], parts["indices"]
            dead = (step - last_used) > window
            if cfg.aux_k and step >= window and bool(dead.any()):
                parts["aux_k"] = aux_k_loss(model, x, parts["reconstruction"], dead)
                loss = loss + cfg.aux_k * parts["aux_k"]
            parts.pop("reconstruction")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            model.project_decoder_grad()
            opt.step()
            model.normalize_decoder()
            bar.update(1)
            if step % 10 == 0 or step == cfg.steps - 1:
                bar.set_postfix(loss=f"{parts['loss'].item():.4f}", cos=f"{parts['cosine'].item():.4f}")
            if check is not None and ((step + 1) % cfg.check_every == 0 or step == cfg.steps - 1):
                model.eval()
                checks.append((step + 1, float(check(model))))
                model.train()
                if checks[-1][1] > best[0] + _MIN_GAIN:
                    kept = {k: v.detach().clone() for k, v in model.state_dict().items()} if cfg.patience else None
                    best, since_best = (checks[-1][1], step + 1, kept), 0
                else:
                    since_best += 1
                    if cfg.patience and since_best >= cfg.patience:
                        break
    model.eval()
    if best[2] is not None and checks[-1][0] != best[1]:
        model.load_state_dict(best[2])
    steps = step + 1
    dead = ((steps - 1 - last_used) >= window) if steps > window else (last_used < 0)
    return {
        "train_loss": parts["loss"].item() if parts else float("nan"),
        "train_cosine": parts["cosine"].item() if parts else float("nan"),
        "dead_atoms": float(dead.float().mean()),
        "steps_run": steps,
        **({"best_step": best[1], "checks": [[s, round(v, 6)] for s, v in checks]} if checks else {}),
    }


@torch.no_grad()
def validate(model: CompresSAE, x: np.ndarray, device: torch.device) -> dict[str, float]:
    """Mean cosine between vectors and their reconstructions: stored codes, and the bare encoder's TopK."""
    stored, encoder = [], []
    for chunk in torch.from_numpy(x).split(8192):
        chunk = chunk.to(device)
        stored.append(F.cosine_similarity(chunk, model.decode_sparse(*model.select(chunk)), dim=1))
        encoder.append(F.cosine_similarity(chunk, model.decode_sparse(*model.topk(chunk)), dim=1))
    mean = lambda parts: float(torch.cat(parts).mean()) if parts else float("nan")  # noqa: E731
    return {"val_cosine": mean(stored), "val_cosine_encoder": mean(encoder)}
