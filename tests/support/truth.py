"""The independent truth the tests check the package against: numpy, the long way, without the package's maths."""

from __future__ import annotations

import numpy as np
import psycopg
import torch
import torch.nn.functional as F
from pgvector import SparseVector

from compressae_pg import CompresSAE

from .models import H
from .tables import codes_by_key


def numpy_values(model: CompresSAE, x: np.ndarray, indices: list[int]) -> np.ndarray:
    """The stored values on atoms ``indices`` for source ``x``, computed in float64 numpy without the package.

    Refit models: the least-squares fit of x̃ on those decoder rows (``np.linalg.lstsq``); paper models:
    the pre-activations ``W_enc x̃ + b``. Either way scaled so the decoded vector has unit norm.
    """
    xn = np.asarray(x, dtype=np.float64) / np.linalg.norm(x)
    atoms = model.decoder.detach().double().numpy()[indices]
    if model.encoding.refit:
        values = np.linalg.lstsq(atoms.T, xn, rcond=None)[0]
    else:
        values = model.encoder.detach().double().numpy()[indices] @ xn + model.encoder_bias.detach().double().numpy()[indices]
    return values / np.linalg.norm(values @ atoms)


def check_codes(conn: psycopg.Connection, model: CompresSAE, **names) -> int:
    """Assert that every row's code is exactly ``model.compress(source)`` (NULL for NULL or unencodable
    sources) and has the values numpy computes on its atoms; return the number of rows checked."""
    rows = codes_by_key(conn, **names)
    encodable = {k: s.to_numpy() for k, (s, _c) in rows.items()
                 if s is not None and len(s.to_numpy()) == model.dim and np.any(s.to_numpy())}
    keys = list(encodable)
    want = model.compress(np.stack([encodable[k] for k in keys])) if keys else None
    for i, k in enumerate(keys):
        got = rows[k][1]
        assert got is not None, f"row {k!r} has no code"
        assert got.indices() == want.indices[i].tolist(), f"row {k!r} has the wrong atoms"
        np.testing.assert_allclose(got.values(), want.values[i], rtol=0, atol=1e-6, err_msg=f"row {k!r}")
        np.testing.assert_allclose(got.values(), numpy_values(model, encodable[k], got.indices()), rtol=0, atol=2e-4,
                                   err_msg=f"row {k!r}: not the values numpy computes on its atoms")
        if model.encoding.is_paper:  # the atoms themselves: the k largest |pre-activation| by numpy, ties aside
            xn = encodable[k].astype(np.float64) / np.linalg.norm(encodable[k])
            pre = np.abs(model.encoder.detach().double().numpy() @ xn + model.encoder_bias.detach().double().numpy())
            chosen = np.zeros(model.h, dtype=bool)
            chosen[got.indices()] = True
            assert chosen.sum() == model.k and pre[chosen].min() >= pre[~chosen].max() - 1e-6, f"row {k!r}: not the top-k atoms"
    for k, (_s, c) in rows.items():
        if k not in encodable:
            assert c is None, f"row {k!r} has a code but its source cannot be encoded"
    return len(rows)


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``b`` with ``a``, in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (b @ a) / (np.linalg.norm(b, axis=1) * np.linalg.norm(a))


def sign_cosine(query: np.ndarray, sources: list) -> np.ndarray:
    """The cosine of the ±1 sign vectors of ``query`` and each source (x > 0 → +1, else −1): 1 − 2·Hamming/d."""
    q = np.asarray(query) > 0
    return np.array([np.nan if s is None else 1.0 - 2.0 * np.mean((np.asarray(s) > 0) != q) for s in sources])


def brute_force(model: CompresSAE, query_code: np.ndarray, query: np.ndarray | None, codes: np.ndarray,
                sources: list, mode: str, graph: str = "sketch") -> np.ndarray:
    """Every rerank score computed the long way: decode everything, take cosines (``symmetric`` by K = W_dec W_decᵀ).

    ``none`` is the index's own order: the sign bits' cosine for the sketch graph, the codes' for the sparse one.
    """
    dec = model.decoder.detach().double().numpy()
    if mode == "none":
        return sign_cosine(query, sources) if graph == "sketch" else cos(query_code, codes)
    if mode == "reconstructed":
        return cos(query, codes @ dec)
    if mode == "symmetric":
        kernel = dec @ dec.T
        num = codes @ kernel @ query_code
        return num / np.sqrt(np.einsum("ij,jk,ik->i", codes, kernel, codes) * (query_code @ kernel @ query_code))
    return np.array([np.nan if s is None else cos(query, s[None, :])[0] for s in sources])


def dense_code(indices: np.ndarray, values: np.ndarray, h: int = H) -> np.ndarray:
    out = np.zeros(h, dtype=np.float64)
    out[np.asarray(indices)] = values
    return out


def assert_top(hits: list, keys: list, scores: np.ndarray, k: int, allowed=None, atol: float = 1e-5) -> None:
    """``hits`` are the brute-force top ``k`` of ``scores`` (over the keys ``allowed``): each hit's score is its
    row's brute-force score, and the scores are the k best, best first. Rows tied on score may come in any order."""
    ok = np.array([allowed is None or key in allowed for key in keys]) & ~np.isnan(scores)
    best = np.sort(scores[ok])[::-1][:k]
    by_key = dict(zip(keys, scores))
    assert len({h.key for h in hits}) == len(hits) == len(best)
    assert all(allowed is None or h.key in allowed for h in hits)
    np.testing.assert_allclose([h.score for h in hits], best, atol=atol, rtol=0)
    np.testing.assert_allclose([h.score for h in hits], [by_key[h.key] for h in hits], atol=atol, rtol=0)


def dense_reference_loss(m: CompresSAE, x: torch.Tensor) -> torch.Tensor:
    """The loss written the way the paper's reference code writes it: dense masks, dense decoder."""
    e = F.normalize(x, dim=1) @ m.encoder.t() + m.encoder_bias

    def mask(k):
        top = torch.topk(e.abs(), k, dim=1)
        return torch.zeros_like(e).scatter(1, top.indices, top.values) * torch.sign(e)

    rec_k, rec_4k = mask(m.k) @ m.decoder, mask(4 * m.k) @ m.decoder
    return (1 - F.cosine_similarity(x, rec_k, dim=1).mean()) + (1 - F.cosine_similarity(x, rec_4k, dim=1).mean()) / 8


def sparse(s: SparseVector) -> tuple[np.ndarray, np.ndarray]:
    """(0-based indices ascending, values) of a pgvector SparseVector."""
    idx = np.asarray(s.indices(), dtype=np.int64)
    order = np.argsort(idx)
    return idx[order], np.asarray(s.values(), dtype=np.float32)[order]
