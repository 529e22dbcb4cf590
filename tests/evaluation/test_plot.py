"""``evaluate --plot``: the figure is read back through matplotlib's own objects (lines, their data and
labels), not pixels: one line per method joining its candidate counts, the peers on the same axes, the
dense reference marked; and the PNG is written."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from compressae_pg.evaluation.report import figure, plot  # noqa: E402


def result(method: str, setting: str, recall: float, p50: float, size: float, baseline: bool = False) -> dict:
    return {"method": method, "setting": setting, "baseline": baseline, "queries": 10, "recall@10": recall, "ndcg@10": recall,
            "p50_ms": p50, "p95_ms": p50 * 2, "bytes_per_row": size, "index_bytes": 1000}


RESULTS = [
    # the codes' rows come candidate count by candidate count, each mode interleaved, as evaluate_column makes them
    *(r for c, rec in ((200, 0.8), (50, 0.6), (100, 0.7)) for r in (
        result("codes, rerank none", f"candidates {c}", rec - 0.2, c / 50, 325),
        result("codes, rerank reconstructed", f"candidates {c}", rec, c / 40, 325))),
    result("vector, dense, HNSW", "ef_search 100", 0.97, 3.0, 1544, baseline=True),
    result("PCA vector(66), HNSW", "ef_search 100", 0.5, 1.0, 272),
    result("binary_quantize bit(384), HNSW, dense rerank", "candidates 50", 0.75, 1.5, 53),
    result("binary_quantize bit(384), HNSW, dense rerank", "candidates 100", 0.85, 2.5, 53),
]


def lines(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines()}


def test_each_method_is_one_line_over_its_candidate_counts_with_the_peers_and_the_dense_reference():
    fig = figure(RESULTS, title="items.embedding")
    by_time, by_size = fig.axes
    drawn = lines(by_time)
    recon = drawn["codes, rerank reconstructed, 325 B/row"]
    assert list(recon.get_xdata()) == [50 / 40, 100 / 40, 200 / 40]  # joined in candidate order, not as given
    assert list(recon.get_ydata()) == [0.6, 0.7, 0.8] and recon.get_linestyle() == "-"
    peer = drawn["binary_quantize bit(384), HNSW, dense rerank, 53 B/row"]
    assert list(peer.get_ydata()) == [0.75, 0.85] and peer.get_linestyle() == "--"
    dense = drawn["vector, dense, HNSW, 1,544 B/row (dense reference)"]
    assert dense.get_marker() == "*" and list(dense.get_ydata()) == [0.97]
    assert list(drawn["dense reference recall"].get_ydata()) == [0.97, 0.97]  # a horizontal line at its recall
    assert len(drawn) == 6  # two modes, the dense row, two peers, the reference line
    assert sorted(t.get_text() for t in by_time.texts) == ["100", "100", "100", "200", "200", "50", "50", "50"]
    sized = lines(by_size)
    assert set(sized) == set(drawn)  # the same methods on the size axes
    assert list(sized["PCA vector(66), HNSW, 272 B/row"].get_xdata()) == [272]
    xs = {sized[label].get_xdata()[0] for label in ("codes, rerank none, 325 B/row", "codes, rerank reconstructed, 325 B/row")}
    assert len(xs) == 2 and all(325 <= x < 335 for x in xs)  # one size, drawn side by side
    assert by_size.get_xscale() == by_time.get_xscale() == "log" and by_time.get_ylabel() == "recall@10"
    assert fig.legends and "codes, rerank none, 325 B/row" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert fig._suptitle.get_text() == "items.embedding"
    plt.close(fig)


def test_the_png_is_written(tmp_path):
    out = plot(RESULTS, tmp_path / "eval.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20000
