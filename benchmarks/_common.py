"""Shared plumbing for the benchmark scripts: a private server, tables of real vectors, results."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import psycopg
import torch
from psycopg import sql
from psycopg.conninfo import make_conninfo

from compressae_pg import CompresSAE, TrainConfig
from compressae_pg.evaluation.metrics import topk_rows
from compressae_pg.model import PAPER, Encoding
from compressae_pg.server import EmbeddedServer, connect

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA = ROOT.parents[1] / "shared" / "data" / "pypi-minilm-100k.f16.npy"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="(n, d) .npy of embeddings")
    p.add_argument("--dsn", help="benchmark against this server instead of a private embedded one")
    return p


def model_options(p: argparse.ArgumentParser) -> None:
    """The shape and encoding of the untrained model that the write-path benchmarks encode with."""
    p.add_argument("--h", type=int, default=4096)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--encoding", choices=tuple(ENCODINGS), default="default",
                   help="the codes' encoding: the package default (refit + k/2 pursuit atoms in 2 stages), one stage of "
                        "k/4 (the default before revision 0008), or the paper's TopK values")


# The encodings the write-path benchmarks compare, by name: each a function of (h, k).
ENCODINGS = {
    "default": lambda h, k: TrainConfig(h=h, k=k).encoding,
    "one-stage": lambda h, k: Encoding(refit=True, pursuit=k // 4),
    "paper": lambda h, k: PAPER,
}


def bench_model(dim: int, h: int, k: int, encoding: str = "default") -> CompresSAE:
    """An untrained CompresSAE with one of :data:`ENCODINGS`: encoding costs the same whatever the weights."""
    return CompresSAE(dim, h, k, seed=0, encoding=ENCODINGS[encoding](h, k)).eval()


def retrieval_options(p: argparse.ArgumentParser) -> None:
    """The options every retrieval benchmark shares: the split, k, training steps, and the HNSW build."""
    p.add_argument("--rows", type=int, help="use only the first N rows of the data (queries included)")
    p.add_argument("--queries", type=int, default=500, help="held-out queries: the last rows (default 500)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--steps", type=int, help="training steps (default: the package default)")
    p.add_argument("--m", type=int, default=16, help="HNSW m (default 16)")
    p.add_argument("--ef-construction", type=int, default=64, help="HNSW ef_construction (default 64)")


def load(path: Path, rows: int | None = None) -> np.ndarray:
    """Unit-normalised float32 rows of a .npy file."""
    x = np.load(path, mmap_mode="r")
    x = np.asarray(x[:rows] if rows else x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _with_pgvector(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return url


@contextmanager
def database(dsn: str | None, *, fresh: bool = True):
    """A DSN to a fresh database with pgvector: ``compressae_bench`` on the given server (as a previous run left it,
    without ``fresh``), or a private embedded server."""
    if dsn:
        with psycopg.connect(dsn, autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = 'compressae_bench'").fetchone()
            if fresh or not exists:
                admin.execute("DROP DATABASE IF EXISTS compressae_bench WITH (FORCE)")
                admin.execute("CREATE DATABASE compressae_bench")
        yield _with_pgvector(make_conninfo(dsn, dbname="compressae_bench"))
        return
    root = Path(tempfile.mkdtemp(prefix="compressae-bench-"))
    srv = EmbeddedServer(root / "pgdata")
    try:
        url = _with_pgvector(srv.start())
        os.environ["COMPRESSAE_PG_DATA"] = str(srv.pgdata)
        yield url
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)


def make_table(conn, name: str, vectors: np.ndarray, *, type_: str = "vector") -> None:
    """(Re)create ``name (id bigint primary key, embedding <type_>(d))`` holding ``vectors``."""
    ident = sql.Identifier(name)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(ident))
    conn.execute(
        sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, embedding {}({}))").format(ident, sql.SQL(type_), sql.Literal(vectors.shape[1]))
    )
    with conn.cursor().copy(sql.SQL("COPY {} (id, embedding) FROM STDIN (FORMAT binary)").format(ident)) as copy:
        copy.set_types(["int8", type_])
        for i, v in enumerate(vectors):
            copy.write_row((i + 1, v))
    conn.execute(sql.SQL("VACUUM ANALYZE {}").format(ident))


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d"),
    }


def save(name: str, result: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` (with the machine) and return its path."""
    out = ROOT / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": machine(), **result}, indent=2, default=str) + "\n")
    return out


def publish(name: str, args: argparse.Namespace, result: dict, markdown) -> None:
    """Save a benchmark's result with the arguments that made it, and print its markdown table."""
    script = f"benchmarks/{Path(sys.argv[0]).name}"  # not name: a script may write results under another name
    out = save(name, {"command": script, "args": {k: str(v) for k, v in vars(args).items()}, **result})
    print(markdown(result))
    print(f"\nwrote {out}")


__all__ = ["ENCODINGS", "bench_model", "connect", "database", "load", "machine", "model_options", "make_table", "parser", "publish",
           "retrieval_options", "save"]


def exact_topk(queries: np.ndarray, items: np.ndarray, k: int = 10, *, chunk: int = 256) -> np.ndarray:
    """Indices of the k items of highest cosine with each query (brute force, best first)."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    x = items / np.linalg.norm(items, axis=1, keepdims=True)
    return topk_rows(q, x, k, chunk=chunk)
