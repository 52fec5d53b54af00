"""What PII scanning costs in wasm, through Envoy: prompts of 2 KB, 64 KB
and 1 MB of prose with few findings, sent by wrk at one connection to the
demo gateway with only the route stage and with the route stage plus
pii_scan (redact, every detector). The difference in median latency is the
scan (and the rewrite of the one finding); size over that time is the
scan's speed in wasm.

    make wasm tools && .venv/bin/python bench/pii.py [--seconds 10]

Prints a Markdown table for docs/benchmarks.md. Loopback only."""

import argparse
import tempfile
from pathlib import Path

from wrkstack import demo_filters, gateway, run_wrk, script

SENTENCE = ("The quarterly review covered revenue, hiring plans and the data centre move; "
            "the team agreed to revisit the budget in March after the audit. ")
SIZES = [("2 KB", 2 * 1024), ("64 KB", 64 * 1024), ("1 MB", 1024 * 1024)]


def prompt(size):
    """`size` bytes of prose with one email address in it."""
    text = "Contact jane.doe@example.com about this. "
    while len(text) < size:
        text += SENTENCE
    return text[:size]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    full = demo_filters()
    variants = {"route only": ["provider_rewrite"], "route + pii_scan": ["provider_rewrite", "pii_scan"]}
    p50 = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, sections in variants.items():
            workdir = Path(tmp) / label.replace(" ", "_")
            with gateway(workdir, {name: full[name] for name in sections}) as info:
                url = f"http://{info['gateway']}/v1/chat/completions"
                for size_label, size in SIZES:
                    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": prompt(size)}]}
                    lua = script(workdir / f"{size}.lua", body)
                    run_wrk(url, lua, 2)
                    p50[(label, size_label)] = run_wrk(url, lua, args.seconds)[0]
    print("| prompt | p50 route only (ms) | p50 with pii_scan (ms) | added (ms) | MB/s in wasm |")
    print("| --- | --- | --- | --- | --- |")
    for size_label, size in SIZES:
        base, scanned = p50[("route only", size_label)], p50[("route + pii_scan", size_label)]
        added = scanned - base
        speed = f"{size / 1e6 / (added / 1000):.0f}" if added > 0 else "n/a"
        print(f"| {size_label} | {base:.2f} | {scanned:.2f} | {added:.2f} | {speed} |")


if __name__ == "__main__":
    main()
