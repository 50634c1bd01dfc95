"""Threshold calibration arithmetic and the checksum-verifying downloader (against a loopback server)."""

from __future__ import annotations

import hashlib
import http.server
import threading

import numpy as np
import pytest

from routellm_core import DownloadError, InvalidInputError, threshold_for_fraction
from routellm_core.download import download, parse_sums, upstream_url


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.8, 1.0])
def test_threshold_sends_the_requested_share(fraction):
    scores = np.random.default_rng(0).random(1000)
    t = threshold_for_fraction(scores, fraction)
    assert np.mean(scores >= t) == pytest.approx(fraction, abs=1e-3)


def test_threshold_validation():
    with pytest.raises(InvalidInputError):
        threshold_for_fraction([0.1], 1.2)
    with pytest.raises(InvalidInputError, match="at least one prompt"):
        threshold_for_fraction([], 0.5)


def test_upstream_urls_are_pinned():
    assert upstream_url("routellm_evals/gsm8k/gsm8k_responses.csv").endswith("/0b64fda/routellm/evals/gsm8k/gsm8k_responses.csv")
    assert "/0e63989/" in upstream_url("routerbench/mbpp_train.csv")
    assert upstream_url("alpaca_eval/annotations.jsonl") is None


@pytest.fixture
def file_server(tmp_path):
    (tmp_path / "good.csv").write_bytes(b"prompt\nhello\n")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_download_checks_sha256(tmp_path, file_server, monkeypatch):
    import routellm_core.download as dl

    monkeypatch.setitem(dl.UPSTREAM, "routerbench/", file_server)
    good = hashlib.sha256(b"prompt\nhello\n").hexdigest()
    sums = tmp_path / "SUMS"
    sums.write_text(f"{good}  routerbench/good.csv\n{'0' * 64}  alpaca_eval/x.jsonl\n")
    assert parse_sums(sums.read_text()) == {"routerbench/good.csv": good, "alpaca_eval/x.jsonl": "0" * 64}
    done, skipped = download(sums, tmp_path / "out")
    assert done == ["routerbench/good.csv"] and skipped == ["alpaca_eval/x.jsonl"]
    assert (tmp_path / "out" / "routerbench" / "good.csv").read_bytes() == b"prompt\nhello\n"
    sums.write_text(f"{'1' * 64}  routerbench/good.csv\n")
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(sums, tmp_path / "out2")
