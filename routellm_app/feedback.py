"""Show a user's mistake as one clear message in the page, never as a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from routellm_core import RouteLLMError

# Errors a user can cause from the page: bad input (RouteLLMError is a ValueError), unreadable
# files, a missing optional dependency. Anything else is a bug and keeps Streamlit's report.
USER_ERRORS = (RouteLLMError, ValueError, OSError, ImportError)


def message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, RouteLLMError) else f"{type(exc).__name__}: {text}"


@contextmanager
def shown_errors() -> Iterator[None]:
    """Run a block; a user error becomes ``st.error(message)`` and the block stops there."""
    try:
        yield
    except USER_ERRORS as exc:
        st.error(message(exc), icon=":material/error:")
