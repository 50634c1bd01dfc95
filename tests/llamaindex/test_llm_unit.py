"""LlamaIndex's usual checks for an LLM integration, plus construction, metadata and route_on."""

from __future__ import annotations

import math

import pytest
from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms.function_calling import FunctionCallingLLM

from llamaindex_routellm import RouteLLM
from routellm_core.errors import InvalidInputError


def test_class_inherits_llm_bases():
    names = [b.__name__ for b in RouteLLM.__mro__]
    assert BaseLLM.__name__ in names
    assert FunctionCallingLLM.__name__ in names
    assert "CustomLLM" not in names  # CustomLLM's async is a sync call in disguise


def test_class_name_and_serialisation(make_routed, small_router):
    llm = make_routed(threshold=0.3)
    assert RouteLLM.class_name() == "RouteLLM"
    data = llm.to_dict()
    assert data["class_name"] == "RouteLLM"
    assert data["threshold"] == 0.3 and data["router"] == small_router.name
    assert data["strong"]["model"] == "strong-model" and data["weak"]["model"] == "weak-model"
    assert data["route_on"] == "last_user"
    assert "api_key" not in str(data["strong"])  # provider secrets stay out of the dump


def test_metadata_combines_both_llms(make_routed):
    meta = make_routed().metadata
    assert meta.context_window == 8000  # the smaller window: a prompt must fit whichever model answers
    assert meta.is_chat_model is True
    assert meta.is_function_calling_model is True
    assert meta.model_name == "routellm(mf:strong-model|weak-model)"


def test_function_calling_only_if_both_support_it(openai_pair, small_router, make_llm):
    strong, weak = openai_pair
    openai_like = make_llm
    llm = RouteLLM(strong=openai_like(strong), weak=openai_like(weak, is_function_calling_model=False),
                   router=small_router, threshold=0.5)
    assert llm.metadata.is_function_calling_model is False
    llm = RouteLLM(strong=openai_like(strong), weak=openai_like(weak, is_chat_model=False),
                   router=small_router, threshold=0.5)
    assert llm.metadata.is_chat_model is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, "threshold must be in [0, 1]"),
        ({"threshold": 0.2, "strong_fraction": 0.5}, "not both"),
        ({"threshold": None}, "set threshold=... or strong_fraction"),
        ({"threshold": None, "strong_fraction": 0.5}, "needs calibration_prompts"),
        ({"threshold": None, "strong_fraction": 0.5, "calibration_prompts": "one prompt"}, "needs calibration_prompts"),
        ({"threshold": None, "strong_fraction": 2.0, "calibration_prompts": ["a"]}, "strong_fraction must be in [0, 1]"),
        ({"route_on": "first_user"}, "route_on must be"),
        ({"embed_model": "minilm"}, "embed_model must be a LlamaIndex BaseEmbedding"),
    ],
)
def test_bad_configuration_is_a_clear_error(make_routed, kwargs, message):
    with pytest.raises(InvalidInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_routed(**kwargs)


def test_llms_must_be_llamaindex_llms(small_router, llm_pair):
    with pytest.raises(InvalidInputError, match="strong must be a LlamaIndex LLM"):
        RouteLLM(strong="gpt-4o", weak=llm_pair[3], router=small_router, threshold=0.5)


def test_options_are_checked_before_the_router_loads(llm_pair, tmp_path):
    """A bad threshold fails at once, without loading (or training) any router."""
    with pytest.raises(InvalidInputError, match="strong_fraction must be in"):
        RouteLLM(strong=llm_pair[2], weak=llm_pair[3], router=str(tmp_path / "missing"), strong_fraction=3,
                 calibration_prompts=["a"])


def test_unknown_router_name(llm_pair):
    from routellm_core.errors import UnknownRouterError

    with pytest.raises(UnknownRouterError, match="unknown router 'nope'"):
        RouteLLM(strong=llm_pair[2], weak=llm_pair[3], router="nope", threshold=0.5)


def test_router_checkpoint_path_is_loaded_once(llm_pair, small_router_path):
    a = RouteLLM(strong=llm_pair[2], weak=llm_pair[3], router=str(small_router_path), threshold=0.5)
    b = RouteLLM(strong=llm_pair[2], weak=llm_pair[3], router=str(small_router_path), threshold=0.2)
    assert a.policy.resolved_router() is b.policy.resolved_router()  # cached per path: weights are not reloaded


def test_calibrated_threshold_hits_the_target_share(make_routed, small_router, alpaca_subset):
    prompts = sorted({r.prompt for r in alpaca_subset})[:60]
    llm = make_routed(threshold=None, strong_fraction=0.25, calibration_prompts=prompts)
    probs = small_router.predict_proba(prompts)
    share = float((probs >= llm.threshold).mean())
    assert abs(share - 0.25) <= 0.05
    assert llm.strong_fraction == 0.25


CONVO = [
    ChatMessage(role=MessageRole.SYSTEM, content="You are terse."),
    ChatMessage(role=MessageRole.USER, content="Tell me about cats."),
    ChatMessage(role=MessageRole.ASSISTANT, content="Cats are small felines."),
    ChatMessage(role=MessageRole.USER, content="Now prove Fermat's little theorem."),
]


def test_route_on_last_user_message(make_routed):
    assert make_routed().routed_text(CONVO) == "Now prove Fermat's little theorem."


def test_route_on_whole_conversation(make_routed):
    text = make_routed(route_on="conversation").routed_text(CONVO)
    # one rule for every front-end: every message with text, the system prompt included
    assert text.splitlines() == ["system: You are terse.", "user: Tell me about cats.",
                                 "assistant: Cats are small felines.", "user: Now prove Fermat's little theorem."]


def test_route_on_callable(make_routed):
    llm = make_routed(route_on=lambda messages: messages[1].content)
    assert llm.routed_text(CONVO) == "Tell me about cats."
    assert llm.to_dict()["route_on"].endswith("<lambda>")


def test_route_without_user_text_is_empty_and_follows_on_empty(make_routed):
    """One rule for every front-end: no user text means nothing to route on (an error unless on_empty says)."""
    only_system = [ChatMessage(role=MessageRole.SYSTEM, content="Only a system prompt")]
    assert make_routed().routed_text(only_system) == ""
    with pytest.raises(InvalidInputError, match="routed text is empty"):
        make_routed().chat(only_system)
    decision = make_routed(on_empty="weak").route(make_routed().routed_text(only_system))
    assert decision.role == "weak" and math.isnan(decision.probability)


def test_decision_follows_router_probability(make_routed, small_router):
    text = "Write a haiku about autumn."
    p = float(small_router.predict_proba([text])[0])
    assert make_routed(threshold=p).route(text).role == "strong"  # strong iff P >= threshold
    assert make_routed(threshold=min(1.0, p + 1e-6)).route(text).role == "weak"
    decision = make_routed(threshold=0.0, on_empty="strong").route("   ")
    assert decision.role == "strong" and math.isnan(decision.probability)  # nothing to judge: as on_empty says


def test_embed_model_feeds_the_router(llm_pair, small_router_path, small_router, minilm_embed):
    """A LlamaIndex BaseEmbedding replaces the router's embedder (same MiniLM space here)."""
    llm = RouteLLM(strong=llm_pair[2], weak=llm_pair[3], router=str(small_router_path), threshold=0.5,
                   embed_model=minilm_embed)
    embedder = llm.policy.resolved_router().embedder
    assert embedder.model_id.startswith("llamaindex:HuggingFaceEmbedding:")
    texts = ["How do I sort a list in Python?", "Explain general relativity to a physicist."]
    ours = llm.policy.resolved_router().predict_proba(texts)
    reference = small_router.predict_proba(texts)
    assert ours == pytest.approx(reference, abs=5e-3)  # our MiniLM runs in bfloat16 where the CPU has it
    assert len(embedder._lru) == 2  # the LlamaIndex model really did the embedding
    # A Router object is copied, never modified.
    copied = RouteLLM(strong=llm_pair[2], weak=llm_pair[3], router=small_router, threshold=0.5,
                      embed_model=minilm_embed)
    assert copied.policy.resolved_router() is not small_router and small_router.embedder == "minilm"
