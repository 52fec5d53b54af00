"""Each official SDK pointed at every provider of the demo through the one
gateway endpoint: the same calls, answered by OpenAI, Azure OpenAI,
Anthropic and Gemini (the fake ones), translated both ways."""

import re
import sys
from pathlib import Path

import anthropic
import openai
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import generate  # noqa: E402  (examples/generate.py: `llm-gateway providers`)

DEMO_KEY = "demo-key"

# (model as the client names it, provider that serves it, path it reaches):
# one per provider of `llm-gateway providers` (test_every_provider_is_here).
CHAT_MODELS = [
    ("gpt-4o-mini", "openai", "/v1/chat/completions"),
    ("gpt-4o-mini-azure", "azure", "/openai/deployments/gpt-4o-mini/chat/completions"),
    ("claude-sonnet-4-5", "anthropic", "/v1/messages"),
    ("gemini-2.5-flash", "gemini", "/v1beta/models/gemini-2.5-flash:"),
]
IDS = [provider for _, provider, _ in CHAT_MODELS]

WEATHER_OPENAI = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
WEATHER_ANTHROPIC = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


@pytest.fixture
def oai(gateway):
    return openai.OpenAI(base_url=f"{gateway.base}/v1", api_key=DEMO_KEY, max_retries=0)


@pytest.fixture
def claude(gateway):
    return anthropic.Anthropic(base_url=gateway.base, api_key=DEMO_KEY, max_retries=0)


def test_every_provider_is_here():
    assert sorted(IDS) == sorted(p["name"] for p in generate.providers())


def is_api_path(provider, path):
    """Whether `path` (its query aside) is one of the provider's API paths
    its descriptor lists, which the Istio example lets through."""
    (descriptor,) = (p for p in generate.providers() if p["name"] == provider)
    path = path.split("?")[0]
    return any(pattern.get("exact") == path or ("regex" in pattern and re.fullmatch(pattern["regex"], path))
               for pattern in descriptor["api_paths"])


def reached(gateway, provider, path):
    recorded = gateway.last_provider_request()["path"]
    assert recorded.startswith(path), f"{recorded} is not {path}"
    assert is_api_path(provider, recorded), f"{recorded} is not an API path of {provider}"
    return recorded


@pytest.mark.parametrize("model, provider, path", CHAT_MODELS, ids=IDS)
def test_openai_sdk_chat(oai, gateway, model, provider, path):
    reply = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say hello"}])
    assert reply.choices[0].message.content == f"Hello from the fake {provider} provider."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    reached(gateway, provider, path)


@pytest.mark.parametrize("model, provider, path", CHAT_MODELS, ids=IDS)
def test_openai_sdk_stream_with_usage(oai, gateway, model, provider, path):
    stream = oai.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"Hello from the fake {provider} provider."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    recorded = reached(gateway, provider, path)
    if provider == "gemini":
        assert "streamGenerateContent" in recorded and "alt=sse" in recorded


@pytest.mark.parametrize("model, provider, path", CHAT_MODELS, ids=IDS)
def test_openai_sdk_tool_call_and_result(oai, gateway, model, provider, path):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    reply = oai.chat.completions.create(model=model, messages=messages, tools=WEATHER_OPENAI)
    assert reply.choices[0].finish_reason == "tool_calls"
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and call.id
    # The tool's result goes back in OpenAI's format and reaches the provider
    # in its own; the model then answers in text.
    messages += [
        reply.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    final = oai.chat.completions.create(model=model, messages=messages, tools=WEATHER_OPENAI)
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content
    reached(gateway, provider, path)


@pytest.mark.parametrize("model, provider, path", CHAT_MODELS, ids=IDS)
def test_openai_sdk_streamed_tool_call(oai, model, provider, path):
    stream = oai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=WEATHER_OPENAI, stream=True
    )
    calls = [tc for c in stream if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "get_weather"


@pytest.mark.parametrize(
    "model, provider, path",
    [
        ("text-embedding-3-small", "openai", "/v1/embeddings"),
        ("azure/text-embedding-3-small", "azure", "/openai/deployments/text-embedding-3-small/embeddings"),
        ("gemini/text-embedding-004", "gemini", "/v1beta/models/text-embedding-004:batchEmbedContents"),
    ],
    ids=["openai", "azure", "gemini"],
)
def test_openai_sdk_embeddings(oai, gateway, model, provider, path):
    result = oai.embeddings.create(model=model, input=["one", "two"])
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) > 0
    assert result.usage.prompt_tokens >= 0
    reached(gateway, provider, path)


@pytest.mark.parametrize("model, provider, path", CHAT_MODELS, ids=IDS)
def test_anthropic_sdk_message(claude, gateway, model, provider, path):
    message = claude.messages.create(
        model=model, max_tokens=64, system="Be brief.", messages=[{"role": "user", "content": "Say hello"}]
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].text == f"Hello from the fake {provider} provider."
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    reached(gateway, provider, path)


@pytest.mark.parametrize("model, provider, path", CHAT_MODELS, ids=IDS)
def test_anthropic_sdk_stream(claude, model, provider, path):
    with claude.messages.stream(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "Say hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == f"Hello from the fake {provider} provider."
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model, provider, path", CHAT_MODELS, ids=IDS)
def test_anthropic_sdk_tool_use_and_result(claude, model, provider, path):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    message = claude.messages.create(model=model, max_tokens=64, tools=WEATHER_ANTHROPIC, messages=messages)
    assert message.stop_reason == "tool_use"
    use = message.content[-1]
    assert use.type == "tool_use" and use.name == "get_weather" and use.id
    messages += [
        {"role": "assistant", "content": [c.model_dump(exclude_none=True) for c in message.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": '{"temp_c": 21}'}]},
    ]
    final = claude.messages.create(model=model, max_tokens=64, tools=WEATHER_ANTHROPIC, messages=messages)
    assert final.stop_reason == "end_turn" and final.content[0].text


@pytest.mark.parametrize("model, provider, path", CHAT_MODELS, ids=IDS)
def test_anthropic_sdk_streamed_tool_use(claude, model, provider, path):
    with claude.messages.stream(
        model=model, max_tokens=64, tools=WEATHER_ANTHROPIC, messages=[{"role": "user", "content": "Weather in Paris?"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[-1].name == "get_weather"
