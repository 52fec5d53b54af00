"""Every client example in examples/clients runs against the gateway as the
README shows it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples/clients"


@pytest.mark.parametrize(
    "script, expected",
    [
        ("chat.sh", "Hello from the fake openai provider."),
        ("openai_chat.py", "Hello from the fake openai provider."),
        ("anthropic_messages.py", "Hello from the fake anthropic provider."),
    ],
)
def test_example_runs(gateway, script, expected):
    command = [sys.executable, str(EXAMPLES / script)] if script.endswith(".py") else ["bash", str(EXAMPLES / script)]
    result = subprocess.run(
        command, env={**os.environ, "GATEWAY": gateway.base}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
