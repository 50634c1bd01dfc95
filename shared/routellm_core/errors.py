"""Typed errors: one message that names the problem, shared by the Python API and the CLI.

Every user error derives from :class:`RouteLLMError` (itself a ``ValueError``), so callers can
catch one type; the CLI turns any of them into a single line on stderr and exit code 2.
"""

from __future__ import annotations


class RouteLLMError(ValueError):
    """Base class for errors caused by bad input, configuration or files."""


class InvalidInputError(RouteLLMError):
    """A prompt, threshold, fraction or option is out of range or malformed."""


class UnknownRouterError(RouteLLMError):
    """A router name that is neither registered nor a checkpoint directory."""


class CheckpointError(RouteLLMError):
    """A checkpoint directory is missing, incomplete or corrupt."""


class DataError(RouteLLMError):
    """A data file is missing, unreadable or lacks a required column."""


class DownloadError(RouteLLMError):
    """Fetching upstream data failed (no network, bad checksum, HTTP error)."""
