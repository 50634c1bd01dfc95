"""Your router tab (issue 23): upload real labels, see the engine's cross-fitted report and curve, download a router."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from ui_helpers import errors, no_traceback

from routellm_core.loaders import load_routellm_golden


@pytest.fixture(scope="module")
def labels(data_dir) -> bytes:
    """120 real GSM8K golden labels (gpt-4 vs Mixtral correctness) as the labeller's PreferenceRecord JSONL."""
    records = load_routellm_golden("gsm8k", data_dir)[:120]
    return "".join(json.dumps({"prompt": r.prompt, "model_a": r.model_a, "model_b": r.model_b, "outcome": r.outcome,
                               "source": r.source}) + "\n" for r in records).encode()


def test_report_curve_and_download(make_app, labels, tmp_path):
    from routellm_app import tab_own

    from routellm_core import load_router
    from routellm_core.own_router.report import own_router_report

    at = make_app("random", tab="Your router")
    at.file_uploader(key="own_file").upload("labels.jsonl", labels, "application/octet-stream")
    at.run()
    no_traceback(at)
    assert not errors(at)
    path = tmp_path / "labels.jsonl"
    path.write_bytes(labels)
    expected = own_router_report(path, log=lambda _m: None, **tab_own.FAST)
    table = at.dataframe[0].value
    assert list(table["router"]) == ["default", "own", "random"]
    assert list(table["APGR"]) == [round(expected["routers"][n]["apgr"], 3) for n in ("default", "own", "random")]
    assert any(expected["verdict"] in m.value for m in at.markdown)
    assert at.get("imgs") or at.get("image")  # the learning curve is shown
    at.button(key="own_train").click().run()
    no_traceback(at)
    downloads = at.get("download_button")
    assert downloads, "no download button after training"
    with zipfile.ZipFile(io.BytesIO(tab_own.trained_zip("labels.jsonl", labels)[0])) as zf:
        names = sorted(zf.namelist())
        zf.extractall(tmp_path / "out")
    assert names == ["my-router/config.json", "my-router/model.safetensors", "my-router/own_router.json"]
    router = load_router(str(tmp_path / "out" / "my-router"))
    probs = router.predict_proba(["What is 17 * 23?"])
    assert 0.0 <= float(probs[0]) <= 1.0


def test_a_bad_labels_file_is_one_clear_error(make_app):
    at = make_app("random", tab="Your router")
    at.file_uploader(key="own_file").upload("labels.jsonl", b'{"prompt": "only a prompt"}\n', "application/octet-stream")
    at.run()
    no_traceback(at)
    assert errors(at) and "labels.jsonl" in errors(at)[0]
