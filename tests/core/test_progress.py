"""Progress bars only where a person watches: tqdm on a terminal, a start and an end line on a pipe or file."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from routellm_core.progress import LineProgress, progress, progress_mode


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def auto_mode(monkeypatch):
    monkeypatch.delenv("ROUTELLM_PROGRESS", raising=False)


def test_a_pipe_gets_one_start_and_one_end_line():
    out = io.StringIO()
    bar = progress(range(40), desc="training mf", unit="epoch", stream=out)
    for i in bar:
        bar.set_postfix(val_loss=f"{1 / (i + 1):.4f}")  # the postfix updates that tqdm redraws for
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 2, lines
    assert lines[0] == "training mf: started (40 epoch)"
    assert lines[1].startswith("training mf: done, 40/40 epoch in ") and lines[1].endswith("val_loss=0.0250")


def test_a_loop_that_breaks_reports_what_it_ran():
    out = io.StringIO()
    bar = progress(range(40), desc="fit", unit="epoch", stream=out)
    for i in bar:
        if i == 11:
            break
    bar.close()
    bar.close()  # idempotent
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("fit: done, 12/40 epoch"), lines


def test_every_ten_percent_on_request_and_transient_bars_say_nothing():
    out = io.StringIO()
    with progress(total=100, desc="scoring", unit="row", every=0.1, stream=out) as bar:
        for _ in range(50):
            bar.update(2)
    lines = out.getvalue().splitlines()
    assert len(lines) == 11, lines  # start, 10% ... 90%, end
    assert lines[1] == "scoring: 10% (10/100 row)" and lines[-1].startswith("scoring: done, 100/100 row")
    quiet = io.StringIO()
    for _ in progress(range(5), desc="validation", leave=False, stream=quiet):
        pass
    assert quiet.getvalue() == ""


def test_a_terminal_gets_tqdm_and_the_environment_overrides(monkeypatch):
    from tqdm.auto import tqdm

    tty = FakeTTY()
    assert progress_mode(tty) == "bar"
    bar = progress(range(3), desc="x", stream=tty)
    assert isinstance(bar, tqdm)
    list(bar)
    assert progress_mode(io.StringIO()) == "lines"
    monkeypatch.setenv("ROUTELLM_PROGRESS", "lines")
    assert isinstance(progress(range(3), stream=tty), LineProgress)
    monkeypatch.setenv("ROUTELLM_PROGRESS", "off")
    silent = io.StringIO()
    list(progress(range(3), desc="x", stream=silent))
    assert silent.getvalue() == ""
    monkeypatch.setenv("ROUTELLM_PROGRESS", "bar")
    assert isinstance(progress(range(3), stream=io.StringIO()), tqdm)
    list(progress(range(3), disable=True, stream=io.StringIO()))


def test_train_to_a_file_writes_no_redraws(tmp_path, data_dir):
    """``routellm-core train`` with stderr in a file: start/end lines for embedding and training, no \\r."""
    log = tmp_path / "train.log"
    env = {**os.environ, "ROUTELLM_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("ROUTELLM_PROGRESS", None)
    with log.open("w") as fh:
        done = subprocess.run([sys.executable, "-m", "routellm_core.cli", "train", "--router", "mf", "--dataset", "gsm8k",
                               "--limit", "120", "--no-decontaminate", "--output", str(tmp_path / "mf"),
                               "--params", '{"epochs": 10}'], stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=600)
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text
    training = [line for line in text.splitlines() if line.startswith("training mf")]
    assert len(training) == 2 and training[0] == "training mf: started (10 epoch)", text
    assert "val_loss=" in training[1]


def test_the_cli_progress_option_overrides_the_environment(tmp_path):
    """``routellm-core --progress off train ...``: not even the start and end lines."""
    env = {**os.environ, "ROUTELLM_CACHE_DIR": str(tmp_path / "cache"), "ROUTELLM_PROGRESS": "bar"}
    done = subprocess.run([sys.executable, "-m", "routellm_core.cli", "--progress", "off", "train", "--router", "mf",
                           "--dataset", "gsm8k", "--limit", "40", "--no-decontaminate", "--output", str(tmp_path / "mf"),
                           "--params", '{"epochs": 3}'], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "training mf" not in done.stderr and "\r" not in done.stderr
