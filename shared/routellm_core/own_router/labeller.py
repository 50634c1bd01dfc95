"""The labelling loop: answer each prompt with the strong and the weak model, ask a judge, write a label.

Pairwise judging asks in both orders (strong shown first, then weak first) and averages, so a judge's
preference for one position cancels; the outcome is soft (Arena-Hard's five labels, ties 0.5). With a
reference answer each answer is graded against it instead. Calls run under a concurrency limit; a
transient failure (timeout, 429, 5xx, a judgment without a verdict) is retried with exponential backoff,
then the prompt gets an error row and the run goes on. ``max_cost`` stops taking new prompts before the
estimated spend would pass it. Output: see :mod:`.labels_file` (append-only, resumable).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from .clients import ChatClient, ChatResult, PermanentError, TransientError, as_client
from .labels_file import LabelsFile
from .prompts import PromptItem, read_prompts
from .verdict import (
    VerdictError,
    both_orders_outcome,
    graded_outcome,
    pairwise_messages,
    parse_rating,
    parse_verdict,
    reference_messages,
)


@dataclass
class LabelStats:
    """What one run did."""

    total: int = 0
    skipped: int = 0  # already in the output (resume)
    labelled: int = 0
    errors: int = 0
    not_started: int = 0  # left for a later run (max cost)
    cost_usd: float = 0.0
    stopped: str | None = None  # "max_cost" when the budget stopped the run
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LabelError(RuntimeError):
    """A prompt that could not be labelled after its retries (becomes an error row)."""


async def _both(first, second):
    """Run two calls at once; when one fails the other is cancelled (no call left running unbilled)."""
    try:
        async with asyncio.TaskGroup() as group:
            a, b = group.create_task(first), group.create_task(second)
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return a.result(), b.result()


class Labeller:
    """Label prompts with a strong model, a weak model and a judge (each any model :func:`as_client` accepts)."""

    def __init__(self, strong: Any, weak: Any, judge: Any, concurrency: int = 8, retries: int = 3,
                 backoff: float = 1.0, max_backoff: float = 30.0, max_cost: float | None = None,
                 log: Callable[[str], None] | None = None, fsync: bool = True, seed: int | None = None) -> None:
        self.strong: ChatClient = as_client(strong)
        self.weak: ChatClient = as_client(weak)
        self.judge: ChatClient = as_client(judge)
        if self.strong.name == self.weak.name:
            raise InvalidInputError(f"strong and weak model are the same ({self.strong.name!r})")
        if int(concurrency) < 1 or int(retries) < 0:
            raise InvalidInputError("concurrency must be >= 1 and retries >= 0")
        if max_cost is not None and not max_cost > 0:
            raise InvalidInputError(f"max cost must be > 0, got {max_cost!r}")
        self.concurrency, self.retries = int(concurrency), int(retries)
        self.backoff, self.max_backoff, self.max_cost = float(backoff), float(max_backoff), max_cost
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.fsync = fsync
        self._rng = random.Random(seed)

    # --- one call -------------------------------------------------------------------------------
    async def _call(self, client: ChatClient, messages: list[dict[str, str]], parse: Callable[[str], float] | None,
                    bill: list[float]) -> tuple[ChatResult, float | None]:
        last = ""
        for attempt in range(self.retries + 1):
            try:
                async with self._limit:
                    result = await client.chat(messages)
                bill.append(client.price.cost(result.input_tokens, result.output_tokens) if client.price else 0.0)
                return result, (parse(result.text) if parse else None)
            except PermanentError as exc:
                raise LabelError(f"{client.name}: {exc}") from None
            except (TransientError, VerdictError) as exc:
                last = f"{client.name}: {exc}"
            if attempt < self.retries:
                delay = min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + self._rng.random())
                await asyncio.sleep(delay)
        raise LabelError(f"{last} (after {self.retries + 1} attempts)")

    # --- one prompt -----------------------------------------------------------------------------
    async def _label(self, item: PromptItem, bill: list[float]) -> dict[str, Any]:
        chat = item.chat()
        (strong, _), (weak, _) = await _both(self._call(self.strong, chat, None, bill),
                                                      self._call(self.weak, chat, None, bill))
        if item.reference is not None:
            (_, rs), (_, rw) = await _both(
                self._call(self.judge, reference_messages(item.prompt, strong.text, item.reference), parse_rating, bill),
                self._call(self.judge, reference_messages(item.prompt, weak.text, item.reference), parse_rating, bill))
            assert rs is not None and rw is not None
            outcome, mode, detail = graded_outcome(rs, rw), "reference", {"ratings": [rs, rw]}
        else:
            (_, first), (_, swapped) = await _both(
                self._call(self.judge, pairwise_messages(item.prompt, strong.text, weak.text), parse_verdict, bill),
                self._call(self.judge, pairwise_messages(item.prompt, weak.text, strong.text), parse_verdict, bill))
            assert first is not None and swapped is not None
            outcome, mode, detail = both_orders_outcome(first, swapped), "pairwise", {"verdicts": [first, swapped]}
        return {"key": item.key, "prompt": item.prompt, "model_a": self.strong.name, "model_b": self.weak.name,
                "outcome": outcome, "source": f"labels:{self.judge.name}", "weight": 1.0, "mode": mode,
                "judge": self.judge.name, **detail, "cost_usd": sum(bill)}

    # --- the run --------------------------------------------------------------------------------
    async def alabel(self, items: Sequence[PromptItem], output: str | Path) -> LabelStats:
        """Label every item not yet in ``output``; returns what this run did (never raises per prompt)."""
        from tqdm.auto import tqdm

        start = time.monotonic()
        self._limit = asyncio.Semaphore(self.concurrency)
        stats = LabelStats(total=len(items))
        with LabelsFile(output, fsync=self.fsync) as out:
            unique = list({it.key: it for it in reversed(items)}.values())[::-1]  # first occurrence wins
            todo = [it for it in unique if it.key not in out.done]
            stats.skipped = len(unique) - len(todo)
            self.log(f"labelling {len(todo)} prompts ({stats.skipped} already in {out.path.name}"
                     f"{', cut a torn last line' if out.repaired else ''}): strong {self.strong.name}, weak "
                     f"{self.weak.name}, judge {self.judge.name}, concurrency {self.concurrency}"
                     + (f", max cost ${self.max_cost:g}" if self.max_cost else ""))
            unpriced = sorted({c.name for c in (self.strong, self.weak, self.judge) if c.price is None})
            if unpriced and self.max_cost:
                self.log(f"no price for {', '.join(unpriced)}: its calls count as $0 toward the max cost "
                         "(give --price MODEL=IN,OUT)")
            bar = tqdm(total=len(todo), desc="labelling", unit="prompt", disable=not sys.stderr.isatty(), file=sys.stderr)
            queue = list(reversed(todo))
            in_flight = 0

            def budget_left() -> bool:
                if self.max_cost is None:
                    return True
                done = stats.labelled + stats.errors
                per_item = stats.cost_usd / done if done else 0.0
                return stats.cost_usd + (in_flight + 1) * per_item < self.max_cost

            async def worker() -> None:
                nonlocal in_flight
                while queue:
                    if not budget_left():
                        stats.stopped = "max_cost"
                        return
                    item = queue.pop()
                    in_flight += 1
                    bill: list[float] = []
                    try:
                        row = await self._label(item, bill)
                    except Exception as exc:  # noqa: BLE001 - any failure of one prompt is its error row, never a crash
                        message = str(exc) if isinstance(exc, LabelError) else f"{type(exc).__name__}: {exc}"
                        out.write_error({"key": item.key, "where": item.where, "prompt": item.prompt[:200],
                                         "error": message, "cost_usd": sum(bill), "time": time.time()})
                        stats.errors += 1
                    else:
                        out.write(row)
                        stats.labelled += 1
                    finally:
                        in_flight -= 1
                        stats.cost_usd += sum(bill)
                        bar.update(1)
                        bar.set_postfix(cost=f"${stats.cost_usd:.4f}", errors=stats.errors)

            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, max(1, len(todo))))))
            bar.close()
            stats.not_started = len(queue)
        for client in {id(c): c for c in (self.strong, self.weak, self.judge)}.values():
            close = getattr(client, "aclose", None)
            if close is not None:
                await close()
        stats.seconds = time.monotonic() - start
        self.log(f"labelled {stats.labelled}, errors {stats.errors}, skipped {stats.skipped}, cost ${stats.cost_usd:.4f}, "
                 f"{stats.seconds:.1f}s" + (f"; stopped at the max cost, {stats.not_started} prompts left for a rerun"
                                            if stats.stopped else ""))
        return stats

    def label(self, items: Sequence[PromptItem], output: str | Path) -> LabelStats:
        """Synchronous :meth:`alabel`."""
        return asyncio.run(self.alabel(items, output))


def label_prompts(prompts: str | Path | Iterable[str | PromptItem], output: str | Path, strong: Any, weak: Any,
                  judge: Any, **options: Any) -> LabelStats:
    """Label a prompts file (any format :func:`read_prompts` reads) or a list of prompts into ``output``."""
    from .prompts import _item

    if isinstance(prompts, (str, Path)):
        items = read_prompts(prompts)
    else:
        items = [p if isinstance(p, PromptItem) else _item(p, None, (), None, f"prompt {i}") for i, p in enumerate(prompts)]
    return Labeller(strong, weak, judge, **options).label(items, output)
