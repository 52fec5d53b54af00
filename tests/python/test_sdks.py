"""The official OpenAI and Anthropic SDKs against the demo gateway: the Azure
client, errors, authentication, allow-lists and the model list
(test_every_provider.py has the calls to each provider)."""

import anthropic
import openai
import pytest

DEMO_KEY = "demo-key"


@pytest.fixture
def oai(gateway):
    return openai.OpenAI(base_url=f"{gateway.base}/v1", api_key=DEMO_KEY, max_retries=0)


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
