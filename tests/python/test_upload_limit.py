"""A request body over the gateway's 32 MiB limit gets a 413 in the caller's
format, read by every HTTP client, including those that send the whole body
before reading anything (Python's http.client, urllib, the SDKs over httpx).
Such a client only reads the answer if the gateway reads the upload to its
end: Envoy closing the connection with the upload unread makes the kernel
send a reset, and the client reads nothing. Each case runs several times: the
answer must arrive every time."""

import hashlib
import http.client
import json
import urllib.error
import urllib.request

import anthropic
import openai
import pytest
from conftest import start_gateway

KEY = "demo-key"
ROUNDS = 5
# Twice the limit: the client is still sending when the limit is crossed.
OVER = 64 * 1024 * 1024


def oversized_chat():
    return json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a" * OVER}]}).encode()


def oversized_message():
    return json.dumps({
        "model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "a" * OVER}],
    }).encode()


def oversized_gemini():
    return json.dumps({"contents": [{"role": "user", "parts": [{"text": "a" * OVER}]}]}).encode()


def http_client_post(gateway, path, body, headers):
    host, port = gateway.info["gateway"].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("POST", path, body=body, headers={"content-type": "application/json", **headers})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("path,body,headers,check", [
    ("/v1/chat/completions", oversized_chat, {"authorization": f"Bearer {KEY}"},
     lambda r: r["error"]["code"] == "request_too_large" and r["error"]["type"] == "invalid_request_error"),
    ("/v1/messages", oversized_message, {"x-api-key": KEY, "anthropic-version": "2023-06-01"},
     lambda r: r["type"] == "error" and r["error"]["type"] == "request_too_large"),
    ("/v1beta/models/gemini-2.5-flash:generateContent", oversized_gemini, {"x-goog-api-key": KEY},
     lambda r: r["error"]["code"] == 413 and r["error"]["status"] == "INVALID_ARGUMENT"),
], ids=["openai", "anthropic", "gemini"])
def test_http_client_reads_the_413_in_the_callers_format(gateway, path, body, headers, check):
    payload = body()
    for _ in range(ROUNDS):
        status, reply = http_client_post(gateway, path, payload, headers)
        assert status == 413, reply
        assert check(reply), reply


def test_http_client_reads_the_413_for_a_body_many_times_the_limit(gateway):
    """200 MB arrive faster than Envoy reads them: a single read from the
    connection can hold up to the listener's 32 MiB, and the refused body is
    still read to its end."""
    payload = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a" * (200 << 20)}]}).encode()
    for _ in range(ROUNDS):
        status, reply = http_client_post(gateway, "/v1/chat/completions", payload, {"authorization": f"Bearer {KEY}"})
        assert status == 413, reply
        assert reply["error"]["code"] == "request_too_large"


@pytest.fixture(scope="module")
def separate_modules(tmp_path_factory):
    yield from start_gateway(tmp_path_factory, layout="separate")


def test_http_client_reads_the_413_from_the_separate_modules(separate_modules):
    """The four modules each hold the body; the first refuses it."""
    payload = oversized_chat()
    for _ in range(ROUNDS):
        status, reply = http_client_post(separate_modules, "/v1/chat/completions", payload, {"authorization": f"Bearer {KEY}"})
        assert status == 413, reply
        assert reply["error"]["code"] == "request_too_large"


def test_urllib_reads_the_413(gateway):
    payload = oversized_chat()
    for _ in range(ROUNDS):
        request = urllib.request.Request(
            f"{gateway.base}/v1/chat/completions", data=payload, method="POST",
            headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=60)
        assert err.value.code == 413
        assert json.loads(err.value.read())["error"]["code"] == "request_too_large"


def test_openai_sdk_raises_its_typed_413(gateway):
    client = openai.OpenAI(base_url=f"{gateway.base}/v1", api_key=KEY, max_retries=0, timeout=60)
    for _ in range(ROUNDS):
        with pytest.raises(openai.APIStatusError) as err:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a" * OVER}])
        assert err.value.status_code == 413
        assert err.value.body["code"] == "request_too_large"


def test_anthropic_sdk_raises_its_typed_413(gateway):
    client = anthropic.Anthropic(base_url=gateway.base, api_key=KEY, max_retries=0, timeout=60)
    for _ in range(ROUNDS):
        with pytest.raises(anthropic.APIStatusError) as err:
            client.messages.create(
                model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": "a" * OVER}],
            )
        assert err.value.status_code == 413
        assert err.value.body["error"]["type"] == "request_too_large"


def test_a_body_at_the_limit_still_goes_through_whole(gateway):
    """32 MiB is accepted: the provider receives the body byte for byte."""
    head, tail = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"', b'"}]}'
    body = head + b"b" * (32 * 1024 * 1024 - len(head) - len(tail)) + tail
    status, reply = http_client_post(gateway, "/v1/chat/completions", body, {"authorization": f"Bearer {KEY}"})
    assert status == 200, reply
    sent = gateway.last_provider_request()
    assert sent["body_len"] == len(body)
    assert sent["body_sha256"] == hashlib.sha256(body).hexdigest()
