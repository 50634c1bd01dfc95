"""The plot is a real PNG with each router's curve, weak/strong lines, the optimum and the paper's point."""

from __future__ import annotations

import struct

from routellm_core.evaluation import Evaluator
from routellm_core.evaluation.plot import build_figure, save_plot


def test_plot_is_a_png_with_the_expected_curves(mt_bench, tmp_path):
    result = Evaluator(cache=None, with_cost=False, log=None).evaluate(mt_bench, ["random", "oracle"])
    fig = build_figure(result)
    lines = {line.get_gid(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"router:random", "router:oracle", "optimal", "weak", "strong", "paper"}
    assert lines["router:random"].get_label().startswith("random (APGR 0.")
    assert list(lines["router:oracle"].get_xdata()) == result.router("oracle").curve.strong_pct.tolist()
    assert lines["weak"].get_ydata()[0] == result.weak and lines["strong"].get_ydata()[0] == result.strong
    assert list(lines["paper"].get_xdata()) == [13.40, 31.31]  # MF's CPT(50%), CPT(80%) in the paper
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(legend) == 6 and any("optimal" in t for t in legend)

    path = save_plot(result, tmp_path / "out" / "mt-bench.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1000, 600)
    assert len(data) > 20_000  # a drawn figure, not an empty canvas
    assert data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")
