"""Reversible masking driven by the official OpenAI SDK: with the tokenize
action, the provider only ever sees placeholders, and the client gets its
own values back in the answer."""

import json

import openai
import pytest

from conftest import ROOT, start_gateway


@pytest.fixture(scope="module")
def tokenizing_gateway(tmp_path_factory):
    filters = json.loads((ROOT / "envoy/filters/demo.json").read_text())
    filters["pii_scan"] = {"default_action": "tokenize"}
    path = tmp_path_factory.mktemp("filters") / "tokenize.json"
    path.write_text(json.dumps(filters))
    yield from start_gateway(tmp_path_factory, filters=path)


def test_tokenize_round_trip_with_the_openai_sdk(tokenizing_gateway):
    client = openai.OpenAI(base_url=f"{tokenizing_gateway.base}/v1", api_key="demo-key", max_retries=0)
    prompt = "Forward this to jane.doe@example.com and cc bob@example.org, then jane.doe@example.com again."
    reply = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": prompt}],
        extra_headers={"x-fake-echo": "last-user"},
    )
    assert reply.headers["x-pii-detected"] == "EMAIL"
    # The provider saw placeholders only, the same value keeping its placeholder...
    sent = json.loads(tokenizing_gateway.last_provider_request()["body"])
    assert sent["messages"][0]["content"] == "Forward this to <EMAIL_1> and cc <EMAIL_2>, then <EMAIL_1> again."
    # ...and answered with them (the fake echoes), which the gateway restored.
    assert reply.parse().choices[0].message.content == prompt


def test_tokenize_round_trip_in_a_stream(tokenizing_gateway):
    client = openai.OpenAI(base_url=f"{tokenizing_gateway.base}/v1", api_key="demo-key", max_retries=0)
    prompt = "Call me at +1 415-555-0100 or write to jane.doe@example.com today."
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        extra_headers={"x-fake-echo": "last-user"},
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    sent = json.loads(tokenizing_gateway.last_provider_request()["body"])
    assert "415-555-0100" not in sent["messages"][0]["content"]
    assert "<EMAIL_1>" in sent["messages"][0]["content"]
    assert text == prompt


def test_anthropic_sdk_stream_is_restored_too(tokenizing_gateway):
    import anthropic

    client = anthropic.Anthropic(base_url=tokenizing_gateway.base, api_key="demo-key", max_retries=0)
    prompt = "My card is 4111 1111 1111 1111 and my mail is jane.doe@example.com."
    with client.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=200,
        messages=[{"role": "user", "content": prompt}],
        extra_headers={"x-fake-echo": "last-user"},
    ) as stream:
        text = "".join(stream.text_stream)
    assert "4111" not in tokenizing_gateway.last_provider_request()["body"]
    assert text == prompt
