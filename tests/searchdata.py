"""Helpers for the search tests: a small trained model, a filled and indexed code column, and the
brute-force numpy computation of every rerank mode that the searches are checked against."""

from __future__ import annotations

import numpy as np
import psycopg
import torch
from psycopg import sql

from compressae_pg import CompresSAE, Encoding, attachments, backfill, registry

DIM, H, K = 384, 1024, 16


def train_small(vectors: np.ndarray, seed: int = 0) -> CompresSAE:
    """A 384 → 1024, k=16 model with refined codes (refit + pursuit, as the default training makes),
    after a few real training steps so that its atoms and biases are not at init."""
    torch.manual_seed(seed)
    model = CompresSAE(DIM, H, K, seed=seed, encoding=Encoding(refit=True, pursuit=4))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = torch.as_tensor(vectors)
    for _ in range(25):
        loss = model.loss(x[torch.randint(0, len(x), (1024,))])["loss"]
        opt.zero_grad()
        loss.backward()
        model.project_decoder_grad()
        opt.step()
        model.normalize_decoder()
    return model.eval()


def searchable(conn: psycopg.Connection, dsn: str, vectors, model: CompresSAE, *, table: str = "items",
               column: str = "embedding", key: str = "id", key_type: str = "bigint", keys=None,
               category: str = "category", name: str = "m", index: bool = True, graph: str = "sketch") -> attachments.Attachment:
    """``table (key PRIMARY KEY, column vector(384), category text)``: ``vectors`` (None → NULL), every
    seventh row in category 'rare' (the rest 'common'), the model stored as ``name``, the code column
    attached, backfilled and (with ``index``) indexed."""
    keys = list(range(1, len(vectors) + 1)) if keys is None else keys
    ident = sql.Identifier(table)
    conn.execute(sql.SQL("CREATE TABLE {} ({} {} PRIMARY KEY, {} vector(384), {} text)").format(
        ident, sql.Identifier(key), sql.SQL(key_type), sql.Identifier(column), sql.Identifier(category)))
    copy_sql = sql.SQL("COPY {} ({}, {}, {}) FROM STDIN").format(ident, sql.Identifier(key), sql.Identifier(column), sql.Identifier(category))
    with conn.cursor().copy(copy_sql) as copy:
        for i, (k, v) in enumerate(zip(keys, vectors)):
            text = None if v is None else "[" + ",".join(repr(float(a)) for a in np.asarray(v)) + "]"
            copy.write_row((k, text, "rare" if i % 7 == 0 else "common"))
    conn.execute(sql.SQL("ANALYZE {}").format(ident))
    registry.save(conn, name, model)
    att = attachments.attach(conn, table, column, registry.list_models(conn, name)[-1].ref, graph=graph)
    backfill(table, column, dsn=dsn, progress=False, index=index, m=8, ef_construction=32)  # the fast flow: codes, then the index
    return att


def stored(conn: psycopg.Connection, table: str = "items", column: str = "embedding", code: str = "embedding_sae",
           key: str = "id", h: int = H) -> tuple[list, np.ndarray, list]:
    """(keys, dense codes (n, h), source vectors or None) of every row that has a code."""
    rows = conn.execute(sql.SQL("SELECT {}, {}, {} FROM {} WHERE {} IS NOT NULL ORDER BY 1").format(
        sql.Identifier(key), sql.Identifier(code), sql.Identifier(column), sql.Identifier(table), sql.Identifier(code))).fetchall()
    codes = np.zeros((len(rows), h), dtype=np.float64)
    for i, (_k, c, _s) in enumerate(rows):
        codes[i, c.indices()] = c.values()
    return [r[0] for r in rows], codes, [None if r[2] is None else r[2].to_numpy() for r in rows]


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
