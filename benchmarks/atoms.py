"""Atom labels at 100k rows: what labelling costs, and whether two seeds of one recipe learn the same atoms.

    python benchmarks/atoms.py [--rows 100000] [--steps 400] [--top 5] [--data FILE.npy] [--dsn URL]

In one run, on one table of real embeddings (the PyPI set, each row's summary in a text column):
1. two models of the same recipe, seeds 0 and 1, trained from the table (``--steps``; the package default
   recipe otherwise), each attached as its own code column and backfilled;
2. ``label_atoms`` on each code column, with the summaries as the text column: wall seconds, and the peak of
   Python's allocations while it ran (tracemalloc: numpy's arrays included);
3. stability: each atom of seed 0 that some row uses is matched to the atom of seed 1 whose decoder row is
   nearest (cosine). For the atoms whose match is at least ``--match`` cosine: the share whose top rows share
   at least one row with their match's, and the mean share of the top rows they share. The same overlap for
   random pairs of used atoms is the chance level.
Results go to benchmarks/results/atoms.json and print as markdown.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
from psycopg import sql

from _common import connect, database, load, publish, parser
from compressae_pg import _migrate, backfill, label_atoms, registry, train
from compressae_pg.columns import attachments

TABLE = "pypi"


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--steps", type=int, default=400, help="training steps of each model (the demo's quick recipe)")
    p.add_argument("--top", type=int, default=5, help="rows per atom's label")
    p.add_argument("--match", type=float, default=0.9, help="decoder cosine at which two seeds' atoms count as the same")
    args = p.parse_args()
    x = load(args.data, args.rows)
    texts = args.data.with_suffix("").with_suffix(".txt").read_text(encoding="utf-8").splitlines()[: len(x)]
    with database(args.dsn) as dsn:
        result = run(dsn, x, texts, args)
    publish("atoms", args, result, markdown)


def _table(conn, x: np.ndarray, texts: list[str]) -> None:
    conn.execute(sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, embedding vector({}), summary text)").format(
        sql.Identifier(TABLE), sql.Literal(x.shape[1])))
    with conn.cursor().copy(sql.SQL("COPY {} (id, embedding, summary) FROM STDIN (FORMAT binary)").format(sql.Identifier(TABLE))) as copy:
        copy.set_types(["int8", "vector", "text"])
        for i, (v, t) in enumerate(zip(x, texts)):
            copy.write_row((i + 1, v, t))
    conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(TABLE)))


def run(dsn: str, x: np.ndarray, texts: list[str], args) -> dict:
    _migrate.upgrade(dsn)
    seeds, runs = (0, 1), {}
    with connect(dsn, autocommit=True) as conn:
        _table(conn, x, texts)
        for seed in seeds:
            trained = train(TABLE, "embedding", f"seed{seed}", conn=conn, steps=args.steps, seed=seed, progress=False)
            code = f"embedding_seed{seed}"
            attachments.attach(TABLE, "embedding", trained.info.ref, code_column=code, conn=conn)
            backfill(TABLE, "embedding", code_column=code, dsn=dsn, index=False, progress=False)
            tracemalloc.start()
            t0 = time.perf_counter()
            labels = label_atoms(TABLE, "embedding", code_column=code, text_column="summary", top=args.top, conn=conn)
            seconds = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            _info, model = registry.load(conn, trained.info.ref)
            runs[seed] = {"ref": trained.info.ref, "val_cosine": trained.as_dict()["val_cosine"], "label_seconds": seconds,
                          "label_peak_mib": peak / 2**20, "rows": labels.rows,
                          "atoms_used": sum(a.uses > 0 for a in labels.atoms), "labels": labels,
                          "decoder": model.decoder.detach().float().numpy()}
    return {"rows": len(x), "steps": args.steps, "top": args.top, "match": args.match,
            "seeds": {s: {k: v for k, v in r.items() if k not in ("labels", "decoder")} for s, r in runs.items()},
            "stability": stability(runs[0], runs[1], args.match),
            "examples": examples(runs[0]["labels"])}


def stability(a: dict, b: dict, match: float, seed: int = 0) -> dict:
    """Atoms of ``a`` matched to ``b``'s by decoder cosine, and the overlap of the matched atoms' top rows."""
    da = a["decoder"] / np.linalg.norm(a["decoder"], axis=1, keepdims=True)
    db = b["decoder"] / np.linalg.norm(b["decoder"], axis=1, keepdims=True)
    used_a = [l.atom for l in a["labels"].atoms if l.uses]
    used_b = np.array([l.atom for l in b["labels"].atoms if l.uses])
    cos = da[used_a] @ db[used_b].T
    best = cos.argmax(axis=1)
    pairs = [(i, int(used_b[best[n]])) for n, i in enumerate(used_a) if cos[n, best[n]] >= match]
    rng = np.random.default_rng(seed)
    chance = list(zip(used_a, rng.choice(used_b, len(used_a))))

    def overlap(pairs: list[tuple[int, int]]) -> tuple[float, float]:
        shared = [len(set(a["labels"].atoms[i].keys) & set(b["labels"].atoms[j].keys)) / len(a["labels"].atoms[i].keys)
                  for i, j in pairs]
        return (float(np.mean([s > 0 for s in shared])), float(np.mean(shared))) if shared else (0.0, 0.0)

    any_shared, mean_shared = overlap(pairs)
    chance_any, chance_mean = overlap(chance)
    return {"atoms_used": len(used_a), "median_best_cosine": float(np.median(cos.max(axis=1))),
            "matched": len(pairs), "matched_share": len(pairs) / len(used_a),
            "any_top_row_shared": any_shared, "top_rows_shared": mean_shared,
            "chance_any_top_row_shared": chance_any, "chance_top_rows_shared": chance_mean}


def examples(labels, n: int = 3) -> list[dict]:
    """The ``n`` most used atoms' labels, as a reader sees them."""
    busiest = sorted(labels.atoms, key=lambda l: -l.uses)[:n]
    return [{"atom": l.atom, "uses": l.uses, "texts": list(l.texts)} for l in busiest]


def markdown(r: dict) -> str:
    s = r["stability"]
    lines = [f"{r['rows']} rows, two models of {r['steps']} steps (seeds 0, 1), labels of top {r['top']} rows", "",
             "| seed | model | held-out cosine | atoms used | label seconds | label peak MiB |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {seed} | {v['ref']} | {v['val_cosine']:.3f} | {v['atoms_used']} | {v['label_seconds']:.1f} | {v['label_peak_mib']:.1f} |"
              for seed, v in r["seeds"].items()]
    lines += ["", f"Seed 0's used atoms matched in seed 1 at decoder cosine >= {r['match']}: {s['matched']} of {s['atoms_used']} "
              f"({s['matched_share']:.1%}; median best cosine {s['median_best_cosine']:.2f}). Of those, {s['any_top_row_shared']:.1%} share a top row with their match, "
              f"{s['top_rows_shared']:.1%} of top rows shared on average; random pairs: {s['chance_any_top_row_shared']:.1%} and "
              f"{s['chance_top_rows_shared']:.1%}.", ""]
    lines += [f"- atom {e['atom']} ({e['uses']} rows): " + " | ".join(t[:50] for t in e["texts"]) for e in r["examples"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
