"""Serve an ASGI app with uvicorn in a background thread on loopback: for tests, demos and benchmarks."""

from __future__ import annotations

import threading
import time
from typing import Any

from .cli import bind


class ServerThread:
    """``with ServerThread(app) as server: openai.OpenAI(base_url=server.base_url, ...)``."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                 name: str = "routing server", **uvicorn_options: Any) -> None:
        self.app, self.host, self.port, self.log_level, self.name = app, host, port, log_level, name
        self.uvicorn_options = {"timeout_graceful_shutdown": 2, **uvicorn_options}
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> ServerThread:
        import uvicorn

        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level=self.log_level, **self.uvicorn_options)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"routellm-server-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
