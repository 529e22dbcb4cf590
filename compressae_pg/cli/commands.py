"""What each ``compressae-pg`` subcommand does, given its parsed arguments; ``cli`` builds the parser."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from .. import _defaults as d


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
    from ..server import EmbeddedServer

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
    from .. import _migrate
    from ..server import connect

    if args.action == "grant":
        from ..columns import grants

        if not args.revision:
            raise ValueError("db grant needs a role name: compressae-pg db grant ROLE [--train]")
        with connect(args.dsn, autocommit=True, pinned=True) as conn:
            _migrate.ensure(conn)
            done = grants.grant(conn, args.revision, train=args.train)
        _emit(args, {"role": args.revision, "granted": done}, lambda r: f"granted {r['role']}: {', '.join(r['granted'])}")
        return
    if args.action == "upgrade":
        _migrate.upgrade(args.dsn, args.revision or "head")
    elif args.action == "downgrade":
        _migrate.downgrade(args.dsn, args.revision or "-1")
    with connect(args.dsn, autocommit=True, pinned=True) as conn:
        at = _migrate.current(conn)
    _emit(args, {"revision": at, "head": _migrate.head()}, lambda r: f"compressae schema at {r['revision'] or 'base'} (head {r['head']})")


# ---- train ------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> None:
    from ..training.loop import TrainConfig
    from ..training.trainer import train

    settings = {k: getattr(args, k) for k in ("h", "k", "steps", "batch_size", "lr", "seed", "device", "patience") if getattr(args, k) is not None}
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
    from .. import registry
    from ..server import connect

    with connect(args.dsn, autocommit=True, pinned=True) as conn:
        from .. import _migrate

        _migrate.ensure(conn)
        if args.action == "drop":
            dropped = [m.ref for m in registry.drop_model(args.ref, conn=conn)]
            _emit(args, {"dropped": dropped}, lambda r: "dropped " + ", ".join(r["dropped"]))
            return
        if args.action in ("export", "import"):
            from .. import _model_files

            moved = (_model_files.export_model(args.ref, args.output, conn=conn) if args.action == "export"
                     else _model_files.import_model(args.ref, name=args.name, conn=conn))
            verb = "exported" if args.action == "export" else "imported" if moved.created else "already there:"
            _emit(args, moved.as_dict(), lambda r: f"{verb} {r['ref']} ({r['path']}, sha256 {r['sha256'][:16]}...)")
            return
        models = [m.as_dict() for m in registry.list_models(args.name, conn=conn)]
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
    from .. import alembic
    from . import revision

    table, schema = _table_and_schema(args)
    op = alembic.AddCompressedColumnOp(
        table, args.column, model=args.model, code_column=args.code_column, sync=args.sync, graph=args.graph,
        residual_bits=args.residual_bits, sketch_planes=args.sketch_planes, index=False if args.no_index else True if args.index_now else None,
        concurrently=args.concurrently, m=args.m, ef_construction=args.ef_construction, schema=schema,
    )
    if args.alembic:
        rev = revision.write(args.alembic, op, message=args.message)
        note = "" if rev.depends_on else (
            "\nnote: this Alembic environment does not include the compressae history; run"
            " `compressae-pg db upgrade` on each database before this revision")
        _emit(args, rev.as_dict(), lambda r: f"wrote {r['path']} (revision {r['revision']}, after {r['down_revision']}){note}")
        return
    from ..columns import attachments, pending
    from ..server import connect

    alembic.run(op, args.dsn)
    with connect(args.dsn, autocommit=True, pinned=True) as conn:
        att = next(a for a in attachments.list_attachments(conn) if a.id == op.info["attachment_id"])
        note = pending.build(conn, att)  # after the migration's transaction: a concurrent build needs none
    deferred = "\nthe table has rows: `compressae-pg backfill` builds the index CONCURRENTLY when it has filled the column"
    _emit(args, {**att.as_dict(), "index_built": op.info["index"], "notes": [note] if note else []},
          lambda r: f"attached {r['code_column']} to {r['table']}.{r['column']} ({r['model']}, sync={r['sync']}, "
                    f"index {r['index']}: {r['index_built']})" + (deferred if r["index_built"] == "deferred" else "")
                    + "".join(f"\nnote: {n}" for n in r["notes"]))


def cmd_detach(args: argparse.Namespace) -> None:
    from .. import alembic

    table, schema = _table_and_schema(args)
    alembic.run(alembic.DropCompressedColumnOp(table, args.column, code_column=args.code_column, schema=schema), args.dsn)
    _emit(args, {"table": args.table, "column": args.column, "detached": True},
          lambda r: f"dropped the code column of {r['table']}.{r['column']}")


# ---- demo -------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> None:
    from . import demo

    settings = {k: getattr(args, k) for k in ("h", "k", "batch_size", "seed") if getattr(args, k) is not None}
    result = demo.run(dsn=args.dsn, npy=args.npy, synthetic=args.synthetic, rows=args.rows, steps=args.steps, progress=not args.json, **settings)
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
    if r["index"]:
        extra.append(f"built {r['index']['index']} CONCURRENTLY in {r['index']['seconds']:.1f}s "
                     f"({r['index']['bytes'] / 2**20:.1f} MiB, valid={r['index']['valid']})")
    if r["status"] == "paused":
        extra.append("paused: run the same command again to resume")
    return "\n".join([line, *extra, *r["notes"], *(f"error: {e}" for e in r["errors"])])


def cmd_backfill(args: argparse.Namespace) -> int:
    from ..fill.coordinator import backfill

    mode = "resume" if args.resume else "restart" if args.restart else "auto"
    result = backfill(args.table, args.column, code_column=args.code_column, model=args.model, mode=mode, dsn=args.dsn,
                      progress=not args.json, index=args.index, m=args.m, ef_construction=args.ef_construction,
                      **_backfill_settings(args))
    _emit(args, result.as_dict(), _backfill_text)
    return 2 if result.status == "failed" else 0


def cmd_sync(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ..fill.queue import sync

    stop = threading.Event()
    if args.follow:  # a service manager's stop (SIGTERM) or Ctrl-C: finish the batch at hand, then report
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    result = sync(args.table, args.column, code_column=args.code_column, model=args.model, follow=args.follow,
                  batch_size=args.batch_size, poll=args.poll, dsn=args.dsn, device=args.device, stop=stop,
                  progress=not args.json and not args.follow)
    _emit(args, result.as_dict(), lambda r: result.summary())
    return 0


def cmd_index(args: argparse.Namespace) -> None:
    from ..columns import indexes as index

    result = index.build_index(args.table, args.column, code_column=args.code_column, dsn=args.dsn, concurrently=args.concurrently,
                         m=args.m, ef_construction=args.ef_construction, maintenance_work_mem=args.maintenance_work_mem,
                         parallel_workers=args.parallel_workers, rebuild=args.rebuild)
    _emit(args, result.as_dict(), lambda r: (
        f"{r['index']} on {r['table']}.{r['code_column']}: {'built' if r['built'] else 'kept'}"
        f"{' (replacing an invalid index)' if r['rebuilt_invalid'] else ''}, valid={r['valid']}, "
        f"{r['bytes'] / 2**20:.1f} MiB, {r['seconds']:.1f}s"
        + (f", over {len(r['partitions'])} partitions" if r["partitions"] else "") + "".join(f"\n{n}" for n in r["notices"])))


def cmd_status(args: argparse.Namespace) -> None:
    from .. import _migrate
    from ..fill.state import status
    from ..server import connect

    with connect(args.dsn, autocommit=True, pinned=True) as conn:
        _migrate.ensure(conn)
        rows = status(args.table, exact=args.exact, drift=args.drift, conn=conn)
    cols = ["table", "column", "code_column", "model", "sync", "backfill", "last_run", "rows_done", "rows_estimate", "index", "index_valid"]
    cols += ["rows_coded", "rows_missing", "rows_without_residual"] if args.exact else []
    cols += ["queue_depth", "lag_s", "sync_failures"] if any("queue" in r for r in rows) else []
    flat = lambda r: {**r, "backfill": r["backfill"]["state"], "last_run": r["backfill"].get("kind"), "rows_done": r["backfill"]["rows_done"],  # noqa: E731
                      **({"queue_depth": f"{r['queue']['depth']}{'+' if r['queue']['pending_capped'] else ''}",
                          "lag_s": r["queue"]["lag_s"], "sync_failures": r["queue"]["failures"]}
                         if "queue" in r else {})}
    _emit(args, rows, lambda rs: _table([flat(r) for r in rs], cols) + "".join(f"\nnote: {r['note']}" for r in rs if "note" in r)
          + "".join(f"\ndrift: {r['table']}.{r['code_column']}: {_drift_text(r['drift'])}" for r in rs if "drift" in r))


def _drift_text(d: dict) -> str:
    """A sample's drift in one line: its verdict and the rows it measured and left out."""
    return f"{d['verdict']} ({d['rows']} rows decoded, {d['left_out']} left out: NULL code or source)"


def cmd_recompress(args: argparse.Namespace) -> int:
    """Recompress, then label the new version's atoms as the old version's were (when they were)."""
    import psycopg

    from ..columns import attachments
    from ..errors import CompressaeError
    from ..fill.new_version import recompress, staged_name
    from ..search import labels
    from ..server import connect

    with connect(args.dsn, autocommit=True, pinned=True) as conn:  # the current column, as recompress finds it (a staged one left out)
        current = attachments.get(conn, args.table, args.column, code_column=args.code_column,
                                  exclude=lambda found: {staged_name(a.code_column) for a in found}).code_column
        labelled = labels.settings(conn, args.table, args.column, code_column=current)
    result = recompress(args.table, args.column, args.model, code_column=args.code_column, dsn=args.dsn, progress=not args.json,
                        build_index=args.index, m=args.m, ef_construction=args.ef_construction, **_backfill_settings(args))
    out = result.as_dict()
    if result.swapped and labelled is not None:
        try:
            with connect(args.dsn, autocommit=True, pinned=True) as conn:
                out["labels"] = labels.label_atoms(args.table, args.column, code_column=current, conn=conn, **labelled).rows
        except (CompressaeError, ValueError, psycopg.Error) as exc:  # the swap is done: say why the labels are not
            out["labels_error"] = str(exc)
    _emit(args, out, lambda r: (
        f"{r['table']}.{r['code_column']}: {r['old_model']} -> {r['new_model']}: "
        + ("swapped" if r["swapped"] else f"backfill of {r['staged_column']} {r['backfill']['status']}; run again to continue")
        + (f"; atoms labelled again from {r['labels']} rows" if "labels" in r else "")
        + (f"; atoms not labelled again ({r['labels_error']}): run compressae-pg atoms" if "labels_error" in r else "")))
    return 0 if result.swapped or result.backfill.status == "paused" else 2


# ---- search -----------------------------------------------------------------------------------
def cmd_search(args: argparse.Namespace) -> None:
    from ..search.column import CompressedColumn
    from ..server import connect

    if args.explain and (args.key is not None or args.rerank not in (None, "reconstructed")):
        raise ValueError("--explain explains the reconstructed score of a --vector search: drop --key and --rerank")
    opts = {"k": args.k, "candidates": args.candidates, "ef_search": args.ef_search}
    if args.rerank is not None:  # else each method's own default rerank
        opts["rerank"] = args.rerank
    with connect(args.dsn, autocommit=True, pinned=True) as conn:
        column = CompressedColumn(conn, args.table, args.column, code_column=args.code_column)
        if args.key is not None:
            hits = column.similar(args.key, **opts)
        else:
            text = sys.stdin.read() if args.vector == "-" else args.vector
            try:
                vector = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"--vector must be a JSON array of numbers: {exc}") from exc
            hits = column.search(vector, **opts, explain=args.atoms if args.explain else False)
        rows = [h.as_dict() for h in hits]
    _emit(args, rows, _explained if args.explain else lambda r: _table(r, ["key", "score"]))


def _explained(rows: list[dict]) -> str:
    """Each hit, then its atoms' contributions, the residual's and the share of the score they carry."""
    lines = []
    for r in rows:
        e = r["explanation"]
        residual = "" if e["residual"] is None else f", residual {e['residual']:.4f}"
        lines.append(f"key {r['key']}  score {r['score']:.4f}: top {len(e['atoms'])} atoms carry {e['share']:.0%}{residual}")
        lines += [f"  atom {a['atom']:>5}  query {a['query_weight']:+.4f} x row {a['row_value']:+.4f} = {a['contribution']:+.4f}"
                  + ("" if a["label"] is None else "  " + _label_line(a["label"])) for a in e["atoms"]]
    return "\n".join(lines) if lines else "(none)"


# ---- atoms ------------------------------------------------------------------------------------
def cmd_atoms(args: argparse.Namespace) -> None:
    from ..search import labels
    from ..server import connect

    where = {"code_column": args.code_column}
    with connect(args.dsn, autocommit=True, pinned=True) as conn:
        if args.atom is not None:
            top = d.ATOM_ROWS if args.top is None else args.top
            rows = labels.atom_rows(args.table, args.column, args.atom, text_column=args.text_column, top=top, conn=conn, **where)
            _emit(args, [r.as_dict() for r in rows], lambda rs: _table(rs, ["key", "value", *(["text"] if args.text_column else [])]))
            return
        if args.stored:
            found = labels.atom_labels(args.table, args.column, conn=conn, **where)
        else:
            top = d.LABEL_ROWS if args.top is None else args.top
            found = labels.label_atoms(args.table, args.column, text_column=args.text_column, top=top,
                                       batch_size=args.batch_size, conn=conn, **where)
    _emit(args, found.as_dict(), _labels_text)


def _labels_text(r: dict) -> str:
    """One line per atom that a row uses: its uses, mean value and top rows (texts where stored, else keys)."""
    used = [a for a in r["atoms"] if a["uses"]]
    head = (f"{r['table']}.{r['code_column']} ({r['model']}): {len(used)} of {len(r['atoms'])} atoms used by "
            f"{r['rows']} coded rows, labelled {r['computed_at']}")
    rows = [{"atom": a["atom"], "uses": a["uses"], "mean": f"{a['mean_value']:.3f}",
             "top rows": " | ".join(_short(t) for t in (a["texts"] if a["texts"] is not None else a["keys"]))} for a in used]
    return head + "\n" + _table(rows, ["atom", "uses", "mean", "top rows"])


def _label_line(label: dict, rows: int = 3) -> str:
    """An atom's label in one line: its top rows' texts (or keys)."""
    top = label["texts"] if label["texts"] is not None else label["keys"]
    return "like: " + " | ".join(_short(t, 32) for t in top[:rows])


def _short(text: str | None, width: int = 40) -> str:
    text = "(null)" if text is None else " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ---- evaluate ---------------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> None:
    from ..evaluation import report
    from ..evaluation.run import evaluate_column

    result = evaluate_column(args.table, args.column, dsn=args.dsn, code_column=args.code_column, queries=args.queries,
                             queries_from=args.queries_from, k=args.k, candidates=args.candidates, modes=args.rerank,
                             ef_search=args.ef_search, seed=args.seed, compare=args.compare, compare_dims=args.compare_dims,
                             progress=not args.json).as_dict()
    if args.plot:
        result["plot"] = str(report.plot(result["results"], args.plot, k=args.k, title=f"{result['table']}.{result['column']}"))
    _emit(args, result, lambda r: report.text(r) + (f"\nplot: {r['plot']}" if args.plot else ""))


# ---- verify -----------------------------------------------------------------------------------
def _verify_text(r: dict) -> str:
    lines = [f"{'ok' if r['ok'] else 'PROBLEMS'}: {r['table']}.{r['code_column']} ({r['model']}): {r['checked']} rows checked, "
             f"{r['matching']} right, {r['mismatches']} wrong, {r['missing']} missing a code, "
             f"{r['unencodable']} unencodable (NULL code), max value error {r['max_value_error']:.2g}"]
    lines += [f"wrong: key {m['key']}: {m['problem']}" for m in r["mismatched"]]
    lines += [f"missing: key {k}" for k in r["missing_keys"]]
    lines += [f"drift: {_drift_text(r['drift'])}"] if r["drift"] else []
    return "\n".join(lines)


def cmd_verify(args: argparse.Namespace) -> int:
    from ..fill.checks import verify

    result = verify(args.table, args.column, sample=args.sample or None, code_column=args.code_column, model=args.model,
                    tolerance=args.tolerance, dsn=args.dsn)
    _emit(args, result.as_dict(), _verify_text)
    return 0 if result.ok else 1
