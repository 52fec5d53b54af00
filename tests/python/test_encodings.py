"""Content encodings through the demo gateway. Compressed uploads (gzip, br)
are decoded by Envoy's decompressor before the bundle, so PII is scanned and
tokens counted on what the provider reads: compression is no way around the
filters. Other codings get a 415 in the caller's format; a compression bomb
is refused (Envoy's decompressor caps inflation).
Providers are asked for uncompressed answers (the SDKs ask for gzip), since
the bundle reads every response (usage, PII, translation)."""

import gzip
import json
import urllib.error
import urllib.request

import brotli
import openai

CHAT = "/v1/chat/completions"


def post(gateway, path, body, headers):
    request = urllib.request.Request(
        gateway.base + path, data=body, method="POST",
        headers={"authorization": "Bearer demo-key", "content-type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def chat_with_email():
    return json.dumps({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Mail the summary to jane.doe@example.com please."}],
    }).encode()


def test_gzip_and_br_uploads_are_decoded_and_scanned(gateway):
    for coding, compress in (("gzip", gzip.compress), ("br", brotli.compress)):
        status, reply = post(gateway, CHAT, compress(chat_with_email()), {"content-encoding": coding})
        assert status == 200, (coding, reply)
        sent = gateway.last_provider_request()
        assert "content-encoding" not in sent["headers"], coding
        assert "jane.doe@example.com" not in sent["body"], f"{coding}: the address was not redacted"
        assert json.loads(sent["body"])["messages"][0]["content"].startswith("Mail the summary to ")


def test_unknown_codings_get_a_415_in_the_callers_format(gateway):
    status, reply = post(gateway, CHAT, b"\x28\xb5\x2f\xfd not really zstd", {"content-encoding": "zstd"})
    assert status == 415
    assert reply["error"]["code"] == "unsupported_content_encoding"
    assert reply["error"]["type"] == "invalid_request_error"
    status, reply = post(gateway, "/v1/messages", b"...", {"content-encoding": "zstd", "anthropic-version": "2023-06-01"})
    assert status == 415
    assert reply["type"] == "error" and reply["error"]["type"] == "invalid_request_error"


def test_a_compression_bomb_is_refused(gateway):
    """Envoy's decompressor stops inflating past its maximum ratio, so the
    body the bundle reads is cut short: refused as invalid JSON, and nothing
    reaches a provider."""
    before = len(gateway.provider_requests())
    padding = " " * (40 * 1024 * 1024)
    bomb = gzip.compress(f'{{"model": "gpt-4o-mini", "messages": [{{"role": "user", "content": "x{padding}"}}]}}'.encode())
    assert len(bomb) < 100 * 1024
    status, reply = post(gateway, CHAT, bomb, {"content-encoding": "gzip"})
    assert status in (400, 413), reply
    assert len(gateway.provider_requests()) == before


def test_providers_are_asked_for_uncompressed_answers(gateway):
    client = openai.OpenAI(base_url=f"{gateway.base}/v1", api_key="demo-key", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert gateway.last_provider_request()["headers"].get("accept-encoding") == "identity"
