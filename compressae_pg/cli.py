"""The ``compressae-pg`` command line: one subcommand per job, ``--json`` for machines."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from .errors import CompressaeError

Handler = Callable[[argparse.Namespace], Any]


def _emit(args: argparse.Namespace, result: Any, text: Callable[[Any], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(result, default=str))
    else:
        print(text(result))


def _table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    line = lambda vals: "  ".join(str(v).ljust(w) for v, w in zip(vals, widths))  # noqa: E731
    return "\n".join([line(columns), line("-" * w for w in widths), *(line(r.get(c, "") for c in columns) for r in rows)])


# ---- server -----------------------------------------------------------------------------------
def cmd_server(args: argparse.Namespace) -> None:
    from .server import EmbeddedServer

    srv = EmbeddedServer()
    if args.action == "start":
        url = srv.start()
        _emit(args, {"running": True, "url": url}, lambda r: f"embedded PostgreSQL running: {r['url']}")
    elif args.action == "stop":
        stopped = srv.stop()
        _emit(args, {"stopped": stopped}, lambda r: "stopped" if stopped else "not running")
    elif args.action == "status":
        _emit(args, srv.status(), lambda r: "\n".join(f"{k}: {v}" for k, v in r.items()))
    else:
        print(srv.url() if srv.running() else srv.start())


# ---- db ---------------------------------------------------------------------------------------
def cmd_db(args: argparse.Namespace) -> None:
    from . import schema
    from .server import connect

    if args.action == "grant":
        from . import grants

        if not args.revision:
            raise ValueError("db grant needs a role name: compressae-pg db grant ROLE [--train]")
        with connect(args.dsn, autocommit=True) as conn:
            schema.ensure(conn)
            done = grants.grant(conn, args.revision, train=args.train)
        _emit(args, {"role": args.revision, "granted": done}, lambda r: f"granted {r['role']}: {', '.join(r['granted'])}")
        return
    if args.action == "upgrade":
        schema.upgrade(args.dsn, args.revision or "head")
    elif args.action == "downgrade":
        schema.downgrade(args.dsn, args.revision or "-1")
    with connect(args.dsn, autocommit=True) as conn:
        at = schema.current(conn)
    _emit(args, {"revision": at, "head": schema.head()}, lambda r: f"compressae schema at {r['revision']} (head {r['head']})")


# ---- train ------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> None:
    from .fit import TrainConfig
    from .train import train

    settings = {k: getattr(args, k) for k in ("h", "k", "steps", "batch_size", "lr", "seed", "device") if getattr(args, k) is not None}
    config = TrainConfig.paper() if args.paper else TrainConfig()
    result = train(args.table, args.column, args.name, dsn=args.dsn, config=config, progress=not args.json, **settings)
    _emit(
        args,
        result.as_dict(),
        lambda r: (
            f"trained {r['ref']}: val_cosine={r['val_cosine']:.4f} dead_atoms={r['dead_atoms']:.1%} "
            f"rows_seen={r['rows_seen']} skipped={r['rows_skipped']} in {r['seconds']:.1f}s on {r['device']}"
        ),
    )


# ---- models -----------------------------------------------------------------------------------
def cmd_models(args: argparse.Namespace) -> None:
    from . import registry
    from .server import connect

    with connect(args.dsn, autocommit=True) as conn:
        from . import schema

        schema.ensure(conn)
        if args.action == "drop":
            dropped = [m.ref for m in registry.drop(conn, args.ref)]
            _emit(args, {"dropped": dropped}, lambda r: "dropped " + ", ".join(r["dropped"]))
            return
        models = [m.as_dict() for m in registry.list_models(conn, args.name)]
    for m in models:
        m["val_cosine"] = m["metrics"].get("val_cosine")
        m["dead_atoms"] = m["metrics"].get("dead_atoms")
    cols = ["ref", "dim", "h", "k", "bytes_per_row", "val_cosine", "dead_atoms", "source", "created_at"]
    _emit(args, models, lambda r: _table(r, cols))


# ---- attach / detach --------------------------------------------------------------------------
def _table_and_schema(args: argparse.Namespace) -> tuple[str, str | None]:
    """--table and --schema as an Alembic operation takes them: --table s.t means schema s, table t."""
    if args.schema is None and "." in args.table:
        schema, table = args.table.split(".", 1)
        return table, schema
    return args.table, args.schema


def cmd_attach(args: argparse.Namespace) -> None:
    from . import alembic, revision

    table, schema = _table_and_schema(args)
    op = alembic.AddCompressedColumnOp(
        table, args.column, model=args.model, code_column=args.code_column, sync=args.sync, index=not args.no_index,
        concurrently=args.concurrently, m=args.m, ef_construction=args.ef_construction, schema=schema,
    )
    if args.alembic:
        rev = revision.write(args.alembic, op, message=args.message)
        note = "" if rev.depends_on else (
            "\nnote: this Alembic environment does not include the compressae history; run"
            " `compressae-pg db upgrade` on each database before this revision")
        _emit(args, rev.as_dict(), lambda r: f"wrote {r['path']} (revision {r['revision']}, after {r['down_revision']}){note}")
        return
    from . import attachments
    from .server import connect

    alembic.run(op, args.dsn)
    with connect(args.dsn, autocommit=True) as conn:
        att = next(a for a in attachments.list_attachments(conn) if a.id == op.info["attachment_id"])
    _emit(args, att.as_dict(), lambda r: f"attached {r['code_column']} to {r['table']}.{r['column']} "
                                         f"({r['model']}, sync={r['sync']}, index {r['index']})")


def cmd_detach(args: argparse.Namespace) -> None:
    from . import alembic

    table, schema = _table_and_schema(args)
    alembic.run(alembic.DropCompressedColumnOp(table, args.column, code_column=args.code_column, schema=schema), args.dsn)
    _emit(args, {"table": args.table, "column": args.column, "detached": True},
          lambda r: f"dropped the code column of {r['table']}.{r['column']}")


# ---- demo -------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> None:
    from . import demo

    settings = {k: getattr(args, k) for k in ("h", "k", "batch_size", "seed") if getattr(args, k) is not None}
    result = demo.run(dsn=args.dsn, npy=args.npy, rows=args.rows, steps=args.steps, progress=not args.json, **settings)
    _emit(args, result, demo.summary)


# ---- backfill, index, status, recompress -------------------------------------------------------
BACKFILL_SETTINGS = ("batch_size", "workers", "sleep", "lock_timeout", "statement_timeout", "max_rows", "max_retries", "device")


def _backfill_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in BACKFILL_SETTINGS if getattr(args, k) is not None}


def _backfill_text(r: dict) -> str:
    line = (
        f"{r['status']}: {r['attachment']['table']}.{r['attachment']['code_column']} ({r['attachment']['model']}, {r['mode']} run): "
        f"{r['rows']} rows in {r['seconds']:.1f}s ({r['rows_per_s']:.0f} rows/s), {r['rows_written']} written, "
        f"{r['rows_swept']} swept, {r['rows_skipped']} skipped, {r['batches']} batches, {r['retries']} retries"
    )
    extra = [f"skipped keys (source cannot be encoded, code left NULL): {', '.join(r['skipped_keys'])}"] if r["skipped_keys"] else []
    if r["status"] == "paused":
        extra.append("paused: run the same command again to resume")
    return "\n".join([line, *extra, *r["notes"], *(f"error: {e}" for e in r["errors"])])


def cmd_backfill(args: argparse.Namespace) -> int:
    from .backfill import backfill

    mode = "resume" if args.resume else "restart" if args.restart else "auto"
    result = backfill(args.table, args.column, code_column=args.code_column, model=args.model, mode=mode, dsn=args.dsn,
                      progress=not args.json, **_backfill_settings(args))
    _emit(args, result.as_dict(), _backfill_text)
    return 2 if result.status == "failed" else 0


def cmd_index(args: argparse.Namespace) -> None:
    from . import index

    result = index.build(args.table, args.column, code_column=args.code_column, dsn=args.dsn, concurrently=args.concurrently,
                         m=args.m, ef_construction=args.ef_construction, maintenance_work_mem=args.maintenance_work_mem,
                         parallel_workers=args.parallel_workers, rebuild=args.rebuild)
    _emit(args, result.as_dict(), lambda r: (
        f"{r['index']} on {r['table']}.{r['code_column']}: {'built' if r['built'] else 'kept'}"
        f"{' (replacing an invalid index)' if r['rebuilt_invalid'] else ''}, valid={r['valid']}, "
        f"{r['bytes'] / 2**20:.1f} MiB, {r['seconds']:.1f}s" + "".join(f"\n{n}" for n in r["notices"])))


def cmd_status(args: argparse.Namespace) -> None:
    from . import schema
    from .server import connect
    from .status import status

    with connect(args.dsn, autocommit=True) as conn:
        schema.ensure(conn)
        rows = status(conn, args.table, exact=args.exact)
    cols = ["table", "column", "code_column", "model", "sync", "backfill", "last_run", "rows_done", "rows_estimate", "index", "index_valid"]
    cols += ["rows_coded", "rows_missing"] if args.exact else []
    flat = lambda r: {**r, "backfill": r["backfill"]["state"], "last_run": r["backfill"].get("kind"), "rows_done": r["backfill"]["rows_done"]}  # noqa: E731
    _emit(args, rows, lambda rs: _table([flat(r) for r in rs], cols))


def cmd_recompress(args: argparse.Namespace) -> int:
    from .recompress import recompress

    result = recompress(args.table, args.column, args.model, code_column=args.code_column, dsn=args.dsn, progress=not args.json,
                        build_index=args.index, m=args.m, ef_construction=args.ef_construction, **_backfill_settings(args))
    _emit(args, result.as_dict(), lambda r: (
        f"{r['table']}.{r['code_column']}: {r['old_model']} -> {r['new_model']}: "
        + ("swapped" if r["swapped"] else f"backfill of {r['staged_column']} {r['backfill']['status']}; run again to continue")))
    return 0 if result.swapped or result.backfill.status == "paused" else 2


# ---- search -----------------------------------------------------------------------------------
def cmd_search(args: argparse.Namespace) -> None:
    from .search import CompressedColumn
    from .server import connect

    opts = {"k": args.k, "candidates": args.candidates, "ef_search": args.ef_search}
    with connect(args.dsn, autocommit=True) as conn:
        column = CompressedColumn(conn, args.table, args.column, code_column=args.code_column)
        if args.key is not None:
            hits = column.similar(args.key, rerank=args.rerank or "symmetric", **opts)
        else:
            text = sys.stdin.read() if args.vector == "-" else args.vector
            try:
                vector = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"--vector must be a JSON array of numbers: {exc}") from exc
            hits = column.search(vector, rerank=args.rerank or "reconstructed", **opts)
    _emit(args, [h.as_dict() for h in hits], lambda r: _table(r, ["key", "score"]))


# ---- evaluate ---------------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> None:
    from . import report
    from .measure import evaluate_column

    result = evaluate_column(args.table, args.column, dsn=args.dsn, code_column=args.code_column, queries=args.queries,
                             queries_from=args.queries_from, k=args.k, candidates=args.candidates, modes=args.rerank,
                             ef_search=args.ef_search, seed=args.seed, progress=not args.json).as_dict()
    if args.plot:
        result["plot"] = str(report.plot(result["results"], args.plot, k=args.k, title=f"{result['table']}.{result['column']}"))
    _emit(args, result, lambda r: report.text(r) + (f"\nplot: {r['plot']}" if args.plot else ""))


def _int_list(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v.strip()]


# ---- verify -----------------------------------------------------------------------------------
def _verify_text(r: dict) -> str:
    lines = [f"{'ok' if r['ok'] else 'PROBLEMS'}: {r['table']}.{r['code_column']} ({r['model']}): {r['checked']} rows checked, "
             f"{r['matching']} right, {r['mismatches']} wrong, {r['missing']} missing a code, "
             f"{r['unencodable']} unencodable (NULL code), max value error {r['max_value_error']:.2g}"]
    lines += [f"wrong: key {m['key']}: {m['problem']}" for m in r["mismatched"]]
    lines += [f"missing: key {k}" for k in r["missing_keys"]]
    return "\n".join(lines)


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify

    result = verify(args.table, args.column, sample=args.sample or None, code_column=args.code_column, model=args.model,
                    tolerance=args.tolerance, dsn=args.dsn)
    _emit(args, result.as_dict(), _verify_text)
    return 0 if result.ok else 1


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
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    p.add_argument("--paper", action="store_true", help="the paper's recipe exactly (no init, schedule, AuxK or encode refinements)")

    p = add("models", cmd_models, "list stored models, or drop one")
    p.add_argument("action", nargs="?", choices=["list", "drop"], default="list")
    p.add_argument("ref", nargs="?", help="drop: name (all versions) or name@version")
    p.add_argument("--name", help="list: only this model name")

    p = add("attach", cmd_attach, "add a compressed code column to a vector column: as an Alembic revision, or now")
    _target_options(p)
    p.add_argument("--schema", help="the table's schema, for a table whose name contains a dot")
    p.add_argument("--model", required=True, help="name (newest version when applied) or name@version")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--alembic", metavar="DIR", help="write a revision into the application's Alembic (its alembic.ini, or the directory holding it)")
    how.add_argument("--apply", action="store_true", help="change the database now")
    p.add_argument("--sync", choices=["none", "trigger"], default="none", help="trigger: keep codes fresh on INSERT/UPDATE")
    p.add_argument("--no-index", action="store_true", help="do not build the HNSW index (build it after the backfill)")
    p.add_argument("--concurrently", action="store_true", help="build the index with CREATE INDEX CONCURRENTLY")
    p.add_argument("--m", type=int, default=16, help="HNSW m (default 16)")
    p.add_argument("--ef-construction", type=int, default=64, help="HNSW ef_construction (default 64)")
    p.add_argument("--message", help="--alembic: the revision message")

    p = add("detach", cmd_detach, "drop a compressed code column with its index and trigger (the source column stays)")
    _target_options(p)
    p.add_argument("--schema", help="the table's schema, for a table whose name contains a dot")

    p = add("demo", cmd_demo, "create a table of embeddings on the embedded server and compress it, end to end")
    p.add_argument("--npy", type=Path, help="real vectors (a .npy of shape (n, d)) instead of synthetic ones")
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--steps", type=int, default=200)
    _model_options(p)

    p = add("backfill", cmd_backfill, "fill the code column of a live table: resumable, throttled, parallel")
    _target_options(p)
    p.add_argument("--model", help="the attachment's model (name or name@version), to pick one of several")
    _backfill_options(p)
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the unfinished run (an error if there is none)")
    again.add_argument("--restart", action="store_true", help="abandon any unfinished run and start a full pass")
    p.set_defaults(on_interrupt="interrupted: finished batches are checkpointed; run the same command to resume",
                   on_connection_lost="finished batches are checkpointed; run the same command again to resume")

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
    p.add_argument("--k", type=int, default=10, help="results (default 10)")
    p.add_argument("--candidates", type=int, default=100, help="rows the index returns for the rerank (default 100)")
    p.add_argument("--rerank", choices=["none", "reconstructed", "symmetric", "dense"],
                   help="default: reconstructed for --vector, symmetric for --key")
    p.add_argument("--ef-search", type=int, help="hnsw.ef_search (default: the candidates, at least 40)")

    p = add("evaluate", cmd_evaluate, "recall, latency and size of a code column against exact search and the dense column's index")
    _target_options(p)
    p.add_argument("--queries", type=int, default=500, help="queries sampled from the table (default 500)")
    p.add_argument("--queries-from", metavar="TABLE.COLUMN", help="sample the queries from another vector column")
    p.add_argument("--k", type=int, default=10, help="recall@k and nDCG@k (default 10)")
    p.add_argument("--candidates", type=_int_list, default=[50, 100, 200], help="candidate counts of the codes (default 50,100,200)")
    p.add_argument("--rerank", type=lambda v: v.split(","), default=["none", "reconstructed", "symmetric", "dense"],
                   help="rerank modes to measure, comma-separated (default: all four)")
    p.add_argument("--ef-search", type=int, default=100, help="hnsw.ef_search of the dense column's index (default 100)")
    p.add_argument("--seed", type=int, default=0, help="which queries are sampled")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="also plot recall against bytes per row and latency (needs [plot])")

    p = add("verify", cmd_verify, "re-encode a random sample of rows and compare with their stored codes (exit 1 on a problem)")
    _target_options(p)
    p.add_argument("--model", help="the attachment's model (name or name@version), to pick one of several")
    p.add_argument("--sample", type=int, default=1000, help="rows to check, at random (default 1000; 0 checks every row)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest difference allowed in a code's values (default 1e-4)")
    return parser


def _target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, help="the table (its exact name, or schema.table)")
    p.add_argument("--column", required=True, help="the source vector column")
    p.add_argument("--code-column", help="the code column, when the source column has several")


def _backfill_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, help="rows per batch and transaction (default 1000)")
    p.add_argument("--workers", type=int, help="parallel key ranges, one connection each (default 1)")
    p.add_argument("--sleep", type=float, help="seconds to pause after every batch, per worker (default 0)")
    p.add_argument("--lock-timeout", help="longest wait for a lock before a batch backs off and retries (default 2s)")
    p.add_argument("--statement-timeout", help="longest statement of a batch (default 60s)")
    p.add_argument("--max-rows", type=int, help="stop (resumably) after about this many rows")
    p.add_argument("--max-retries", type=int, help="retries of one batch before its range fails (default 30)")
    p.add_argument("--device", help="where to encode: cpu, cuda (default: cuda when present)")


def _index_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--m", type=int, default=16, help="HNSW m (default 16)")
    p.add_argument("--ef-construction", type=int, default=64, help="HNSW ef_construction (default 64)")


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--h", type=int, help="dictionary size (default 4096)")
    p.add_argument("--k", type=int, help="non-zeros per code (default 32)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--seed", type=int)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "models" and args.action == "drop" and not args.ref:
        print("error: models drop needs a model name or name@version", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
