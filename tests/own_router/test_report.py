"""report: cross-fitted default / own / random on the user's labels; no router scores a prompt it trained on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from routellm_core.cli import main
from routellm_core.loaders import load_routellm_golden
from routellm_core.own_router import report as report_mod
from routellm_core.own_router.report import own_router_report, render, verdict
from routellm_core.own_router.warm_start import BLEND_GRID
from routellm_core.records import PreferenceRecord
from routellm_core.routers.neighbours import unit_rows


@pytest.fixture(scope="module")
def labels(tmp_path_factory, data_dir):
    """200 real GSM8K golden labels, plus case/space variants of 10 of their prompts (the same prompt twice)."""
    records = load_routellm_golden("gsm8k", data_dir)[:200]
    variants = [PreferenceRecord("  " + r.prompt.upper() + " ", r.model_a, r.model_b, r.outcome, "dup")
                for r in records[:10]]
    path = tmp_path_factory.mktemp("labels") / "labels.jsonl"
    path.write_text("".join(json.dumps({"prompt": r.prompt, "model_a": r.model_a, "model_b": r.model_b,
                                        "outcome": r.outcome, "source": r.source}) + "\n" for r in records + variants))
    return path


FAST = {"folds": 3, "n_boot": 100, "curve_sizes": (20, 40), "inner_folds": 3, "log": lambda _m: None}


def test_no_router_scores_a_prompt_it_trained_on(labels, monkeypatch):
    calls = []
    real = report_mod.fit_and_score

    def spy(x, y, w, u0, train, held, *args):
        calls.append((train.copy(), held.copy()))
        scores, fit = real(x, y, w, u0, train, held, *args)
        # the neighbour memory, when the fold uses one, holds this fold's training prompts and nothing else
        assert fit.memory is None or np.array_equal(fit.memory.vectors, unit_rows(x[train]))
        return scores, fit

    seen_keys = []
    real_pair_data = report_mod.pair_data

    def keep_keys(*a):
        data = real_pair_data(*a)
        seen_keys.append(data.keys)
        return data

    monkeypatch.setattr(report_mod, "fit_and_score", spy)
    monkeypatch.setattr(report_mod, "pair_data", keep_keys)
    result = own_router_report(labels, plot=None, **FAST)
    (keys,) = seen_keys
    assert result["prompts"] == 200 == len(keys)  # the 10 variants were merged with their originals
    assert len(calls) == 3 * (1 + len(result["learning_curve"]))  # main cross-fit + one per curve point
    for train, held in calls:
        assert not {keys[i] for i in train} & {keys[i] for i in held}
    main_fit = calls[:3]
    assert all(len(train) >= 100 for train, _ in main_fit)  # enough labels that the prior strength is chosen by CV
    assert sorted(np.concatenate([h for _, h in main_fit]).tolist()) == list(range(200))  # each scored once


def test_report_contents_and_plot(labels, tmp_path):
    png = tmp_path / "curve.png"
    result = own_router_report(labels, plot=png, strong_share=0.3, **FAST)
    assert (result["strong"], result["weak"]) == ("gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1")
    for name in ("default", "own", "random"):
        r = result["routers"][name]
        lo, hi = r["apgr_interval"]
        assert lo <= r["apgr"] <= hi or name == "random"
        assert {"cpt50", "cpt80", "cpt50_interval"} <= set(r)
    assert abs(result["routers"]["random"]["apgr"] - 0.5) < 0.1
    assert [p["labels"] for p in result["learning_curve"]] == [20, 40, 133]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 0.0 <= result["threshold"]["own"] <= 1.0
    blend = result["neighbour_blend"]  # chosen inside each fold's training labels, like the prior strength
    assert len(blend["per_fold"]) == 3 and set(blend["per_fold"]) | {blend["all_labels"]} <= set(BLEND_GRID)
    assert "neighbour blend (CV-chosen)" in render(result)
    assert result["verdict"].split(":")[0] in {"use the own router", "keep the default", "keep the default for now"}


def _fake(gain, lo, hi, own=(0.55, 0.65), default=(0.5, 0.6)):
    return {"own_minus_default": {"apgr": gain, "interval": [lo, hi]}, "prompts": 200,
            "routers": {"own": {"apgr_interval": list(own)}, "default": {"apgr_interval": list(default)}}}


def test_verdicts():
    assert verdict(_fake(0.05, 0.01, 0.09)).startswith("use the own router")
    assert verdict(_fake(-0.02, -0.06, 0.005)).startswith("keep the default:")
    assert "no routing signal" in verdict(_fake(-0.01, -0.05, 0.03, own=(0.45, 0.55), default=(0.46, 0.54)))
    weak_is_better = {**_fake(0.05, 0.01, 0.09), "mean_strong_win": 0.3, "strong": "big", "weak": "small"}
    assert verdict(weak_is_better).startswith("send everything to the weak model")
    more = verdict(_fake(0.02, -0.02, 0.06))
    assert more.startswith("keep the default for now") and "about 1,600 more labels" in more
    # 200 (1.51 * 0.04 / 0.02)^2 - 200 = 1,624: to two digits


def test_report_cli_json(labels, tmp_path, capsys):
    small = tmp_path / "small.jsonl"
    small.write_text("".join(labels.read_text().splitlines(keepends=True)[:60]))
    code = main(["report", "--labels", str(small), "--json", "--folds", "3", "--bootstrap", "50", "--no-plot"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["prompts"] == 60 and "verdict" in result and "plot" not in result
