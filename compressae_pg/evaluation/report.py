"""Show an evaluation (:mod:`.run`): a text table with ratios against dense, and an optional PNG.

The PNG needs matplotlib, an optional extra: ``pip install "compressae-pg[plot]"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CompressaeError


def baseline(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The row ratios are taken against: the dense column's own index (or scan)."""
    return next((r for r in results if r.get("baseline")), None)


def _ratio(value: float | None, base: float | None) -> str:
    return f" ({value / base:.2f}x)" if value is not None and base else ""


def _mib(n: int | None) -> float | None:
    return None if n is None else n / 2**20


def rows(results: list[dict[str, Any]], k: int) -> list[dict[str, str]]:
    """One printable row per method; sizes and latency with their ratio to the baseline's."""
    base = baseline(results) or {}
    out = []
    for r in results:
        index = _mib(r["index_bytes"])
        out.append({
            "method": r["method"], "setting": r["setting"],
            f"recall@{k}": f"{r[f'recall@{k}']:.3f}", f"ndcg@{k}": f"{r[f'ndcg@{k}']:.3f}",
            "p50 ms": f"{r['p50_ms']:.1f}" + _ratio(r["p50_ms"], base.get("p50_ms")),
            "p95 ms": f"{r['p95_ms']:.1f}",
            "bytes/row": ("-" if r["bytes_per_row"] is None else f"{r['bytes_per_row']:,.0f}")
            + _ratio(r["bytes_per_row"], base.get("bytes_per_row")),
            "index MiB": ("-" if index is None else f"{index:.1f}") + _ratio(index, _mib(base.get("index_bytes"))),
        })
    return out


def aligned(table: list[dict[str, str]], columns: list[str]) -> list[str]:
    """``columns`` of printable rows as aligned lines, with a header and a rule."""
    widths = [max(len(c), *(len(r[c]) for r in table)) for c in columns]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return [line(columns), line(["-" * w for w in widths]), *(line([r[c] for c in columns]) for r in table)]


def text(evaluation: dict[str, Any], columns: list[str] | None = None) -> str:
    """The evaluation as a header, an aligned table (all columns, or ``columns``) and its notes."""
    e, k = evaluation, evaluation["k"]
    table = rows(e["results"], k)
    head = (f"{e['table']}.{e['column']} -> {e['code_column']} (model {e['model']}): {e['queries']} queries, "
            f"truth = exact cosine top {k} over {e['rows']:,} rows; (x) = against the dense row")
    body = aligned(table, columns or list(table[0])) if table else ["(no methods measured)"]
    return "\n".join([head, "", *body, *(f"note: {n}" for n in e["notes"])])


def plot(results: list[dict[str, Any]], path: str | Path, *, k: int = 10, title: str = "") -> Path:
    """Recall@k against bytes per row, and against p50 latency: one point per method, saved as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise CompressaeError('--plot needs matplotlib: pip install "compressae-pg[plot]"') from exc
    fig, (by_size, by_time) = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    for i, r in enumerate(results):
        style = {"marker": "*" if r.get("baseline") else "o", "s": 60, "color": plt.cm.tab20(i % 20)}
        label = f"{r['method']} ({r['setting']})" if r["setting"] else r["method"]
        recall = r[f"recall@{k}"]
        if r["bytes_per_row"] is not None:
            by_size.scatter(r["bytes_per_row"], recall, **style)
        by_time.scatter(r["p50_ms"], recall, label=label, **style)
    by_size.set(xscale="log", xlabel="bytes per row (stored value)", ylabel=f"recall@{k}", title="recall vs size")
    by_time.set(xlabel="p50 latency per query, ms", title="recall vs latency")
    for ax in (by_size, by_time):
        ax.grid(True, alpha=0.3)
    by_time.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
