"""The training recipes: the paper's exactly, and what the defaults add to it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compressae_pg.training.loop import TrainConfig, aux_k_loss, fit, lr_factor, new_model

from .test_model import dense_reference_loss


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
    assert model.encoding.is_paper


def test_default_recipe_ties_the_encoder_at_a_constant_learning_rate():
    cfg = TrainConfig(h=256, k=8, steps=100)
    model = new_model(32, cfg)
    assert torch.equal(model.encoder, model.decoder)
    assert {lr_factor(cfg, s) for s in (0, 9, 50, 99)} == {1.0}
    assert (model.encoding.refit, model.encoding.pursuit) == (True, 2)
    assert TrainConfig.paper().encoding.is_paper and lr_factor(TrainConfig.paper(), 7) == 1.0


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


@pytest.mark.parametrize("settings", [{"pursuit": 40}, {"refit": False, "pursuit": 2}, {"init": "zeros"}, {"steps": 0}])
def test_impossible_settings_are_refused(settings):
    with pytest.raises(ValueError):
        TrainConfig(k=32, **settings)
