"""The LlamaIndex quickstart (part of `make demo`) on a pipe: its own lines only, no progress redraws or library noise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "llamaindex_quickstart.py"


def test_piped_quickstart_prints_no_loading_bar_or_redraw():
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "ROUTELLM_PROGRESS"}}
    done = subprocess.run([sys.executable, str(QUICKSTART)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, timeout=600)
    out = done.stdout
    assert done.returncode == 0, out[-3000:]
    assert "\r" not in out, "a carriage-return redraw (a progress bar) reached a pipe"
    assert "Loading weights" not in out and "Warning" not in out and "warn" not in out.lower(), out[-3000:]
    assert out.count("P(strong wins)=") == 6  # the decisions are still printed, with the digits rule
