"""What the benchmark scripts share: the demo gateway started with a
filter configuration of the script's choosing, and wrk driving one call at
a time against it. Loopback only."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LUA = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer demo-key"
{headers}
"""


def demo_filters():
    """The demo's filter configuration, with limits too high for a benchmark
    to reach (the limiter still does all its work on every request)."""
    filters = json.loads((ROOT / "envoy/filters/demo.json").read_text())
    for level in filters["token_limit"]["levels"]:
        level["limits"] = {"requests_per_minute": 1_000_000_000, "input_tokens_per_minute": 1_000_000_000_000}
    return filters


@contextlib.contextmanager
def gateway(workdir, filters, env=None):
    """`llm-gateway up` with `filters` (the bundle, 2 workers) until the
    block ends, with `env` added to its environment (e.g.
    `FAKE_PROVIDER_BIN`); yields the stack's info (addresses, pids)."""
    workdir.mkdir(parents=True, exist_ok=True)
    filters_file = workdir / "filters.json"
    filters_file.write_text(json.dumps(filters))
    info_file = workdir / "info.json"
    info_file.unlink(missing_ok=True)
    binary = os.environ.get("LLM_GATEWAY_BIN", str(ROOT / "target/debug/llm-gateway"))
    proc = subprocess.Popen(
        [binary, "up", "--info-file", str(info_file), "--filters", str(filters_file)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )
    try:
        deadline = time.monotonic() + 60
        while not info_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("llm-gateway did not come up")
            time.sleep(0.05)
        yield json.loads(info_file.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def script(path, body, headers=None):
    """Writes a wrk script that POSTs `body` (a dict) with `headers`."""
    extra = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items())
    path.write_text(LUA.format(body="[==[" + json.dumps(body) + "]==]", headers=extra))
    return path


def to_ms(value):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url, lua, seconds, connections=1):
    """(p50 ms, p99 ms, requests/s) of `seconds` of wrk; exits on any
    non-2xx answer, which would make the figures meaningless."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), url],
        capture_output=True, text=True, check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"{url}: {errors.group(1)} failed requests\n{out}")
    return to_ms(percentiles["50"]), to_ms(percentiles["99"]), rate


def chat_2kb(stream=False):
    """An OpenAI chat request of about 2 KB (the request of the budgets in
    docs/benchmarks.md)."""
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
