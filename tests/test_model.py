"""The CompresSAE method, pinned property by property (no database needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from compressae_pg import CompresSAE, Encoding, InvalidVectorError

from .support.truth import dense_reference_loss


def test_topk_keeps_largest_magnitudes_with_their_signs():
    m = CompresSAE(4, 8, 2, seed=0)
    with torch.no_grad():
        m.encoder.zero_()
        m.encoder_bias.copy_(torch.tensor([0.1, -5.0, 0.2, 3.0, -0.3, 0.0, 2.9, -0.05]))
    values, indices = m.topk(torch.ones(1, 4))
    assert sorted(indices[0].tolist()) == [1, 3]  # |−5| and |3| beat 2.9 and every positive small value
    assert dict(zip(indices[0].tolist(), values[0].tolist())) == {1: -5.0, 3: 3.0}


def test_input_is_l2_normalised_before_encoding():
    m = CompresSAE(16, 64, 4, seed=1)
    x = torch.randn(5, 16)
    a, b = m.topk(x), m.topk(7.5 * x)
    assert torch.equal(a[1], b[1])
    assert torch.allclose(a[0], b[0], atol=1e-6)


def test_encoder_has_a_bias_and_decoder_has_none():
    m = CompresSAE(16, 64, 4, seed=1)
    names = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert names == {"encoder": (64, 16), "encoder_bias": (64,), "decoder": (64, 16)}
    zero_code = m.decode_sparse(torch.zeros(1, 4), torch.arange(4).unsqueeze(0))
    assert torch.count_nonzero(zero_code) == 0  # no bias: the empty code decodes to the origin


def test_bias_shifts_pre_activations():
    m = CompresSAE(16, 64, 4, seed=1)
    x = torch.randn(3, 16)
    before = m.pre_activations(x)
    with torch.no_grad():
        m.encoder_bias.add_(0.5)
    assert torch.allclose(m.pre_activations(x) - before, torch.full_like(before, 0.5), atol=1e-6)


def test_kaiming_uniform_init_and_unit_decoder_rows():
    m = CompresSAE(384, 4096, 32, seed=0)
    bound = math.sqrt(6 / 4096)  # kaiming_uniform_ on the (d, h) encoder: fan_in = h
    enc = m.encoder.detach()
    assert enc.abs().max() <= bound
    assert enc.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert torch.count_nonzero(m.encoder_bias) == 0
    assert torch.allclose(m.decoder.norm(dim=1), torch.ones(4096), atol=1e-6)


def test_loss_is_k_plus_4k_over_8_cosine():
    m = CompresSAE(32, 256, 8, seed=2)
    x = torch.randn(64, 32)
    parts = m.loss(x)
    expected = dense_reference_loss(m, x)
    assert parts["loss"].item() == pytest.approx(expected.item(), abs=1e-6)
    assert parts["loss"].item() == pytest.approx((1 - parts["cosine"].item()) + (1 - parts["cosine_4k"].item()) / 8, abs=1e-6)


def test_sparse_backward_equals_dense_gradients():
    m = CompresSAE(32, 256, 8, seed=3)
    x = torch.randn(128, 32)
    dense_reference_loss(m, x).backward()
    want = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    m.loss(x)["loss"].backward()
    for name, got, exp in zip(("encoder", "encoder_bias", "decoder"), (p.grad for p in m.parameters()), want):
        assert torch.allclose(got, exp, atol=1e-6, rtol=1e-4), name


def test_gradient_projection_removes_the_parallel_component():
    m = CompresSAE(32, 256, 8, seed=4)
    m.loss(torch.randn(64, 32))["loss"].backward()
    before = (m.decoder.grad * m.decoder).sum(dim=1)
    assert before.abs().max() > 1e-6  # there was something to remove
    m.project_decoder_grad()
    assert (m.decoder.grad * m.decoder).sum(dim=1).abs().max() < 1e-7


def test_decoder_rows_are_unit_after_every_step():
    m = CompresSAE(32, 256, 8, seed=5)
    opt = torch.optim.Adam(m.parameters(), lr=0.1)  # a large step pushes rows off the sphere
    for _ in range(3):
        opt.zero_grad()
        m.loss(torch.randn(64, 32))["loss"].backward()
        m.project_decoder_grad()
        opt.step()
        assert (m.decoder.norm(dim=1) - 1).abs().max() > 1e-4
        m.normalize_decoder()
        assert torch.allclose(m.decoder.norm(dim=1), torch.ones(256), atol=1e-6)


def test_seeded_init_and_training_are_reproducible():
    def run():
        torch.manual_seed(0)
        m = CompresSAE(32, 256, 8, seed=7)
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        for _ in range(5):
            opt.zero_grad()
            m.loss(torch.randn(64, 32))["loss"].backward()
            m.project_decoder_grad()
            opt.step()
            m.normalize_decoder()
        return m

    a, b = run(), run()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert not torch.equal(CompresSAE(32, 256, 8, seed=7).encoder, CompresSAE(32, 256, 8, seed=8).encoder)


def test_weights_round_trip_bit_exactly():
    m = CompresSAE(48, 256, 8, seed=9)
    with torch.no_grad():
        m.encoder_bias.normal_()
    data = m.to_bytes()
    back = CompresSAE.from_bytes(data)
    assert (back.dim, back.h, back.k) == (48, 256, 8)
    for (n, p), (_, q) in zip(m.named_parameters(), back.named_parameters()):
        assert torch.equal(p, q), n
    x = np.random.default_rng(0).standard_normal((5, 48)).astype(np.float32)
    a, b = m.compress(x), back.compress(x)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.values, b.values)


def test_compress_gives_sorted_k_sparse_codes_with_unit_norm_reconstructions():
    m = CompresSAE(48, 256, 8, seed=10)
    x = np.random.default_rng(0).standard_normal((20, 48)).astype(np.float32)
    codes = m.compress(x)
    assert codes.indices.shape == codes.values.shape == (20, 8)
    assert (np.diff(codes.indices, axis=1) > 0).all()
    assert np.allclose(np.linalg.norm(m.decompress(codes), axis=1), 1, atol=1e-5)
    dense = codes.dense()
    assert (np.count_nonzero(dense, axis=1) == 8).all()


def test_projection_gives_the_asymmetric_score_in_o_k():
    m = CompresSAE(48, 256, 8, seed=11)
    rng = np.random.default_rng(1)
    codes = m.compress(rng.standard_normal((10, 48)).astype(np.float32))
    q = rng.standard_normal(48).astype(np.float32)
    via_projection = (m.project(q)[0][codes.indices] * codes.values).sum(axis=1)
    assert np.allclose(via_projection, m.decompress(codes) @ q, atol=1e-5)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((1, 8), np.nan, dtype=np.float32), "NaN or Inf"),
        (np.array([[1, 2, 3, np.inf, 0, 0, 0, 0]], dtype=np.float32), "NaN or Inf"),
        (np.zeros((2, 8), dtype=np.float32), "all zeros"),
        (np.ones((1, 9), dtype=np.float32), "dimension 8"),
    ],
)
def test_bad_vectors_are_refused_with_the_problem_named(bad, message):
    m = CompresSAE(8, 64, 4, seed=0)
    with pytest.raises(InvalidVectorError, match=message):
        m.compress(bad)


def test_nan_error_names_the_row():
    m = CompresSAE(8, 64, 4, seed=0)
    x = np.ones((3, 8), dtype=np.float32)
    x[2, 1] = np.nan
    with pytest.raises(InvalidVectorError, match="row 2"):
        m.compress(x)


@pytest.mark.parametrize("dim, h, k", [(0, 64, 4), (8, 15, 4), (8, 64, 0), (8, 8192, 1001)])
def test_impossible_shapes_are_refused(dim, h, k):
    with pytest.raises(ValueError):
        CompresSAE(dim, h, k)


def _trained_like(seed=12):
    m = CompresSAE(32, 256, 8, seed=seed)
    with torch.no_grad():
        m.encoder.copy_(m.decoder)
    return m


def test_refit_values_are_the_least_squares_fit_on_the_support():
    m = _trained_like()
    m.encoding = Encoding(refit=True)
    x = torch.randn(6, 32)
    values, indices = m.select(x)
    assert torch.equal(indices, m.topk(x)[1])  # refit keeps the encoder's support
    for row in range(6):
        atoms = m.decoder[indices[row]].detach().numpy().T
        target = F.normalize(x[row], dim=0).numpy()
        want = np.linalg.lstsq(atoms, target, rcond=None)[0]
        assert np.allclose(values[row].numpy(), want, atol=1e-3)
    bare = F.cosine_similarity(x, m.decode_sparse(*m.topk(x)), dim=1)
    refit = F.cosine_similarity(x, m.decode_sparse(values, indices), dim=1)
    assert (refit >= bare - 1e-6).all()


def numpy_pursuit(m: CompresSAE, x: torch.Tensor, first: int, stages: int, per: int) -> tuple[list, np.ndarray]:
    """The support and values of one row in float64 numpy, with np.linalg.lstsq in place of the model's own (ridge)
    least squares: the encoder's ``first`` atoms, then ``stages`` times the ``per`` atoms most correlated with the
    residual of the fit so far, then all values refit. Asserts no stage has a near-tie that float32 could flip."""
    enc, bias = m.encoder.detach().double().numpy(), m.encoder_bias.detach().double().numpy()
    dec = m.decoder.detach().double().numpy()
    xn = x.double().numpy() / np.linalg.norm(x.double().numpy())
    support = list(np.argsort(-np.abs(enc @ xn + bias))[:first])
    for _stage in range(stages):
        fit = np.linalg.lstsq(dec[support].T, xn, rcond=None)[0]
        corr = np.abs(dec @ (xn - fit @ dec[support]))
        corr[support] = -1.0
        ranked = np.sort(corr)[::-1]
        assert ranked[per - 1] - ranked[per] > 1e-4  # no near-tie that float32 could flip
        support += list(np.argsort(-corr)[:per])
    return support, np.linalg.lstsq(dec[support].T, xn, rcond=None)[0]


def test_pursuit_adds_the_atoms_most_correlated_with_the_residual():
    """5 encoder atoms, then one stage of 3 from the residual, then all 8 values refit (checked in float64 numpy)."""
    m = _trained_like()
    m.encoding = Encoding(refit=True, pursuit=3)
    x = torch.randn(4, 32, generator=torch.Generator().manual_seed(0))
    values, indices = m.select(x)
    for row in range(4):
        support, want = numpy_pursuit(m, x[row], first=5, stages=1, per=3)
        assert indices[row].tolist() == support
        np.testing.assert_allclose(values[row].numpy(), want, atol=1e-3)


def test_pursuit_in_stages_refits_before_each_stage():
    """4 encoder atoms, then 2 stages of 2 atoms, each from the residual of the fit so far (checked in float64 numpy)."""
    m = _trained_like()
    m.encoding = Encoding(refit=True, pursuit=4, stages=2)
    x = torch.randn(4, 32, generator=torch.Generator().manual_seed(1))
    values, indices = m.select(x)
    for row in range(4):
        support, want = numpy_pursuit(m, x[row], first=4, stages=2, per=2)
        assert indices[row].tolist() == support
        np.testing.assert_allclose(values[row].numpy(), want, atol=1e-3)
    m.encoding = Encoding(refit=True, pursuit=4)
    assert not torch.equal(m.select(x)[1], indices)  # the stages chose other atoms than one stage would


def test_the_encoding_travels_with_the_weights():
    m = CompresSAE(32, 256, 8, seed=1, encoding=Encoding(refit=True, pursuit=2))
    assert CompresSAE.from_bytes(m.to_bytes()).encoding == Encoding(refit=True, pursuit=2)
    m.encoding = Encoding(refit=True, pursuit=4, stages=2)
    assert CompresSAE.from_bytes(m.to_bytes()).encoding == Encoding(refit=True, pursuit=4, stages=2)
    with pytest.raises(ValueError, match="divide pursuit"):
        Encoding(refit=True, pursuit=3, stages=2)
    with pytest.raises(ValueError, match="needs refit"):
        Encoding(refit=False, pursuit=2)
