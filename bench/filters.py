"""What each filter adds to a call through Envoy: the demo gateway (the
bundle, 2 workers) with only the route stage, then the route stage plus one
filter, then the whole chain, each driven by wrk with the same 2 KB chat
request to the same fake provider. The difference to the route-only row is
that filter's cost (the route stage is what makes the gateway route at all).

    make wasm tools && .venv/bin/python bench/filters.py [--seconds 10]

Prints a Markdown table for docs/benchmarks.md. Loopback only."""

import argparse
import tempfile
from pathlib import Path

from wrkstack import chat_2kb, demo_filters, gateway, run_wrk, script

# (label, the filter sections besides route_translate)
VARIANTS = [
    ("route only", []),
    ("route + audit (records to the collector, metrics)", ["audit"]),
    ("route + pii_scan (redact, every detector)", ["pii_scan"]),
    ("route + token_limit (limits on, high ceilings)", ["token_limit"]),
    ("full chain", ["audit", "pii_scan", "token_limit"]),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    body = dict(chat_2kb(), model="openai/gpt-4o-mini")
    full = demo_filters()
    rows = []
    print("| filters | p50 ms (1 conn.) | p99 ms (1 conn.) | req/s (8 conn.) |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, sections) in enumerate(VARIANTS):
            filters = {name: full[name] for name in ["route_translate", *sections]}
            workdir = Path(tmp) / f"v{i}"
            with gateway(workdir, filters) as info:
                lua = script(workdir / "chat.lua", body)
                url = f"http://{info['gateway']}/v1/chat/completions"
                run_wrk(url, lua, 2)  # warm-up: VMs compiled, connections open
                p50, p99, _ = run_wrk(url, lua, args.seconds)
                _, _, rate = run_wrk(url, lua, args.seconds, connections=8)
            rows.append((label, p50))
            print(f"| {label} | {p50:.3f} | {p99:.2f} | {rate:.0f} |", flush=True)
    base = rows[0][1]
    print()
    for label, p50 in rows[1:]:
        print(f"- {label}: +{(p50 - base) * 1000:.0f} µs at p50")


if __name__ == "__main__":
    main()
