"""The ``compressae-pg`` command line: one subcommand per job, ``--json`` for machines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from .. import _defaults as d
from ..errors import CompressaeError
from .commands import (
    cmd_atoms,
    cmd_attach,
    cmd_backfill,
    cmd_db,
    cmd_demo,
    cmd_detach,
    cmd_evaluate,
    cmd_index,
    cmd_models,
    cmd_recompress,
    cmd_search,
    cmd_server,
    cmd_status,
    cmd_sync,
    cmd_train,
    cmd_verify,
)

Handler = Callable[[argparse.Namespace], Any]


def _int_list(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


# ---- parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compressae-pg", description="CompresSAE compression of pgvector embeddings.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        p.add_argument("--dsn", help="database URL (default: $DATABASE_URL, else the embedded server)")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        return p

    p = add("server", cmd_server, "manage the embedded PostgreSQL server")
    p.add_argument("action", choices=["start", "stop", "status", "url"])

    p = add("db", cmd_db, "upgrade or downgrade the compressae schema, or grant a role what the package needs")
    p.add_argument("action", choices=["upgrade", "downgrade", "current", "grant"])
    p.add_argument("revision", nargs="?", metavar="REVISION|ROLE",
                   help="target revision (upgrade: head; downgrade: -1, or base); grant: the role to grant")
    p.add_argument("--train", action="store_true", help="grant: also let the role store and drop models")

    p = add("train", cmd_train, "train a model on a vector column and store it in the database")
    p.add_argument("--table", required=True)
    p.add_argument("--column", required=True)
    p.add_argument("--name", required=True, help="model name; training an existing name makes a new version")
    _model_options(p)
    p.add_argument("--steps", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--patience", type=int, help="stop after this many checks of the held-out rows without a gain, "
                   "keeping the best weights (default: run every step)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    p.add_argument("--paper", action="store_true", help="the paper's recipe exactly (no init, schedule, AuxK or encode refinements)")

    p = add("models", cmd_models, "list stored models, drop one, or export one to a file and import it elsewhere")
    p.add_argument("action", nargs="?", choices=["list", "drop", "export", "import"], default="list")
    p.add_argument("ref", nargs="?", metavar="REF|FILE",
                   help="drop: name (all versions) or name@version; export: name (newest) or name@version; import: the file")
    p.add_argument("--name", help="list: only this model name; import: store under this name (default: the exported one)")
    p.add_argument("--output", type=Path, help="export: the safetensors file to write")

    p = add("attach", cmd_attach, "add a compressed code column to a vector column: as an Alembic revision, or now")
    _target_options(p)
    p.add_argument("--schema", help="the table's schema, for a table whose name contains a dot")
    p.add_argument("--model", required=True, help="name (newest version when applied) or name@version")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--alembic", metavar="DIR", help="write a revision into the application's Alembic (its alembic.ini, or the directory holding it)")
    how.add_argument("--apply", action="store_true", help="change the database now")
    p.add_argument("--sync", choices=d.SYNC_MODES, default=d.SYNC,
                   help="trigger: encode on INSERT/UPDATE in the statement; queue: clear the code and queue the row for `sync`")
    p.add_argument("--graph", choices=d.GRAPHS, default=d.GRAPH,
                   help=f"what search's HNSW index is built over (default {d.GRAPH}): sketch (sign bits of each row, Hamming) "
                        "or sparse (the codes by sparse cosine, the paper's path, for ORDER BY code <=> ...)")
    p.add_argument("--residual-bits", type=int, choices=d.RESIDUAL_BITS, default=None,
                   help="bits per dimension of the residual sketch that search scores with (default: 2 with the sketch "
                        "graph, 0 with the sparse one)")
    p.add_argument("--sketch-planes", type=int, choices=d.SKETCH_PLANE_COUNTS, default=d.SKETCH_PLANES,
                   help=f"planes of the sketch graph's column (default {d.SKETCH_PLANES}): 1 is the sign bits, bit(d); "
                        "2 adds the signs of shifted differences, bit(2d), and finds more true neighbours among the candidates")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--no-index", action="store_true", help="build no HNSW index now (a finished backfill still builds it, "
                                                             "unless run with --no-index too)")
    when.add_argument("--index-now", action="store_true",
                      help="build the HNSW index now even when the table has rows (the slow order: every backfilled row "
                           "then goes through it). Default: now on an empty table, else at the end of the backfill")
    p.add_argument("--concurrently", action="store_true", help="build the index with CREATE INDEX CONCURRENTLY")
    _index_options(p)
    p.add_argument("--message", help="--alembic: the revision message")

    p = add("detach", cmd_detach, "drop a compressed code column with its index and trigger (the source column stays)")
    _target_options(p)
    p.add_argument("--schema", help="the table's schema, for a table whose name contains a dot")

    p = add("demo", cmd_demo, "create a table of embeddings on the embedded server and compress it, end to end")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--npy", type=Path, help="vectors from this .npy of shape (n, d) instead of the shipped real sample")
    data.add_argument("--synthetic", action="store_true", help="SYNTHETIC clustered vectors instead of the shipped real sample")
    p.add_argument("--rows", type=int, default=20000, help="use at most this many rows (the sample has 6,000)")
    p.add_argument("--steps", type=int, default=400)
    _model_options(p)

    p = add("backfill", cmd_backfill, "fill the code column of a live table: resumable, throttled, parallel")
    _target_options(p)
    p.add_argument("--model", help="the attachment's model (name or name@version), to pick one of several")
    _backfill_options(p)
    p.add_argument("--index", action=argparse.BooleanOptionalAction, default=True,
                   help="once the run is done, build the code column's HNSW index CONCURRENTLY if it has none (default; "
                        "--no-index leaves it without one)")
    _index_options(p)
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the unfinished run (an error if there is none)")
    again.add_argument("--restart", action="store_true", help="abandon any unfinished run and start a full pass")
    p.set_defaults(on_interrupt="interrupted: finished batches are checkpointed; run the same command to resume",
                   on_connection_lost="finished batches are checkpointed; run the same command again to resume")

    p = add("sync", cmd_sync, "encode the rows a --sync queue trigger queued: once, or following the queue as a service")
    _target_options(p)
    p.add_argument("--model", help="the attachment's model (name or name@version), to pick one of several")
    once = p.add_mutually_exclusive_group()
    once.add_argument("--once", action="store_true", help="drain what is queued, then exit (the default)")
    once.add_argument("--follow", action="store_true", help="keep draining as rows are queued (LISTEN/NOTIFY, polling too) until SIGTERM")
    p.add_argument("--batch-size", type=int, default=d.BATCH_SIZE, help=f"queue entries per batch and transaction (default {d.BATCH_SIZE})")
    p.add_argument("--poll", type=float, default=d.POLL,
                   help=f"--follow: seconds between looks at the queue without a notification (default {d.POLL:g})")
    p.add_argument("--device", help="where to encode: cpu, cuda (default: cuda when present)")
    p.set_defaults(on_interrupt="interrupted: the batch at hand was rolled back and stays queued; run it again",
                   on_connection_lost="the batch at hand was rolled back and stays queued; run the same command again")

    p = add("index", cmd_index, "build the HNSW index of a code column (rebuilds an invalid one)")
    _target_options(p)
    _index_options(p)
    p.add_argument("--concurrently", action=argparse.BooleanOptionalAction, default=True,
                   help="CREATE INDEX CONCURRENTLY, the table stays writable (default; --no-concurrently blocks writes)")
    p.add_argument("--maintenance-work-mem", help="for this build, e.g. 2GB (default: the server's)")
    p.add_argument("--parallel-workers", type=int, help="max_parallel_maintenance_workers for this build")
    p.add_argument("--rebuild", action="store_true", help="rebuild even a valid index")
    p.set_defaults(on_connection_lost="an interrupted build leaves an invalid index; run the same command again to rebuild it")

    p = add("status", cmd_status, "attachments: model version, backfill progress, index validity")
    p.add_argument("--table", help="only this table")
    p.add_argument("--exact", action="store_true", help="count coded and missing rows (a full scan of each table)")
    p.add_argument("--drift", type=int, nargs="?", const=d.DRIFT_SAMPLE, metavar="ROWS",
                   help=f"decode a random sample of each attachment's codes (default {d.DRIFT_SAMPLE} rows) and compare their "
                        "cosine with the model's recorded held-out one")

    p = add("recompress", cmd_recompress, "re-compress a code column with a new model version and swap it in")
    _target_options(p)
    p.add_argument("--model", required=True, help="the new model (name or name@version)")
    _backfill_options(p)
    p.add_argument("--index", action=argparse.BooleanOptionalAction, default=None,
                   help="build the new column's index before the swap (default: when the current column has one)")
    _index_options(p)
    p.set_defaults(on_interrupt="interrupted: finished batches are checkpointed; run the same command to resume",
                   on_connection_lost="finished batches are checkpointed; run the same command again to resume")

    p = add("search", cmd_search, "the rows nearest a query vector (or a row) through the code column's HNSW index")
    _target_options(p)
    probe = p.add_mutually_exclusive_group(required=True)
    probe.add_argument("--vector", help="the query as a JSON array of numbers ('-' reads it from stdin)")
    probe.add_argument("--key", help="the primary key of a row: find the rows most similar to it (itself left out)")
    p.add_argument("--k", type=int, default=d.K, help=f"results (default {d.K})")
    p.add_argument("--candidates", type=int, default=d.CANDIDATES, help=f"rows the index returns for the rerank (default {d.CANDIDATES})")
    p.add_argument("--rerank", choices=d.RERANK_MODES, help=f"default: {d.RERANK} for --vector, {d.SIMILAR_RERANK} for --key")
    p.add_argument("--ef-search", type=int, help=f"hnsw.ef_search (default: the candidates, at least {d.EF_SEARCH_FLOOR})")
    p.add_argument("--explain", action="store_true",
                   help="with --vector and the reconstructed rerank: each hit's atoms that carry its score (compressae.explain)")
    p.add_argument("--atoms", type=int, default=d.EXPLAIN_ATOMS, help=f"atoms --explain lists per hit (default {d.EXPLAIN_ATOMS})")

    p = add("atoms", cmd_atoms, "name a code column's atoms by the rows that use them most (stored in compressae.atom_labels), "
                                "or browse the rows along one atom")
    _target_options(p)
    p.add_argument("--text-column", help="also show this column's values (as text) beside each row's key")
    p.add_argument("--top", type=int, help=f"rows per atom (default {d.LABEL_ROWS}; with --atom {d.ATOM_ROWS})")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stored", action="store_true", help="print the labels stored by an earlier run instead of computing them")
    mode.add_argument("--atom", type=int, help="the rows with the largest values at this atom (0-based): a scan of the code column")
    p.add_argument("--batch-size", type=int, default=d.BATCH_SIZE, help=f"rows read per batch while labelling (default {d.BATCH_SIZE})")

    p = add("evaluate", cmd_evaluate, "recall, latency and size of a code column against exact search and the dense column's index")
    _target_options(p)
    p.add_argument("--queries", type=int, default=d.QUERIES, help=f"queries sampled from the table (default {d.QUERIES})")
    p.add_argument("--queries-from", metavar="TABLE.COLUMN", help="sample the queries from another vector column")
    p.add_argument("--k", type=int, default=d.K, help=f"recall@k and nDCG@k (default {d.K})")
    p.add_argument("--candidates", type=_int_list, default=list(d.EVAL_CANDIDATES),
                   help=f"candidate counts of the codes (default {','.join(map(str, d.EVAL_CANDIDATES))})")
    p.add_argument("--rerank", type=lambda v: v.split(","), default=list(d.RERANK_MODES),
                   help=f"rerank modes to measure, comma-separated (default: all of {','.join(d.RERANK_MODES)})")
    p.add_argument("--ef-search", type=int, default=d.EF_SEARCH, help=f"hnsw.ef_search of the dense column's index (default {d.EF_SEARCH})")
    p.add_argument("--seed", type=int, default=0, help="which queries are sampled")
    p.add_argument("--compare", type=lambda v: [n for n in v.split(",") if n], default=[], metavar="PEERS",
                   help=f"also build these peers on the table for the run and measure them alike, comma-separated: "
                        f"{','.join(d.PEERS)} (temporary, dropped afterwards)")
    p.add_argument("--compare-dims", type=int, help="dimensions of pca, random and prefix (default: vector(m) at the code column's bytes)")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="also plot recall against latency and bytes per row (needs [plot])")

    p = add("verify", cmd_verify, "re-encode a random sample of rows and compare with their stored codes (exit 1 on a problem)")
    _target_options(p)
    p.add_argument("--model", help="the attachment's model (name or name@version), to pick one of several")
    p.add_argument("--sample", type=int, default=d.VERIFY_SAMPLE, help=f"rows to check, at random (default {d.VERIFY_SAMPLE}; 0 checks every row)")
    p.add_argument("--tolerance", type=float, default=d.VERIFY_TOLERANCE,
                   help=f"largest difference allowed in a code's values (default {d.VERIFY_TOLERANCE:g})")
    return parser


def _target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, help="the table (its exact name, or schema.table)")
    p.add_argument("--column", required=True, help="the source vector column")
    p.add_argument("--code-column", help="the code column, when the source column has several")


def _backfill_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, help=f"rows per batch and transaction (default {d.BATCH_SIZE})")
    p.add_argument("--workers", type=int, help=f"parallel key ranges, one connection each (default {d.WORKERS})")
    p.add_argument("--sleep", type=float, help=f"seconds to pause after every batch, per worker (default {d.SLEEP:g})")
    p.add_argument("--lock-timeout", help=f"longest wait for a lock before a batch backs off and retries (default {d.LOCK_TIMEOUT})")
    p.add_argument("--statement-timeout", help=f"longest statement of a batch (default {d.STATEMENT_TIMEOUT})")
    p.add_argument("--max-rows", type=int, help="stop (resumably) after about this many rows")
    p.add_argument("--max-retries", type=int, help=f"retries of one batch before its range fails (default {d.MAX_RETRIES})")
    p.add_argument("--device", help="where to encode: cpu, cuda (default: cuda when present)")


def _index_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--m", type=int, default=d.HNSW_M, help=f"HNSW m (default {d.HNSW_M})")
    p.add_argument("--ef-construction", type=int, default=d.HNSW_EF_CONSTRUCTION, help=f"HNSW ef_construction (default {d.HNSW_EF_CONSTRUCTION})")


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--h", type=int, help=f"dictionary size (default {d.H})")
    p.add_argument("--k", type=int, help=f"non-zeros per code (default {d.NONZEROS})")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "models" and args.action != "list" and not args.ref:
        what = "a file" if args.action == "import" else "a model name or name@version"
        print(f"error: models {args.action} needs {what}", file=sys.stderr)
        return 2
    if args.command == "models" and args.action == "export" and args.output is None:
        print("error: models export needs --output FILE", file=sys.stderr)
        return 2
    try:
        return args.handler(args) or 0
    except psycopg.OperationalError as exc:
        hint = getattr(args, "on_connection_lost", "nothing was left half-done")
        reason = " ".join(str(exc).split())  # libpq's message spans lines; keep the error on one
        print(f"error: lost the database connection ({reason}): {hint}", file=sys.stderr)
        return 2
    except (CompressaeError, ValueError, psycopg.Error) as exc:
        print(f"error: {exc}".rstrip(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(getattr(args, "on_interrupt", "interrupted: nothing was written"), file=sys.stderr)
        return 130

