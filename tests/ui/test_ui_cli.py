"""``routellm-core ui``: finds the app without importing it; a missing extra is one line and exit 2."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from routellm_core import cli, ui_cli


def test_app_file_is_found_without_importing_the_app_or_langchain():
    code = ("import sys; from routellm_core import cli, ui_cli; cli.build_parser(); path = ui_cli.app_file(); "
            "assert path.name == 'app.py' and path.is_file(), path; "
            "bad = [m for m in sys.modules if m == 'routellm_app.app' or m.startswith(('langchain', 'llama_index', "
            "'streamlit'))]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_streamlit_args_bind_loopback_headless_without_stats():
    args = ui_cli.streamlit_args("127.0.0.1", 8765)
    assert args[:2] == ["run", str(ui_cli.app_file())]
    options = dict(zip(args[2::2], args[3::2]))
    assert options["--server.address"] == "127.0.0.1" and options["--server.port"] == "8765"
    assert options["--server.headless"] == "true" and options["--browser.gatherUsageStats"] == "false"


def test_missing_ui_extra_is_one_line_and_exit_2(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "streamlit" else real(name, *a))
    assert cli.main(["ui"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "pip install 'routellm-plugin[ui]'" in err


def test_bad_port_is_exit_2(capsys):
    assert cli.main(["ui", "--port", "70000"]) == 2
    assert "--port must be in 1-65535" in capsys.readouterr().err


def test_make_ui_target_runs_the_cli():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "\nui: install\n\t$(BIN)/routellm-core ui\n" in makefile
