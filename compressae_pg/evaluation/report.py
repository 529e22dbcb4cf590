"""Show an evaluation (:mod:`.run`): a text table with ratios against dense, and an optional PNG.

The PNG needs matplotlib, an optional extra: ``pip install "compressae-pg[plot]"``.
"""

from __future__ import annotations

import re
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


def _candidates(row: dict[str, Any]) -> int:
    found = re.search(r"candidates (\d+)", row["setting"])
    return int(found.group(1)) if found else 0


def groups(results: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The rows of each method (a rerank mode of the codes, a peer, the dense column), by candidate count."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        out.setdefault(r["method"], []).append(r)
    return {name: sorted(rows, key=_candidates) for name, rows in out.items()}


def figure(results: list[dict[str, Any]], *, k: int = 10, title: str = "") -> Any:
    """A matplotlib figure: recall@k against p50 latency and against bytes per row, one line per method joining
    its candidate counts (each point labelled with its count), the peers dashed on the same axes, and the dense
    reference as a star and a dotted line at its recall."""
    try:
        import matplotlib
        import matplotlib.ticker

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise CompressaeError('--plot needs matplotlib: pip install "compressae-pg[plot]"') from exc
    fig, (by_time, by_size) = plt.subplots(1, 2, figsize=(13, 6), sharey=True)
    base = baseline(results)
    same_size: dict[float, int] = {}
    for i, (method, rows) in enumerate(groups(results).items()):
        recall = [r[f"recall@{k}"] for r in rows]
        size = rows[0]["bytes_per_row"]
        dense = bool(rows[0].get("baseline"))
        style = {"color": "black" if dense else plt.cm.tab20(i % 20), "marker": "*" if dense else "o" if method.startswith("codes") else "s",
                 "markersize": 13 if dense else 6, "linestyle": "-" if method.startswith("codes") else "--"}
        label = method + ("" if size is None else f", {size:,.0f} B/row") + (" (dense reference)" if dense else "")
        by_time.plot([r["p50_ms"] for r in rows], recall, label=label, **style)
        if len(rows) > 1:
            for r in rows:
                by_time.annotate(str(_candidates(r)), (r["p50_ms"], r[f"recall@{k}"]), textcoords="offset points", xytext=(4, 3),
                                 fontsize=7, color=style["color"])
        if size is not None:  # methods of one size side by side, not on top of each other
            nudge = same_size.get(size, 0)
            same_size[size] = nudge + 1
            by_size.plot([size * 1.025**nudge] * len(rows), recall, label=label, **style)
    if base is not None:
        for ax in (by_time, by_size):
            ax.axhline(base[f"recall@{k}"], color="black", linestyle=":", linewidth=1, label="dense reference recall")
    by_time.set(xscale="log", xlabel="p50 latency per query, ms, log (numbers: candidates)", ylabel=f"recall@{k}",
                title="recall vs latency")
    by_size.set(xscale="log", xlabel="bytes per row, log (methods of one size drawn side by side)", title="recall vs size")
    for ax in (by_time, by_size):
        ax.grid(True, which="both", alpha=0.3)
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    handles, labels = by_time.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06 + 0.022 * ((len(labels) + 1) // 2), 1, 1))
    return fig


def plot(results: list[dict[str, Any]], path: str | Path, *, k: int = 10, title: str = "") -> Path:
    """:func:`figure`, saved as a PNG at ``path``."""
    fig = figure(results, k=k, title=title)
    import matplotlib.pyplot as plt

    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
