"""The independent truth the tests check the package against: numpy, the long way, without the package's maths."""

from __future__ import annotations

import numpy as np
import psycopg
import torch
import torch.nn.functional as F
from pgvector import SparseVector

from compressae_pg import CompresSAE
from compressae_pg.model import PAPER

from .models import H
from .tables import codes_by_key


def unit(x: np.ndarray) -> np.ndarray:
    """``x`` in float64, normalised there: a halfvec source's own norm, taken in float16, is only good to ~1e-3."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x)


def float64_weights(model: CompresSAE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's decoder, encoder and encoder bias as float64 numpy, converted once for a whole check."""
    return tuple(t.detach().double().numpy() for t in (model.decoder, model.encoder, model.encoder_bias))


def numpy_values(model: CompresSAE, x: np.ndarray, indices: list[int], weights: tuple | None = None) -> np.ndarray:
    """The stored values on atoms ``indices`` for source ``x``, computed in float64 numpy without the package.

    Refit models: the least-squares fit of x̃ on those decoder rows (``np.linalg.lstsq``); paper models:
    the pre-activations ``W_enc x̃ + b``. Either way scaled so the decoded vector has unit norm. ``weights``:
    :func:`float64_weights` of the model, for a caller that checks many rows.
    """
    dec, enc, bias = weights or float64_weights(model)
    xn = unit(x)
    atoms = dec[indices]
    if model.encoding.refit:
        values = np.linalg.lstsq(atoms.T, xn, rcond=None)[0]
    else:
        values = enc[indices] @ xn + bias[indices]
    return values / np.linalg.norm(values @ atoms)


def check_codes(conn: psycopg.Connection, model: CompresSAE, **names) -> int:
    """Assert that every row's code is exactly ``model.compress(source)`` (NULL for NULL or unencodable
    sources) and has the values numpy computes on its atoms; return the number of rows checked."""
    rows = codes_by_key(conn, **names)
    encodable = {k: s.to_numpy() for k, (s, _c) in rows.items()
                 if s is not None and len(s.to_numpy()) == model.dim and np.any(s.to_numpy())}
    keys = list(encodable)
    want = model.compress(np.stack([encodable[k] for k in keys])) if keys else None
    weights = float64_weights(model)
    _dec, enc, bias = weights
    for i, k in enumerate(keys):
        got = rows[k][1]
        assert got is not None, f"row {k!r} has no code"
        assert got.indices() == want.indices[i].tolist(), f"row {k!r} has the wrong atoms"
        np.testing.assert_allclose(got.values(), want.values[i], rtol=0, atol=1e-6, err_msg=f"row {k!r}")
        np.testing.assert_allclose(got.values(), numpy_values(model, encodable[k], got.indices(), weights), rtol=0, atol=2e-4,
                                   err_msg=f"row {k!r}: not the values numpy computes on its atoms")
        if model.encoding == PAPER:  # the atoms themselves: the k largest |pre-activation| by numpy, ties aside
            pre = np.abs(enc @ unit(encodable[k]) + bias)
            chosen = np.zeros(model.h, dtype=bool)
            chosen[got.indices()] = True
            assert chosen.sum() == model.k and pre[chosen].min() >= pre[~chosen].max() - 1e-6, f"row {k!r}: not the top-k atoms"
    for k, (_s, c) in rows.items():
        if k not in encodable:
            assert c is None, f"row {k!r} has a code but its source cannot be encoded"
    return len(rows)


def held_out_rows(conn: psycopg.Connection, table: str, schema: str = "public", column: str = "embedding") -> np.ndarray:
    """The rows training holds out, as the trainer documents its split and computed by the server: those whose ctid
    hashes below a fifth of the 20-bit range (the cap on the held-out fraction, reached by tables under 10,240 rows)."""
    query = psycopg.sql.SQL("SELECT {} FROM {} WHERE (hashtextextended(ctid::text, 0) & 1048575) < 209715").format(
        psycopg.sql.Identifier(column), psycopg.sql.Identifier(schema, table))
    return np.stack([np.asarray(r[0].to_numpy(), np.float32) for r in conn.execute(query)])


def reconstruction_cosines(model: CompresSAE, rows: np.ndarray) -> np.ndarray:
    """Each row's cosine with its reconstruction, in float64 numpy: the least-squares (or paper) values numpy
    computes on the atoms the model's code picks (:func:`numpy_values`), decoded by the decoder's rows."""
    weights = float64_weights(model)
    picked = model.compress(rows).indices
    return np.array([cos(x, (numpy_values(model, x, idx.tolist(), weights) @ weights[0][idx])[None, :])[0]
                     for x, idx in zip(rows, picked)])


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``b`` with ``a``, in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (b @ a) / (np.linalg.norm(b, axis=1) * np.linalg.norm(a))


def numpy_sketch(v, planes: int = 2) -> np.ndarray:
    """A vector's sketch bits (bool), written here apart from the package: sign(x) (x > 0), then for 2 planes
    sign(y), y = ((x − σ₁x) + σ_{d/4}x) − σ_{5d/9}x in float32, (σ_s x)_i = x[(i + s) mod d]."""
    x = np.asarray(v, dtype=np.float32)
    d = len(x)
    if planes == 1:
        return x > 0
    at = lambda s: x[(np.arange(d) + s) % d]  # noqa: E731
    y = np.subtract(np.add(np.subtract(x, at(1), dtype=np.float32), at(d // 4), dtype=np.float32), at(5 * d // 9), dtype=np.float32)
    return np.concatenate([x > 0, y > 0])


def sign_cosine(query: np.ndarray, sources: list, planes: int = 2) -> np.ndarray:
    """1 − 2·Hamming/bits between the sketches (:func:`numpy_sketch`) of ``query`` and each source: the sketch graph's
    rerank-none score (2 planes, the default of an attachment; 1 is the cosine of the ±1 sign vectors)."""
    q = numpy_sketch(query, planes)
    return np.array([np.nan if s is None else 1.0 - 2.0 * np.mean(numpy_sketch(s, planes) != q) for s in sources])


def residual_truth(source: np.ndarray, decoded: np.ndarray, planes: int) -> tuple[np.ndarray, float, float]:
    """One row's residual sketch the long way, in float64, as docs and _residual.py define it: (L, c, a), with c and
    a·√d rounded to 16-bit fractions as they are stored."""
    x, xh = unit(source), unit(decoded)
    c = float(x @ xh)
    r = x - c * xh
    levels = np.array([1.0 if v > 0 else -1.0 for v in r])
    if planes == 2:  # the outer levels of the 2-bit Lloyd-Max quantizer of N(0, σ²), σ² the mean of r_i²
        sigma = np.sqrt(np.mean(r * r))
        levels = np.array([v * 3.336 if abs(ri) > 0.9816 * sigma else v for v, ri in zip(levels, r)])
    a = float(r @ levels / (levels @ levels))
    d = len(r)
    return levels, round(min(max(c, 0.0), 1.0) * 65535) / 65535, round(min(max(a * np.sqrt(d), 0.0), 1.0) * 65535) / 65535 / np.sqrt(d)


def check_residuals(conn: psycopg.Connection, model: CompresSAE, *, planes: int = 2, table: str = "items",
                    column: str = "embedding", code: str = "embedding_sae", residual: str = "embedding_sae_residual",
                    flips: int = 0) -> int:
    """Assert that every coded row's residual sketch is :func:`residual_truth`'s: its planes (up to ``flips`` levels
    apart, for sketches computed in SQL) and its two 16-bit scales (within the one step that another order of float64
    sums can round to);
    and that a row without a code has none. Returns the number of residual sketches checked."""
    query = psycopg.sql.SQL("SELECT {}, {}, {}::text FROM {}").format(*map(psycopg.sql.Identifier, (column, code, residual, table)))
    dec = model.decoder.detach().double().numpy()
    d, checked = model.dim, 0
    for source, stored, bits in conn.execute(query).fetchall():
        if stored is None:
            assert bits is None, "a residual sketch beside a NULL code"
            continue
        assert bits is not None and len(bits) == planes * d + 32, f"a residual sketch of {None if bits is None else len(bits)} bits"
        dense = np.zeros(model.h)
        dense[stored.indices()] = stored.values()
        levels, c, a = residual_truth(source.to_numpy(), dense @ dec, planes)
        got = np.array([1.0 if b == "1" else -1.0 for b in bits[:d]])
        if planes == 2:
            got = np.where(np.array([b == "1" for b in bits[d : 2 * d]]), got * 3.336, got)
        assert int((got != levels).sum()) <= flips, f"{int((got != levels).sum())} levels differ from numpy's"
        scales = (int(bits[planes * d : planes * d + 16], 2), int(bits[planes * d + 16 :], 2))
        want = (round(c * 65535), round(a * np.sqrt(d) * 65535))
        assert all(abs(g - w) <= 1 for g, w in zip(scales, want)), f"scales {scales}, numpy's {want}"  # a rounding boundary apart
        checked += 1
    return checked


def sql_query_levels(query: np.ndarray) -> np.ndarray:
    """The unit query as compressae.search quantizes it for the residual score: float32 normalised, then 8 bit
    planes over [min, max] (rounded half up), each value lo + step·u."""
    q = (np.asarray(query, np.float32) / np.linalg.norm(np.asarray(query, np.float32))).astype(np.float32).astype(np.float64)
    lo, step = q.min(), (q.max() - q.min()) / 255
    return lo + step * np.floor((q - lo) / step + 0.5)


def brute_force(model: CompresSAE, query_code: np.ndarray, query: np.ndarray | None, codes: np.ndarray,
                sources: list, mode: str, graph: str = "sketch", planes: int | None = None,
                residual_query: np.ndarray | None = None) -> np.ndarray:
    """Every rerank score computed the long way: decode everything, take cosines (``symmetric`` by K = W_dec W_decᵀ).

    ``none`` is the index's own order: the sign bits' cosine for the sketch graph, the codes' for the sparse one.
    ``reconstructed`` with a residual sketch of ``planes`` (default: 2 with the sketch graph, none with the sparse
    one, as attach's) is c·cos(q, x̂) + a·(q̂·L), from each row's source; ``residual_query`` replaces q̂ in q̂·L (the
    quantized query of SQL's search, :func:`sql_query_levels`).
    """
    dec = model.decoder.detach().double().numpy()
    if mode == "none":
        return sign_cosine(query, sources) if graph == "sketch" else cos(query_code, codes)
    planes = (2 if graph == "sketch" else 0) if planes is None else planes
    if mode == "reconstructed" and planes:
        base = cos(query, codes @ dec)
        qn = unit(query) if residual_query is None else residual_query
        out = np.empty(len(codes))
        for i, (code, source) in enumerate(zip(codes @ dec, sources)):
            levels, c, a = residual_truth(source, code, planes)
            bound = np.sqrt(1 - c * c) * np.sqrt(max(1 - base[i] ** 2, 0))  # r ⟂ x̂, |r| = √(1 − c²): the estimate is clipped there
            out[i] = c * base[i] + min(max(a * (qn @ levels), -bound), bound)
        return out
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
    """``hits`` are the brute-force top ``k`` of ``scores`` (over the keys ``allowed``): exactly k of them, each hit's
    score is its row's brute-force score, and the scores are the k best, best first. Rows tied on score may come in
    any order. Fewer than k scored rows is an error, so that a table left without codes cannot pass with no hits."""
    ok = np.array([allowed is None or key in allowed for key in keys], dtype=bool) & ~np.isnan(scores)
    assert ok.sum() >= k, f"only {ok.sum()} rows have a brute-force score: the test needs at least k={k}"
    best = np.sort(scores[ok])[::-1][:k]
    by_key = dict(zip(keys, scores))
    assert len({h.key for h in hits}) == len(hits) == k, f"{len(hits)} hits, {len({h.key for h in hits})} distinct, not k={k}"
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
