"""Retrieval side by side: recall@10, p50/p95 latency, bytes per row and index size of a vector(384)
HNSW index, a halfvec(384) HNSW index, and the CompresSAE codes through each candidate graph, with
every rerank mode at several candidate counts, all measured in one run on the same rows and queries.

    OMP_NUM_THREADS=1 python benchmarks/retrieval.py --data ../shared/data/pypi-minilm-100k.f16.npy

The last ``--queries`` rows are held out as queries, the others are indexed; the truth is the exact
dense cosine top 10. The codes are attached to the same rows with the default graph (HNSW over the
sketch column, each row's sketch, probed with the query's; once per ``--sketch-planes``, e.g. ``1,2``
side by side) and with the paper's (HNSW over the codes by sparse cosine, probed with the query's code). Their full-scan
ceiling is the asymmetric score over every row, in numpy. Beside them, the per-dimension quantizers that
need no model (``--peers``, default sign, sq2, sq4, sq8: compressae_pg/evaluation/peers.py, as
``evaluate --compare`` builds them) take the same candidates from the codes' sketch graph and order them
by their own bit_count score in SQL; their full scan is the same score over every row, in numpy. Latency is wall clock per query through
Python, one query at a time: psycopg ``conn.execute`` for the dense indexes,
``CompressedColumn.search`` for the codes (query encoding included), the SQL ``compressae.search``
too. The model is trained here (``--steps``, default the package's), read from a weights file
(``--model-file``, as ``CompresSAE.to_bytes`` writes it) or taken from the database (``--model``,
with ``--dsn``). ``--ip`` adds a probe of a ``sparsevec_ip_ops`` index with the query's projection.
Writes benchmarks/results/retrieval.json and prints a markdown table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from pgvector import SparseVector
from psycopg import sql

from _common import connect, database, load, make_table, parser, publish, retrieval_options
from compressae_pg import CompresSAE, CompressedColumn, _migrate, _residual, _sql, _wire, backfill, build_index, registry, train
from compressae_pg._defaults import SKETCH_PLANES
from compressae_pg.columns import attachments
from compressae_pg.evaluation import peers
from compressae_pg.evaluation.run import session_settings
from compressae_pg.search import plans

MODES = ("none", "reconstructed", "symmetric", "dense")


def truth(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k ids (1-based, as in the table) by cosine: the rows are unit norm, so by inner product."""
    out = np.zeros((len(queries), k), dtype=np.int64)
    for i in range(0, len(queries), 50):
        scores = queries[i : i + 50] @ base.T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.take_along_axis(scores, part, 1).argsort(axis=1)[:, ::-1]
        out[i : i + 50] = np.take_along_axis(part, order, 1) + 1
    return out


def measure(run: Callable[[np.ndarray], list], queries: np.ndarray, want: np.ndarray, warmup: int = 30) -> dict:
    """recall@k and p50/p95 latency of ``run`` over every query, after ``warmup`` unmeasured ones."""
    for q in queries[:warmup]:
        run(q)
    times, recall = [], []
    for q, ids in zip(queries, want):
        started = time.perf_counter()
        got = run(q)
        times.append(time.perf_counter() - started)
        recall.append(len(set(got) & set(ids.tolist())) / len(ids))
    ms = 1000 * np.array(times)
    return {"recall@10": round(float(np.mean(recall)), 4), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "queries": len(queries)}


def sizes(conn, table: str, column: str, index: str, also: tuple[str | None, ...] = ()) -> dict:
    """Bytes per row of ``column`` (plus ``also``, columns stored beside it), the index, and column(s) + index."""
    extra = sql.SQL("").join(sql.SQL(" + coalesce(pg_column_size({}), 0)").format(sql.Identifier(c)) for c in also if c)
    query = sql.SQL("SELECT avg(pg_column_size({}){}), pg_relation_size({}::regclass), count({}) FROM {}").format(
        sql.Identifier(column), extra, sql.Literal(index), sql.Identifier(column), sql.Identifier(table))
    per_row, index_bytes, rows = conn.execute(query).fetchone()
    return {"bytes_per_row": round(float(per_row), 1), "index_bytes": index_bytes,
            "column_plus_index_bytes": round(float(per_row) * rows + index_bytes)}


def dense_index(conn, table: str, typ: str, dim: int, m: int, ef_construction: int) -> float:
    """The HNSW index of ``table``'s dense column (``items_half`` is first cast from ``items``); build seconds."""
    if typ == "halfvec":
        conn.execute(sql.SQL("CREATE TABLE items_half AS SELECT id, embedding::halfvec({}) AS embedding FROM items").format(sql.Literal(dim)))
        conn.execute("ALTER TABLE items_half ADD PRIMARY KEY (id)")
        conn.execute("VACUUM ANALYZE items_half")
    started = time.perf_counter()
    conn.execute(sql.SQL("CREATE INDEX {} ON {} USING hnsw (embedding {}) WITH (m = {}, ef_construction = {})").format(
        sql.Identifier(f"{table}_hnsw"), sql.Identifier(table), sql.SQL(f"{typ}_cosine_ops"), sql.Literal(m), sql.Literal(ef_construction)))
    return round(time.perf_counter() - started, 1)


def run(args) -> dict:
    x = load(args.data, args.rows)
    base, queries = x[: -args.queries], x[-args.queries :]
    want = truth(base, queries, args.k)
    hnsw = {"m": args.m, "ef_construction": args.ef_construction}
    result: dict = {"data": args.data.name, "rows": len(base), "queries": len(queries), "k": args.k, "hnsw": hnsw,
                    "sketch_planes": args.sketch_planes}
    with database(args.dsn) as dsn:
        _migrate.upgrade(dsn)
        with connect(dsn, autocommit=True) as conn:
            result["server"] = conn.execute("SELECT version()").fetchone()[0]
            result["pgvector"] = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
            result["shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[0]
            prepare(conn, dsn, args, base, result)
            result["full_scan_ceiling"] = full_scan(conn, queries, want)
            result["rows_measured"] = measure_all(conn, args, queries, want)
            result["peers"] = peer_rows(conn, args, base, queries, want)
            result["rows_measured"] += result["peers"]["rows"]
            result["breakdown_ms"] = breakdown(conn, CompressedColumn(conn, "items", "embedding", code_column="embedding_sae"), queries)
    result["targets"] = targets(result)
    return result


def prepare(conn, dsn: str, args, base: np.ndarray, result: dict) -> str:
    """The three indexed columns on the same rows: vector, halfvec, and codes of a trained (or given) model."""
    for att in attachments.list_attachments(conn, "items") if conn.execute("SELECT to_regclass('items')").fetchone()[0] else []:
        attachments.detach("items", att.code_column, conn=conn)  # a previous run on this --dsn
    conn.execute("DROP TABLE IF EXISTS items, items_half")
    conn.execute("SET maintenance_work_mem = '1GB'")
    make_table(conn, "items", base)
    if args.model_file:
        model = CompresSAE.from_bytes(args.model_file.read_bytes())
        info = registry.save(conn, "bench", model, source=str(args.model_file))
        ref = info.ref
        result["model"] = {"ref": ref, "trained_here": False, "file": str(args.model_file), "dim": model.dim, "h": model.h,
                           "k": model.k, "refit": model.encoding.refit, "pursuit": model.encoding.pursuit}
    elif args.model:
        info = registry.get(conn, args.model)
        ref = info.ref
        result["model"] = {"ref": ref, "trained_here": False, "train_seconds": info.metrics.get("seconds"),
                           **{k: info.metrics.get(k) for k in ("val_cosine", "dead_atoms", "samples_seen")}, "params": info.params}
    else:
        started = time.perf_counter()
        trained = train("items", "embedding", "bench", dsn=dsn, progress=False, **({"steps": args.steps} if args.steps else {}))
        ref = trained.info.ref
        result["model"] = {"ref": ref, "trained_here": True, "seconds": round(time.perf_counter() - started, 1),
                           **{k: trained.metrics.get(k) for k in ("val_cosine", "dead_atoms", "samples_seen")},
                           "params": trained.info.params}
    # The sketch graph once per --sketch-planes (the first as embedding_sae), each with its own sketch column and index.
    sketched = {p: attachments.attach("items", "embedding", ref, sketch_planes=p, code_column=sketch_code_column(args, p), conn=conn)
                for p in args.sketch_planes}
    att = sketched[args.sketch_planes[0]]
    paper = attachments.attach("items", "embedding", ref, code_column="paper_sae", graph="sparse", conn=conn)
    fill = backfill("items", "embedding", code_column=att.code_column, dsn=dsn, progress=False, index=False)
    for other in [*list(sketched.values())[1:], paper]:
        backfill("items", "embedding", code_column=other.code_column, dsn=dsn, progress=False, index=False)
    conn.execute("VACUUM FULL ANALYZE items")  # the backfill rewrote every row: measure a table without dead versions
    # Indexes after the backfill: while one exists, every row the backfill rewrites is inserted into it again.
    build = {t: dense_index(conn, t, typ, base.shape[1], args.m, args.ef_construction) for t, typ in (("items", "vector"), ("items_half", "halfvec"))}
    indexes = {p: build_index("items", "embedding", code_column=a.code_column, dsn=dsn, m=args.m, ef_construction=args.ef_construction,
                              maintenance_work_mem="1GB") for p, a in sketched.items()}
    index = indexes[args.sketch_planes[0]]
    sparse = build_index("items", "embedding", code_column=paper.code_column, dsn=dsn, m=args.m, ef_construction=args.ef_construction,
                         maintenance_work_mem="1GB")
    result["build_seconds"] = {**build, **{f"codes_sketch_graph_{p}_planes": round(i.seconds, 1) for p, i in indexes.items()},
                               "codes_sparse_graph": round(sparse.seconds, 1), "backfill": round(fill.seconds, 1)}
    result["sizes"] = {"vector": sizes(conn, "items", "embedding", "items_hnsw"),
                       "halfvec": sizes(conn, "items_half", "embedding", "items_half_hnsw"),
                       "codes": sizes(conn, "items", att.code_column, index.index, also=(att.sketch_column, att.residual_column)),
                       "codes_without_residual": sizes(conn, "items", att.code_column, index.index, also=(att.sketch_column,)),
                       "codes_sparse_graph": sizes(conn, "items", paper.code_column, sparse.index),
                       **{f"codes_{p}_planes": sizes(conn, "items", a.code_column, indexes[p].index, also=(a.sketch_column, a.residual_column))
                          for p, a in sketched.items()}}
    return ref


def sketch_code_column(args, planes: int) -> str:
    """The code column of the sketch graph with ``planes`` sketch planes: embedding_sae for the first of --sketch-planes."""
    return "embedding_sae" if planes == args.sketch_planes[0] else f"sae_{planes}_planes"


def full_scan(conn, queries: np.ndarray, want: np.ndarray) -> dict:
    """recall@10 of what is stored by a full scan in numpy, the ceiling of each score: the codes' q · x̂, and with
    the residual sketch c·(q · x̂) + a·(q · L)."""
    column = CompressedColumn(conn, "items", "embedding", code_column="embedding_sae")
    t = column.target
    model = _sql.drive(conn, plans.load_model(conn, t))
    with conn.cursor(binary=True) as cur:
        _wire.install(cur.adapters, t.oids)
        rows = cur.execute(sql.SQL("SELECT id, embedding_sae, {} FROM items WHERE embedding_sae IS NOT NULL ORDER BY id").format(
            sql.Identifier(t.residual_column))).fetchall()
    ids = np.array([r[0] for r in rows])
    codes = _wire.sparse_rows([r[1] for r in rows])
    k = codes.lengths[0]
    idx, val = codes.indices.reshape(len(rows), k), codes.values.reshape(len(rows), k)
    sketches = _residual.unpack(np.frombuffer(b"".join(r[2] for r in rows), np.uint8).reshape(len(rows), -1), t.model.dim, t.residual_planes)
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    proj = model.project(unit)
    hits: dict[str, list[float]] = {"codes": [], "residual": []}
    for q, p, truth_ids in zip(unit, proj, want):
        base = (p[idx] * val).sum(axis=1)
        for name, scores in (("codes", base), ("residual", sketches.scores(q, base))):
            top = ids[np.argpartition(-scores, 10)[:10]]
            hits[name].append(len(set(top.tolist()) & set(truth_ids.tolist())) / 10)
    return {"recall@10": round(float(np.mean(hits["residual"])), 4), "codes_only_recall@10": round(float(np.mean(hits["codes"])), 4),
            "rows": len(rows)}


def measure_all(conn, args, queries: np.ndarray, want: np.ndarray) -> list[dict]:
    """Every row of the table, one configuration after the other, on the same queries."""
    rows = []

    def add(row: dict) -> None:
        rows.append(row)
        print(row, flush=True)

    def dense(table: str, typ: str) -> Callable[[np.ndarray], list]:
        query = sql.SQL("SELECT id FROM {} ORDER BY embedding <=> %s::{} LIMIT %s").format(sql.Identifier(table), sql.SQL(typ))
        return lambda q: [r[0] for r in conn.execute(query, (q, args.k))]

    conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(args.ef_search)))
    for name, table, typ in (("vector(384) HNSW", "items", "vector"), ("halfvec(384) HNSW", "items_half", "halfvec")):
        add({"row": name, "ef_search": args.ef_search, **measure(dense(table, typ), queries, want)})
    conn.execute("RESET hnsw.ef_search")
    codes_only = CompressedColumn(conn, "items", "embedding", code_column="embedding_sae")
    codes_only._target = replace(codes_only.target, residual_column=None, residual_planes=0)  # the same candidates, scored without it
    for candidates in args.candidates:
        search = lambda q, c=candidates: [h.key for h in codes_only.search(q, args.k, candidates=c)]  # noqa: E731
        add({"row": "codes, sketch graph, rerank reconstructed without the residual sketch", "graph": "sketch", "candidates": candidates,
             "residual": False, **measure(search, queries, want)})
    graphs = [("sketch", sketch_code_column(args, p), p) for p in args.sketch_planes] + [("sparse", "paper_sae", None)]
    for graph, code_column, planes in graphs:
        column = CompressedColumn(conn, "items", "embedding", code_column=code_column)
        name = f"sketch graph ({planes} plane{'s' if planes > 1 else ''})" if planes else f"{graph} graph"
        first = code_column == "embedding_sae"  # every rerank mode for the first sketch graph; none and reconstructed for the rest
        for candidates in args.candidates if graph == "sketch" else [100]:
            for mode in MODES if first else ["none", "reconstructed"]:
                search = lambda q, c=candidates, m=mode, col=column: [h.key for h in col.search(q, args.k, candidates=c, rerank=m)]  # noqa: E731
                add({"row": f"codes, {name}, rerank {mode}", "graph": graph, "sketch_planes": planes, "candidates": candidates,
                     **measure(search, queries, want)})
        sql_search = sql.SQL("SELECT key::bigint FROM compressae.search('items', {}, %s, %s, 100, 'reconstructed')").format(
            sql.Literal(code_column))
        add({"row": f"codes, {name}, SQL compressae.search (reconstructed)", "graph": graph, "sketch_planes": planes, "candidates": 100,
             **measure(lambda q, s=sql_search: [r[0] for r in conn.execute(s, (q, args.k))], queries[: args.sql_queries], want)})
    if args.ip:
        rows += projection_probe(conn, CompressedColumn(conn, "items", "embedding", code_column="embedding_sae"), queries, want, args)
    return rows


def peer_rows(conn, args, base: np.ndarray, queries: np.ndarray, want: np.ndarray) -> dict:
    """The peers of ``args.peers`` through the codes' sketch graph at each candidate count, their bytes (column(s)
    and the graph's index), and their full-scan recall@10: the same score over every row in numpy."""
    target = CompressedColumn(conn, "items", "embedding", code_column="embedding_sae").target
    notes: list[str] = []
    rows = []
    with peers.built(conn, target, args.peers, candidates=args.candidates, rerank=False, ef_search=args.ef_search, seed=0,
                     notes=notes, say=print) as methods:
        for method in methods:
            with session_settings(conn, method.settings):
                found = measure(lambda q, m=method: [int(key) for key in m.search(q, args.k)], queries, want)
            rows.append({"row": f"peer: {method.name}", "candidates": int(method.setting.split()[-1]), "graph": "sketch",
                         "bytes_per_row": round(method.bytes_per_row, 1), "index_bytes": method.index_bytes,
                         "column_plus_index_bytes": round(method.bytes_per_row * len(base) + method.index_bytes), **found})
            print(rows[-1], flush=True)
    full = {}
    for name, quantizer in peers.quantizers(conn, target, args.peers, 0).items():
        u, s = quantizer.codes(base), quantizer.scales(base)
        hits = [len(set(np.argpartition(-quantizer.scores(q, u, s), args.k)[: args.k] + 1) & set(ids.tolist())) / args.k
                for q, ids in zip(queries, want)]
        full[name] = round(float(np.mean(hits)), 4)
        print(f"peer {name}: full scan recall@{args.k} {full[name]}", flush=True)
    return {"rows": rows, "full_scan": full, "notes": notes}


def breakdown(conn, column: CompressedColumn, queries: np.ndarray) -> dict:
    """Where a reconstructed search spends its time: the query's sign bits and projection in Python, then the rest."""
    model = _sql.drive(conn, plans.load_model(conn, column.target))
    encode = []
    for q in queries[:200]:
        started = time.perf_counter()
        plans.encode(model, q[None, :], "reconstructed", column.target)
        encode.append(time.perf_counter() - started)
    return {"encode_and_project_p50": round(1000 * float(np.median(encode)), 2)}


def projection_probe(conn, column: CompressedColumn, queries: np.ndarray, want: np.ndarray, args) -> list[dict]:
    """An HNSW index with sparsevec_ip_ops on the codes, probed with the projection W_dec q (all h atoms)."""
    t = column.target
    started = time.perf_counter()
    conn.execute(sql.SQL("CREATE INDEX items_codes_ip ON items USING hnsw ({} sparsevec_ip_ops) WITH (m = {}, ef_construction = {})").format(
        sql.Identifier(t.code_column), sql.Literal(args.m), sql.Literal(args.ef_construction)))
    seconds = round(time.perf_counter() - started, 1)
    size = conn.execute("SELECT pg_relation_size('items_codes_ip')").fetchone()[0]
    model = _sql.drive(conn, plans.load_model(conn, t))
    query = sql.SQL("SELECT id FROM items ORDER BY {} <#> %s LIMIT %s").format(sql.Identifier(t.code_column))

    def probe(q: np.ndarray) -> list:
        return [r[0] for r in conn.execute(query, (SparseVector(model.project(q[None, :])[0]), args.k))]

    rows = []
    for ef in args.ip_ef:
        conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(ef)))
        rows.append({"row": "codes, sparsevec_ip_ops index probed with the projection", "ef_search": ef,
                     **measure(probe, queries[: args.ip_queries], want), "index_bytes": size, "build_seconds": seconds})
        print(rows[-1], flush=True)
    conn.execute("RESET hnsw.ef_search")
    conn.execute("DROP INDEX items_codes_ip")
    return rows


def targets(r: dict) -> dict:
    """The index-path targets: recall, share of the full-scan ceiling, p50 against halfvec's, bytes against halfvec's."""
    by = {(row["row"], row.get("candidates")): row for row in r["rows_measured"]}
    half = by[("halfvec(384) HNSW", None)]
    s, ceiling = r["sizes"], r["full_scan_ceiling"]["recall@10"]
    out = {"full_scan_ceiling": ceiling,
           "codes_over_halfvec_bytes": round(s["codes"]["column_plus_index_bytes"] / s["halfvec"]["column_plus_index_bytes"], 3),
           "codes_over_vector_bytes": round(s["codes"]["column_plus_index_bytes"] / s["vector"]["column_plus_index_bytes"], 3),
           **{f"codes_{p}_planes_over_halfvec_bytes": round(s[f"codes_{p}_planes"]["column_plus_index_bytes"]
                                                           / s["halfvec"]["column_plus_index_bytes"], 3) for p in r["sketch_planes"]}}
    for (name, candidates), row in by.items():
        if name.startswith("codes, ") and name.endswith("rerank reconstructed") or "SQL" in name:
            planes = f"{row['sketch_planes']}_planes_" if row.get("sketch_planes") else ""
            tag = f"{row['graph']}_{planes}{'sql' if 'SQL' in name else 'python'}_{candidates}"
            out[tag] = {"recall@10": row["recall@10"], "share_of_ceiling": round(row["recall@10"] / ceiling, 3),
                        "p50_over_halfvec_p50": round(row["p50_ms"] / half["p50_ms"], 2)}
    return out


def markdown(r: dict) -> str:
    s = r["sizes"]
    size = {"vector(384) HNSW": s["vector"], "halfvec(384) HNSW": s["halfvec"]}
    ceiling = r["full_scan_ceiling"]["recall@10"]
    lines = [f"{r['rows']:,} rows indexed, {r['queries']} held-out queries, truth = exact cosine top {r['k']}; "
             f"model {r['model']['ref']}; HNSW m={r['hnsw']['m']}, ef_construction={r['hnsw']['ef_construction']}", "",
             f"full scan of what is stored: recall@10 {ceiling:.3f} with the residual sketch, "
             f"{r['full_scan_ceiling']['codes_only_recall@10']:.3f} for the codes alone", "",
             "| row | candidates / ef_search | recall@10 | share of ceiling | p50 ms | p95 ms | bytes/row | index MiB | column(s) + index MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in r["rows_measured"]:
        codes = s["codes_without_residual"] if not row.get("residual", True) else s.get(f"codes_{row.get('sketch_planes')}_planes", s["codes"])
        sz = row if "bytes_per_row" in row else size.get(row["row"], s["codes_sparse_graph"] if row.get("graph") == "sparse" else codes)
        index_mib = row.get("index_bytes", sz["index_bytes"]) / 2**20
        knob = row.get("candidates", row.get("ef_search"))
        share = f"{row['recall@10'] / ceiling:.0%}" if row["row"].startswith("codes") else ""
        lines.append(f"| {row['row']} | {knob} | {row['recall@10']:.3f} | {share} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | "
                     f"{sz['bytes_per_row']:,.0f} | {index_mib:.1f} | {sz['column_plus_index_bytes'] / 2**20:.1f} |")
    t = r["targets"]
    lines += ["", "full scan of what each peer stores, the same score over every row (numpy): "
              + ", ".join(f"{name} {value:.3f}" for name, value in r["peers"]["full_scan"].items())]
    lines += ["", f"codes' column(s) + index / halfvec's = {t['codes_over_halfvec_bytes']:.3f} (/ vector's = {t['codes_over_vector_bytes']:.3f}); "
                  f"by sketch planes: {', '.join(f'{p}: ' + str(t[f'codes_{p}_planes_over_halfvec_bytes']) for p in r['sketch_planes'])}; "
                  f"query sketch + projection p50 {r['breakdown_ms']['encode_and_project_p50']} ms; build seconds {r['build_seconds']}"]
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__.split("\n\n")[0])
    retrieval_options(p)
    p.add_argument("--model", help="use this stored model (name or name@version) instead of training (with --dsn)")
    p.add_argument("--model-file", type=Path, help="use these weights (CompresSAE.to_bytes) instead of training")
    p.add_argument("--candidates", type=lambda v: [int(c) for c in v.split(",")], default=[50, 100, 200])
    p.add_argument("--ef-search", type=int, default=100, help="hnsw.ef_search of the dense rows (default 100)")
    p.add_argument("--sql-queries", type=int, default=100, help="queries for the SQL compressae.search row (default 100)")
    p.add_argument("--ip-queries", type=int, default=200, help="queries for the sparsevec_ip_ops rows (default 200)")
    p.add_argument("--ip-ef", type=lambda v: [int(c) for c in v.split(",")], default=[40, 100],
                   help="hnsw.ef_search values of the sparsevec_ip_ops rows (default 40,100)")
    p.add_argument("--ip", action="store_true", help="add the sparsevec_ip_ops rows (a third index on the codes)")
    p.add_argument("--peers", type=lambda v: [n for n in v.split(",") if n], default=["sign", "sq2", "sq4", "sq8"],
                   help="peers through the codes' sketch graph (evaluate --compare's names; default sign,sq2,sq4,sq8; '' for none)")
    p.add_argument("--sketch-planes", type=lambda v: [int(c) for c in v.split(",")], default=[SKETCH_PLANES],
                   help=f"attach the sketch graph once per number of sketch planes, on the same rows (default {SKETCH_PLANES}; "
                        "e.g. 1,2: the first is embedding_sae, the one the rerank-mode rows and the ceiling use)")
    p.add_argument("--name", default="retrieval", help="results/<name>.json (default retrieval)")
    args = p.parse_args()
    publish(args.name, args, run(args), markdown)


if __name__ == "__main__":
    main()
