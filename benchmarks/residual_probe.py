"""Which residual sketch, stored beside each code, lifts recall@10 the most per byte? Brute force, no index:
every estimator of q·x is scored over all items and over the exact Hamming top-N of the original
vectors' sign bits (what the HNSW sketch graph approximates).

    cd benchmarks
    OMP_NUM_THREADS=2 python residual_probe.py --model-file out/default-pypi.model
    OMP_NUM_THREADS=2 python residual_probe.py --data ../../shared/data/pypi-mpnet-20k.f16.npy \\
        --model-file out/default-mpnet.model --name residual_probe_mpnet

The model file is trained (default recipe, on the items) and written when it does not exist yet.
Notation: x, q unit-norm; x̂ the decoded code (unit norm); c = x·x̂; r = x − c·x̂, so q·x = c·q·x̂ + q·r
exactly and every sketch below estimates q·r. The last --queries rows are the queries, the others the
items; truth = exact cosine top 10. Writes benchmarks/results/<name>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from _common import load, parser, publish
from compressae_pg.model import CompresSAE
from compressae_pg.training.loop import TrainConfig, fit, new_model

CANDIDATES = (100, 200)
PLANES = (2, 3, 4, 5, 6, 8)  # query bit planes for the popcount evaluation
CHUNK = 16384
GAUSS_LLOYD = (0.4528, 1.5104, 0.9816)  # 2-bit Lloyd-Max of N(0, 1): inner level, outer level, threshold


# ---- model ---------------------------------------------------------------------------------------
def batches(items: np.ndarray, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    """Endless shuffled epochs over the items (as benchmarks/model_quality.py draws them)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(items))
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield items[order[start : start + batch_size]]


def trained_model(path: Path, items: np.ndarray, steps: int | None, **changes) -> tuple[CompresSAE, dict]:
    """The model in ``path``, or the default recipe (with ``changes`` to its TrainConfig, e.g. ``k=16``) trained on
    ``items`` and written there."""
    if path.exists():
        return CompresSAE.from_bytes(path.read_bytes()).eval(), {"trained": False}
    cfg = replace(TrainConfig(device="cpu"), **changes, **({} if steps is None else {"steps": steps}))
    model = new_model(items.shape[1], cfg)
    start = time.perf_counter()
    fitted = fit(batches(items, cfg.batch_size, cfg.seed), model, cfg, progress=False)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.to_bytes())
    return model.eval(), {"trained": True, "train_seconds": round(seconds, 1), "steps": cfg.steps, "k": cfg.k,
                          "batch_size": cfg.batch_size, **{k: round(v, 4) for k, v in fitted.items()}}


def reconstruct(model: CompresSAE, items: np.ndarray) -> np.ndarray:
    """x̂ of every item from its stored code (float64, unit norm up to float32 rounding)."""
    parts = []
    for i in range(0, len(items), 4096):
        parts.append(model.decompress(model.compress(items[i : i + 4096])).astype(np.float64))
    return np.concatenate(parts)


# ---- quantizers of the residual: each returns (levels L as int8/float, per-row LS scale a) -------------
def ls_scale(r: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Per-row least-squares scale of ``levels`` onto ``r``: (r·L)/(L·L)."""
    lv = levels.astype(np.float64)
    return (r * lv).sum(1) / np.maximum((lv * lv).sum(1), 1e-30)


def signs(r: np.ndarray) -> np.ndarray:
    return np.where(r >= 0, 1, -1).astype(np.int8)


def two_bit(r: np.ndarray, threshold: np.ndarray, m: float) -> np.ndarray:
    """sign(r)·(1 + (m − 1)·[|r| > threshold]), threshold per row (n, 1) or per dimension (d,)."""
    return signs(r) * np.where(np.abs(r) > threshold, m, 1.0)


def rel_error(r: np.ndarray, levels: np.ndarray, a: np.ndarray) -> float:
    """Mean of ‖r − a·L‖²/‖r‖²: how much of the residual the sketch misses."""
    return float(np.mean(((r - a[:, None] * levels) ** 2).sum(1) / np.maximum((r * r).sum(1), 1e-30)))


def pooled_lloyd(z: np.ndarray, iterations: int = 50) -> tuple[float, float, float]:
    """2-bit Lloyd-Max on |z| pooled: (inner level, outer level, threshold), symmetric around 0."""
    z = np.abs(z.ravel())
    lo, hi, t = GAUSS_LLOYD
    for _ in range(iterations):
        lo, hi = float(z[z <= t].mean()), float(z[z > t].mean())
        t = (lo + hi) / 2
    return lo, hi, t


def per_row_lloyd(r: np.ndarray, iterations: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2-bit Lloyd-Max of each row's |r| on its own: (outer mask, inner level, outer level), two scales a row."""
    z = np.abs(r)
    t = np.median(z, axis=1, keepdims=True) * 1.45  # ≈ the Gaussian's 0.98σ from its median 0.674σ
    for _ in range(iterations):
        outer = z > t
        n_out = outer.sum(1, keepdims=True)
        lo = np.where(~outer, z, 0).sum(1, keepdims=True) / np.maximum(z.shape[1] - n_out, 1)
        hi = np.where(outer, z, 0).sum(1, keepdims=True) / np.maximum(n_out, 1)
        t = (lo + hi) / 2
    outer = z > t
    return outer, lo[:, 0], hi[:, 0]


# ---- the query side ------------------------------------------------------------------------------
def quantize_queries(q: np.ndarray, bits: int) -> np.ndarray:
    """q as the SQL engine sees it: uniform B-bit levels over [min q, max q] per query, dequantized.

    q̃ = lo + Δ·u with u = Σ_j 2^j·plane_j, so q̃·L = lo·ΣL + Δ·Σ_j 2^j·(popcounts of plane_j AND the
    row's bits): the same number, computed here directly.
    """
    lo, hi = q.min(1, keepdims=True), q.max(1, keepdims=True)
    step = np.maximum(hi - lo, 1e-30) / (2**bits - 1)
    return lo + step * np.round((q - lo) / step)


def dots(q: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """q @ rows.T in float64, in chunks of rows (rows may be int8)."""
    out = np.empty((len(q), len(rows)))
    for i in range(0, len(rows), CHUNK):
        out[:, i : i + CHUNK] = q @ rows[i : i + CHUNK].astype(np.float64).T
    return out


def f16(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float16).astype(np.float64)


# ---- scoring -------------------------------------------------------------------------------------
class Scorer:
    """Recall@10 of score matrices (queries × items): over every item and over the Hamming candidates."""

    def __init__(self, items: np.ndarray, queries: np.ndarray) -> None:
        exact = dots(queries.astype(np.float64), items)
        self.truth = np.argpartition(-exact, 10, axis=1)[:, :10]
        qb, xb = (queries > 0).astype(np.float32), (items > 0).astype(np.float32)
        agree = qb @ xb.T + (1 - qb) @ (1 - xb).T  # d − Hamming distance
        order = np.argsort(-agree, axis=1, kind="stable")  # ties at the boundary go to the lower id
        self.candidates = {n: order[:, :n] for n in CANDIDATES}
        self.rows: list[dict] = []
        self.add("exact q·x (float32 x: the candidates' ceiling)", "—", items.shape[1] * 4, exact)
        self.rows.append({"group": "peer", "name": "sign bits of x, their own Hamming order", "formula": "d − Hamming(q>0, x>0)",
                          "bytes": items.shape[1] // 8, **self.recalls(agree)})

    def recall(self, top: np.ndarray) -> float:
        return float(np.mean([len(np.intersect1d(t, r)) / 10 for t, r in zip(top, self.truth)]))

    def recalls(self, score: np.ndarray) -> dict[str, float]:
        out = {"full": self.recall(np.argpartition(-score, 10, axis=1)[:, :10])}
        for n, cand in self.candidates.items():
            s = np.take_along_axis(score, cand, 1)
            out[f"top{n}"] = self.recall(np.take_along_axis(cand, np.argpartition(-s, 10, axis=1)[:, :10], 1))
        return {k: round(v, 4) for k, v in out.items()}

    def add(self, name: str, formula: str, nbytes: float, score: np.ndarray, group: str = "ref", **extra) -> None:
        row = {"group": group, "name": name, "formula": formula, "bytes": nbytes, **self.recalls(score), **extra}
        self.rows.append(row)
        print(f"  {row['full']:.4f} {row.get('top100', 0):.4f} {row.get('top200', 0):.4f}  {str(nbytes):>6} B  {name}", flush=True)


def run(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    x = load(args.data, args.rows)
    items, queries = x[: -args.queries], x[-args.queries :]
    n, d = items.shape
    model, training = trained_model(args.model_file, items, args.steps)
    print(f"{n} items × {d}, model {args.model_file} {training}", flush=True)

    xhat = reconstruct(model, items)
    x64 = items.astype(np.float64)
    c = (x64 * xhat).sum(1)
    r = x64 - c[:, None] * xhat
    del x64
    q = queries.astype(np.float64)
    qxhat = dots(q, xhat)
    del xhat
    sc = Scorer(items, queries)
    scale_bytes = 4
    bits = lambda b: b * d / 8  # noqa: E731

    # 1–2: the code alone
    sc.add("1. q·x̂ (today)", "q·x̂", 0, qxhat, "code")
    base = c[None, :] * qxhat
    sc.add("2. c·q·x̂", "c·(q·x̂)", scale_bytes, base, "code")
    sc.add("oracle: c·q·x̂ + q·r (exact residual)", "q·x", None, base + dots(q, r), "ref")

    # 3: one bit a dimension + one scale
    b = signs(r)
    s = np.abs(r).sum(1) / d
    qb = dots(q, b)
    sc.add("3. sign(r), s = ‖r‖₁/d", "c·q·x̂ + s·(q·b)", bits(1) + 2 * scale_bytes, base + s[None, :] * qb, "1-bit",
           rel_error=round(rel_error(r, b, s), 4))
    sc.add("3h. as 3, c and s float16", "f16(c)·q·x̂ + f16(s)·(q·b)", bits(1) + 2 * 2,
           f16(c)[None, :] * qxhat + f16(s)[None, :] * qb, "1-bit")

    # 4: two bits, per-row median threshold, levels {1, 3}, LS scale
    med = np.median(np.abs(r), axis=1, keepdims=True)
    L4 = two_bit(r, med, 3.0).astype(np.int8)
    a4 = ls_scale(r, L4)
    qL4 = dots(q, L4)
    sc.add("4. 2-bit, row median, {1,3}", "c·q·x̂ + a·(q·L)", bits(2) + 2 * scale_bytes, base + a4[None, :] * qL4, "2-bit",
           rel_error=round(rel_error(r, L4, a4), 4))
    sc.add("7. as 4, c and a float16", "f16(c)·q·x̂ + f16(a)·(q·L)", bits(2) + 2 * 2,
           f16(c)[None, :] * qxhat + f16(a4)[None, :] * qL4, "2-bit")
    sc.add("7b. as 4, c and a bfloat16-like (8-bit mantissa)", "round(c, 8 bits)·q·x̂ + …", bits(2) + 2 * 2,
           mantissa(c, 8)[None, :] * qxhat + mantissa(a4, 8)[None, :] * qL4, "2-bit")
    sc.add("4 without c (c := 1)", "q·x̂ + a·(q·L)", bits(2) + scale_bytes, qxhat + a4[None, :] * qL4, "2-bit")

    # 5: per-dimension threshold
    tdim = np.median(np.abs(r), axis=0)
    L5 = two_bit(r, tdim, 3.0).astype(np.int8)
    a5 = ls_scale(r, L5)
    sc.add("5. 2-bit, per-dimension median t_i, {1,3}", "c·q·x̂ + a·(q·L), t_i = median over items |r_i|",
           bits(2) + 2 * scale_bytes, base + a5[None, :] * dots(q, L5), "2-bit", rel_error=round(rel_error(r, L5, a5), 4))
    del L5

    # 6: the levels and threshold fitted
    sigma = np.sqrt((r * r).mean(1, keepdims=True))
    for quantile in (0.5, 0.67, 0.75):
        t = np.quantile(np.abs(r), quantile, axis=1, keepdims=True) if quantile != 0.5 else med
        for m in (2.0, 2.5, 3.0, 3.5, 4.0):
            if quantile == 0.5 and m == 3.0:
                continue  # that is 4
            L = two_bit(r, t, m)
            a = ls_scale(r, L)
            sc.add(f"6. 2-bit, row quantile {quantile}, {{1,{m:g}}}", "c·q·x̂ + a·(q·L)", bits(2) + 2 * scale_bytes,
                   base + a[None, :] * dots(q, L), "2-bit", rel_error=round(rel_error(r, L, a), 4), quantile=quantile, m=m)
    lo, hi, t = GAUSS_LLOYD
    L = two_bit(r, t * sigma, hi / lo)
    a = ls_scale(r, L)
    sc.add(f"6g. 2-bit Lloyd-Max of N(0,1): t = {t}σ, {{1,{hi / lo:.3f}}}", "c·q·x̂ + a·(q·L), σ = rms(r)",
           bits(2) + 2 * scale_bytes, base + a[None, :] * dots(q, L), "2-bit", rel_error=round(rel_error(r, L, a), 4))
    sample = (r / sigma)[np.random.default_rng(0).choice(n, min(n, 20000), replace=False)]
    lo, hi, t = pooled_lloyd(sample)
    L = two_bit(r, t * sigma, hi / lo)
    a = ls_scale(r, L)
    lloyd = {"inner": round(lo, 4), "outer": round(hi, 4), "threshold": round(t, 4), "m": round(hi / lo, 4),
             "outer_share": round(float((np.abs(r) > t * sigma).mean()), 4)}
    sc.add(f"6e. 2-bit Lloyd-Max of pooled r/σ: t = {t:.3f}σ, {{1,{hi / lo:.3f}}}", "c·q·x̂ + a·(q·L), σ = rms(r)",
           bits(2) + 2 * scale_bytes, base + a[None, :] * dots(q, L), "2-bit", rel_error=round(rel_error(r, L, a), 4), lloyd=lloyd)
    L6, a6 = L, a
    outer, lo_row, hi_row = per_row_lloyd(r)
    sgn = signs(r).astype(np.float64)
    inner_part, outer_part = dots(q, sgn * ~outer), dots(q, sgn * outer)
    rows_L = sgn * np.where(outer, hi_row[:, None], lo_row[:, None])
    sc.add("6r. 2-bit Lloyd-Max per row, two levels stored", "c·q·x̂ + α₁·(q·b_inner) + α₂·(q·b_outer)",
           bits(2) + 3 * scale_bytes, base + lo_row[None, :] * inner_part + hi_row[None, :] * outer_part, "2-bit",
           rel_error=round(rel_error(r, rows_L, np.ones(n)), 4))
    del inner_part, outer_part, rows_L, sgn, outer

    # 5L: per-dimension Lloyd-Max thresholds (no row scale in the threshold)
    sd = np.sqrt((r * r).mean(0))
    sd = np.where(sd > 0, sd, sd[sd > 0].min())  # the data's constant dimensions have r_i = 0
    lo, hi, t = pooled_lloyd((r / sd)[np.random.default_rng(0).choice(n, min(n, 20000), replace=False)])
    L = two_bit(r, t * sd, hi / lo)
    a = ls_scale(r, L)
    sc.add(f"5L. 2-bit Lloyd-Max per dimension: t_i = {t:.3f}σ_i, {{1,{hi / lo:.3f}}}", "c·q·x̂ + a·(q·L), σ_i = rms over items of r_i",
           bits(2) + 2 * scale_bytes, base + a[None, :] * dots(q, L), "2-bit", rel_error=round(rel_error(r, L, a), 4))

    # 9: a table vector w of per-dimension magnitudes (mean w² = 1): r ≈ a·(w ⊙ L), scored as a·((q ⊙ w)·L)
    w = sd / np.sqrt((sd * sd).mean())
    sw = np.abs(r) @ w / (w * w).sum()
    qw = q * w
    qwb = dots(qw, b)
    sc.add("9a. sign(r) weighted by w_i = rms_i(r)", "c·q·x̂ + s·((q⊙w)·b), s = Σ|r_i|w_i/Σw_i²", bits(1) + 2 * scale_bytes,
           base + sw[None, :] * qwb, "1-bit", rel_error=round(rel_error(r, b * w, sw), 4))
    z = r / w
    sz = np.sqrt((z * z).mean(1, keepdims=True))
    lo, hi, t = pooled_lloyd((z / sz)[np.random.default_rng(0).choice(n, min(n, 20000), replace=False)])
    L9 = two_bit(z, t * sz, hi / lo)
    a9 = ls_scale(r, L9 * w)
    sc.add(f"9b. 2-bit Lloyd-Max of r/w per row: t = {t:.3f}σ, {{1,{hi / lo:.3f}}}, weighted by w",
           "c·q·x̂ + a·((q⊙w)·L)", bits(2) + 2 * scale_bytes, base + a9[None, :] * dots(qw, L9), "2-bit",
           rel_error=round(rel_error(r, L9 * w, a9), 4))
    del z

    # 10: the unbiased-style scale (RaBitQ without its rotation): a = ‖r‖²/(r·L) instead of least squares
    rr = (r * r).sum(1)
    sc.add("10a. as 3, scale ‖r‖²/‖r‖₁", "c·q·x̂ + (‖r‖²/‖r‖₁)·(q·b)", bits(1) + 2 * scale_bytes,
           base + (rr / np.abs(r).sum(1))[None, :] * qb, "1-bit")
    sc.add("10b. as 9a, scale ‖r‖²/Σ|r_i|w_i", "c·q·x̂ + s'·((q⊙w)·b)", bits(1) + 2 * scale_bytes,
           base + (rr / (np.abs(r) @ w))[None, :] * qwb, "1-bit")
    sc.add("10c. as 6e, scale ‖r‖²/(r·L)", "c·q·x̂ + a'·(q·L)", bits(2) + 2 * scale_bytes,
           base + (rr / (r * L6).sum(1))[None, :] * dots(q, L6), "2-bit")
    del qwb

    # 8: the query as bit planes
    for planes in PLANES:
        qq = quantize_queries(q, planes)
        sc.add(f"8. estimator 3, q in {planes} bit planes", "c·q·x̂ + s·(q̃·b)", bits(1) + 2 * scale_bytes,
               base + s[None, :] * dots(qq, b), "planes", planes=planes, estimator=3)
        sc.add(f"8. estimator 4, q in {planes} bit planes", "c·q·x̂ + a·(q̃·L)", bits(2) + 2 * scale_bytes,
               base + a4[None, :] * dots(qq, L4), "planes", planes=planes, estimator=4)
        sc.add(f"8. estimator 6e, q in {planes} bit planes", "c·q·x̂ + a·(q̃·L)", bits(2) + 2 * scale_bytes,
               base + a6[None, :] * dots(qq, L6), "planes", planes=planes, estimator="6e")
        sc.add(f"8. estimator 9b, q⊙w in {planes} bit planes", "c·q·x̂ + a·(q̃w·L)", bits(2) + 2 * scale_bytes,
               base + a9[None, :] * dots(quantize_queries(qw, planes), L9), "planes", planes=planes, estimator="9b")
    del qL4, qb, base, qxhat

    # peers without a model
    xb = signs(items)
    sc.add("peer: sign bits of x, scale ‖x‖₁/d", "(‖x‖₁/d)·(q·sign(x))", bits(1) + scale_bytes,
           (np.abs(items).sum(1) / d)[None, :] * dots(q, xb), "peer")
    medx = np.median(np.abs(items), axis=1, keepdims=True)
    Lx = two_bit(items, medx, 3.0).astype(np.int8)
    sc.add("peer: x 2-bit, row median, {1,3}, LS scale", "a·(q·L(x))", bits(2) + scale_bytes,
           ls_scale(items.astype(np.float64), Lx)[None, :] * dots(q, Lx), "peer")
    sc.add("peer: x 2-bit per-dimension Lloyd-Max codebook", "q·x̃, 4 levels per dimension (table)", bits(2),
           dots(q, per_dim_codebook(items, 2)), "peer")
    sc.add("peer: x 4-bit per-dimension min–max", "q·x̃, 16 uniform levels over [min_i, max_i]", bits(4),
           dots(q, per_dim_minmax(items, 4)), "peer")

    return {"data": str(args.data), "model_file": str(args.model_file), "training": training, "items": n, "dims": d,
            "queries": len(queries), "candidates": "exact Hamming top-N of sign(x) vs sign(q), ties to the lower id",
            "mean_c": round(float(c.mean()), 4), "mean_residual_norm": round(float(np.sqrt((r * r).sum(1)).mean()), 4),
            "seconds": round(time.perf_counter() - started, 1), "rows": sc.rows}


def mantissa(v: np.ndarray, bits: int) -> np.ndarray:
    """v rounded to ``bits`` significant bits (bfloat16 has 8)."""
    m, e = np.frexp(v)
    return np.ldexp(np.round(m * 2**bits) / 2**bits, e)


def per_dim_codebook(x: np.ndarray, bits: int, iterations: int = 20) -> np.ndarray:
    """x with each dimension quantized by its own 1-D Lloyd-Max codebook of 2^bits levels (from equal-count bins)."""
    out = np.empty(x.shape)
    for i in range(x.shape[1]):
        col = x[:, i].astype(np.float64)
        edges = np.quantile(col, np.linspace(0, 1, 2**bits + 1)[1:-1])
        for _ in range(iterations):
            code = np.searchsorted(edges, col)
            means = np.bincount(code, col, 2**bits) / np.maximum(np.bincount(code, minlength=2**bits), 1)
            edges = (means[1:] + means[:-1]) / 2
        code = np.searchsorted(edges, col)
        out[:, i] = means[code]
    return out


def per_dim_minmax(x: np.ndarray, bits: int) -> np.ndarray:
    """x with each dimension quantized uniformly to 2^bits levels over its [min, max] over the items."""
    lo, hi = x.min(0).astype(np.float64), x.max(0).astype(np.float64)
    step = np.where(hi > lo, (hi - lo) / (2**bits - 1), 1.0)  # a few dimensions are constant (0) in the data
    return lo + step * np.round((x - lo) / step)


def markdown(r: dict) -> str:
    t = r.get("training", {})
    lines = [f"{r['items']:,} items × {r['dims']}, {r['queries']} queries, model {r['model_file']}"
             + (f" (trained here in {t['train_seconds']} s)" if t.get("trained") else "")
             + f"; mean c = {r['mean_c']}, mean ‖r‖ = {r['mean_residual_norm']}; {r['seconds']} s", "",
             "| estimator | score | extra B/row | ‖r−aL‖²/‖r‖² | recall@10 full scan | Hamming top-100 | Hamming top-200 |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        nbytes = "—" if row["bytes"] is None else f"{row['bytes']:g}"
        err = f"{row['rel_error']:.3f}" if "rel_error" in row else ""
        lines.append(f"| {row['name']} | {row['formula']} | {nbytes} | {err} | {row['full']:.4f} | {row['top100']:.4f} | {row['top200']:.4f} |")
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--model-file", type=Path, required=True, help="CompresSAE.to_bytes weights; trained and written if absent")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--rows", type=int, help="use only the first N rows (smoke tests)")
    p.add_argument("--steps", type=int, help="training steps when training (default: the package default)")
    p.add_argument("--name", default="residual_probe", help="results file name (benchmarks/results/<name>.json)")
    args = p.parse_args()
    publish(args.name, args, run(args), markdown)


if __name__ == "__main__":
    main()
