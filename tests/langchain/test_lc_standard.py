"""LangChain's standard chat-model test suites (langchain-tests) run against ChatRouteLLM.

Unit suite: construction, standard params, tool binding, structured output, serialisation.
Integration suite: two real ChatOpenAI clients over HTTP to two OpenAI-compatible servers on
127.0.0.1, routed by a real (small) MF router calibrated to send half of the suite's prompts to each.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from langchain_routellm import ChatRouteLLM

from lc_helpers import chat_openai

# Prompts the integration suite sends: calibrating on them makes both models answer parts of it.
SUITE_PROMPTS = [
    "Hello", "Hey", "hi", "how are you", "Tell me a joke about cats.", "What is 1 + 2", "What is 3 + 4",
    "What is the value of magic_function(3)? Use the tool.", "What is the weather in San Francisco, CA?",
    "Write me 2 haikus. Only include the haikus.", "Using the tool, generate a Pirate greeting.",
    "Give me the setup to a joke about cats, no punchline.",
]

OFFLINE = ("downloads its test file from the internet, and this suite runs offline against a local server; "
           "content blocks pass through ChatRouteLLM unchanged (test_lc_chat_model.py::test_multimodal_blocks_pass_through)")
NO_OVERRIDE = "a per-call `model` override would bypass routing: ChatRouteLLM chooses the model itself"


class TestChatRouteLLMUnit(ChatModelUnitTests):
    """Models built from OpenAI model names; nothing is called, so the router is never loaded."""

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatRouteLLM

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"strong": "strong-model", "weak": "weak-model", "base_url": "http://127.0.0.1:9/v1",
                "api_key": "test", "router": "mf", "threshold": 0.5}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        env = {"OPENAI_API_KEY": "env-key", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
        params = {"strong": "strong-model", "weak": "weak-model", "router": "mf", "threshold": 0.5}
        return env, params, {"api_key": "env-key", "base_url": "http://127.0.0.1:9/v1"}

    @property
    def supports_json_mode(self) -> bool:
        return True

    @pytest.mark.xfail(reason="langchain-core's load(allowed_objects='all') admits only classes in its own mapping "
                       "(core and official partner packages), so no third-party model can pass this round trip; "
                       "dumpd matches the snapshot, and load with an explicit allowlist is tested in "
                       "test_lc_chat_model.py::test_serialization_round_trip", raises=ValueError, strict=True)
    def test_serdes(self, model: BaseChatModel, snapshot: Any) -> None:
        super().test_serdes(model, snapshot)


class TestChatRouteLLMIntegration(ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _servers_and_router(self, servers, small_router_path) -> None:
        type(self)._strong, type(self)._weak = servers
        type(self)._router = str(small_router_path)

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatRouteLLM

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"strong": chat_openai(self._strong), "weak": chat_openai(self._weak), "router": self._router,
                "strong_fraction": 0.5, "calibration_prompts": SUITE_PROMPTS}

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True

    # Standard tests may not be overridden; tests/langchain/conftest.py adds these skips with their reasons.
    SKIP_REASONS = {
        "test_image_inputs": OFFLINE, "test_image_tool_message": OFFLINE, "test_pdf_inputs": OFFLINE,
        "test_pdf_tool_message": OFFLINE, "test_audio_inputs": OFFLINE,
        "test_invoke_with_model_override": NO_OVERRIDE, "test_ainvoke_with_model_override": NO_OVERRIDE,
        "test_stream_with_model_override": NO_OVERRIDE, "test_astream_with_model_override": NO_OVERRIDE,
        "test_stream_time": "a timing benchmark replayed from VCR cassettes; this suite talks to a live local server",
    }
