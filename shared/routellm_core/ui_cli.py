"""``routellm-core ui``: start the Streamlit web demo (``routellm_app``) on 127.0.0.1.

The app file is located with ``importlib.util.find_spec`` and handed to ``streamlit run``, so
routellm_core never imports the app (nor LangChain, which the app uses). ``streamlit run`` runs in
this process (Streamlit's own command-line entry point), which saves a second interpreter start.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from .errors import InvalidInputError

APP_MODULE = "routellm_app.app"
ROUTER_ENV = "ROUTELLM_UI_ROUTER"  # read by the app's sidebar as its initial router
MISSING_UI = "the web demo needs the ui extra: pip install 'routellm-plugin[ui]'"


def app_file() -> Path:
    """Path of ``routellm_app/app.py`` (found, not imported)."""
    try:
        spec = importlib.util.find_spec(APP_MODULE)
    except ModuleNotFoundError:
        spec = None
    if spec is None or not spec.origin:
        raise InvalidInputError(f"{MISSING_UI} (routellm_app is not installed)")
    return Path(spec.origin)


def streamlit_args(address: str, port: int) -> list[str]:
    """Arguments of ``streamlit run``: the app file, headless, no usage statistics, no file watcher."""
    if importlib.util.find_spec("streamlit") is None:
        raise InvalidInputError(f"{MISSING_UI} (streamlit is not installed)")
    return ["run", str(app_file()), "--server.address", address, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "minimal"]


def cmd_ui(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise InvalidInputError(f"--port must be in 1-65535, got {args.port}")
    run_args = streamlit_args(args.address, args.port)
    if args.router:
        os.environ[ROUTER_ENV] = args.router
    print(f"routellm-core ui: serving on http://{args.address}:{args.port} (Ctrl+C stops)", file=sys.stderr)
    from streamlit.web import cli as streamlit_cli

    return int(streamlit_cli.main(args=run_args, prog_name="streamlit", standalone_mode=False) or 0)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="start the web demo (Streamlit) on 127.0.0.1")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8501, help="port (default: 8501)")
    p.add_argument("--router", help="initial router: a name (default mf) or a checkpoint directory")
    p.set_defaults(func=cmd_ui)
