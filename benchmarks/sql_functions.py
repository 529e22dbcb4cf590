"""The SQL functions inside Postgres: compressae.encode latency per row (d=384 and d=768, h=4096), the residual
sketch it is written with since 0010, decode / project / similarity per call, and INSERT throughput with the sync trigger against
without it, as a ratio measured in one run.

    OMP_NUM_THREADS=1 python benchmarks/sql_functions.py --data ../shared/data/pypi-minilm-100k.f16.npy

Writes benchmarks/results/sql_functions.json and prints a markdown table. Without --dsn it runs on
a private embedded server that it removes afterwards. Latency does not depend on the weights, so
the models are untrained (seeded); the 768-d vectors are pairs of real 384-d vectors, concatenated.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
from psycopg import sql

from _common import connect, database, make_table, parser, save
from compressae_pg import CompresSAE, Encoding, TrainConfig, _migrate, registry
from compressae_pg.columns import attachments


def backend_cpu(conn) -> float | None:
    """CPU seconds the connection's server process has used, when the server runs on this machine."""
    pid = conn.info.backend_pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(conn, query: sql.Composable, params=None) -> tuple[float, float | None]:
    """(wall seconds, server CPU seconds or None) of one statement."""
    cpu0, t0 = backend_cpu(conn), time.perf_counter()
    conn.execute(query, params).fetchall()
    wall, cpu1 = time.perf_counter() - t0, backend_cpu(conn)
    return wall, (cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None)


def per_row(conn, function: str, args: str, ref: str, table: str, rows: int) -> dict:
    """ms per row of ``compressae.<function>(ref, <args>)`` over ``table``'s first ``rows`` rows, wall and server CPU."""
    q = sql.SQL("SELECT count(compressae.{}({}, {})) FROM (SELECT * FROM {} ORDER BY id LIMIT {}) t").format(
        sql.Identifier(function), sql.Literal(ref), sql.SQL(", ").join(map(sql.Identifier, args.split())),
        sql.Identifier(table), rows)
    wall, cpu = timed(conn, q)
    return {"rows": rows, "ms_per_row": 1000 * wall / rows, "cpu_ms_per_row": None if cpu is None else 1000 * cpu / rows}


def functions(conn, vectors: np.ndarray, rows: int, h: int, k: int) -> dict:
    """Latency of every function for one dimension, and how many codes match the torch model's."""
    d = vectors.shape[1]
    model = CompresSAE(d, h, k, seed=0).eval()
    ref = registry.save(conn, f"bench-{d}", model).ref
    refined = CompresSAE(d, h, k, seed=0, encoding=TrainConfig(h=h, k=k).encoding).eval()
    refined_ref = registry.save(conn, f"bench-{d}-refined", refined).ref
    staged = CompresSAE(d, h, k, seed=0, encoding=Encoding(refit=True, pursuit=k // 2, stages=2)).eval()
    staged_ref = registry.save(conn, f"bench-{d}-staged", staged).ref  # benchmarks/pursuit_probe.py's 16 + 2 × 8 at k=32
    table = f"bench_{d}"
    make_table(conn, table, vectors[:rows])
    for r in (ref, refined_ref, staged_ref):
        per_row(conn, "encode", "embedding", r, table, min(rows, 20))  # warm the atoms into shared buffers
    out = {"dim": d, "h": h, "k": k, "model": ref,
           "encode": per_row(conn, "encode", "embedding", ref, table, rows),
           "encode_refined": per_row(conn, "encode", "embedding", refined_ref, table, rows),
           "encode_staged": per_row(conn, "encode", "embedding", staged_ref, table, rows)}
    calls = min(rows, 200)
    conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN code sparsevec").format(sql.Identifier(table)))
    conn.execute(sql.SQL("UPDATE {} SET code = compressae.encode({}, embedding)").format(sql.Identifier(table), sql.Literal(ref)))
    out["decode"] = per_row(conn, "decode", "code", ref, table, calls)
    out["project"] = per_row(conn, "project", "embedding", ref, table, calls)
    out["similarity"] = per_row(conn, "similarity", "code code", ref, table, calls)
    residual = sql.SQL("SELECT count(compressae.residual({}, embedding, code, 2)) FROM (SELECT * FROM {} ORDER BY id LIMIT {}) t").format(
        sql.Literal(ref), sql.Identifier(table), calls)
    wall, cpu = timed(conn, residual)  # what the sync trigger adds to an encode since 0010 (2 planes)
    out["residual"] = {"rows": calls, "ms_per_row": 1000 * wall / calls, "cpu_ms_per_row": None if cpu is None else 1000 * cpu / calls}
    codes = conn.execute(sql.SQL("SELECT code FROM {} ORDER BY id LIMIT {}").format(sql.Identifier(table), calls)).fetchall()
    torch_codes = model.compress(vectors[:calls])
    same = sum(sorted(c.indices()) == list(t) for (c,), t in zip(codes, torch_codes.indices))
    out["same_atoms_as_torch"] = f"{same}/{calls}"
    sql_refined = conn.execute(sql.SQL("SELECT compressae.encode({}, embedding) FROM {} ORDER BY id LIMIT {}").format(
        sql.Literal(refined_ref), sql.Identifier(table), calls)).fetchall()
    torch_refined = refined.compress(vectors[:calls])
    same = sum(sorted(c.indices()) == list(t) for (c,), t in zip(sql_refined, torch_refined.indices))
    out["refined_same_atoms_as_torch"] = f"{same}/{calls}"
    return out


def inserts(conn, vectors: np.ndarray, rows: int, rounds: int) -> dict:
    """INSERT … SELECT throughput into a table with a code column, with the sync trigger and without."""
    make_table(conn, "bench_source", vectors[:rows])
    ref = registry.save(conn, "bench-insert", CompresSAE(vectors.shape[1], 4096, 32, seed=0)).ref
    for name, sync in (("bench_plain", "none"), ("bench_trigger", "trigger")):
        make_table(conn, name, vectors[:0])
        attachments.attach(name, "embedding", ref, sync=sync, conn=conn)
    rates: dict[str, list[float]] = {"bench_plain": [], "bench_trigger": []}
    for _ in range(rounds):  # alternate, so that both see the same machine load
        for name in rates:
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(name)))
            wall, _cpu = timed(conn, sql.SQL("INSERT INTO {} (id, embedding) SELECT id, embedding FROM bench_source RETURNING 1").format(sql.Identifier(name)))
            rates[name].append(rows / wall)
    filled = conn.execute("SELECT count(embedding_sae) FROM bench_trigger").fetchone()[0]
    plain, trigger = statistics.median(rates["bench_plain"]), statistics.median(rates["bench_trigger"])
    return {"rows": rows, "rounds": rounds, "plain_rows_per_s": plain, "trigger_rows_per_s": trigger,
            "trigger_over_plain": trigger / plain, "trigger_codes_filled": filled}


def table(result: dict) -> str:
    lines = ["| d | encode ms/row (server CPU) | refined encode ms/row (server CPU) | 2-stage pursuit encode ms/row (server CPU) "
             "| residual sketch ms/row (server CPU) | decode ms | project ms | similarity ms | same atoms as torch (paper / refined) |",
             "|---|---|---|---|---|---|---|---|---|"]

    def ms(m: dict) -> str:
        cpu = m["cpu_ms_per_row"]
        return f"{m['ms_per_row']:.2f} ({'-' if cpu is None else f'{cpu:.2f}'})"

    for r in result["functions"]:
        lines.append(f"| {r['dim']} | {ms(r['encode'])} | {ms(r['encode_refined'])} | {ms(r['encode_staged'])} | {ms(r['residual'])} | "
                     f"{r['decode']['ms_per_row']:.2f} | {r['project']['ms_per_row']:.2f} | "
                     f"{r['similarity']['ms_per_row']:.2f} | {r['same_atoms_as_torch']} / {r['refined_same_atoms_as_torch']} |")
    i = result["inserts"]
    lines += ["", "| INSERT … SELECT, d=384, no index | rows/s |", "|---|---|",
              f"| without trigger | {i['plain_rows_per_s']:,.0f} |",
              f"| with sync trigger | {i['trigger_rows_per_s']:,.0f} |",
              f"| ratio (trigger / plain) | {i['trigger_over_plain']:.4f} |"]
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=500, help="rows encoded per dimension")
    p.add_argument("--insert-rows", type=int, default=500, help="rows per INSERT")
    p.add_argument("--rounds", type=int, default=3, help="INSERT rounds (median)")
    p.add_argument("--h", type=int, default=4096)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--name", default="sql_functions", help="results/<name>.json")
    args = p.parse_args()

    raw = np.asarray(np.load(args.data, mmap_mode="r")[: 2 * max(args.rows, args.insert_rows)], dtype=np.float32)
    x384 = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    half = len(x384) // 2
    x768 = np.concatenate([x384[:half], x384[half:2 * half]], axis=1)
    x768 /= np.linalg.norm(x768, axis=1, keepdims=True)
    with database(args.dsn) as dsn:
        _migrate.upgrade(dsn)
        with connect(dsn, autocommit=True) as conn:
            result = {
                "data": str(args.data.name),
                "server": conn.execute("SELECT version()").fetchone()[0],
                "pgvector": conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0],
                "functions": [functions(conn, x, args.rows, args.h, args.k) for x in (x384, x768)],
                "inserts": inserts(conn, x384, args.insert_rows, args.rounds),
            }
            for name in ("bench_plain", "bench_trigger"):
                attachments.detach(name, "embedding_sae", conn=conn)
            for name in ("bench_plain", "bench_trigger", "bench_source", "bench_384", "bench_768"):
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
            for ref in ("bench-384", "bench-768", "bench-384-refined", "bench-768-refined", "bench-insert"):
                registry.drop_model(ref, conn=conn)
    out = save(args.name, result)
    print(table(result))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
