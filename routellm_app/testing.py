"""Run the demo as a real server for browser tests and the first-page benchmark.

``AppServer`` starts ``routellm-core ui`` on a free 127.0.0.1 port and waits for Streamlit's
health endpoint; ``find_browser`` locates a system Chromium (Debian's ``chromium`` package), as
browsers cannot be downloaded here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_ENV = "ROUTELLM_BROWSER"


def find_browser() -> str | None:
    """Path of a Chromium-family executable (``$ROUTELLM_BROWSER`` first), or None."""
    explicit = os.environ.get(BROWSER_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def _die_with_parent() -> None:
    """In the child (Linux): get SIGTERM when the parent dies, so a killed test run leaves no server behind."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """``routellm-core ui`` in a child process on 127.0.0.1; a context manager that stops it on exit.

    ``started_at`` is the ``time.perf_counter()`` just before the process starts, so callers can
    measure how long the first page takes from a cold start.
    """

    def __init__(self, router: str | None = None, port: int | None = None, env: dict[str, str] | None = None,
                 ready_timeout: float = 60.0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.router = router
        self.env = {**os.environ, **(env or {})}
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self._log = tempfile.TemporaryFile(mode="w+", prefix="routellm-ui-")  # noqa: SIM115 -- kept open for the server's lifetime, closed in __exit__

    def __enter__(self) -> AppServer:
        command = [sys.executable, "-m", "routellm_core.cli", "ui", "--port", str(self.port)]
        if self.router:
            command += ["--router", self.router]
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=_die_with_parent)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited with code {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/_stcore/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"the app did not answer on {self.url} within {self.ready_timeout:.0f}s")

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the server has used so far (a busy machine inflates it less than wall time)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, AttributeError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def output(self) -> str:
        """The last lines the server printed."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-4000:]

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            try:  # the ui command and its streamlit child share one process group
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
