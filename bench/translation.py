"""What translation costs through Envoy: the demo gateway (all filters, the
bundle, 2 workers) driven by wrk at one connection, each translated call
beside the same call untranslated to the same fake provider, so that the
difference is the translation (request, response, stream) and nothing else.

    make wasm tools && .venv/bin/python bench/translation.py [--seconds 10]

Prints a Markdown table for docs/benchmarks.md. Loopback only."""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def chat_2kb(stream):
    """An OpenAI chat request of about 2 KB (the DESIGN.md request)."""
    turn = "Could you summarise the attached quarterly report and list the three main risks it names? "
    messages = [{"role": "system", "content": "You are a careful financial analyst. Answer in short bullet points."}]
    for i in range(6):
        messages.append({"role": "user", "content": f"{turn}(part {i})"})
        messages.append({"role": "assistant", "content": f"Here is part {i} of the summary: revenue grew, costs grew faster, margins narrowed."})
    messages.append({"role": "user", "content": "Now the risks, please."})
    body = {"model": "MODEL", "messages": messages, "max_tokens": 512, "temperature": 0.3}
    if stream:
        body["stream"] = True
    return body


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

LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer demo-key"
{headers}
"""


def lua_string(text):
    return "[==[" + text + "]==]"


def start_gateway(workdir):
    """The demo gateway, with request limits too high to reach here."""
    filters = json.loads((ROOT / "envoy/filters/demo.json").read_text())
    filters["token_limit"]["limits"]["requests_per_minute"] = 100_000_000
    filters_file = workdir / "filters.json"
    filters_file.write_text(json.dumps(filters))
    info_file = workdir / "info.json"
    binary = os.environ.get("GATEWAY_STACK", str(ROOT / "target/debug/gateway-stack"))
    proc = subprocess.Popen(
        [binary, "up", "--info-file", str(info_file), "--filters", str(filters_file)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while not info_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("gateway-stack did not come up")
        time.sleep(0.05)
    return proc, json.loads(info_file.read_text())


def to_ms(value):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url, script, seconds):
    out = subprocess.run(
        ["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"{url}: {errors.group(1)} failed requests\n{out}")
    return to_ms(percentiles["50"]), to_ms(percentiles["99"]), rate


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        proc, info = start_gateway(workdir)
        try:
            print("| call | p50 ms | p99 ms | req/s (1 connection) |")
            print("| --- | --- | --- | --- |")
            for i, (label, path, body, model, headers) in enumerate(CASES):
                body = dict(body, model=model)
                script = workdir / f"case{i}.lua"
                extra = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
                script.write_text(LUA.format(body=lua_string(json.dumps(body)), headers=extra))
                url = f"http://{info['gateway']}{path}"
                run_wrk(url, script, 2)  # warm-up: VMs compiled, connections open
                p50, p99, rate = run_wrk(url, script, args.seconds)
                print(f"| {label} | {p50:.2f} | {p99:.2f} | {rate:.0f} |", flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
