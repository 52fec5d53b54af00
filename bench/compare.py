"""Small comparisons for one hot-path change, finer than `make bench`.

    # Envoy CPU per 2 KB call of two builds of the bundle (copy build/wasm's
    # llm_gateway_bundle.wasm aside before rebuilding):
    .venv/bin/python bench/compare.py cpu /tmp/before.wasm build/wasm/llm_gateway_bundle.wasm
    # the same against another checkout (`git worktree add /tmp/old REV`,
    # then `make wasm tools` there), run as that checkout benchmarks itself:
    # its renderer, benchmark template and budgets configuration:
    .venv/bin/python bench/compare.py cpu /tmp/old build/wasm/llm_gateway_bundle.wasm
    # where bare Envoy's and the bundle's time goes inside Envoy, per phase:
    .venv/bin/python bench/compare.py phases build/wasm/llm_gateway_bundle.wasm [--stream]
    # where the bundle's own time goes, per stage callback and kind of host
    # call, under load (a build with wasm-glue's span-profile feature):
    make wasm-profile && .venv/bin/python bench/compare.py spans build/wasm-profile/llm_gateway_bundle.wasm

`cpu`: throughput at 8 connections against the fake provider, with a fresh
Envoy for every round, rounds alternating between the builds (and bare
Envoy). A difference of 5-10 us between two Envoy processes of the same
build is placement (which core, which cache lines), which holds for a
process's life: one Envoy per build measured several times reports it as a
gain or a loss; fresh ones per round average it out.

`phases`: Envoy's own timings of each stream (access log, COMMON_DURATION
between its events, us) at a fixed rate with every process on one core, as
`make bench` measures latency: the medians of where the time between the
request's first byte and the response's last goes (request headers and
body received, request sent upstream, first response byte, response
headers sent, response done). The bundle's callbacks run inside these
phases, so the difference to bare Envoy shows which callback adds the
latency, and how much more it costs at a low rate (cold caches) than under
load.

`spans`: closed-loop load (8 connections) through a bundle built with the
span-profile feature, which logs the wall time of each stage callback,
parse and kind of host call (wasm-glue/src/profile.rs); prints the mean
per request over every report of both workers. A stage's callback includes
the host calls it makes, which are also listed under `host`.
"""

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402

# Stream events in the order Envoy records them (DS: downstream, US:
# upstream, RX/TX: receive/send, BEG/END: first/last byte).
EVENTS = ["DS_RX_END", "US_TX_BEG", "US_TX_END", "US_RX_BEG", "DS_TX_BEG", "US_RX_END", "DS_TX_END"]
PHASES = {
    "DS_RX_END": "request received (headers callback)",
    "US_TX_BEG": "upstream request begun",
    "US_TX_END": "request sent upstream (body callback)",
    "US_RX_BEG": "upstream answering",
    "DS_TX_BEG": "response headers sent (headers callback)",
    "US_RX_END": "upstream done",
    "DS_TX_END": "response sent (body callback)",
}
LOG_FORMAT = ",".join(f"%COMMON_DURATION(DS_RX_BEG:{e}:us)%" for e in EVENTS)


def target(module):
    """Bare Envoy for None, else the bundle (the configuration of the
    budgets, docs/benchmarks.md) loading `module`; for a directory, the
    bundle of that checkout with its own configuration."""
    by_name = {t["name"]: t for t in run.targets()}
    if module is None:
        return dict(by_name["bare"])
    if module.is_dir():
        return dict(by_name["bundle"], tree=module.resolve(), **checkout_bench(module.resolve()))
    return dict(by_name["bundle"], module=str(Path(module).resolve()))


def checkout_bench(tree):
    """The renderer and the budgets configuration that checkout's
    `make bench` uses."""
    code = "import json, run; print(json.dumps({'renderer': str(run.RENDER), 'filters': run.demo_filters()}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tree / "bench", check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def label(module):
    return "bare Envoy" if module is None else str(module)


def cpu(opts, upstream, workdir, body):
    used = {m: [] for m in opts.modules}
    for round_ in range(opts.rounds):
        for i, module in enumerate(opts.modules):
            wd = workdir / f"cpu-{round_}-{i}"
            wd.mkdir()
            with run.envoy_target(target(module), upstream, wd) as (url, headers, pids, _):
                _, per_request = run.closed_with_cpu(url, headers, body, opts.seconds, 8, pids, warmup=0.5)
            if per_request is not None:
                used[module].append(per_request)
    for module, figures in used.items():
        median = statistics.median(figures) if figures else float("nan")
        print(f"{label(module)}: Envoy CPU {median:.0f} us a call (rounds: {', '.join(f'{x:.0f}' for x in figures)})")


def phases(opts, upstream, workdir, body):
    with contextlib.ExitStack() as running:
        urls = {}
        for i, module in enumerate(opts.modules):
            wd = workdir / f"phases-{i}"
            wd.mkdir()
            urls[module] = wd, running.enter_context(run.envoy_target(dict(target(module), access_log=LOG_FORMAT), upstream, wd))[:2]
        with run.one_core() as prefix:
            for _ in range(opts.rounds):
                for module, (_, (url, headers)) in urls.items():
                    run.load(url, headers, body, "rate", opts.seconds, opts.stream, 8, rate=opts.rate, warmup=0.5, prefix=prefix)
    # Envoy writes its access logs out when it exits (above).
    rows = {m: [[int(x) for x in line.split(",")] for line in (wd / "access.log").read_text().splitlines() if line]
            for m, (wd, _) in urls.items()}
    print(f"median length of each phase, us, {opts.rate} requests/s, {'streamed' if opts.stream else 'whole'} 2 KB calls:")
    print(f"{'phase':<46}" + "".join(f"{label(m)[-28:]:>30}" for m in opts.modules))
    for i, event in enumerate(EVENTS):
        cells = []
        for module in opts.modules:
            # Each phase's own length: this event's time minus the previous one's.
            steps = [row[i] - (row[i - 1] if i else 0) for row in rows[module]]
            cells.append(f"{statistics.median(steps):>30.0f}" if steps else f"{'-':>30}")
        print(f"{PHASES[event]:<46}" + "".join(cells))


def spans(opts, upstream, workdir, body):
    module = opts.modules[1]
    wd = workdir / "spans"
    wd.mkdir()
    with run.envoy_target(target(module), upstream, wd) as (url, headers, pids, _):
        outcome, per_request = run.closed_with_cpu(url, headers, body, opts.seconds, 8, pids, warmup=0.5)
    requests, totals = 0, {}
    for line in (wd / "envoy.log").read_text(errors="replace").splitlines():
        _, found, report = line.partition("span-profile ")
        if not found:
            continue
        report = json.loads(report)
        requests += report["requests"]
        for span in report["spans"]:
            key = (span["what"], span["part"])
            ns, calls = totals.get(key, (0, 0))
            totals[key] = (ns + span["ns"], calls + span["calls"])
    if not requests:
        sys.exit(f"{module} logged no span-profile report: build it with `make wasm-profile`")
    print(f"{outcome['rps']:.0f} req/s, Envoy CPU {per_request:.0f} us a call; "
          f"wall time inside the module per request, mean of {requests} requests:")
    print(f"{'what':<16}{'part':<24}{'us':>8}{'calls':>8}")
    for (what, part), (ns, calls) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
        print(f"{what:<16}{part:<24}{ns / requests / 1000:>8.1f}{calls / requests:>8.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["cpu", "phases", "spans"])
    parser.add_argument("modules", nargs="+", type=Path, help="builds of the bundle's .wasm, or other checkouts (bare Envoy is added)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3, help="per round; spans: the one run (give it 10)")
    parser.add_argument("--rate", type=int, default=50, help="phases: requests/s")
    parser.add_argument("--stream", action="store_true", help="phases: streamed calls")
    opts = parser.parse_args()
    opts.modules = [None, *opts.modules]
    for tool in (run.ENVOY, run.LOAD, run.FAKE, run.RENDER):
        if not tool.exists():
            sys.exit(f"{tool} is missing: run `make bench-tools wasm tools` first")
    with tempfile.TemporaryDirectory(prefix="llm-compare-") as tmp, run.fake_provider(Path(tmp)) as upstream:
        body = Path(tmp) / "chat.json"
        body.write_text(json.dumps(run.chat(2 * 1024, opts.stream)))
        {"cpu": cpu, "phases": phases, "spans": spans}[opts.what](opts, upstream, Path(tmp), body)


if __name__ == "__main__":
    main()
