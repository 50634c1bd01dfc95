"""An honest report on the user's own labels: does an own router beat the shipped default on this traffic?

Everything is cross-fitted: the labelled prompts are split into K folds by (normalised) prompt, the own
router of each fold is warm-started (prior strength chosen by CV inside the training folds only) and
scores only its held-out fold, so no router scores a prompt it trained on. The default is the shipped
router (its pair direction, see :mod:`.warm_start`); random is the mean of seeded coin routers. APGR and
CPT come from ``evaluation.metrics`` (the paper's quantile curve), with percentile-bootstrap 90%
intervals over prompts (the same resamples for every router, so the own-minus-default difference has
its own interval). The learning curve repeats the cross-fit with the training folds cut to N labels.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, InvalidInputError
from ..records import PreferenceRecord
from .warm_start import (
    PRIOR_GRID,
    PairFit,
    _num,
    fit_pair,
    fold_ids,
    load_base,
    pair_data,
    pair_of,
    prior_direction,
    small_blas,
)

CURVE_SIZES: tuple[int, ...] = (50, 100, 300, 1000)


def load_labels(path: str | os.PathLike[str]) -> list[PreferenceRecord]:
    """Labels from a PreferenceRecord JSONL (the labeller's output) or a correctness CSV; empty is an error."""
    from ..loaders import load_training_records

    path = Path(path)
    if not path.is_file():
        raise DataError(f"labels file not found: {path}")
    if path.suffix not in (".jsonl", ".csv"):
        raise DataError(f"{path.name}: labels must be a .jsonl (PreferenceRecord lines) or .csv file")
    records = load_training_records(str(path))
    if not records:
        raise DataError(f"{path.name}: no labels (empty file)")
    return records


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _metrics(scores: np.ndarray, target: np.ndarray) -> dict[str, float]:
    from ..evaluation.metrics import curve_metrics, quantile_curve

    a, b = target, 1.0 - target
    return curve_metrics(quantile_curve(scores, a, b), float(b.mean()), float(a.mean())).to_dict()


def fit_and_score(x: np.ndarray, y: np.ndarray, w: np.ndarray, u0: np.ndarray, train: np.ndarray, held: np.ndarray,
                  inner_folds: int, grid: Sequence[float], seed: int, n_boot: int) -> tuple[np.ndarray, PairFit]:
    """One fold: choose the prior strength and neighbour blend on ``train`` only, fit on it, score ``held``.

    The neighbour memory holds ``train``'s prompts only, so no held prompt is its own neighbour.
    """
    fit = fit_pair(x[train], y[train], w[train], u0, inner_folds, grid, seed, n_boot)
    return fit.predict(x[held]), fit


def _cross_fit(x, y, w, u0, folds, k, inner_folds, grid, seed, n_boot, size: int | None = None):
    scores = np.full(len(y), np.nan)
    fits = []
    rng = np.random.default_rng(seed + 1)
    for f in range(k):
        train = np.flatnonzero(folds != f)
        if size is not None and size < len(train):
            train = np.sort(rng.choice(train, size, replace=False))
        held = np.flatnonzero(folds == f)
        scores[held], fit = fit_and_score(x, y, w, u0, train, held, inner_folds, grid, seed, n_boot)
        fits.append(fit)
    return scores, fits


def _interval(values: list[float], level: float) -> list[float]:
    from ..evaluation.metrics import percentile_interval

    lo, hi = percentile_interval([v for v in values if np.isfinite(v)], level)
    return [lo, hi]


def own_router_report(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The report as a JSON-ready dict (see the module docstring); ``plot`` writes the learning curve PNG."""
    with small_blas():
        return _report(*args, **kwargs)


def _report(labels: str | os.PathLike[str] | Sequence[PreferenceRecord], init: str = "mf",
                      strong: str | None = None, weak: str | None = None, folds: int = 5, strong_share: float = 0.5,
                      curve_sizes: Sequence[int] = CURVE_SIZES, plot: str | os.PathLike[str] | None = None,
                      seed: int = 0, n_boot: int = 1000, level: float = 0.9, grid: Sequence[float] = PRIOR_GRID,
                      inner_folds: int = 5, random_seeds: int = 10,
                      log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)) -> dict[str, Any]:
    where = Path(labels).name if isinstance(labels, (str, os.PathLike)) else "the labels"
    records = load_labels(labels) if isinstance(labels, (str, os.PathLike)) else list(labels)
    if not records:
        raise DataError("no labels")
    s_name, w_name = pair_of(records, strong, weak, where)
    data = pair_data(records, s_name, w_name)
    n = len(data.prompts)
    k = int(folds)
    if k < 2:
        raise InvalidInputError(f"--folds must be >= 2, got {folds}")
    if n < 2 * k:
        raise InvalidInputError(f"{where}: {n} distinct labelled prompts are too few for a {k}-fold report (need {2 * k})")
    base = load_base(init)
    log(f"report on {n} labelled prompts ({s_name} vs {w_name}), {k}-fold cross-fit, warm start from {init}")
    x = base._embed(data.prompts).astype(np.float64)
    y, w = data.target, data.weight
    u0 = prior_direction(base, s_name, w_name)
    ids = fold_ids(n, k, seed)
    inner_boot = max(50, n_boot // 10)
    scores = {"default": _sigmoid(x @ u0)}
    scores["own"], fits = _cross_fit(x, y, w, u0, ids, k, inner_folds, grid, seed, inner_boot)
    rng = np.random.default_rng(seed)
    random_runs = [rng.random(n) for _ in range(int(random_seeds))]

    point = {name: _metrics(s, y) for name, s in scores.items()}
    point["random"] = {m: float(np.mean([_metrics(r, y)[m] for r in random_runs])) for m in point["own"]}
    boot: dict[str, dict[str, list[float]]] = {name: {"apgr": [], "cpt50": [], "cpt80": []} for name in point}
    diffs: list[float] = []
    resamples = []
    for i in range(int(n_boot)):
        idx = rng.integers(0, n, n)
        if np.ptp(y[idx]) == 0:
            continue
        resamples.append(idx)
        reps = {name: _metrics(s[idx], y[idx]) for name, s in scores.items()}
        reps["random"] = _metrics(random_runs[i % len(random_runs)][idx], y[idx])
        for name, m in reps.items():
            for key in boot[name]:
                boot[name][key].append(m[key])
        diffs.append(reps["own"]["apgr"] - reps["default"]["apgr"])
    routers = {name: {**point[name], **{f"{key}_interval": _interval(vals, level) for key, vals in boot[name].items()}}
               for name in point}
    diff = {"apgr": point["own"]["apgr"] - point["default"]["apgr"], "interval": _interval(diffs, level)}

    curve = []
    n_train = n - int(np.ceil(n / k))
    for size in sorted({int(s) for s in curve_sizes if 0 < int(s) < n_train} | {n_train}):
        s_curve, _ = _cross_fit(x, y, w, u0, ids, k, inner_folds, grid, seed, inner_boot, size)
        values = [_metrics(s_curve[idx], y[idx])["apgr"] for idx in resamples[: max(1, len(resamples) // 4)]]
        curve.append({"labels": size, "apgr": _metrics(s_curve, y)["apgr"], "apgr_interval": _interval(values, level)})

    from ..calibration import threshold_for_fraction

    full = fit_pair(x, y, w, u0, inner_folds, grid, seed, inner_boot)
    # The own threshold comes from the cross-fitted scores: the router trained on all labels would score its
    # own labelled prompts with themselves among their neighbours, unlike the traffic it will route.
    report: dict[str, Any] = {
        "labels": len(records), "prompts": n, "strong": s_name, "weak": w_name, "init": init, "folds": k,
        "level": level, "routers": routers, "own_minus_default": diff,
        "prior_strength": {"per_fold": [_num(f.strength) for f in fits], "all_labels": _num(full.strength)},
        "neighbour_blend": {"per_fold": [f.blend for f in fits], "all_labels": full.blend},
        "learning_curve": curve,
        "threshold": {"strong_share": strong_share, "own": threshold_for_fraction(scores["own"], strong_share),
                      "default": threshold_for_fraction(scores["default"], strong_share)},
    }
    report["mean_strong_win"] = float(np.average(y, weights=w))
    report["verdict"] = verdict(report)
    if plot is not None:
        report["plot"] = str(plot_learning_curve(report, plot))
    return report


def verdict(report: dict[str, Any]) -> str:
    """One line: use the own router, keep the default, or about how many more labels would tell."""
    if report.get("mean_strong_win", 1.0) <= 0.5:
        return (f"send everything to the weak model: on these labels {report['strong']} does not beat {report['weak']} "
                f"on average (mean P(strong better) {report['mean_strong_win']:.2f}), so routing cannot gain")
    d = report["own_minus_default"]
    lo, hi = d["interval"]
    gain, n = d["apgr"], report["prompts"]
    own_lo, own_hi = report["routers"]["own"]["apgr_interval"]
    def_lo, def_hi = report["routers"]["default"]["apgr_interval"]
    if lo > 0:
        return f"use the own router: APGR {gain:+.3f} over the default (90% interval [{lo:+.3f}, {hi:+.3f}])"
    no_signal = own_lo <= 0.5 <= own_hi and def_lo <= 0.5 <= def_hi
    if hi < 0.01 or gain <= 0:
        why = "no routing signal found in these labels (own and default both near random); " if no_signal else ""
        return f"keep the default: {why}the own router does not beat it (APGR {gain:+.3f}, [{lo:+.3f}, {hi:+.3f}])"
    # Intervals shrink like 1/sqrt(n); a 90% interval excludes 0 with 80% power once the gain is
    # (1.645 + 0.842) / 1.645 = 1.51 half-widths: n_needed = n (1.51 half / gain)^2.
    half = max((hi - lo) / 2, 1e-6)
    more = _round2(n * (1.51 * half / max(gain, 0.005)) ** 2 - n)
    return (f"keep the default for now: the own router looks {gain:+.3f} APGR better but the interval [{lo:+.3f}, "
            f"{hi:+.3f}] includes 0; about {more:,} more labels would tell")


def _round2(x: float) -> int:
    """Two significant digits, at least 10: an estimate, not a count."""
    x = max(10.0, x)
    digits = int(math.floor(math.log10(x))) - 1
    return int(round(x / 10**digits) * 10**digits)


def plot_learning_curve(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """PNG: cross-fitted APGR of the own router against the number of training labels, default and random lines."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise InvalidInputError("the learning curve needs matplotlib: pip install 'routellm-plugin[eval]'") from None
    fig = Figure(figsize=(7, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    sizes = [p["labels"] for p in report["learning_curve"]]
    ax.plot(sizes, [p["apgr"] for p in report["learning_curve"]], marker="o", label="own router (cross-fitted)")
    ax.fill_between(sizes, [p["apgr_interval"][0] for p in report["learning_curve"]],
                    [p["apgr_interval"][1] for p in report["learning_curve"]], alpha=0.2, label="90% interval")
    ax.axhline(report["routers"]["default"]["apgr"], color="grey", linestyle="--", label="shipped default")
    ax.axhline(report["routers"]["random"]["apgr"], color="black", linestyle=":", label="random")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(x) for x in sizes])
    ax.minorticks_off()
    ax.set_xlabel("labelled prompts used for training")
    ax.set_ylabel("APGR")
    ax.set_title(f"{report['strong']} vs {report['weak']}: {report['prompts']} labelled prompts")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def render(report: dict[str, Any]) -> str:
    """The report as a few readable lines."""
    lines = [f"{report['prompts']} labelled prompts, {report['strong']} (strong) vs {report['weak']} (weak), "
             f"{report['folds']}-fold cross-fitted"]
    for name in ("default", "own", "random"):
        r = report["routers"][name]
        lo, hi = r["apgr_interval"]
        c_lo, c_hi = r["cpt50_interval"]
        lines.append(f"  {name:8s} APGR {r['apgr']:.3f} [{lo:.3f}, {hi:.3f}]  CPT(50%) {r['cpt50']:.1f}% "
                     f"[{c_lo:.1f}, {c_hi:.1f}]  CPT(80%) {r['cpt80']:.1f}%")
    lines.append("  learning curve: " + ", ".join(f"{p['labels']}: {p['apgr']:.3f}" for p in report["learning_curve"]))
    lines.append("  own minus default: {:+.3f} [{:+.3f}, {:+.3f}]".format(report["own_minus_default"]["apgr"],
                                                                      *report["own_minus_default"]["interval"]))
    t = report["threshold"]
    nb = report.get("neighbour_blend")
    if nb:
        lines.append(f"  neighbour blend (CV-chosen): all labels {nb['all_labels']:g}, per fold "
                     + ", ".join(f"{b:g}" for b in nb["per_fold"]))
    lines.append(f"  threshold for {t['strong_share']:.0%} strong calls: own {t['own']:.4f}, default {t['default']:.4f}")
    if "plot" in report:
        lines.append(f"  learning curve plot: {report['plot']}")
    lines.append(f"verdict: {report['verdict']}")
    return "\n".join(lines)
