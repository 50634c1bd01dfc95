"""The labeller's output: an append-only JSONL of PreferenceRecords, one ``write`` per record.

Why this is safe against kill -9: each record is one ``os.write`` of a whole line to an ``O_APPEND``
descriptor (then ``fsync``), so a killed run leaves at most one torn last line, which the next run cuts
off before appending. Done keys are read back from the file itself, so a rerun skips them and never
writes a label twice. An exclusive ``flock`` keeps two runs from writing one file. Errors go to a
sibling ``<name>.errors.jsonl`` so the labels file stays a valid ``train --dataset`` input.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import DataError, InvalidInputError


def errors_path(path: Path) -> Path:
    return path.with_name(path.name[: -len(path.suffix)] + ".errors.jsonl" if path.suffix else path.name + ".errors.jsonl")


class LabelsFile:
    """Open ``path`` for appending labels; ``done`` holds the keys already labelled."""

    def __init__(self, path: str | os.PathLike[str], fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # not POSIX: no lock, the rest still holds
            pass
        except OSError:
            os.close(self._fd)
            raise InvalidInputError(f"{self.path}: another labelling run is writing this file") from None
        self.repaired = self._cut_torn_tail()
        self.done: set[str] = set()
        self.spent = 0.0
        for n, row in self._rows(self.path):
            if "key" not in row:
                raise DataError(f"{self.path.name} line {n}: a label without a 'key' (not written by the labeller?)")
            self.done.add(str(row["key"]))
            self.spent += float(row.get("cost_usd") or 0.0)
        self._err_fd: int | None = None

    def _cut_torn_tail(self) -> bool:
        size = os.fstat(self._fd).st_size
        if size == 0:
            return False
        with self.path.open("rb") as fh:
            data = fh.read()
        if data.endswith(b"\n"):
            return False
        os.ftruncate(self._fd, data.rfind(b"\n") + 1)  # a record cut by kill -9: it was never done
        return True

    @staticmethod
    def _rows(path: Path):
        from ..data.tables import iter_jsonl

        return iter_jsonl(path) if path.exists() else iter(())

    def _append(self, fd: int, row: dict[str, Any]) -> None:
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode()
        written = os.write(fd, data)
        if written != len(data):  # a short write (disk full): never leave half a record behind
            raise OSError(f"short write to {self.path}")
        if self.fsync:
            os.fsync(fd)

    def write(self, row: dict[str, Any]) -> None:
        """Append one label (must carry ``key``) and mark it done."""
        if row["key"] in self.done:
            return
        self._append(self._fd, row)
        self.done.add(row["key"])

    def write_error(self, row: dict[str, Any]) -> None:
        """Append one error row to the sibling errors file (a rerun retries that prompt)."""
        if self._err_fd is None:
            self._err_fd = os.open(errors_path(self.path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._append(self._err_fd, row)

    def close(self) -> None:
        for fd in (self._fd, self._err_fd):
            if fd is not None:
                os.close(fd)
        self._err_fd = None

    def __enter__(self) -> LabelsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
