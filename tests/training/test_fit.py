"""The training recipes: the paper's exactly, and what the defaults add to it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from compressae_pg.model import PAPER
from compressae_pg.training.loop import TrainConfig, aux_k_loss, fit, lr_factor, new_model
from compressae_pg.training.losses import neighbour_contrast

from ..support.truth import dense_reference_loss


def batches(seed: int = 0, n: int = 64, dim: int = 32):
    rng = np.random.default_rng(seed)
    while True:
        yield rng.standard_normal((n, dim)).astype(np.float32)


def test_paper_recipe_trains_exactly_like_the_reference_loop():
    cfg = TrainConfig.paper(h=256, k=8, steps=6, batch_size=64, lr=1e-2, device="cpu")
    model = new_model(32, cfg)
    ref = new_model(32, cfg)
    assert not torch.equal(model.encoder, model.decoder)  # Kaiming init, not tied
    fit(batches(), model, cfg, progress=False)

    opt = torch.optim.Adam(ref.parameters(), lr=1e-2)  # the reference: dense loss, constant lr
    data = batches()
    for _ in range(6):
        opt.zero_grad()
        dense_reference_loss(ref, torch.from_numpy(next(data))).backward()
        ref.project_decoder_grad()
        opt.step()
        ref.normalize_decoder()
    for name, p, q in zip(("encoder", "encoder_bias", "decoder"), model.parameters(), ref.parameters()):
        assert torch.allclose(p, q, atol=1e-5), name
    assert model.encoding == PAPER


def test_default_recipe_ties_the_encoder_at_a_constant_learning_rate():
    cfg = TrainConfig(h=256, k=8, steps=100)
    model = new_model(32, cfg)
    assert torch.equal(model.encoder, model.decoder)
    assert {lr_factor(cfg, s) for s in (0, 9, 50, 99)} == {1.0}
    assert (model.encoding.refit, model.encoding.pursuit, model.encoding.stages) == (True, 4, 2)  # k/2 in 2 stages
    assert TrainConfig(h=256, k=8, pursuit=2).encoding.stages == 1  # a pursuit given without stages: one stage
    assert TrainConfig.paper().encoding == PAPER and lr_factor(TrainConfig.paper(), 7) == 1.0


def test_cosine_schedule_warms_up_then_decays_to_a_tenth():
    cfg = TrainConfig(h=256, k=8, steps=100, schedule="cosine")
    assert lr_factor(cfg, 0) == pytest.approx(0.1, abs=0.01)  # warm-up over min(50, steps/10) steps
    assert lr_factor(cfg, 9) > 0.95  # warmed up; the cosine decay has barely begun
    assert lr_factor(cfg, 50) == pytest.approx(0.55, abs=0.01)
    assert lr_factor(cfg, 99) == pytest.approx(0.1, abs=0.01)


def test_aux_k_loss_trains_only_dead_atoms():
    cfg = TrainConfig(h=256, k=8)
    model = new_model(32, cfg)
    x = torch.from_numpy(next(batches()))
    rec = model.loss(x, keep=True)["reconstruction"]
    dead = torch.zeros(256, dtype=torch.bool)
    dead[:40] = True
    aux_k_loss(model, x, rec, dead).backward()
    enc_grad = model.encoder.grad.abs().sum(dim=1)
    assert enc_grad[:40].sum() > 0 and enc_grad[40:].sum() == 0
    assert model.decoder.grad.abs().sum(dim=1)[40:].sum() == 0


@pytest.mark.parametrize("settings", [
    {"pursuit": 40}, {"refit": False, "pursuit": 2}, {"init": "zeros"}, {"steps": 0},
    {"contrast_codes": -0.1}, {"contrast_rows": 1}, {"contrast_temperature": 0.0},
])
def test_impossible_settings_are_refused(settings):
    with pytest.raises(ValueError):
        TrainConfig(k=32, **settings)


def _np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _np_off_diagonal(m: np.ndarray) -> np.ndarray:
    return m[~np.eye(len(m), dtype=bool)].reshape(len(m), len(m) - 1)


def test_the_contrastive_term_matches_the_numpy_formula():
    cfg = TrainConfig(h=64, k=4)
    model = new_model(8, cfg)
    x = torch.from_numpy(next(batches(n=10, dim=8)))
    parts = model.loss(x, keep=True)
    term = neighbour_contrast(x[:6], parts["values"][:6, :4], parts["indices"][:6, :4], cfg.h, temperature=0.1)

    xs = x.numpy()[:6].astype(np.float64)
    xs /= np.linalg.norm(xs, axis=1, keepdims=True)
    z = np.zeros((6, cfg.h))
    np.put_along_axis(z, parts["indices"][:6, :4].numpy(), parts["values"][:6, :4].detach().numpy(), axis=1)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    positive = _np_off_diagonal(xs @ xs.T).argmax(axis=1)
    logq = np.log(_np_softmax(_np_off_diagonal(z @ z.T) / 0.1))

    assert term.item() == pytest.approx(-logq[np.arange(6), positive].mean(), rel=1e-4)
    term.backward()  # the codes' values come from the encoder: it gets the gradient
    assert model.encoder.grad.abs().sum() > 0 and model.decoder.grad is None


def test_the_contrastive_term_trains_only_when_weighted():
    """Off by default and in the paper: the default run is the paper-loss run; a weighted run moves the weights elsewhere."""
    assert TrainConfig().contrast_codes == TrainConfig.paper().contrast_codes == 0
    cfg = TrainConfig(h=256, k=8, steps=5, batch_size=64, device="cpu", aux_k=0, contrast_rows=32)
    runs = [new_model(32, cfg) for _ in range(3)]
    for model, weight in zip(runs, (0.0, 0.0, 1.0)):
        fit(batches(), model, replace(cfg, contrast_codes=weight), progress=False)
    assert torch.equal(runs[0].encoder, runs[1].encoder) and not torch.equal(runs[0].encoder, runs[2].encoder)


def test_patience_stops_after_checks_without_a_gain_and_keeps_the_best_weights():
    cfg = TrainConfig(h=256, k=8, steps=40, batch_size=64, device="cpu", check_every=2, patience=3)
    scores = iter([0.1, 0.3, 0.2, 0.25, 0.3 + 5e-5, 0.9])  # best at step 4; 6, 8 and 10 gain nothing (the last by < 1e-4)
    model = new_model(32, cfg)
    fitted = fit(batches(), model, cfg, progress=False, check=lambda m: next(scores))
    assert (fitted["steps_run"], fitted["best_step"]) == (10, 4)
    assert [s for s, _ in fitted["checks"]] == [2, 4, 6, 8, 10]
    four = new_model(32, cfg)  # an independent run of exactly the best check's 4 steps
    fit(batches(), four, TrainConfig(h=256, k=8, steps=4, batch_size=64, device="cpu"), progress=False)
    for name, p, q in zip(("encoder", "encoder_bias", "decoder"), model.parameters(), four.parameters()):
        assert torch.equal(p, q), name


def test_without_patience_checks_only_watch_and_every_step_runs():
    cfg = TrainConfig(h=256, k=8, steps=7, batch_size=64, device="cpu", check_every=3)
    model, plain = new_model(32, cfg), new_model(32, cfg)
    fitted = fit(batches(), model, cfg, progress=False, check=lambda m: 1.0)
    fit(batches(), plain, cfg, progress=False)
    assert (fitted["steps_run"], [s for s, _ in fitted["checks"]]) == (7, [3, 6, 7])
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), plain.parameters()))
    assert TrainConfig.paper().patience is None and TrainConfig().patience is None
