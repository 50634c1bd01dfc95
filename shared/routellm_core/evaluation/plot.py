"""PNG plot per benchmark: performance against % strong calls, as in the paper's figures.

Drawn with matplotlib's Agg canvas directly (no pyplot, no GUI, no global backend switch): each
router's curve, the weak and strong models as dashed lines, the optimal (oracle) curve, and the
paper's best router at its CPT(50%) and CPT(80%) for reference.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RouteLLMError
from .paper import PAPER_BEST, paper_best

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .runner import BenchmarkResult


def build_figure(result: BenchmarkResult) -> Figure:
    """The figure for one benchmark (lines carry labels: router names, weak, strong, optimal, paper)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise RouteLLMError("plots need matplotlib: pip install 'routellm-plugin[eval]' (or pass --no-plot)") from None

    bench = result.benchmark
    fig = Figure(figsize=(10, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for r in result.routers:
        extra = f", {r.seeds} seeds" if r.seeds > 1 else ""
        ax.plot(r.curve.strong_pct, r.curve.performance, marker=".", linestyle="-",
                label=f"{r.name} (APGR {r.metrics.apgr:.3f}{extra})", gid=f"router:{r.name}")
    ax.plot(result.optimal.strong_pct, result.optimal.performance, marker="x", linestyle="-", color="black", alpha=0.6,
            label=f"optimal (APGR {result.optimal_metrics.apgr:.3f})", gid="optimal")
    ax.axhline(result.weak, color="grey", linestyle="--", label=f"weak: {bench.weak_model} ({result.weak:.2f})", gid="weak")
    ax.axhline(result.strong, color="red", linestyle="--", label=f"strong: {bench.strong_model} ({result.strong:.2f})",
               gid="strong")
    best = paper_best(bench.name)
    if best is not None and best.cpt50 is not None and best.cpt80 is not None:
        gap = result.strong - result.weak
        ax.plot([best.cpt50, best.cpt80], [result.weak + 0.5 * gap, result.weak + 0.8 * gap], linestyle="none",
                marker="*", markersize=14, color="gold", markeredgecolor="black",
                label=f"paper best ({PAPER_BEST[bench.name]}): CPT(50%) {best.cpt50:.1f}, CPT(80%) {best.cpt80:.1f}",
                gid="paper")
    ax.set_xlabel("Strong model calls (%)")
    ax.set_ylabel(bench.unit)
    ax.set_title(f"Performance vs. strong model calls ({bench.name}, {bench.n} items)")
    ax.set_xlim(-2, 102)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def save_plot(result: BenchmarkResult, path: str | os.PathLike[str]) -> Path:
    """Write the benchmark's figure as PNG and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    build_figure(result).savefig(path, format="png")
    return path
