"""The official OpenAI and Anthropic SDKs against the demo gateway, pointed at
it with base_url and the demo key, non-streaming and streaming."""

import anthropic
import openai
import pytest

DEMO_KEY = "demo-key"


@pytest.fixture
def oai(gateway):
    return openai.OpenAI(base_url=f"{gateway.base}/v1", api_key=DEMO_KEY, max_retries=0)


@pytest.fixture
def claude(gateway):
    return anthropic.Anthropic(base_url=gateway.base, api_key=DEMO_KEY, max_retries=0)


def test_openai_chat_completion(oai, gateway):
    reply = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}]
    )
    assert reply.choices[0].message.content == "Hello from the fake openai provider."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    assert gateway.last_provider_request()["path"] == "/v1/chat/completions"


def test_openai_chat_stream_with_usage(oai):
    stream = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake openai provider."
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_openai_tool_call(oai):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
    reply = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}], tools=tools
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert reply.choices[0].finish_reason == "tool_calls"


def test_openai_embeddings(oai):
    result = oai.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) > 0


def test_azure_openai_deployment(gateway):
    client = openai.AzureOpenAI(
        azure_endpoint=gateway.base, api_key=DEMO_KEY, api_version="2024-10-21", max_retries=0
    )
    # The demo's table maps the model gpt-4o-mini-azure to the Azure
    # deployment gpt-4o-mini; the SDK puts the model in the path.
    reply = client.chat.completions.create(
        model="gpt-4o-mini-azure", messages=[{"role": "user", "content": "Say hello"}]
    )
    assert reply.choices[0].message.content == "Hello from the fake azure provider."
    recorded = gateway.last_provider_request()
    assert recorded["path"] == "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
    assert recorded["headers"]["api-key"] == "sk-demo-azure"


def test_anthropic_message(claude, gateway):
    message = claude.messages.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "Say hello"}]
    )
    assert message.content[0].text == "Hello from the fake anthropic provider."
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert gateway.last_provider_request()["path"] == "/v1/messages"


def test_anthropic_stream(claude):
    with claude.messages.stream(
        model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "Say hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from the fake anthropic provider."
    assert final.usage.output_tokens > 0


def test_anthropic_tool_use(claude):
    message = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        tools=[{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
        messages=[{"role": "user", "content": "Weather?"}],
    )
    assert message.stop_reason == "tool_use"
    assert message.content[-1].name == "get_weather"


def test_sdk_sees_gateway_errors_in_its_own_format(gateway):
    # An Anthropic request without max_tokens reaches the provider, which
    # rejects it; the SDK raises its own typed error with the status kept.
    raw = anthropic.Anthropic(base_url=gateway.base, api_key=DEMO_KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as err:
        raw.post("/v1/messages", body={"model": "claude-sonnet-4-5", "messages": []}, cast_to=object)
    assert err.value.status_code == 400


def test_openai_models_list_comes_from_the_gateway(oai, gateway):
    before = len(gateway.provider_requests())
    ids = [m.id for m in oai.models.list()]
    assert ids == ["gpt-4o-mini", "text-embedding-3-small", "claude-sonnet-4-5", "gemini-2.5-flash", "gpt-4o-mini-azure"]
    assert len(gateway.provider_requests()) == before, "the gateway answers /v1/models itself"


def test_wrong_keys_raise_each_sdks_authentication_error(gateway):
    bad_openai = openai.OpenAI(base_url=f"{gateway.base}/v1", api_key="wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad_openai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert err.value.body["code"] == "invalid_api_key"
    bad_claude = anthropic.Anthropic(base_url=gateway.base, api_key="wrong-key", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad_claude.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "Hi"}])


def test_a_restricted_client_gets_permission_denied(gateway):
    intern = openai.OpenAI(base_url=f"{gateway.base}/v1", api_key="demo-intern-key", max_retries=0)
    assert intern.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]).choices
    with pytest.raises(openai.PermissionDeniedError) as err:
        intern.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Hi"}])
    assert err.value.body["code"] == "model_not_allowed"
    assert [m.id for m in intern.models.list()] == ["gpt-4o-mini", "text-embedding-3-small"]


def test_unknown_models_raise_bad_request_listing_the_choices(oai):
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "Hi"}])
    assert err.value.body["code"] == "model_not_found"
    assert "gpt-4o-mini" in err.value.body["message"]


@pytest.mark.parametrize("model, provider", [("claude-sonnet-4-5", "anthropic"), ("gemini-2.5-flash", "gemini")])
def test_openai_sdk_reaches_other_providers(oai, gateway, model, provider):
    reply = oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say hello"}])
    assert reply.choices[0].message.content == f"Hello from the fake {provider} provider."
    assert reply.usage.prompt_tokens > 0
    stream = oai.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"Hello from the fake {provider} provider."
    assert chunks[-1].usage.total_tokens > 0
    assert gateway.last_provider_request()["path"] != "/v1/chat/completions", "translated to the provider's API"


def test_openai_sdk_tool_call_through_anthropic(oai):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
    reply = oai.chat.completions.create(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Weather?"}], tools=tools
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_anthropic_sdk_reaches_an_openai_model(claude, gateway):
    message = claude.messages.create(
        model="gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": "Say hello"}]
    )
    assert message.content[0].text == "Hello from the fake openai provider."
    assert gateway.last_provider_request()["path"] == "/v1/chat/completions"
    with claude.messages.stream(
        model="gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": "Say hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from the fake openai provider."
    assert final.usage.output_tokens > 0
