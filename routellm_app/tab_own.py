"""Your router tab: upload labels of your own traffic, see the honest report and the curve, download a router.

The report is the engine's (``routellm_core.own_router.report``): cross-fitted APGR/CPT with 90%
intervals for the shipped default, a router warm-started from it on these labels, and random; the
learning curve; the threshold for a strong share; one verdict. "Train" fits the own router on every
label (prior strength chosen by cross-validation) and offers it as a zip of config.json + safetensors.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import streamlit as st

from .feedback import shown_errors
from .settings import Settings

FAST = {"folds": 5, "n_boot": 300, "inner_folds": 5}


def _saved(name: str, content: bytes) -> Path:
    """The upload as a file the engine's loader reads (its suffix says the format)."""
    suffix = Path(name).suffix.lower()
    folder = Path(tempfile.gettempdir()) / "routellm-own" / hashlib.sha256(content).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"labels{suffix}"
    path.write_bytes(content)
    return path


@st.cache_data(show_spinner="Cross-fitting the default, your router and random on your labels...", max_entries=4)
def report(name: str, content: bytes, strong_share: float) -> dict[str, Any]:
    from routellm_core.own_router.report import own_router_report

    path = _saved(name, content)
    return own_router_report(path, strong_share=strong_share, plot=path.with_suffix(".png"), log=lambda _m: None,
                             **FAST)


@st.cache_data(show_spinner="Training your router on every label...", max_entries=4)
def trained_zip(name: str, content: bytes) -> tuple[bytes, dict[str, Any]]:
    from routellm_core.own_router.report import load_labels
    from routellm_core.own_router.warm_start import save_with_summary, warm_start

    path = _saved(name, content)
    fit = warm_start(load_labels(path), where=name)
    out = save_with_summary(fit.router, path.parent / "my-router", fit.summary())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(out.iterdir()):
            zf.write(file, f"my-router/{file.name}")
    return buffer.getvalue(), fit.summary()


def render(settings: Settings) -> None:
    st.subheader("Your own router: does it beat the default on your traffic?")
    st.caption("Upload labels of your own prompts: the PreferenceRecord JSONL that `routellm-core label` writes "
               "(or a correctness CSV). No router scores a prompt it trained on.")
    upload = st.file_uploader("Labels (.jsonl or .csv)", type=["jsonl", "csv"], key="own_file")
    share = st.slider("Strong share to calibrate the threshold for (%)", 5, 95, 50, 5, key="own_share")
    if upload is None:
        return
    with shown_errors():
        result = report(upload.name, upload.getvalue(), share / 100)
        st.markdown(f"**Verdict:** {result['verdict']}")
        rows = []
        for name in ("default", "own", "random"):
            r = result["routers"][name]
            lo, hi = r["apgr_interval"]
            rows.append({"router": name, "APGR": round(r["apgr"], 3), "90% interval": f"[{lo:.3f}, {hi:.3f}]",
                         "CPT(50%)": round(r["cpt50"], 1), "CPT(80%)": round(r["cpt80"], 1)})
        st.dataframe(rows, hide_index=True, key="own_table")
        d = result["own_minus_default"]
        st.write(f"{result['prompts']} labelled prompts, {result['strong']} (strong) vs {result['weak']} (weak). "
                 f"Own minus default: {d['apgr']:+.3f} APGR [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}]. "
                 f"Threshold for {share}% strong calls: own {result['threshold']['own']:.4f}, default "
                 f"{result['threshold']['default']:.4f}.")
        st.image(result["plot"], caption="Learning curve: cross-fitted APGR against the number of labels")
        if st.button("Train my router on every label", key="own_train"):
            data, summary = trained_zip(upload.name, upload.getvalue())
            st.write(f"Chosen by cross-validation: prior strength {summary['prior_strength']}, neighbour blend "
                     f"{summary['neighbour_blend']:g} ({summary['labelled_prompts']} labelled prompts).")
            st.download_button("Download my-router.zip (config.json + safetensors)", data, "my-router.zip",
                               "application/zip", key="own_download")
