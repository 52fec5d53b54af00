"""What translation costs through Envoy: the demo gateway (all filters, the
bundle, 2 workers) driven by wrk at one connection, each translated call
beside the same call untranslated to the same fake provider, so that the
difference is the translation (request, response, stream) and nothing else.

    make wasm tools && .venv/bin/python bench/translation.py [--seconds 10]

Prints a Markdown table for docs/benchmarks.md. Loopback only."""

import argparse
import tempfile
from pathlib import Path

from wrkstack import chat_2kb, demo_filters, gateway, run_wrk, script


def messages_2kb(stream):
    """The same conversation as an Anthropic Messages request."""
    chat = chat_2kb(stream)
    body = {k: v for k, v in chat.items() if k != "messages"}
    body["system"] = chat["messages"][0]["content"]
    body["messages"] = chat["messages"][1:]
    return body


# (label, path, body, model, extra headers)
CASES = [
    ("2 KB request, whole response: OpenAI client → OpenAI (untranslated)", "/v1/chat/completions", chat_2kb(False), "openai/gpt-4o-mini", {}),
    ("2 KB request, whole response: Anthropic client → Anthropic (untranslated)", "/v1/messages", messages_2kb(False), "claude-sonnet-4-5", {}),
    ("2 KB request, whole response: OpenAI client → Anthropic", "/v1/chat/completions", chat_2kb(False), "claude-sonnet-4-5", {}),
    ("2 KB request, whole response: OpenAI client → Gemini", "/v1/chat/completions", chat_2kb(False), "gemini-2.5-flash", {}),
    ("2 KB request, whole response: Anthropic client → OpenAI", "/v1/messages", messages_2kb(False), "openai/gpt-4o-mini", {}),
    ("100-event stream: Anthropic client → Anthropic (untranslated)", "/v1/messages", messages_2kb(True), "claude-sonnet-4-5", {"x-fake-reply-words": "94", "x-fake-chunk-delay-ms": "0"}),
    ("100-event stream: OpenAI client → Anthropic", "/v1/chat/completions", chat_2kb(True), "claude-sonnet-4-5", {"x-fake-reply-words": "94", "x-fake-chunk-delay-ms": "0"}),
    ("100-event stream: OpenAI client → OpenAI (untranslated)", "/v1/chat/completions", chat_2kb(True), "openai/gpt-4o-mini", {"x-fake-reply-words": "97", "x-fake-chunk-delay-ms": "0"}),
    ("100-event stream: Anthropic client → OpenAI", "/v1/messages", messages_2kb(True), "openai/gpt-4o-mini", {"x-fake-reply-words": "97", "x-fake-chunk-delay-ms": "0"}),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, gateway(Path(tmp), demo_filters()) as info:
        print("| call | p50 ms | p99 ms | req/s (1 connection) |")
        print("| --- | --- | --- | --- |")
        for i, (label, path, body, model, headers) in enumerate(CASES):
            lua = script(Path(tmp) / f"case{i}.lua", dict(body, model=model), headers)
            url = f"http://{info['gateway']}{path}"
            run_wrk(url, lua, 2)  # warm-up: VMs compiled, connections open
            p50, p99, rate = run_wrk(url, lua, args.seconds)
            print(f"| {label} | {p50:.2f} | {p99:.2f} | {rate:.0f} |", flush=True)


if __name__ == "__main__":
    main()
