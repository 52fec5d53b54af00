"""Starts the demo gateway (real Envoy, the real .wasm files, the fake
providers) once for the session with `llm-gateway up`, on free ports, and
stops it afterwards."""

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def gateway(tmp_path_factory):
    yield from start_gateway(tmp_path_factory)


def start_gateway(tmp_path_factory, filters=None, layout=None):
    """Runs `llm-gateway up` (optionally with another filters file, or the
    `separate` modules layout) until the generator is closed."""
    info_file = tmp_path_factory.mktemp("gateway") / "info.json"
    binary = os.environ.get("LLM_GATEWAY_BIN", str(ROOT / "target/debug/llm-gateway"))
    extra = ["--filters", str(filters)] if filters else []
    extra += ["--layout", layout] if layout else []
    proc = subprocess.Popen(
        [binary, "up", "--info-file", str(info_file), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not info_file.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"llm-gateway exited: {proc.stdout.read().decode()}")
            if time.monotonic() > deadline:
                raise RuntimeError("llm-gateway did not come up within 60 s")
            time.sleep(0.05)
        yield Gateway(json.loads(info_file.read_text()))
    finally:
        # Envoy and the fake providers die with llm-gateway (PR_SET_PDEATHSIG).
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


class Gateway:
    def __init__(self, info):
        self.info = info
        self.base = f"http://{info['gateway']}"

    def provider_requests(self):
        """What the fake providers received, oldest first."""
        with urllib.request.urlopen(f"http://{self.info['fake_provider']}/__requests") as r:
            return json.load(r)["requests"]

    def last_provider_request(self):
        requests = self.provider_requests()
        assert requests, "nothing reached a provider"
        return requests[-1]
