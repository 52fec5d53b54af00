"""The short benchmark of `make test`: bare Envoy and the bundle (all four
stages, default configuration) side by side for a few seconds, 2 KB chat
requests. It fails only on a gross regression, judged against bare Envoy in
the same run (never on absolute times, which this shared 2-core machine
cannot promise): the bundle below 0.30 of bare Envoy's throughput (`make
bench` measures about 0.5 here), or more than 1.5 ms added at p50 at a fixed
rate (about 0.2 ms measured). bench/run.py holds the thresholds."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_bundle_has_not_regressed_against_bare_envoy(tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench/run.py"), "--quick", "--check", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    print(run.stdout[-3000:], run.stderr[-3000:])
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "bench check passed" in run.stdout
