"""Tune tab: a share of strong calls -> the threshold, the paper's quality curve and the cost saving there."""

from __future__ import annotations

import streamlit as st

from routellm_core import router_names, threshold_for_fraction
from routellm_core.evaluation import BENCHMARK_NAMES
from routellm_core.evaluation.operating_point import operating_point

from . import services
from .curve_chart import curve_spec
from .feedback import shown_errors
from .prompt_files import read_prompt_file
from .settings import Settings, set_threshold

ACTIVE_KEY = "tune_active"
SHARE_KEY = "tune_share"
CROSS_FIT_KEY = "tune_cross_fit"  # (router, benchmark) pairs the user asked to cross-fit


def render(settings: Settings) -> None:
    st.subheader("How many calls should go to the strong model?")
    left, right = st.columns(2)
    bench_name = left.selectbox("Benchmark (quality curve and calibration)", BENCHMARK_NAMES, key="tune_benchmark")
    upload = right.file_uploader("Or calibrate on your own prompts (CSV with a 'prompt' column, JSONL, TXT)",
                                 type=["csv", "jsonl", "txt"], key="tune_file")
    share = st.slider("Share of strong calls (%)", 0, 100, 50, step=1, key=SHARE_KEY)
    if not st.session_state.get(ACTIVE_KEY):
        st.caption("The shipped routers' curves come from out-of-fold scores shipped with the package; another router "
                   "takes seconds to minutes to score the first time (then it is cached on disk).")
        if st.button("Calibrate and plot", type="primary", key="tune_button"):
            st.session_state[ACTIVE_KEY] = True
            st.rerun()
        return
    with shown_errors():
        calibrate(settings, bench_name, upload, share / 100.0)
    with shown_errors():
        if needs_cross_fit(settings.router, bench_name) and not asked_to_cross_fit(settings.router, bench_name):
            return
        curve(settings, bench_name, share / 100.0)


def needs_cross_fit(router: str | None, bench_name: str) -> bool:
    """A default trainable router whose honest curve is out-of-fold and whose out-of-fold scores are not shipped.

    The default recipe trains on MT-Bench, MMLU and GSM8K, so the evaluation harness retrains it on the
    other folds (minutes). The package ships those scores for the shipped checkpoints (and their own
    Arena scores), used when the checkpoint matches: then the curve needs no wait. A checkpoint path or
    the random router is scored directly.
    """
    from routellm_core.routers.registry import router_class

    if not (router in router_names() and router_class(router).trainable):
        return False
    return not services.shipped_curve(router, bench_name)


def asked_to_cross_fit(router: str, bench_name: str) -> bool:
    asked: set = st.session_state.setdefault(CROSS_FIT_KEY, set())
    if (router, bench_name) in asked:
        return True
    st.info(f"The default {router} router was trained on {bench_name}'s labels, so its quality curve is measured "
            "out-of-fold, and the scores shipped with the package do not match this checkpoint (retrained?): the "
            "evaluation harness retrains it on 5 folds (many minutes on a CPU, then cached on "
            f"disk). `routellm-core evaluate --benchmark {bench_name} --routers {router}` fills the same cache.",
            icon=":material/schedule:")
    if st.button("Cross-fit and plot the curve", key="tune_cross_fit_button"):
        asked.add((router, bench_name))
        st.rerun()
    return False


def calibrate(settings: Settings, bench_name: str, upload, fraction: float) -> None:
    """The threshold that sends ``fraction`` of the calibration prompts to the strong model."""
    if upload is not None:
        prompts, source = read_prompt_file(upload.name, upload.getvalue()), f"file:{upload.name}:{upload.size}"
        label = f"the {len(prompts):,} prompts of {upload.name}"
    else:
        bench = services.benchmark(bench_name, services.data_dir())
        prompts, source, label = bench.prompts, f"benchmark:{bench_name}", f"the {bench.n:,} {bench_name} prompts"
    scores = services.calibration_scores(settings.router or "", source, tuple(prompts))
    threshold = threshold_for_fraction(scores, fraction)
    left, right = st.columns([1, 2])
    left.metric("Threshold", f"{threshold:.4f}")
    right.write(f"Routing with this threshold sends {fraction:.0%} of {label} to the strong model "
                f"(strong iff P(strong wins) >= threshold).")
    right.button("Use this threshold in Route, Chat and Batch", key="tune_use", on_click=set_threshold, args=(threshold,))


def curve(settings: Settings, bench_name: str, fraction: float) -> None:
    """The router's quality-vs-cost curve on the benchmark, the operating point and its cost."""
    result = services.benchmark_result(settings.router or "", bench_name, services.data_dir(), settings.price_key())
    router_result = result.routers[0]
    point = operating_point(router_result.scores, result.benchmark, fraction, result.costs)
    st.vega_lite_chart(spec=curve_spec(result, router_result, point), width="stretch", key="tune_chart")
    a, b, c, d = st.columns(4)
    a.metric("Quality here", f"{point.performance:.3f}", help=result.benchmark.unit)
    b.metric("Gap recovered", f"{point.gap_recovered:.0%}", help="(quality - all weak) / (all strong - all weak)")
    c.metric("Cost vs all-strong", "n/a" if point.cost is None else f"${point.cost:,.2f} / ${point.all_strong_cost:,.2f}")
    d.metric("Saving", "n/a" if point.saving is None else f"{point.saving:.0%}")
    metrics = router_result.metrics
    notes = [f"{result.benchmark.name}: {result.benchmark.n:,} items; all weak {result.weak:.3f}, all strong "
             f"{result.strong:.3f}. APGR {metrics.apgr:.3f}, CPT(50%) {metrics.cpt50:.1f} %, CPT(80%) {metrics.cpt80:.1f} %."]
    if router_result.source.startswith("cross-fit"):
        shipped = " shipped with the package" if router_result.source.endswith("(shipped)") else ""
        notes.append(f"This router trained on {result.benchmark.name}'s labels, so the curve uses out-of-fold scores"
                     f"{shipped} ({router_result.source.removesuffix(' (shipped)')}): no item is scored by a router "
                     "that saw it.")
    elif router_result.source == "shipped":
        notes.append("Scores shipped with the package for this checkpoint (no scoring needed).")
    notes.append("Costs: token counts of the recorded prompts and answers at the sidebar's prices.")
    st.caption(" ".join(notes))
