"""`make bench`: the gateway against bare Envoy and the peer gateways, every
target driven by the same load generator (bench/loadgen, `llm-load`) against
the same fast upstream (the fake provider, release build, no chunk delay) in
one run on loopback.

    make bench                              # everything, about 20 minutes
    .venv/bin/python bench/run.py --targets bare,bundle --seconds 5
    .venv/bin/python bench/run.py --quick --check   # the regression mode of `make test`

Targets: the upstream itself (`direct`), bare Envoy (same version, no wasm),
Envoy with each filter's own module alone, the floor (the bundle's pipeline
with four stages that only read both bodies, bench/floor-bundle: what any
bundle of four body-reading stages must pay), Envoy with the bundle (all four
stages, default configuration: the budgets in docs/benchmarks.md), the bundle with exact
token counting on every request, the bundle with global token limits (Envoy's
ratelimit filter, our rate-limit service, Redis), the whole demo gateway (client keys,
access logs, key injection, fallback chain), LiteLLM proxy and the Portkey
gateway (bench/peers.py). Every Envoy runs 2 workers.

Workloads: 2 KB and 64 KB OpenAI chat completions, whole and streamed.
Figures: requests/s at fixed concurrency with the target's CPU per request;
latency p50/p99/p99.9 at a fixed rate below saturation (corrected for
coordinated omission), with every process on one core (see `one_core`);
time to first streamed token at a fixed rate, also on one core; RSS
after the run; start to ready. Each also as a ratio to bare Envoy. A
target's throughput and added latency are measured against a reference
bare Envoy, kept running for the whole run, in rounds that alternate
between the two (`--rounds`, `--round-seconds`): the median of the rounds'
ratios and differences. The bare Envoy's p50 at a fixed rate moves between
0.5 and 0.9 ms from one 10-second run to the next on this VM, more than
the gateway adds, and its CPU per call between 125 and 156 µs from one
hour to the next, so a bare Envoy measured once is no reference for a
target measured later.

Writes build/bench/results.json, build/bench/report.md and, with
--plot FILE, a PNG. Prints a progress line per measurement."""

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from wrkstack import demo_filters, gateway  # noqa: E402  (shared with the older bench scripts)

ENVOY = ROOT / ".venv/bin/envoy"
LOAD = ROOT / "target/release/llm-load"
FAKE = ROOT / "target/release/fake-provider"
RATELIMIT = ROOT / "target/release/ratelimit-service"
RENDER = ROOT / "target/debug/llm-gateway"
FLOOR = ROOT / "build/wasm-floor/floor_bundle.wasm"
WORKERS = 2
MODEL = "gpt-4o-mini"


# --- request bodies -------------------------------------------------------

def chat(size, stream=False, model=MODEL):
    """An OpenAI chat request of about `size` bytes: a system prompt and
    alternating turns of ordinary prose (a few PII-like candidates, no
    findings), as an agent's conversation looks."""
    turn = ("Could you summarise the attached quarterly report and list the three main risks it names? "
            "Revenue grew 12% to 4.1M while costs grew faster; margins narrowed in Q3. ")
    messages = [{"role": "system", "content": "You are a careful financial analyst. Answer in short bullet points."}]
    i = 0
    while len(json.dumps(messages)) < size - 200:
        role = "user" if i % 2 == 0 else "assistant"
        messages.append({"role": role, "content": f"{turn}(part {i})"})
        i += 1
    body = {"model": model, "messages": messages, "max_tokens": 256, "temperature": 0.3}
    if stream:
        body["stream"] = True
    return body


WORKLOADS = {
    # name: (size, stream)
    "2k": (2 * 1024, False),
    "64k": (64 * 1024, False),
    "2k-stream": (2 * 1024, True),
}


# --- processes --------------------------------------------------------------

def cpu_seconds(pids):
    """User + system CPU of the processes and their children so far."""
    total = 0
    for pid in pids:
        for p in [pid, *children(pid)]:
            try:
                fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pids):
    total = 0
    for pid in pids:
        for p in [pid, *children(pid)]:
            with contextlib.suppress(FileNotFoundError):
                for line in Path(f"/proc/{p}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
    return total / 1024


def children(pid):
    """Every descendant of `pid` (LiteLLM workers, Node's helpers)."""
    out = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                for child in (task / "children").read_text().split():
                    out += [int(child), *children(int(child))]
    return out


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}) before {url} answered")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextlib.contextmanager
def spawn(cmd, log, **kw):
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kw)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def fake_provider(workdir):
    with spawn([str(FAKE), "serve", "--listen", "127.0.0.1:0", "--chunk-delay-ms", "0",
                "--collector-file", str(workdir / "collector.jsonl")], workdir / "fake.log") as proc:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.search(r"http=(\S+)", (workdir / "fake.log").read_text())
            if found:
                yield found.group(1)
                return
            time.sleep(0.02)
        raise RuntimeError("the fake provider did not start")


@contextlib.contextmanager
def ratelimit_service(workdir):
    """A throwaway Redis and the rate-limit service on it, with ceilings no
    benchmark reaches (the descriptors tests/ratelimit-service/tests/bundle.rs
    uses); yields the service's gRPC port."""
    redis_port = free_port()
    with spawn(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(workdir)], workdir / "redis.log"):
        deadline = time.monotonic() + 10
        while "Ready to accept connections" not in (workdir / "redis.log").read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        limits = workdir / "limits.json"
        ceiling = 10 ** 15
        limits.write_text(json.dumps({"limits": [
            {"name": "tokens-per-agent", "domain": "llm-gateway", "max_value": ceiling, "seconds": 60,
             "descriptor": [{"key": "limit", "value": "tokens"}, {"key": "x-agent-id"}]},
            {"name": "shared-bucket", "domain": "llm-gateway", "max_value": ceiling, "seconds": 60,
             "descriptor": [{"key": "limit", "value": "tokens"}]},
        ]}))
        ready = workdir / "ratelimit.ready.json"
        ready.unlink(missing_ok=True)
        with spawn([str(RATELIMIT), "serve", "--listen", "127.0.0.1:0", "--limits", str(limits), "--ready-file", str(ready),
                    "--redis", f"redis://127.0.0.1:{redis_port}"], workdir / "ratelimit.log") as proc:
            deadline = time.monotonic() + 30
            while not ready.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the rate-limit service did not start")
                time.sleep(0.02)
            yield json.loads(ready.read_text())["grpc"].rsplit(":", 1)[1]


# --- targets ----------------------------------------------------------------

def render(template, filters, layout, out, sets, tree=ROOT, renderer=RENDER):
    """Renders `template` with `filters`; `tree` and `renderer` name
    another checkout and its renderer (`bench/compare.py cpu` against an
    older build), whose build/wasm the rendered config then loads."""
    filters_file = out.with_suffix(".filters.json")
    filters_file.write_text(json.dumps(filters))
    args = [str(renderer), "render", "--template", str(template), "--filters", str(filters_file),
            "--out", str(out), "--layout", layout]
    for name, value in sets.items():
        args += ["--set", f"{name}={value}"]
    subprocess.run(args, check=True, cwd=tree, capture_output=True)


@contextlib.contextmanager
def envoy_target(target, upstream, workdir):
    """Renders the target's Envoy config and runs Envoy until the block ends.
    Yields (url, headers, pids, start_to_ready_ms)."""
    admin, listener = free_port(), free_port()
    upstream_port = upstream.rsplit(":", 1)[1]
    config = workdir / "envoy.yaml"
    if target["kind"] == "demo":
        yield from demo_target(target, workdir)
        return
    tree = target.get("tree", ROOT)
    template = tree / "bench/envoy-bench.yaml"
    if target["filters"] is None:  # bare Envoy: the same file without the bundle's lines
        template = workdir / "bare.yaml"
        template.write_text("".join(l for l in (ROOT / "bench/envoy-bench.yaml").read_text().splitlines(True)
                                    if l.strip() != "${LLM_FILTERS}" and not l.rstrip().endswith("# bundle only")))
    sets = {"ADMIN_PORT": admin, "LISTENER_PORT": listener, "UPSTREAM_PORT": upstream_port}
    with contextlib.ExitStack() as services:
        if target.get("global"):
            sets["RATELIMIT_PORT"] = services.enter_context(ratelimit_service(workdir))
        render(template, target["filters"] or {}, target.get("layout", "bundle"), config, sets, tree,
               target.get("renderer", RENDER))
        customise(config, target, workdir)
        # No api_key_auth in this config: the request names its client
        # itself, as the authenticated id would (the demo's allow-lists
        # refuse requests without one).
        headers = {"x-client-id": "demo", **({"x-agent-id": "bench"} if target.get("global") else {})}
        started = time.monotonic()
        with spawn([str(ENVOY), "-c", str(config), "--concurrency", str(WORKERS), "-l", "warning",
                    "--disable-hot-restart"], workdir / "envoy.log") as proc:
            wait_http(f"http://127.0.0.1:{admin}/ready", proc=proc)
            ready_ms = (time.monotonic() - started) * 1000
            yield f"http://127.0.0.1:{listener}/v1/chat/completions", headers, [proc.pid], ready_ms


def customise(config, target, workdir):
    """What bench/compare.py adds to a target: `module`, another build of
    the bundle's .wasm to load instead of build/wasm's; `access_log`, an
    access log format written to workdir/access.log."""
    text = config.read_text()
    if target.get("module"):
        text = text.replace(str(ROOT / "build/wasm/llm_gateway_bundle.wasm"), str(target["module"]))
    if target.get("access_log"):
        logger = {"name": "envoy.access_loggers.file", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(workdir / "access.log"),
            "log_format": {"text_format_source": {"inline_string": target["access_log"] + "\n"}}}}
        text = text.replace("          stat_prefix: gateway\n",
                            f"          stat_prefix: gateway\n          access_log: [{json.dumps(logger)}]\n", 1)
    config.write_text(text)


def demo_target(target, workdir):
    """The whole demo gateway as `llm-gateway up` runs it (its own
    secrets, its own fake provider from the same release build)."""
    with gateway(workdir, target["filters"], env={"FAKE_PROVIDER_BIN": str(FAKE)}) as info:
        yield (f"http://{info['gateway']}/v1/chat/completions", {"authorization": "Bearer demo-key"},
               [info["envoy_pid"]], info["start_to_ready_ms"])


@contextlib.contextmanager
def peer_target(target, upstream, workdir):
    import peers
    start = getattr(peers, target["kind"])
    with start(f"http://{upstream}", workdir) as peer:
        pids = peer.get("pids") or [peer["pid"]]
        yield peer["url"], dict(peer.get("headers") or {}), pids, peer["start_to_ready_ms"], peer["model"]


@contextlib.contextmanager
def direct_target(target, upstream, workdir):
    yield f"http://{upstream}/v1/chat/completions", {}, [], None


def targets():
    """Every target of a full run, in order; `bare` is the reference."""
    demo = demo_filters()
    exact = json.loads(json.dumps(demo))
    exact["token_limit"]["counting"] = {"mode": "exact"}
    global_limits = json.loads(json.dumps(demo))
    # Failing closed, so that a service that does not answer shows as failed
    # requests rather than as a fast path that never charged it.
    global_limits["token_limit"] = {"key": [{"header": "x-agent-id"}], "global": {"on_failure": "closed"}}
    return [
        {"name": "direct", "label": "upstream directly (no proxy)", "kind": "direct"},
        {"name": "bare", "label": "bare Envoy", "kind": "envoy", "filters": None},
        *[{"name": f"only-{s}", "label": f"Envoy + {s} alone (its own module)", "kind": "envoy",
           "layout": "separate", "filters": {s: demo[s]}} for s in ("audit", "pii_scan", "token_limit", "route_translate")],
        {"name": "floor", "label": "Envoy + floor: the bundle's pipeline, four stages that only read both bodies",
         "kind": "envoy", "filters": demo, "module": str(FLOOR)},
        {"name": "bundle", "label": "Envoy + bundle, all four stages, default config", "kind": "envoy",
         "filters": demo},
        {"name": "bundle-exact", "label": "Envoy + bundle, exact token counting", "kind": "envoy",
         "filters": exact},
        {"name": "bundle-global", "label": "Envoy + bundle, global token limits (rate-limit service, Redis)",
         "kind": "envoy", "filters": global_limits, "global": True},
        {"name": "demo", "label": "the demo gateway (keys, access logs, key injection)", "kind": "demo",
         "filters": demo},
        {"name": "litellm", "label": "LiteLLM proxy", "kind": "litellm"},
        {"name": "portkey", "label": "Portkey gateway", "kind": "portkey"},
    ]


# --- measuring --------------------------------------------------------------

@contextlib.contextmanager
def one_core():
    """Every process of the run (this script's descendants: the upstream,
    Envoy or a peer, the rate-limit service and Redis) on CPU 0 until the
    block ends; the load generators started in it go there too. On 2 cores
    shared by all of them, whether each hop of a request wakes the other
    core depends on where the scheduler put each process, which holds for
    a whole process lifetime: a target's added p50 at a fixed rate moved
    between -0.04 and +0.65 ms from run to run. On one core the spread is
    about half that and never below zero, though not gone
    (docs/benchmarks.md)."""
    pids = children(os.getpid())
    cpus = f"0-{(os.cpu_count() or 1) - 1}"
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", "0", str(pid)], capture_output=True)
    try:
        yield ["taskset", "-c", "0"]
    finally:
        for pid in pids:
            subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True)


def load(url, headers, body_file, mode, seconds, stream, connections, rate=None, warmup=1.0, prefix=()):
    args = [*prefix, str(LOAD), mode, "--url", url, "--body", str(body_file), "--duration", str(seconds),
            "--warmup", str(warmup), "--connections", str(connections), "--json"]
    if rate:
        args += ["--rate", str(rate)]
    if stream:
        args.append("--stream")
    for name, value in headers.items():
        args += ["--header", f"{name}: {value}"]
    out = subprocess.run(args, capture_output=True, text=True)
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return {"trustworthy": False, "first_error": out.stderr.strip()[-300:]}


def closed_with_cpu(url, headers, body_file, seconds, connections, pids, warmup=1.0):
    """Requests/s at fixed concurrency, and the target's CPU per request
    (None without pids or without a request served): its CPU over the
    warm-up and the window, per request served in both."""
    before = cpu_seconds(pids)
    closed = load(url, headers, body_file, "closed", seconds, False, connections, warmup=warmup)
    used = cpu_seconds(pids) - before
    ok = closed.get("ok") or 0
    per_request = used / (ok * (seconds + warmup) / seconds) * 1e6 if pids and ok else None
    return closed, per_request


def closed_rounds(url, headers, pids, reference, body_file, opts):
    """Throughput and CPU per request in rounds alternating between the
    reference bare Envoy (`reference`: url, headers, pids) and the target,
    so that both see the same state of the machine."""
    rounds = []
    for _ in range(opts.rounds):
        bare, bare_cpu = closed_with_cpu(*reference[:2], body_file, opts.round_seconds, opts.connections, reference[2], warmup=0.5)
        target, cpu = closed_with_cpu(url, headers, body_file, opts.round_seconds, opts.connections, pids, warmup=0.5)
        rounds.append({"bare": bare, "target": target, "bare_cpu_us": bare_cpu, "cpu_us_per_request": cpu})
    return rounds


def measure(target, upstream, workdir, opts, progress, reference=None):
    """All figures of one target. `reference` (url, headers, pids) is the
    bare Envoy that the target's throughput and latency rounds alternate
    with."""
    kind = target["kind"]
    opener = {"envoy": envoy_target, "demo": envoy_target, "direct": direct_target}.get(kind, peer_target)
    result = {"name": target["name"], "label": target["label"]}
    with opener(target, upstream, workdir) as started:
        url, headers, pids, ready_ms = started[:4]
        model = started[4] if len(started) > 4 else MODEL
        result["start_to_ready_ms"] = ready_ms
        for workload in opts.workloads:
            size, stream = WORKLOADS[workload]
            body_file = workdir / f"{workload}.json"
            body_file.write_text(json.dumps(chat(size, stream, model)))
            figures = result.setdefault(workload, {})
            if not stream and reference and target["name"] != "bare":
                progress(f"{target['name']}: {workload} requests/s at {opts.connections} connections, "
                         f"{opts.rounds} rounds alternating with the reference")
                rounds = closed_rounds(url, headers, pids, reference, body_file, opts)
                figures["closed_rounds"] = rounds
                figures["closed"] = {"trustworthy": all(r["target"].get("trustworthy", False) for r in rounds),
                                     "first_error": next((r["target"]["first_error"] for r in rounds if r["target"].get("first_error")), None),
                                     "rps": statistics.median(r["target"].get("rps") or 0 for r in rounds)}
                for key in ("cpu_us_per_request", "bare_cpu_us"):
                    values = [r[key] for r in rounds if r[key] is not None]
                    if values:
                        figures[key] = statistics.median(values)
            elif not stream:
                progress(f"{target['name']}: {workload} requests/s at {opts.connections} connections")
                figures["closed"], per_request = closed_with_cpu(url, headers, body_file, opts.seconds, opts.connections, pids)
                if per_request is not None:
                    figures["cpu_us_per_request"] = per_request
            rate = opts.rate[workload]
            progress(f"{target['name']}: {workload} latency at {rate} requests/s, on one core")
            with one_core() as prefix:
                if reference and target["name"] != "bare":
                    one_round = (body_file, "rate", opts.round_seconds, stream, 8)
                    rounds = [{"bare": load(*reference[:2], *one_round, rate=rate, warmup=0.5, prefix=prefix),
                               "target": load(url, headers, *one_round, rate=rate, warmup=0.5, prefix=prefix)}
                              for _ in range(opts.rounds)]
                    figures["rate_rounds"] = rounds
                    figures["rate"] = combined([r["target"] for r in rounds])
                    figures["rate_bare"] = combined([r["bare"] for r in rounds])
                else:
                    figures["rate"] = load(url, headers, body_file, "rate", opts.seconds, stream, 8, rate=rate, prefix=prefix)
        result["rss_mb"] = rss_mb(pids) if pids else None
    return result


# --- reporting --------------------------------------------------------------

def combined(runs):
    """Rounds of one target's latency runs as one: each percentile is the
    median of the rounds' own."""
    out = {"trustworthy": bool(runs) and all(r.get("trustworthy", False) for r in runs),
           "first_error": next((r["first_error"] for r in runs if r.get("first_error")), None),
           "rate": {"saturated": any((r.get("rate") or {}).get("saturated") for r in runs),
                    "achieved_rps": min(((r.get("rate") or {}).get("achieved_rps") or 0) for r in runs) if runs else 0}}
    for key in ("latency_ms", "ttft_ms"):
        blocks = [r.get(key) or {} for r in runs]
        names = {name for block in blocks for name in block}
        out[key] = {name: statistics.median(b[name] for b in blocks if b.get(name) is not None) for name in names
                    if any(b.get(name) is not None for b in blocks)} or None
    return out


def fig(value, fmt="{:.2f}"):
    return "—" if value is None else fmt.format(value)


def pct(res, workload, key, pctl, run="rate"):
    data = res.get(workload, {}).get(run, {})
    if not data.get("trustworthy", False):
        return None
    block = data.get(key) or {}
    return block.get(pctl)


def added_cell(res, bare, workload, key, pctl):
    """The added figure, and the reference bare Envoy's (the median of its
    rounds) when the target ran in rounds, so the table shows both."""
    a = added(res, bare, workload, key, pctl)
    base = pct(res, workload, key, pctl, run="rate_bare")
    return fig(a, "{:+.3f}") + (f" (over {base:.3f})" if a is not None and base is not None else "")


def added(res, bare, workload, key, pctl):
    """What `res` adds at `pctl` over bare Envoy: the median of its rounds'
    differences from the reference bare Envoy when it ran in rounds, else
    the difference from the bare target's own run."""
    figures = res.get(workload, {})
    if "rate_rounds" in figures:
        if not all(r[side].get("trustworthy", False) for r in figures["rate_rounds"] for side in ("bare", "target")):
            return None
        diffs = [((r["target"].get(key) or {}).get(pctl), (r["bare"].get(key) or {}).get(pctl)) for r in figures["rate_rounds"]]
        diffs = [a - b for a, b in diffs if a is not None and b is not None]
        return statistics.median(diffs) if diffs else None
    a, b = pct(res, workload, key, pctl), pct(bare, workload, key, pctl) if bare else None
    return a - b if a is not None and b is not None else None


def rps(res, workload):
    closed = res.get(workload, {}).get("closed", {})
    return closed.get("rps") if closed.get("trustworthy") else None


def throughput_ratio(res, bare, workload):
    """`res`'s requests/s over bare Envoy's: the median of its rounds' ratios
    to the reference bare Envoy when it ran in rounds, else the ratio to the
    bare target's own run."""
    rounds = res.get(workload, {}).get("closed_rounds")
    if rounds:
        if not all(r[side].get("trustworthy", False) and r[side].get("rps") for r in rounds for side in ("bare", "target")):
            return None
        return statistics.median(r["target"]["rps"] / r["bare"]["rps"] for r in rounds)
    a, b = rps(res, workload), rps(bare, workload) if bare else None
    return a / b if a and b else None


def cpu_cell(res, workload):
    """CPU per request, and the reference bare Envoy's in the same rounds."""
    figures = res.get(workload, {})
    cell = fig(figures.get("cpu_us_per_request"), "{:.0f}")
    bare = figures.get("bare_cpu_us")
    return cell + (f" (over {bare:.0f})" if bare is not None and figures.get("cpu_us_per_request") is not None else "")


def report(results, opts):
    bare = next((r for r in results if r["name"] == "bare"), None)
    lines = []

    for w in opts.workloads:
        size, stream = WORKLOADS[w]
        rate = opts.rate[w]
        lines.append(f"\n### {w}: {'streamed ' if stream else ''}chat completion of {size // 1024} KB\n")
        if stream:
            lines.append(f"Fixed rate {rate} requests/s, every process on one core; latency to the first token (TTFT) and to the end; "
                         f"added: the median over {opts.rounds} rounds of {opts.round_seconds:g} s alternating with a reference bare Envoy (its figure in brackets).\n")
            lines.append("| target | TTFT p50 ms | p99 | p99.9 | TTFT p50 added | end p50 ms | end p99 |")
            lines.append("| --- | --- | --- | --- | --- | --- | --- |")
            for r in results:
                lines.append(f"| {r['label']} | {fig(pct(r, w, 'ttft_ms', 'p50'), '{:.3f}')} | {fig(pct(r, w, 'ttft_ms', 'p99'))} "
                             f"| {fig(pct(r, w, 'ttft_ms', 'p999'))} | {added_cell(r, bare, w, 'ttft_ms', 'p50')} "
                             f"| {fig(pct(r, w, 'latency_ms', 'p50'), '{:.3f}')} | {fig(pct(r, w, 'latency_ms', 'p99'))} |")
            continue
        lines.append(f"Throughput at {opts.connections} connections; latency at a fixed {rate} requests/s, every process on one core; "
                     f"÷ bare, CPU and added: the median over {opts.rounds} rounds of {opts.round_seconds:g} s alternating with a reference bare Envoy "
                     f"(its CPU and latency in brackets; bare Envoy's own row is one run of {opts.seconds:g} s).\n")
        lines.append("| target | req/s | ÷ bare | CPU µs/req | p50 ms | p99 ms | p99.9 ms | p50 added | p99 added |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in results:
            lines.append(f"| {r['label']} | {fig(rps(r, w), '{:.0f}')} | {fig(throughput_ratio(r, bare, w))} "
                         f"| {cpu_cell(r, w)} "
                         f"| {fig(pct(r, w, 'latency_ms', 'p50'), '{:.3f}')} | {fig(pct(r, w, 'latency_ms', 'p99'))} "
                         f"| {fig(pct(r, w, 'latency_ms', 'p999'))} | {added_cell(r, bare, w, 'latency_ms', 'p50')} "
                         f"| {added_cell(r, bare, w, 'latency_ms', 'p99')} |")
    lines.append("\n### Memory and start\n")
    lines.append("| target | RSS after the run (MB) | start to ready (ms) |")
    lines.append("| --- | --- | --- |")
    for r in results:
        if r["name"] != "direct":
            lines.append(f"| {r['label']} | {fig(r.get('rss_mb'), '{:.0f}')} | {fig(r.get('start_to_ready_ms'), '{:.0f}')} |")
    notes = [f"- {r['label']}, {w}: {m}" for r in results for w in opts.workloads
             for m in problems(r.get(w, {}))]
    if notes:
        lines.append("\nMeasurements to distrust (failed requests or a saturated fixed rate):\n")
        lines += notes
    return "\n".join(lines) + "\n"


def problems(figures):
    out = []
    for mode in ("closed", "rate"):
        data = figures.get(mode)
        if data is None:
            continue
        if not data.get("trustworthy", False):
            out.append(f"{mode}: {data.get('first_error') or 'failed requests'}")
        elif mode == "rate" and (data.get("rate") or {}).get("saturated"):
            out.append(f"rate: saturated (achieved {data['rate'].get('achieved_rps', 0):.0f} requests/s)")
    return out


def plot(results, opts, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = [r for r in results if r["name"] not in ("direct",)]
    labels = [r["name"] for r in shown]
    bare = next(r for r in results if r["name"] == "bare")
    w = "2k"
    fig_, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    fig_.suptitle("2 KB chat completions; dashed lines: the budgets")
    ratios = [throughput_ratio(r, bare, w) or 0 for r in shown]
    colors = ["#888" if r["name"] == "bare" else "#c55" if r["name"] in ("litellm", "portkey") else "#47a" for r in shown]
    axes[0].barh(labels, ratios, color=colors)
    axes[0].axvline(0.60, color="k", ls="--", lw=1)
    axes[0].set_title(f"req/s ÷ bare Envoy ({opts.connections} connections)")
    for key, ax, title in (("p50", axes[1], "p50"), ("p99", axes[2], "p99")):
        vals = [max(added(r, bare, w, "latency_ms", key) or 0, 0.001) for r in shown]
        ax.barh(labels, vals, color=colors)
        ax.set_xscale("log")
        ax.axvline({"p50": 0.15, "p99": 0.5}[key], color="k", ls="--", lw=1)
        ax.set_title(f"{title} added over bare Envoy, ms ({opts.rate[w]} req/s)")
        ax.set_yticklabels([])
    for ax in axes:
        ax.invert_yaxis()
    fig_.tight_layout()
    fig_.savefig(path, dpi=90)


# --- the run ----------------------------------------------------------------

def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "?")
    version = re.search(r"version: \S+?/([\d.]+)", subprocess.run([str(ENVOY), "--version"], capture_output=True, text=True).stdout)
    return {"cpus": os.cpu_count(), "cpu": cpu, "envoy": version.group(1) if version else "?", "load_before": os.getloadavg()[0]}


def check(results, floor_ratio, ceiling_p50_ms):
    """The regression mode: only gross regressions fail, judged against bare
    Envoy in the same run."""
    by = {r["name"]: r for r in results}
    bare, bundle = by["bare"]["2k"], by["bundle"]["2k"]
    failures = []
    for name, data in (("bare", bare), ("bundle", bundle)):
        for mode in ("closed", "rate"):
            if not data.get(mode, {}).get("trustworthy", False):
                failures.append(f"{name} {mode}: {data.get(mode, {}).get('first_error')}")
    if failures:
        return failures
    ratio = throughput_ratio(by["bundle"], by["bare"], "2k")
    if ratio is None:
        return ["bundle: no trustworthy throughput against bare Envoy"]
    added_p50 = added(by["bundle"], by["bare"], "2k", "latency_ms", "p50")
    if added_p50 is None:
        return ["bundle: no trustworthy latency against bare Envoy"]
    print(f"bench check: bundle at {ratio:.2f} of bare Envoy's throughput (floor {floor_ratio}), "
          f"{added_p50:+.3f} ms at p50 (ceiling {ceiling_p50_ms} ms)")
    if ratio < floor_ratio:
        failures.append(f"throughput fell to {ratio:.2f} of bare Envoy (floor {floor_ratio})")
    if added_p50 > ceiling_p50_ms:
        failures.append(f"p50 latency added {added_p50:.3f} ms (ceiling {ceiling_p50_ms} ms)")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", help="comma-separated target names (default: all)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rate-2k", type=int, default=50, help="fixed rate of the 2 KB latency runs")
    parser.add_argument("--rate-64k", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4, help="latency rounds alternating with the reference bare Envoy")
    parser.add_argument("--round-seconds", type=float, default=3, help="length of one latency round")
    parser.add_argument("--quick", action="store_true", help="bare Envoy and the bundle, 2 KB, 3 s each")
    parser.add_argument("--check", action="store_true", help="exit 1 on a gross regression (with --quick)")
    parser.add_argument("--plot", type=Path, help="write the PNG plot here")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench")
    opts = parser.parse_args()
    if opts.quick:
        opts.targets, opts.workloads, opts.seconds = "bare,bundle", "2k", 3
        opts.rounds, opts.round_seconds = 3, 2
    opts.workloads = opts.workloads.split(",")
    opts.rate = {"2k": opts.rate_2k, "2k-stream": opts.rate_2k, "64k": opts.rate_64k}
    chosen = [t for t in targets() if not opts.targets or t["name"] in opts.targets.split(",")]
    needed = ([ENVOY, LOAD, FAKE, RENDER] + ([RATELIMIT] if any(t.get("global") for t in chosen) else [])
              + ([FLOOR] if any(t["name"] == "floor" for t in chosen) else []))
    for tool in needed:
        if not tool.exists():
            sys.exit(f"{tool} is missing: run `make bench` (it builds every tool)")
    opts.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    def progress(what):
        print(f"[{time.monotonic() - started:6.0f} s] {what}", file=sys.stderr, flush=True)

    results = []
    with tempfile.TemporaryDirectory(prefix="llm-bench-") as tmp:
        info = machine()
        with fake_provider(Path(tmp)) as upstream, contextlib.ExitStack() as running:
            reference = None
            bare = next((t for t in chosen if t["name"] == "bare"), None)
            if bare and len(chosen) > 1:
                workdir = Path(tmp) / "reference"
                workdir.mkdir()
                progress("starting the reference bare Envoy")
                reference = running.enter_context(envoy_target(bare, upstream, workdir))[:3]
            for target in chosen:
                workdir = Path(tmp) / target["name"]
                workdir.mkdir()
                try:
                    results.append(measure(target, upstream, workdir, opts, progress, reference))
                except Exception as err:  # a peer that fails to start must not lose the other figures
                    progress(f"{target['name']}: FAILED: {err}")
                    results.append({"name": target["name"], "label": target["label"], "error": str(err)})
    info["seconds"] = time.monotonic() - started
    (opts.out / "results.json").write_text(json.dumps({"machine": info, "options": vars(opts) | {"out": str(opts.out), "plot": str(opts.plot)}, "results": results}, indent=1, default=str))
    text = report(results, opts)
    header = (f"Machine: {info['cpus']} cores ({info['cpu']}), Envoy {info['envoy']} with {WORKERS} workers, "
              f"load average {info['load_before']:.1f} at the start; run took {info['seconds']:.0f} s.\n")
    (opts.out / "report.md").write_text(header + text)
    print(header + text)
    if opts.plot:
        plot(results, opts, opts.plot)
    if opts.check:
        failures = check(results, floor_ratio=0.30, ceiling_p50_ms=1.5)
        if failures:
            print("bench check FAILED:\n  " + "\n  ".join(failures))
            sys.exit(1)
        print("bench check passed")


if __name__ == "__main__":
    main()
