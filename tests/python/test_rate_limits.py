"""The gateway's 429s as the official SDKs see them: typed rate-limit
errors, OpenAI's headers, and a retry that waits what `retry-after` says.
Each test limits its own agent (2,000 input tokens a minute) on a gateway of
this module, so no other test can have used its budget."""

import json

import anthropic
import openai
import openai._base_client
import pytest

from conftest import ROOT, start_gateway

DEMO_KEY = "demo-key"
# About 1,300 tokens: an agent's 2,000 a minute admit one such request.
BIG = "The quick brown fox jumps over the lazy dog. " * 130


@pytest.fixture(scope="module")
def limited_gateway(tmp_path_factory):
    filters = json.loads((ROOT / "envoy/filters/demo.json").read_text())
    agent_level = filters["token_limit"]["levels"][1]
    agent_level["overrides"].append({"key": "*|sdk-*", "limits": {"input_tokens_per_minute": 2000}})
    path = tmp_path_factory.mktemp("filters") / "limits.json"
    path.write_text(json.dumps(filters))
    yield from start_gateway(tmp_path_factory, filters=path)


def openai_client(gateway, agent, max_retries=0):
    return openai.OpenAI(base_url=f"{gateway.base}/v1", api_key=DEMO_KEY, max_retries=max_retries,
                         default_headers={"x-agent-id": agent})


def test_openai_sdk_gets_a_rate_limit_error_with_openai_headers(limited_gateway):
    client = openai_client(limited_gateway, "sdk-headers")
    messages = [{"role": "user", "content": BIG}]
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    assert int(raw.headers["x-ratelimit-limit-tokens"]) == 2000
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) < 2000
    assert raw.headers["x-ratelimit-reset-tokens"].endswith("s")
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert err.value.status_code == 429
    assert err.value.body["type"] == "rate_limit_exceeded"
    headers = err.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 66
    assert int(headers["retry-after-ms"]) > 0
    # What is left is less than this request needs.
    assert int(headers["x-ratelimit-remaining-tokens"]) < 1300


def test_openai_sdk_retry_waits_for_retry_after(limited_gateway, monkeypatch):
    """With retries on, the SDK sleeps what the gateway's `retry-after-ms`
    says before each retry (recorded here instead of slept)."""
    messages = [{"role": "user", "content": BIG}]
    openai_client(limited_gateway, "sdk-retry").chat.completions.create(model="gpt-4o-mini", messages=messages)
    slept = []
    monkeypatch.setattr(openai._base_client.time, "sleep", slept.append)
    with pytest.raises(openai.RateLimitError) as err:
        openai_client(limited_gateway, "sdk-retry", max_retries=2).chat.completions.create(model="gpt-4o-mini", messages=messages)
    retry_after = int(err.value.response.headers["retry-after-ms"]) / 1000
    assert len(slept) == 2, "two retries, each after a wait"
    assert all(abs(s - retry_after) < 2 for s in slept), (slept, retry_after)


def test_anthropic_sdk_gets_its_rate_limit_error(limited_gateway):
    client = anthropic.Anthropic(base_url=limited_gateway.base, api_key=DEMO_KEY, max_retries=0,
                                 default_headers={"x-agent-id": "sdk-anthropic"})
    # Claude's count is estimated higher than OpenAI's: a shorter prompt.
    messages = [{"role": "user", "content": "The quick brown fox jumps over the lazy dog. " * 90}]
    client.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=messages)
    with pytest.raises(anthropic.RateLimitError) as err:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=messages)
    assert err.value.status_code == 429
    assert err.value.body["error"]["type"] == "rate_limit_error"
    assert int(err.value.response.headers["retry-after"]) >= 1
