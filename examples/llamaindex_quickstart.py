"""A small RAG with LlamaIndex where each question is answered by a strong or a weak model, as routed.

Indexes a few local documents (examples/data/llamaindex/*.md) with the local all-MiniLM-L6-v2,
routes with the default MF router (shipped with the package) at a threshold calibrated so half of
MT-Bench's questions would go to the strong model, and prints each question's decision and answer.

With OPENAI_API_KEY set (optional OPENAI_BASE_URL, ROUTELLM_STRONG_MODEL, ROUTELLM_WEAK_MODEL) the two
models are real. Without it, two local OpenAI-compatible servers stand in for them: they answer by
quoting the retrieved context (the strong stand-in quotes more), so no model is called.

    make demo                      # or: python examples/llamaindex_quickstart.py [--router PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "llamaindex"
QUESTIONS = [
    "How long does the Nimbus 3 fly on a full battery?",
    "What is the maximum altitude I may fly at?",
    "I have four batteries, one standard charger and a 3-hour aerial survey. Plan the flights and the "
    "charging so the drone is never idle for long, and explain where the bottleneck is.",
    "Can I still return my Nimbus 3 after flying it once?",
    "Write a Python function that estimates the remaining flight minutes from the battery percentage and "
    "the wind speed, using the specifications, and explain its assumptions.",
    "How long does a firmware update take?",
]
STOP = set("a an and are as at be by can do does for from how i in is it its may my of on or the to what "
           "with you your".split())


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP}


def stand_in_responder(sentences: int):
    """An offline stand-in model: quote the context sentences that best match the query."""

    def respond(body: dict[str, Any]) -> str:
        prompt = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        if isinstance(prompt, list):
            prompt = " ".join(part.get("text", "") for part in prompt)
        context, _, query = prompt.partition("Query:")
        query = query.split("Answer:")[0]
        candidates = [s.strip() for s in re.split(r"(?<=\.)\s+|\n+", context)
                      if len(s.split()) > 4 and not s.lstrip().startswith(("#", "file_path", "---"))]
        ranked = sorted(candidates, key=lambda s: -len(_words(s) & _words(query)))[:sentences]
        return " ".join(ranked) or "The documents do not say."

    return respond


@contextlib.contextmanager
def models():
    """(strong LLM, weak LLM, description): real OpenAI-compatible models, or offline stand-ins."""
    from llama_index.llms.openai_like import OpenAILike

    key = os.environ.get("OPENAI_API_KEY")
    if key:
        base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
        names = os.environ.get("ROUTELLM_STRONG_MODEL", "gpt-4o"), os.environ.get("ROUTELLM_WEAK_MODEL", "gpt-4o-mini")
        strong, weak = (OpenAILike(model=n, api_base=base, api_key=key, is_chat_model=True,
                                   is_function_calling_model=True, context_window=16000) for n in names)
        yield strong, weak, f"real models at {base}"
        return
    from routellm_core.testing import OpenAIStubServer

    print("OPENAI_API_KEY is not set: two local OpenAI-compatible servers stand in for the models.\n"
          "They quote the retrieved context (strong: 2 sentences, weak: 1); no model is called.\n")
    with OpenAIStubServer(model="strong-stand-in", responder=stand_in_responder(2)) as s, \
            OpenAIStubServer(model="weak-stand-in", responder=stand_in_responder(1)) as w:
        strong, weak = (OpenAILike(model=srv.model, api_base=srv.base_url, api_key="offline", is_chat_model=True,
                                   is_function_calling_model=True, max_retries=0) for srv in (s, w))
        yield strong, weak, "offline stand-ins on 127.0.0.1"


class DecisionLog:
    """Collect RouteLLM's routing events, as any LlamaIndex observability handler would see them."""

    def __init__(self) -> None:
        from llama_index.core.instrumentation import get_dispatcher
        from llama_index.core.instrumentation.event_handlers import BaseEventHandler

        from llamaindex_routellm import RouteLLMRoutingEvent

        log = self

        class Handler(BaseEventHandler):
            def handle(self, event, **kwargs: Any) -> None:
                if isinstance(event, RouteLLMRoutingEvent):
                    log.events.append(event)

        self.events: list = []
        get_dispatcher().add_event_handler(Handler())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="mf", help="router name or checkpoint directory (default: mf)")
    parser.add_argument("--strong-fraction", type=float, default=0.5,
                        help="share of MT-Bench questions the threshold would send strong (default: 0.5)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from routellm_core import RouteLLMError

    try:
        return run(args.router, args.strong_fraction)
    except RouteLLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(router: str, strong_fraction: float) -> int:
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from llamaindex_routellm import RouteLLM
    from routellm_core.calibration import comparison_text
    from routellm_core.decontaminate import benchmark_prompts
    from routellm_core.embeddings.minilm import minilm_model_dir
    from routellm_core.progress import quiet_libraries

    with quiet_libraries():  # no "Loading weights" bar: nobody asked for one
        embed = HuggingFaceEmbedding(model_name=str(minilm_model_dir()), device="cpu")  # local folder, offline
    documents = SimpleDirectoryReader(str(DATA)).load_data()
    index = VectorStoreIndex.from_documents(documents, embed_model=embed)
    calibration = benchmark_prompts(benchmarks=["mt-bench"])
    log = DecisionLog()

    with models() as (strong, weak, where):
        # The default MF router; the index's embedding model also embeds the router's queries (same MiniLM).
        llm = RouteLLM(strong=strong, weak=weak, router=router, strong_fraction=strong_fraction,
                       calibration_prompts=calibration, embed_model=embed)
        print(f"{len(documents)} documents indexed; LLM: {llm.metadata.model_name} ({where})")
        print(f"threshold {llm.threshold:.4f}: sends {strong_fraction:.0%} of MT-Bench's {len(calibration)} questions "
              "to the strong model\n")
        engine = index.as_query_engine(llm=llm, similarity_top_k=2)
        for question in QUESTIONS:
            answer = str(engine.query(question)).strip()
            d = log.events[-1]  # routed on the question itself, not on the prompt stuffed with context
            p, t, relation = comparison_text(d.probability, d.threshold)  # enough digits to see the comparison
            print(f"[{d.role:>6} -> {d.model}] P(strong wins)={p} {relation} {t}"
                  + ("  (fallback)" if d.fallback else ""))
            print(f"  Q: {question}")
            print(f"  A: {' '.join(answer.split())[:400]}\n")
        strong_calls = sum(e.role == "strong" for e in log.events)
        print(f"strong model answered {strong_calls} of {len(log.events)} questions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
