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

    if args.action == "upgrade":
        schema.upgrade(args.dsn, args.revision or "head")
    elif args.action == "downgrade":
        schema.downgrade(args.dsn, args.revision or "-1")
    with connect(args.dsn, autocommit=True) as conn:
        at = schema.current(conn)
    _emit(args, {"revision": at, "head": schema.head()}, lambda r: f"compressae schema at {r['revision']} (head {r['head']})")


# ---- train ------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> None:
    from .train import train

    settings = {k: getattr(args, k) for k in ("h", "k", "steps", "batch_size", "lr", "seed", "device") if getattr(args, k) is not None}
    result = train(args.table, args.column, args.name, dsn=args.dsn, progress=not args.json, **settings)
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

    p = add("db", cmd_db, "upgrade or downgrade the compressae schema")
    p.add_argument("action", choices=["upgrade", "downgrade", "current"])
    p.add_argument("revision", nargs="?", help="target revision (upgrade: head; downgrade: -1, or base)")

    p = add("train", cmd_train, "train a model on a vector column and store it in the database")
    p.add_argument("--table", required=True)
    p.add_argument("--column", required=True)
    p.add_argument("--name", required=True, help="model name; training an existing name makes a new version")
    _model_options(p)
    p.add_argument("--steps", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")

    p = add("models", cmd_models, "list stored models, or drop one")
    p.add_argument("action", nargs="?", choices=["list", "drop"], default="list")
    p.add_argument("ref", nargs="?", help="drop: name (all versions) or name@version")
    p.add_argument("--name", help="list: only this model name")

    p = add("attach", cmd_attach, "add a compressed code column to a vector column: as an Alembic revision, or now")
    _column_options(p)
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
    _column_options(p)

    p = add("demo", cmd_demo, "create a table of embeddings on the embedded server and compress it, end to end")
    p.add_argument("--npy", type=Path, help="real vectors (a .npy of shape (n, d)) instead of synthetic ones")
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--steps", type=int, default=200)
    _model_options(p)
    return parser


def _column_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, help="the table (schema.table, or use --schema)")
    p.add_argument("--schema", help="the table's schema (default: found on the search_path)")
    p.add_argument("--column", required=True, help="the vector column")
    p.add_argument("--code-column", help="the code column (default <column>_sae)")


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
        args.handler(args)
    except (CompressaeError, ValueError, psycopg.Error) as exc:
        print(f"error: {exc}".rstrip(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
