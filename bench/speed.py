"""What a filter's per-byte work costs in wasm, through Envoy: prompts of
several sizes sent by wrk at one connection to the demo gateway with only
the route stage, then with the route stage plus the filter. The difference
in median latency is the filter's work; size over that time is its speed
in wasm.

    make wasm tools && .venv/bin/python bench/speed.py pii_scan [--seconds 10]
    make wasm tools && .venv/bin/python bench/speed.py token_limit [--seconds 10]

pii_scan: redact with every detector, prose with one email address, 2 KB,
64 KB and 1 MB. token_limit: exact counting (tiktoken o200k) with limits too
high to reach, 1 KB, 16 KB and 256 KB.

Prints a Markdown table for docs/benchmarks.md. Loopback only."""

import argparse
import tempfile
from pathlib import Path

from wrkstack import demo_filters, gateway, run_wrk, script

SENTENCE = ("The quarterly review covered revenue, hiring plans and the data centre move; "
            "the team agreed to revisit the budget in March after the audit. ")
KB = 1024
SIZES = {"pii_scan": [("2 KB", 2 * KB), ("64 KB", 64 * KB), ("1 MB", 1024 * KB)],
         "token_limit": [("1 KB", KB), ("16 KB", 16 * KB), ("256 KB", 256 * KB)]}


def prompt(size):
    """`size` bytes of prose with one email address in it."""
    text = "Contact jane.doe@example.com about this. "
    while len(text) < size:
        text += SENTENCE
    return text[:size]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("filter", choices=sorted(SIZES))
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    full = demo_filters()
    full["token_limit"]["counting"] = {"mode": "exact"}
    for level in full["token_limit"]["levels"]:
        level["limits"] = {"requests_per_minute": 100_000_000, "input_tokens_per_minute": 10**15}
        level["overrides"] = []
    with_filter = f"route + {args.filter}"
    variants = {"route only": ["route_translate"], with_filter: ["route_translate", args.filter]}
    sizes = SIZES[args.filter]
    p50 = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, sections in variants.items():
            workdir = Path(tmp) / label.replace(" ", "_")
            with gateway(workdir, {name: full[name] for name in sections}) as info:
                url = f"http://{info['gateway']}/v1/chat/completions"
                for size_label, size in sizes:
                    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": prompt(size)}]}
                    lua = script(workdir / f"{size}.lua", body)
                    run_wrk(url, lua, 2)
                    p50[(label, size_label)] = run_wrk(url, lua, args.seconds)[0]
    print(f"| prompt | p50 route only (ms) | p50 with {args.filter} (ms) | added (ms) | MB/s in wasm |")
    print("| --- | --- | --- | --- | --- |")
    for size_label, size in sizes:
        base, scanned = p50[("route only", size_label)], p50[(with_filter, size_label)]
        added = scanned - base
        speed = f"{size / 1e6 / (added / 1000):.0f}" if added > 0 else "n/a"
        print(f"| {size_label} | {base:.2f} | {scanned:.2f} | {added:.2f} | {speed} |")


if __name__ == "__main__":
    main()
