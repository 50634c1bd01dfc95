"""OpenAI-compatible routing server: any OpenAI client talks to it, it routes to a strong or weak upstream.

Needs the ``server`` extra (fastapi, uvicorn, prometheus-client); importing this package does not
import them, only ``create_app`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import AliasConfig, RouterEntry, ServerConfig, UpstreamConfig, load_config
from .errors import APIError, ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app", "load_config", "ServerConfig", "UpstreamConfig", "RouterEntry", "AliasConfig",
           "ConfigError", "APIError", "ServerThread"]


def create_app(config: ServerConfig, **kwargs: Any) -> FastAPI:
    """The FastAPI app for ``config`` (see :mod:`routellm_core.server.app`)."""
    from .app import create_app as _create_app

    return _create_app(config, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "ServerThread":
        from .runner import ServerThread

        return ServerThread
    raise AttributeError(name)
