"""One front-end class per framework (issue 22): strong/weak, many models and a cascade are the same class."""

from __future__ import annotations

import pytest
from contract_helpers import PRICES, STAND_IN

pytest.importorskip("langchain_openai")
pytest.importorskip("llama_index.llms.openai_like")


def test_langchain_classes_are_filled_two_ways(small_router_path):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from langchain_routellm import ChatRouteLLM, RouteLLMDecisionModel, RouteLLMRunnable

    def fake(name):
        return FakeListChatModel(responses=[f"answer from {name}"], name=name)

    router = str(small_router_path)
    pair = ChatRouteLLM(strong=fake("s"), weak=fake("w"), router=router, threshold=0.5)
    many = ChatRouteLLM.model_validate({"models": {k: fake(k) for k in PRICES}, "prices": PRICES,
                                        "router_models": STAND_IN, "router": router, "threshold": 0.5})
    cascade = ChatRouteLLM(strong=fake("s"), weak=fake("w"), cascade={"scorer": "features", "escalate_threshold": 0.5})
    assert type(pair) is type(many) is type(cascade) is ChatRouteLLM
    assert [pair.policy.kind, many.policy.kind, cascade.policy.kind] == ["threshold", "price", "cascade"]
    assert many.invoke("What is 2 + 2?").response_metadata["routellm"]["model"] in PRICES
    runnable = RouteLLMRunnable(models={k: fake(k) for k in PRICES}, prices=PRICES, router_models=STAND_IN,
                                router=router, threshold=0.5)
    assert type(runnable) is RouteLLMRunnable and runnable.policy.kind == "price"
    chooser = RouteLLMDecisionModel(prices=PRICES, router_models=STAND_IN, router=router, threshold=0.5)
    assert type(chooser) is RouteLLMDecisionModel and chooser.routing_policy.kind == "price"
    for cls in (ChatRouteLLM, RouteLLMRunnable, RouteLLMDecisionModel):
        assert "__new__" not in vars(cls), cls


def test_llamaindex_class_is_filled_two_ways(small_router_path):
    from llama_index.core.llms.mock import MockLLM

    from llamaindex_routellm import RouteLLM

    router = str(small_router_path)
    pair = RouteLLM(strong=MockLLM(), weak=MockLLM(), router=router, threshold=0.5)
    many = RouteLLM(models={k: MockLLM() for k in PRICES}, prices=PRICES, router_models=STAND_IN, router=router,
                    threshold=0.5)
    assert type(pair) is type(many) is RouteLLM and "__new__" not in vars(RouteLLM)
    assert many.complete("What is 2 + 2?").additional_kwargs["routellm"]["model"] in PRICES
