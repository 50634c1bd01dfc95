"""Progress reports only where a person watches, and no library chatter anywhere.

:func:`progress` is the one progress bar of the project (training, embedding, evaluation, labelling,
benchmarks): a tqdm bar when stderr is a terminal; on a pipe or a file (CI logs, ``make demo | cat``)
one line when the work starts and one when it ends, never a carriage-return redraw.
``ROUTELLM_PROGRESS`` overrides the choice: ``bar``, ``lines``, ``off`` (default ``auto``).

    from routellm_core.progress import progress

    for batch in progress(batches, desc="labelling", unit="batch"):
        ...
    with progress(total=len(rows), desc="scoring", unit="row") as bar:
        bar.update(len(chunk))
        bar.set_postfix(loss=f"{loss:.4f}")     # shown on the bar; the end line reports the last one

:func:`quiet_libraries` keeps third-party loading bars and warnings ("Loading weights", the
transformers tokenizer-length warning) away from users while a model is loaded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")
PROGRESS_ENV = "ROUTELLM_PROGRESS"
MODES = ("auto", "bar", "lines", "off")


def progress_mode(stream: IO[str] | None = None) -> str:
    """``bar``, ``lines`` or ``off``: ``$ROUTELLM_PROGRESS``, else ``bar`` on a terminal and ``lines`` elsewhere."""
    mode = os.environ.get(PROGRESS_ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        mode = "auto"
    if mode != "auto":
        return mode
    stream = stream if stream is not None else sys.stderr
    try:
        return "bar" if stream is not None and stream.isatty() else "lines"
    except (AttributeError, ValueError):  # a closed or odd stream
        return "lines"


class LineProgress(Generic[T]):
    """tqdm's interface (iterate, ``update``, ``set_postfix``, ``close``) printing a start and an end line.

    ``every=0.1`` adds a line at each 10% of ``total``; a nested, transient bar (``leave=False``)
    prints nothing, so an epoch's validation pass does not add lines.
    """

    def __init__(self, iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", leave: bool = True, every: float | None = None,
                 stream: IO[str] | None = None) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.desc = desc or "working"
        self.unit = unit
        self.leave = leave
        self.every = every
        self.stream = stream
        self.n = 0
        self.postfix = ""
        self._next_mark = every if every else None
        self._closed = False
        self._start = time.perf_counter()
        of = f" ({total:,} {unit})" if total is not None else ""
        self._write(f"{self.desc}: started{of}")

    def _write(self, line: str) -> None:
        if not self.leave:
            return
        stream = self.stream if self.stream is not None else sys.stderr
        if stream is not None:
            print(line, file=stream, flush=True)

    def __iter__(self) -> Iterator[T]:
        assert self.iterable is not None, "LineProgress(total=...) is updated, not iterated"
        try:
            for item in self.iterable:  # counted when handed out: a loop that breaks reports what it ran
                self.update()
                yield item
        finally:
            self.close()

    def __enter__(self) -> LineProgress[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.total or 0

    def update(self, n: int = 1) -> None:
        self.n += n
        if self._next_mark is not None and self.total:
            done = self.n / self.total
            if done >= self._next_mark and done < 1:
                self._write(f"{self.desc}: {done:.0%} ({self.n:,}/{self.total:,} {self.unit}){self._post()}")
                while self.every and self._next_mark <= done:
                    self._next_mark += self.every

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or self.desc

    def refresh(self) -> None:
        """Nothing to redraw: lines are written at the start and the end only."""

    def _post(self) -> str:
        return f", {self.postfix}" if self.postfix else ""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        of = f"/{self.total:,}" if self.total is not None else ""
        self._write(f"{self.desc}: done, {self.n:,}{of} {self.unit} in {time.perf_counter() - self._start:.1f}s{self._post()}")


class _Silent(LineProgress[T]):
    def _write(self, line: str) -> None:
        return None


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             disable: bool = False, leave: bool = True, every: float | None = None, stream: IO[str] | None = None) -> Any:
    """A progress bar for long work: tqdm on a terminal, a start and an end line on a pipe or file.

    Same call as ``tqdm(iterable, total=, desc=, unit=, disable=, leave=)``; ``every`` (e.g. 0.1) adds a
    line per 10% in line mode. ``disable=True`` or ``ROUTELLM_PROGRESS=off``: nothing is printed.
    """
    mode = "off" if disable else progress_mode(stream)
    if mode == "bar":
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=stream)
    cls = _Silent if mode == "off" else LineProgress
    return cls(iterable, total=total, desc=desc, unit=unit, leave=leave, every=every, stream=stream)


_LIBRARY_LOGGERS = ("transformers", "sentence_transformers", "huggingface_hub", "safetensors", "torch")


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence third-party loading bars, warnings and log lines while a model loads or tokenises.

    The transformers / huggingface_hub progress bars ("Loading weights"), their warnings (e.g. "Token
    indices sequence length is longer than the specified maximum") and Python warnings raised inside.
    Everything is restored afterwards. Our own code truncates inputs by rule, so nothing is lost.
    """
    saved = {name: logging.getLogger(name).level for name in _LIBRARY_LOGGERS}
    restore: list[Any] = []
    try:
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        restore += _quiet_transformers()
        restore += _quiet_hub()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for undo in reversed(restore):
            with contextlib.suppress(Exception):
                undo()
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _quiet_transformers() -> list[Any]:
    if "transformers" not in sys.modules:  # import nothing: a library not yet loaded is silenced by the loggers
        try:
            import transformers  # noqa: F401  (loaded here so its own logging and bars can be switched off)
        except ImportError:
            return []
    try:
        from transformers.utils import logging as tlog
    except ImportError:
        return []
    undo = []
    level = tlog.get_verbosity()
    tlog.set_verbosity_error()
    undo.append(lambda: tlog.set_verbosity(level))
    if tlog.is_progress_bar_enabled():
        tlog.disable_progress_bar()
        undo.append(tlog.enable_progress_bar)
    return undo


def _quiet_hub() -> list[Any]:
    try:
        from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    except ImportError:
        return []
    if are_progress_bars_disabled():
        return []
    disable_progress_bars()
    return [enable_progress_bars]


__all__ = ["progress", "progress_mode", "quiet_libraries", "LineProgress", "PROGRESS_ENV"]
