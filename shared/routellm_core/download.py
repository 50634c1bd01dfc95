"""Fetch the public data named in the shared data README, at pinned commits, checking SHA256SUMS."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from .datadir import default_cache_dir
from .errors import DownloadError

ROUTELLM_RAW = "https://raw.githubusercontent.com/lm-sys/RouteLLM/0b64fda/routellm/evals/"
ROUTERDC_RAW = "https://raw.githubusercontent.com/shuhao02/RouterDC/0e63989/datasets/routerbench_zs/"

# The SHA256SUMS file of the data set lists every file; these prefixes say where each comes from.
UPSTREAM: dict[str, str] = {
    "routellm_evals/": ROUTELLM_RAW,
    "routerbench/": ROUTERDC_RAW,
}
# MT-Bench judgments of commercial routers live under benchmarks/ upstream, not evals/.
SPECIAL = {
    "routellm_evals/mt_bench/commercial/": "https://raw.githubusercontent.com/lm-sys/RouteLLM/0b64fda/benchmarks/mt-bench/",
}


def parse_sums(text: str) -> dict[str, str]:
    """``sha256  relative/path`` lines -> {path: sha256}."""
    sums = {}
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].lstrip("*").removeprefix("./")] = parts[0]
    return sums


def upstream_url(relative: str) -> str | None:
    """Where a data file can be fetched from, or None (reshaped files, e.g. AlpacaEval, have no raw URL)."""
    for prefix, base in SPECIAL.items():
        if relative.startswith(prefix):
            return base + relative[len(prefix):]
    for prefix, base in UPSTREAM.items():
        if relative.startswith(prefix):
            return base + relative[len(prefix):]
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(sums_file: str | os.PathLike[str], dest: str | os.PathLike[str] | None = None, timeout: float = 30.0,
             client: httpx.Client | None = None) -> tuple[list[str], list[str]]:
    """Download every file listed in ``sums_file`` that has an upstream URL into ``dest``.

    Returns (downloaded or already-valid files, files without an upstream URL). Raises
    :class:`DownloadError` with one line on network failure, HTTP error or checksum mismatch.
    """
    sums_path = Path(sums_file)
    if not sums_path.is_file():
        raise DownloadError(f"checksum file not found: {sums_path}")
    sums = parse_sums(sums_path.read_text(encoding="utf-8"))
    dest = Path(dest) if dest else default_cache_dir() / "data"
    http = client or httpx.Client(timeout=timeout, follow_redirects=True)
    done, skipped = [], []
    try:
        for relative, expected in sorted(sums.items()):
            url = upstream_url(relative)
            target = dest / relative
            if url is None:
                skipped.append(relative)
                continue
            if target.is_file() and sha256_file(target) == expected:
                done.append(relative)
                continue
            try:
                resp = http.get(url)
            except httpx.HTTPError as exc:
                raise DownloadError(f"cannot download {url}: {type(exc).__name__} (no internet access?)") from None
            if resp.status_code != 200:
                raise DownloadError(f"cannot download {url}: HTTP {resp.status_code}")
            actual = hashlib.sha256(resp.content).hexdigest()
            if actual != expected:
                raise DownloadError(f"checksum mismatch for {relative}: expected {expected[:12]}…, got {actual[:12]}…")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(target.suffix + ".part")
            tmp.write_bytes(resp.content)
            tmp.replace(target)
            done.append(relative)
    finally:
        if client is None:
            http.close()
    return done, skipped
