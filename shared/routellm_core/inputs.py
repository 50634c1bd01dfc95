"""Rules for hostile or malformed routed text, applied by the policy before any router sees it.

- **Length cap.** A routed text longer than :data:`MAX_ROUTED_CHARS` characters (a million-character
  prompt, a conversation of 10,000 messages) is cut to its first ``MAX_ROUTED_CHARS - TAIL_CHARS``
  and last :data:`TAIL_CHARS` characters, joined by :data:`TRUNCATION_MARK`, before scoring: the score is
  the capped text's. The cap bounds the time and memory one request can take (embedders read
  only the first few hundred tokens; the tail keeps a final question in view of routers that read
  more). The decision's metadata
  gives the original length in ``truncated`` (None when nothing was cut).
- **Unencodable text.** Lone surrogates (``"\\ud800"``, which JSON allows and UTF-8 cannot encode)
  become U+FFFD; control characters other than tab, newline and carriage return become spaces.
  Bytes are not text: they are an :class:`InvalidInputError` (decode them first).
"""

from __future__ import annotations

import re

MAX_ROUTED_CHARS = 20_000
TAIL_CHARS = 4_000
TRUNCATION_MARK = "\n...\n"
_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(text: str) -> tuple[str, int | None]:
    """(the text a router may score, the original length when it was truncated, else None)."""
    if _SURROGATES.search(text):
        text = _SURROGATES.sub("\ufffd", text)
    if _CONTROLS.search(text):
        text = _CONTROLS.sub(" ", text)
    if len(text) <= MAX_ROUTED_CHARS:
        return text, None
    head = MAX_ROUTED_CHARS - TAIL_CHARS - len(TRUNCATION_MARK)
    return text[:head] + TRUNCATION_MARK + text[-TAIL_CHARS:], len(text)


def has_lone_surrogates(raw: bytes, data: object) -> bool:
    """Whether a decoded JSON body holds a lone surrogate (``"\\ud800"``: valid JSON, not valid Unicode).

    The server answers such a body with a 400: it cannot be forwarded to an upstream as UTF-8.
    Cheap on clean bodies: only a body with a ``\\ud8..\\udf`` escape is walked.
    """
    if not re.search(rb"\\u[dD][89a-fA-F]", raw):
        return False
    import json

    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
