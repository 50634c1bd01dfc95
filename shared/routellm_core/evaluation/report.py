"""Results as a terminal table, JSON, CSV and a Markdown table next to the paper's numbers."""

from __future__ import annotations

from typing import Any

import csv
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

from .paper import PAPER_RESULTS
from .cascade import equal_cost_lines
from .runner import BenchmarkResult


def _num(value: float | None, fmt: str = "{:.2f}", empty: str = "-") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return empty
    return fmt.format(value)


def _ci(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None or any(math.isnan(v) for v in ci) else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def format_table(results: Sequence[BenchmarkResult]) -> str:
    """Plain-text table per benchmark: APGR, CPT, AUC, cost saving per router, plus the references."""
    lines = []
    header = (f"{'router':<16}{'APGR':>7}{'90% CI':>16}{'±std':>7}{'CPT20%':>8}{'CPT50%':>8}{'CPT80%':>8}{'AUC':>9}"
              f"{'APGR*':>7}{'strong%@Q':>10}{'saving@Q':>9}  source")
    for res in results:
        b = res.benchmark
        q = f"{res.quality_fraction:.0%}"
        lines.append(f"== {b.name}: {b.n} items ({b.dropped_contaminated} contaminated dropped), {b.unit}")
        lines.append(f"   weak   {b.weak_model}: {res.weak:.3f}")
        lines.append(f"   strong {b.strong_model}: {res.strong:.3f}")
        lines.append(f"   Q = {q} of strong quality = {res.quality_fraction * res.strong:.3f}")
        lines.append(header)
        rows: list[tuple[Any, ...]] = [(r.name, r.metrics, r.apgr_ci, r.apgr_std, r.exact_metrics.apgr, r.cost,
                 f"{r.source}" + (f", {r.seeds} seeds" if r.seeds > 1 else "") + f", {r.seconds:.1f}s")
                for r in res.routers]
        rows.append(("optimal", res.optimal_metrics, None, None, None, res.optimal_cost, "oracle"))
        for name, m, ci, std, exact, cost, source in rows:
            lines.append(
                f"{name[:15]:<16}{_num(m.apgr, '{:.3f}'):>7}{_ci(ci):>16}{_num(std, '{:.3f}'):>7}{_num(m.cpt20):>8}{_num(m.cpt50):>8}"
                f"{_num(m.cpt80):>8}{_num(m.auc, '{:.3f}'):>9}{_num(exact, '{:.3f}'):>7}"
                f"{_num(cost.strong_pct if cost else None, '{:.1f}'):>10}"
                f"{_num(cost.saving * 100 if cost else None, '{:.1f}%'):>9}  {source}")
        lines += equal_cost_lines(res)
        if res.pairwise:
            first = res.pairwise[0]
            lines.append(f"   human votes (Chatbot Arena, {first.votes} decisive, {first.folds}-fold by prompt): "
                         f"held-out pairwise AUC [90% CI]")
            for p in res.pairwise:
                lines.append(f"   {p.router:<30}{p.auc:>7.3f} {_ci(p.ci)}")
        lines.append("")
    lines.append("APGR/CPT: the paper's 10-quantile-bin procedure; 90% CI: percentile bootstrap over items; APGR*: every distinct threshold; strong%@Q and "
                 "saving@Q: cheapest threshold reaching Q, cost vs. all-strong.")
    return "\n".join(lines)


def markdown_results(results: Sequence[BenchmarkResult]) -> str:
    """Markdown table: our routers vs. the paper's numbers (CPT(50%), CPT(80%), APGR) and cost saving."""
    out = ["| Benchmark | Router | CPT(50%) | CPT(80%) | APGR [90% CI] | Paper CPT(50%) | Paper CPT(80%) | Paper APGR "
           "| Strong calls / cost saving at 95% quality |",
           "|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        name = res.benchmark.name
        paper = PAPER_RESULTS.get(name, {})
        rows = [(r.name + (f" ({r.seeds} seeds)" if r.seeds > 1 else "") + (f" ({r.source})" if r.source.startswith("cross-fit")
                 else ""), r.name, r.metrics, r.cost, r.apgr_ci) for r in res.routers]
        rows.append(("optimal (oracle)", "optimal", res.optimal_metrics, res.optimal_cost, None))
        for label, key, m, cost, ci in rows:
            p = paper.get(key)
            saving = (f"{cost.strong_pct:.1f}% / {cost.saving * 100:.1f}%" if cost and cost.reached else "-")
            apgr_text = f"{m.apgr:.3f}" + ("" if ci is None else f" {_ci(ci)}")
            out.append(f"| {name} | {label} | {m.cpt50:.2f}% | {m.cpt80:.2f}% | {apgr_text} | "
                       f"{_num(p.cpt50 if p else None, '{:.2f}%')} | {_num(p.cpt80 if p else None, '{:.2f}%')} | "
                       f"{_num(p.apgr if p else None, '{:.3f}')} | {saving} |")
        for key, p in paper.items():
            if key not in {r.name for r in res.routers}:
                out.append(f"| {name} | {key} (paper only) | - | - | - | {_num(p.cpt50, '{:.2f}%')} | "
                           f"{_num(p.cpt80, '{:.2f}%')} | {p.apgr:.3f} | - |")
    votes = [(res.benchmark.name, p) for res in results for p in res.pairwise]
    if votes:
        out += ["", "| Human votes (held-out, by prompt) | Router | Pairwise AUC [90% CI] | Decisive votes |",
                "|---|---|---|---|"]
        out += [f"| Chatbot Arena | {p.router} | {p.auc:.3f} {_ci(p.ci)} | {p.votes} |" for _, p in votes]
    return "\n".join(out) + "\n"


def write_outputs(results: Sequence[BenchmarkResult], output_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """results.json (everything), metrics.csv (one row per benchmark x router), curves.csv, results.md."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "metrics": out / "metrics.csv", "curves": out / "curves.csv",
             "markdown": out / "results.md"}
    paths["json"].write_text(json.dumps(_clean({"benchmarks": [r.to_dict() for r in results]}), indent=2,
                                                allow_nan=False, default=_jsonable) + "\n",
                             encoding="utf-8")
    with paths["metrics"].open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["benchmark", "router", "apgr", "apgr_ci90_low", "apgr_ci90_high", "apgr_std", "cpt20", "cpt50", "cpt80", "auc", "apgr_exact",
                    "strong_pct_at_quality", "cost_saving_at_quality", "weak", "strong", "source", "seeds", "seconds"])
        for res in results:
            for r in res.routers:
                m, c = r.metrics, r.cost
                ci = r.apgr_ci or (None, None)
                w.writerow([res.benchmark.name, r.name, m.apgr, ci[0], ci[1], r.apgr_std, m.cpt20, m.cpt50, m.cpt80, m.auc,
                            r.exact_metrics.apgr, c.strong_pct if c else None, c.saving if c else None, res.weak,
                            res.strong, r.source, r.seeds, round(r.seconds, 3)])
            m, c = res.optimal_metrics, res.optimal_cost
            w.writerow([res.benchmark.name, "optimal", m.apgr, None, None, None, m.cpt20, m.cpt50, m.cpt80, m.auc, None,
                        c.strong_pct if c else None, c.saving if c else None, res.weak, res.strong, "oracle", 1, 0])
    with paths["curves"].open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["benchmark", "router", "strong_pct", "performance", "threshold"])
        for res in results:
            curves = [(r.name, r.curve) for r in res.routers] + [("optimal", res.optimal)]
            for name, curve in curves:
                thresholds = curve.thresholds.tolist() if curve.thresholds is not None else [None] * len(curve.strong_pct)
                for x, y, t in zip(curve.strong_pct.tolist(), curve.performance.tolist(), thresholds):
                    w.writerow([res.benchmark.name, name, x, y, t])
    paths["markdown"].write_text(markdown_results(results), encoding="utf-8")
    return paths


def _clean(value):
    """NaN/inf (e.g. an unreached cost target) become null: results.json stays strict JSON."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        return _clean(value.item())
    return value


def _jsonable(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ModuleNotFoundError:  # pragma: no cover
        pass
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
