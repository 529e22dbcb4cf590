"""The frontier through the index: recall@10 against bytes per row over k, residual bits and sketch planes.

    cd benchmarks && OMP_NUM_THREADS=1 python frontier_index.py --model-file /work/models/default-pypi.model \\
        --grid-k 16,24,32 --grid-steps 300 --models-dir /work/models --peers-from results/retrieval_2planes_peers.json

The sketch graph does not depend on the model: the rows' sketches and their HNSW index are built once per
``--sketch-planes`` through the product (an attachment of ``--model-file``, the default recipe, its backfill and
``build_index``), and each query's candidates are fetched once per candidate count through
``CompressedColumn.search`` (rerank ``none``, k = the candidates). Every point (model, residual bits) then reranks
those candidates in numpy with the product's own parts: the backfill's :class:`~compressae_pg.fill.encoder.Encoder`
for the codes and residual sketches, ``rerank.code_scores``, ``Residuals.scores`` and ``rerank.top``. At the
default point (``--model-file``, the default residual bits, sketch planes and candidates) the run checks that this
rerank returns the hits and scores of ``CompressedColumn.search`` itself, and that the stored residual sketches are
the Encoder's bytes. The grid's models are the default recipe at each ``--k``, trained for ``--grid-steps`` steps
(kept in ``--models-dir``, reused when there). Bytes per row: the code (``sparsevec``, 16 + 8k), the sketch and
the residual (``bit(n)``) as PostgreSQL stores them, checked against ``pg_column_size`` at the default point, plus
the sketch index's share; against halfvec(d)'s column and HNSW index, built here with the same settings. The
peers' rows (``--peers-from``, a retrieval.py result through the same sketch graph) are copied in for the plot.
Writes benchmarks/results/<name>.json and prints a markdown table; ``--plot PNG`` draws a result.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from psycopg import sql
from residual_probe import trained_model
from retrieval import dense_index, sizes, truth

from _common import ROOT, connect, database, load, make_table, parser, publish, retrieval_options
from compressae_pg import CompresSAE, CompressedColumn, _migrate, _residual, _wire, backfill, build_index, registry
from compressae_pg._codes import Codes, SparseRows
from compressae_pg._defaults import CANDIDATES, SKETCH_PLANES
from compressae_pg.columns import attachments
from compressae_pg.fill.encoder import Encoder
from compressae_pg.search import rerank
from compressae_pg.search.codes import Weights

DEFAULT_BITS = 2  # attach's residual bits with the sketch graph
CHUNK = 8192


def stored_bytes(payload: int) -> int:
    """Bytes a row keeps for a varlena value of ``payload`` bytes: a 1-byte header up to 126, else 4."""
    return payload + (1 if payload <= 126 else 4)


def point_bytes(dim: int, k: int, bits: int, planes: int) -> dict:
    """Bytes a row stores for a code of k non-zeros, its sketch of ``planes`` planes and a residual of ``bits``."""
    code = stored_bytes(12 + 8 * k)  # sparsevec: dim, nnz, unused, then k int4 indices and k float4 values
    sketch = stored_bytes(4 + planes * dim // 8)  # bit(n): its length, then the bits
    residual = stored_bytes(4 + (_residual.bits_length(dim, bits) + 7) // 8) if bits else 0
    return {"code": code, "sketch": sketch, "residual": residual, "row": code + sketch + residual}


def encoded(model: CompresSAE, base: np.ndarray, bits: tuple[int, ...]) -> tuple[Codes, dict]:
    """The codes of every row and their residual sketches for each of ``bits`` (> 0), as a backfill writes them."""
    enc = Encoder(model, "cpu")
    parts = [enc.codes(base[i : i + CHUNK]) for i in range(0, len(base), CHUNK)]
    codes = Codes(np.concatenate([c.indices for c in parts]), np.concatenate([c.values for c in parts]), model.h)
    packed = {b: np.concatenate([enc.residuals(base[i : i + CHUNK], Codes(codes.indices[i : i + CHUNK], codes.values[i : i + CHUNK],
                                                                          codes.h), b) for i in range(0, len(base), CHUNK)])
              for b in bits if b}
    return codes, packed


def subset(codes: Codes, rows: np.ndarray) -> SparseRows:
    k = codes.indices.shape[1]
    return SparseRows(codes.indices[rows].ravel(), codes.values[rows].ravel(), np.full(len(rows), k, dtype=np.int64))


def scores(model: Weights, codes: Codes, found: _residual.Residuals | None, q: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """The default rerank's score of ``rows`` (None: every row) for query ``q``: q · x̂, and with a residual
    c·(q · x̂) + a·(q · L)."""
    unit = q[None, :] / np.linalg.norm(q[None, :], axis=1, keepdims=True)  # as plans.encode normalises (bit for bit)
    base = rerank.code_scores(model.project(unit)[0], subset(codes, np.arange(len(codes)) if rows is None else rows))
    if found is None:
        return base
    part = found if rows is None else _residual.Residuals(found.signs[rows], found.outer[rows], found.c[rows], found.a[rows])
    return part.scores(unit[0], base)


def recall(got: list[np.ndarray], want: np.ndarray) -> float:
    return round(float(np.mean([len(set(g.tolist()) & set(w.tolist())) / len(w) for g, w in zip(got, want)])), 4)


def index_db(args, base: np.ndarray, queries: np.ndarray, model: CompresSAE) -> dict:
    """The product's attachments of ``model`` (one per sketch planes), the candidates of every query through each
    graph, the default search's own hits, the stored residual sketches, and the sizes."""
    out: dict = {"candidates": {}, "sizes": {}}
    with database(args.dsn) as dsn:
        _migrate.upgrade(dsn)
        with connect(dsn, autocommit=True) as conn:
            out["server"] = conn.execute("SELECT version()").fetchone()[0]
            conn.execute("SET maintenance_work_mem = '1GB'")
            make_table(conn, "items", base)
            ref = registry.save(conn, "bench", model, source=str(args.model_file)).ref
            att = {p: attachments.attach("items", "embedding", ref, sketch_planes=p, code_column=f"sae_{p}_planes", conn=conn)
                   for p in args.sketch_planes}
            for a in att.values():
                backfill("items", "embedding", code_column=a.code_column, dsn=dsn, progress=False, index=False)
            conn.execute("VACUUM FULL ANALYZE items")
            dense_index(conn, "items_half", "halfvec", base.shape[1], args.m, args.ef_construction)
            out["sizes"]["halfvec"] = sizes(conn, "items_half", "embedding", "items_half_hnsw")
            for p, a in att.items():
                built = build_index("items", "embedding", code_column=a.code_column, dsn=dsn, m=args.m,
                                    ef_construction=args.ef_construction, maintenance_work_mem="1GB")
                out["sizes"][p] = sizes(conn, "items", a.code_column, built.index, also=(a.sketch_column, a.residual_column))
                column = CompressedColumn(conn, "items", "embedding", code_column=a.code_column)
                out["candidates"][p] = {c: [np.array([h.key for h in column.search(q, c, candidates=c, rerank="none")]) - 1
                                            for q in queries] for c in args.candidates}
                print(f"candidates through the {p}-plane graph: done", flush=True)
            default = CompressedColumn(conn, "items", "embedding", code_column=f"sae_{SKETCH_PLANES}_planes")
            out["product_hits"] = [[(h.key - 1, h.score) for h in default.search(q, args.k)] for q in queries]
            with conn.cursor(binary=True) as cur:
                _wire.install(cur.adapters, default.target.oids)
                stored = cur.execute(sql.SQL("SELECT {} FROM items ORDER BY id").format(sql.Identifier(default.target.residual_column)))
                out["stored_residuals"] = np.frombuffer(b"".join(r[0] for r in stored), np.uint8).reshape(len(base), -1)
    return out


def check_default(db: dict, model: CompresSAE, codes: Codes, packed: dict, queries: np.ndarray, k: int) -> dict:
    """The numpy rerank of the default point against CompressedColumn.search: same hits, same scores."""
    same_bytes = bool(np.array_equal(db["stored_residuals"], packed[DEFAULT_BITS]))
    found = _residual.unpack(packed[DEFAULT_BITS], model.dim, DEFAULT_BITS)
    weights = Weights.from_bytes(model.to_bytes())
    same_keys, worst = 0, 0.0
    for q, rows, hits in zip(queries, db["candidates"][SKETCH_PLANES][CANDIDATES], db["product_hits"]):
        s = scores(weights, codes, found, q, rows)
        top = rerank.top(s, k)
        mine = {int(rows[i]): float(s[i]) for i in top}
        same_keys += set(mine) == {key for key, _ in hits}
        worst = max([worst] + [abs(mine[key] - score) for key, score in hits if key in mine])
    out = {"queries": len(queries), "same_hits": same_keys, "largest_score_difference": worst, "stored_residuals_equal": same_bytes}
    print(f"check at the default point: {out}", flush=True)
    if same_keys != len(queries) or worst > 1e-12 or not same_bytes:
        raise SystemExit(f"the numpy rerank is not the product's search: {out}")
    return out


def point(args, name: str, model: CompresSAE, db: dict, base: np.ndarray, queries: np.ndarray, want: np.ndarray,
          budget: str) -> tuple[list[dict], tuple[Codes, dict]]:
    """Rows of one model: each residual bits, sketch planes and candidate count, and the full scan of each bits."""
    started = time.perf_counter()
    codes, packed = encoded(model, base, tuple(args.bits))
    weights = Weights.from_bytes(model.to_bytes())  # the search's own numpy model: its projection, bit for bit
    rows, n = [], len(base)
    for bits in args.bits:
        found = _residual.unpack(packed[bits], model.dim, bits) if bits else None
        full = [np.argpartition(-scores(weights, codes, found, q, None), args.k)[: args.k] for q in queries[: args.full_scan_queries]]
        for p in args.sketch_planes:
            size, index_bytes = point_bytes(model.dim, model.k, bits, p), db["sizes"][p]["index_bytes"]
            for c in args.candidates:
                got = []
                for q, cand in zip(queries, db["candidates"][p][c]):
                    got.append(cand[rerank.top(scores(weights, codes, found, q, cand), args.k)])
                row = {"name": name, "budget": budget, "k": model.k, "h": model.h, "residual_bits": bits, "sketch_planes": p,
                       "candidates": c, "recall@10": recall(got, want), "full_scan": recall(full, want[: args.full_scan_queries]), "bytes": size,
                       "index_share": round(index_bytes / n, 1), "bytes_per_row": round(size["row"] + index_bytes / n, 1),
                       "over_halfvec": round((size["row"] * n + index_bytes) / db["sizes"]["halfvec"]["column_plus_index_bytes"], 3)}
                rows.append(row)
                print(row, flush=True)
    print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    return rows, (codes, packed)


def run(args) -> dict:
    x = load(args.data, args.rows)
    base, queries = x[: -args.queries], x[-args.queries :]
    want = truth(base, queries, args.k) - 1
    default = CompresSAE.from_bytes(args.model_file.read_bytes()).eval()
    db = index_db(args, base, queries, default)
    result: dict = {"data": args.data.name, "rows": len(base), "queries": len(queries), "server": db["server"],
                    "hnsw": {"m": args.m, "ef_construction": args.ef_construction}, "sizes": db["sizes"], "models": {}}
    rows, (codes, packed) = point(args, "default", default, db, base, queries, want, "the default recipe, its full budget (--model-file)")
    result["check"] = check_default(db, default, codes, packed, queries, args.k)
    for p in args.sketch_planes:  # the formula of the bytes against pg_column_size, at the default model and bits
        expected, measured = point_bytes(default.dim, default.k, DEFAULT_BITS, p)["row"], db["sizes"][p]["bytes_per_row"]
        if abs(expected - measured) > 0.5:
            raise SystemExit(f"{p}-plane bytes per row: formula {expected}, pg_column_size {measured}")
    result["models"]["default"] = {"file": str(args.model_file), "k": default.k, "h": default.h}
    budget = f"the default recipe at {args.grid_steps} steps of its batch"
    for k in args.grid_k:
        path = args.models_dir / f"frontier-{args.data.name.split('.')[0]}-k{k}-s{args.grid_steps}.model"
        model, info = trained_model(path, base, args.grid_steps, k=k)
        result["models"][f"k={k}"] = {"file": str(path), **info}
        print(f"k={k}: {info}", flush=True)
        rows += point(args, f"k={k}", model, db, base, queries, want, budget)[0]
    result["points"] = rows
    result["peers"] = peers_from(args.peers_from) if args.peers_from else []
    return result


def peers_from(path: Path) -> list[dict]:
    """The peer rows of a retrieval.py result (through the same sketch graph), with its halfvec for the ratio."""
    r = json.loads(path.read_text())
    half = r["sizes"]["halfvec"]["column_plus_index_bytes"]
    labels = list(dict.fromkeys(row["row"] for row in r["peers"]["rows"]))  # in --peers order, as full_scan's names
    short = dict(zip(labels, r["peers"]["full_scan"]))
    return [{"name": short[row["row"]], "candidates": row["candidates"], "recall@10": row["recall@10"],
             "full_scan": r["peers"]["full_scan"][short[row["row"]]],
             "bytes_per_row": round(row["column_plus_index_bytes"] / r["rows"], 1),
             "over_halfvec": round(row["column_plus_index_bytes"] / half, 3), "source": path.name}
            for row in r["peers"]["rows"]]


def markdown(r: dict) -> str:
    """One line per model, residual bits and sketch planes (recall at each candidate count), then the peers."""
    half = r["sizes"]["halfvec"]
    counts = sorted({row["candidates"] for row in r["points"]})
    by: dict[tuple, list[dict]] = {}
    for row in r["points"]:
        by.setdefault((row["name"], row["residual_bits"], row["sketch_planes"]), []).append(row)
    lines = [f"{r['rows']:,} rows, {r['queries']} held-out queries; halfvec column + index "
             f"{half['column_plus_index_bytes'] / 2**20:.1f} MiB ({half['column_plus_index_bytes'] / r['rows']:.0f} B a row); "
             f"check at the default point: {r['check']}", "",
             f"| model (budget) | k | residual bits | sketch planes | bytes/row: code + sketch + residual + index share | / halfvec's "
             f"| recall@10 through the index, {' / '.join(map(str, counts))} candidates | full scan |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (name, bits, planes), rows in by.items():
        row, b = rows[0], rows[0]["bytes"]
        found = {x["candidates"]: x["recall@10"] for x in rows}
        lines.append(f"| {name} ({row['budget']}) | {row['k']} | {bits} | {planes} | {row['bytes_per_row']:,.0f} = {b['code']} + "
                     f"{b['sketch']} + {b['residual']} + {row['index_share']:.0f} | {row['over_halfvec']:.3f} | "
                     f"{' / '.join(f'{found[c]:.3f}' if c in found else '' for c in counts)} | {row['full_scan']:.3f} |")
    peers: dict[str, list[dict]] = {}
    for row in r["peers"]:
        peers.setdefault(row["name"], []).append(row)
    for name, rows in peers.items():
        found = {x["candidates"]: x["recall@10"] for x in rows}
        lines.append(f"| peer `{name}`, no model ({rows[0]['source']}) | | | | {rows[0]['bytes_per_row']:,.0f} | {rows[0]['over_halfvec']:.3f} | "
                     f"{' / '.join(f'{found[c]:.3f}' if c in found else '' for c in counts)} | {rows[0]['full_scan']:.3f} |")
    return "\n".join(lines)


def plot(result: dict, path: str, candidates: int = CANDIDATES) -> None:
    """recall@10 through the index against bytes per row at ``candidates``: a line per residual bits and sketch planes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    grid = [r for r in result["points"] if r["name"] != "default" and r["candidates"] == candidates]
    for bits, planes in sorted({(r["residual_bits"], r["sketch_planes"]) for r in grid}):
        pts = sorted((r["bytes_per_row"], r["recall@10"], r["k"]) for r in grid if (r["residual_bits"], r["sketch_planes"]) == (bits, planes))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ls="-" if planes == 2 else ":",
                label=f"codes, {bits} residual bit{'s' if bits != 1 else ''}, {planes}-plane sketch")
        for b, rec, k in pts:
            ax.annotate(f"k={k}", (b, rec), textcoords="offset points", xytext=(3, -10), fontsize=7)
    for r in result["points"]:
        if r["name"] == "default" and r["candidates"] == candidates:
            ax.plot(r["bytes_per_row"], r["recall@10"], "k*", ms=10 if r["residual_bits"] == DEFAULT_BITS else 6)
    peers = [p for p in result["peers"] if p["candidates"] == candidates]
    ax.plot([p["bytes_per_row"] for p in peers], [p["recall@10"] for p in peers], "s--", color="grey", label="peers without a model")
    for p in peers:
        ax.annotate(p["name"], (p["bytes_per_row"], p["recall@10"]), textcoords="offset points", xytext=(3, 3), fontsize=7)
    half = result["sizes"]["halfvec"]["column_plus_index_bytes"] / result["rows"]
    ax.axvline(0.45 * half, color="black", lw=0.8, ls=":", label=f"0.45x halfvec's column + index ({0.45 * half:.0f} B)")
    ax.set_xlabel("bytes per row, column(s) + the index's share")
    ax.set_ylabel(f"recall@10 through the index, {candidates} candidates")
    ax.set_title(f"Frontier through the index, {result['data']} (stars: the default model, full budget)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    retrieval_options(p)
    ints = lambda v: [int(c) for c in v.split(",") if c]  # noqa: E731
    p.add_argument("--model-file", type=Path, help="the default recipe's weights: the attachments' model and the check's")
    p.add_argument("--grid-k", type=ints, default=[16, 24, 32], help="k of the grid's models (default 16,24,32)")
    p.add_argument("--grid-steps", type=int, default=300, help="training steps of the grid's models (default 300)")
    p.add_argument("--models-dir", type=Path, default=ROOT / "out", help="where the grid's models are kept (default benchmarks/out)")
    p.add_argument("--bits", type=ints, default=[0, 1, 2], help="residual bits (default 0,1,2)")
    p.add_argument("--sketch-planes", type=ints, default=[SKETCH_PLANES, 1], help="sketch planes (default 2,1)")
    p.add_argument("--candidates", type=ints, default=sorted({100, CANDIDATES}), help="candidate counts (default 100 and the default, 200)")
    p.add_argument("--full-scan-queries", type=int, default=500, help="queries of the full scans (default 500)")
    p.add_argument("--peers-from", type=Path, help="a retrieval.py result whose peer rows to add (same data and graph)")
    p.add_argument("--plot", nargs=2, metavar=("JSON", "PNG"), help="plot a result of this script, print its table and stop")
    p.add_argument("--name", default="frontier_index", help="results/<name>.json (default frontier_index)")
    args = p.parse_args()
    if args.plot:
        result = json.loads(Path(args.plot[0]).read_text())
        plot(result, args.plot[1])
        print(markdown(result))
        return
    publish(args.name, args, run(args), markdown)


if __name__ == "__main__":
    main()
