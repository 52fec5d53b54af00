"""The peer gateways `make bench` compares ours with: LiteLLM proxy and the
Portkey gateway, installed by bench/install-peers.sh into bench/.peers/.

Each is a context manager that starts the peer on a free loopback port in
front of `upstream` (the base URL of an OpenAI-compatible server on
loopback), waits until a real chat completion through it succeeds, yields a
`Peer` (what a load generator needs to drive it, and the pids to read RSS and
CPU from) and kills the peer's whole process group on exit.

Both are configured as a performance-minded user would run a plain proxy of
OpenAI chat completions; the choices, and why, are in the comments of
`litellm`, `portkey` and bench/peers/litellm.yaml. Neither may reach the
internet: this machine has none, and anything that phones home at start
hangs or fails there, so whatever did is turned off below.

`python bench/peers.py smoke --upstream URL` starts each peer in turn and
sends one plain and one streamed request through it."""

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
INSTALLED = BENCH / ".peers"
CONFIGS = BENCH / "peers"

MODEL = "gpt-4o-mini"
# The key each peer sends upstream (the fake provider accepts any) and the
# LiteLLM master key clients present; both are dummies for loopback only.
UPSTREAM_KEY = "sk-bench-upstream"
LITELLM_MASTER_KEY = "sk-bench-litellm"

# LiteLLM takes 8-15 s to be ready here with one worker and 20-35 s with two
# (each worker imports it again) on a busy machine; two minutes leaves room
# without letting a hung start block a benchmark run for long.
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


@dataclasses.dataclass(frozen=True)
class Peer:
    """A running peer gateway, as a client and a resource meter see it."""

    name: str
    url: str  # the full chat-completions URL to POST to
    headers: dict  # headers every request must carry (content-type included)
    model: str  # the model name clients send
    pid: int  # the process started (the server, or its workers' manager)
    pids: tuple  # every process of the peer, pid included (RSS/CPU sum)
    start_to_ready_ms: float  # spawn to first successful chat completion
    log: Path

    # Read-only dict access too (peer["url"], peer.get("pids")), for callers
    # that treat every target's description as a dict.
    def __getitem__(self, key):
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key, default=None):
        return self[key] if key in self.__dataclass_fields__ else default


def free_port():
    """A loopback port nothing listens on now (the peer binds it just after,
    so another process could in theory take it first: the start then fails
    loudly, it never measures the wrong server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chat_body(stream=False, size=2048, model=MODEL):
    """An OpenAI chat request whose JSON body is about `size` bytes."""
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": ""},
        ],
        "max_tokens": 64,
    }
    if stream:
        body["stream"] = True
    filler = max(0, size - len(json.dumps(body)))
    words = ("lorem ipsum dolor sit amet consectetur " * (filler // 39 + 1))[:filler]
    body["messages"][1]["content"] = words
    return json.dumps(body).encode()


def post(url, headers, body, timeout=10.0):
    """POSTs `body`; returns (status, answer, raw): `answer` is the
    assistant's text (see `answer_text`), None when the reply has none."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", parts.path, body=body, headers=headers)
        resp = conn.getresponse()
        raw = resp.read().decode("utf-8", "replace")
    finally:
        conn.close()
    return resp.status, answer_text(raw), raw


def answer_text(raw):
    """The assistant's text in an OpenAI chat reply: the message of a JSON
    reply, the concatenated deltas of a stream that ended with [DONE]; None
    for anything else."""
    try:
        if not raw.lstrip().startswith("data:"):
            return json.loads(raw)["choices"][0]["message"]["content"]
        pieces = []
        for line in raw.splitlines():
            data = line[len("data:"):].strip() if line.startswith("data:") else ""
            if data == "[DONE]":
                return "".join(pieces)
            if data:
                for choice in json.loads(data).get("choices", []):
                    pieces.append((choice.get("delta") or {}).get("content") or "")
        return None
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def group_pids(pgid):
    """Every live process in process group `pgid` (the peer runs in its own);
    zombies are dead, whoever has yet to reap them."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return tuple(sorted(pids))


def _log_tail(log, lines=30):
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc):
    """SIGTERM to the whole group, SIGKILL to whatever is left after a grace
    period: uvicorn workers and anything they spawned go with the manager."""
    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and group_pids(proc.pid):
            time.sleep(0.05)
        if not group_pids(proc.pid):
            break
    proc.wait(timeout=STOP_TIMEOUT_S)


def _ready(url, headers, body, log, log_marker):
    try:
        status, answer, _ = post(url, headers, body, timeout=5.0)
    except OSError:
        return False
    if status != 200 or not answer:
        return False
    if log_marker is None:
        return True
    text, count = log_marker
    return log.read_text(errors="replace").count(text) >= count


@contextlib.contextmanager
def _serve(name, cmd, env, workdir, url, headers, log_marker=None):
    """Runs `cmd` in its own session (so its process group is ours to kill),
    logging to workdir/NAME.log; yields a Peer once a chat completion through
    `url` answers 200 with an assistant message and, with several workers
    (only one of which that request proves up), once the log shows
    `log_marker` = (text, count): each worker printing it at its start."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    body = chat_body(size=256)
    with open(log, "wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            deadline = started + READY_TIMEOUT_S
            while not _ready(url, headers, body, log, log_marker):
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} before it was ready:\n{_log_tail(log)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready after {READY_TIMEOUT_S:.0f} s:\n{_log_tail(log)}")
                time.sleep(0.05)
            ready_ms = (time.monotonic() - started) * 1000.0
            yield Peer(name=name, url=url, headers=dict(headers), model=MODEL, pid=proc.pid,
                       pids=group_pids(proc.pid), start_to_ready_ms=ready_ms, log=log)
        finally:
            _stop(proc)


def _require(path, what):
    if not path.exists():
        raise RuntimeError(f"{what} is not installed ({path} missing): run bench/install-peers.sh")


def _base_env():
    """This environment less what would point a peer at a database, a cache
    or a proxy of the caller's."""
    env = dict(os.environ)
    for key in ("DATABASE_URL", "DIRECT_URL", "REDIS_HOST", "REDIS_URL", "REDIS_CONNECTION_STRING",
                "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NODE_OPTIONS"):
        env.pop(key, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


@contextlib.contextmanager
def litellm(upstream, workdir, workers=1):
    """LiteLLM proxy (uvicorn, its default and recommended server) with
    bench/peers/litellm.yaml: one model entry `gpt-4o-mini` -> openai/ at
    `upstream`/v1, a master key, no database, no callbacks, logs at ERROR.

    `workers` is uvicorn's --num_workers: 1 by default, as LiteLLM's
    production guide recommends (one worker per instance, scale out), and 2
    at most is worth trying on this 2-core machine."""
    exe = INSTALLED / "litellm-venv/bin/litellm"
    _require(exe, "LiteLLM")
    port = free_port()
    env = _base_env()
    env.update({
        "BENCH_UPSTREAM_V1": upstream.rstrip("/") + "/v1",
        "LITELLM_MASTER_KEY": LITELLM_MASTER_KEY,
        # Otherwise every start (and the import itself) fetches the model cost
        # map from GitHub, retrying for several seconds before falling back.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # ERROR also sets uvicorn's log level, which drops the access log.
        "LITELLM_LOG": "ERROR",
        # DEV mode loads a .env from the working directory.
        "LITELLM_MODE": "PRODUCTION",
        # Tokenizers for non-OpenAI models come from the Hugging Face hub.
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        # The admin UI is no part of the proxy path; don't set it up.
        "DISABLE_ADMIN_UI": "True",
        "NUM_WORKERS": str(workers),
    })
    cmd = [str(exe), "--config", str(CONFIGS / "litellm.yaml"), "--host", "127.0.0.1",
           "--port", str(port), "--num_workers", str(workers), "--telemetry", "False"]
    headers = {"content-type": "application/json", "authorization": f"Bearer {LITELLM_MASTER_KEY}"}
    # With several workers uvicorn runs a manager (plus multiprocessing's
    # resource tracker) and one process per worker, each of which prints this
    # line once its app has started (LiteLLM 1.103.7).
    marker = ("Proxy initialized with Config", workers) if workers > 1 else None
    with _serve("litellm", cmd, env, workdir, f"http://127.0.0.1:{port}/v1/chat/completions",
                headers, log_marker=marker) as peer:
        yield peer


@contextlib.contextmanager
def portkey(upstream, workdir):
    """The Portkey gateway's Node server (the package's bin,
    build/start-server.js), headless and NODE_ENV=production (no console UI,
    no in-memory log stream), routed per request by headers: provider openai,
    custom host `upstream`/v1. It is one single-threaded Node process; the
    package has no worker or cluster option.

    Expect its time to first streamed token to be 25 ms or more: its stream
    transformer (function Cd in 1.15.2's build) sleeps 25 ms before passing
    on the first chunk of every OpenAI-style stream.

    bench/peers/loopback.mjs is preloaded because start-server.js takes a
    port but no host and would listen on every interface."""
    server = INSTALLED / "portkey/node_modules/@portkey-ai/gateway/build/start-server.js"
    _require(server, "Portkey gateway")
    port = free_port()
    env = _base_env()
    env["NODE_ENV"] = "production"
    cmd = ["node", "--import", str(CONFIGS / "loopback.mjs"), str(server), f"--port={port}", "--headless"]
    headers = {
        "content-type": "application/json",
        "authorization": f"Bearer {UPSTREAM_KEY}",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": upstream.rstrip("/") + "/v1",
    }
    with _serve("portkey", cmd, env, workdir, f"http://127.0.0.1:{port}/v1/chat/completions",
                headers) as peer:
        yield peer


PEERS = {"litellm": litellm, "portkey": portkey}


def smoke(upstream, workdir, names):
    """One plain and one streamed 2 KB request through each peer, each
    answer compared with the upstream's own; True when all passed."""
    direct = f"{upstream.rstrip('/')}/v1/chat/completions"
    plain_headers = {"content-type": "application/json", "authorization": f"Bearer {UPSTREAM_KEY}"}
    expected = {}
    for stream in (False, True):
        try:
            status, answer, raw = post(direct, plain_headers, chat_body(stream=stream))
        except OSError as err:
            print(f"upstream FAIL: {direct}: {err}")
            return False
        if status != 200 or answer is None:
            print(f"upstream FAIL: {direct} answered {status}: {raw[:200]!r}")
            return False
        expected[stream] = answer
    all_ok = True
    for name in names:
        try:
            with PEERS[name](upstream, Path(workdir) / name) as peer:
                checks, ok = [], True
                for stream in (False, True):
                    status, answer, raw = post(peer.url, peer.headers, chat_body(stream=stream))
                    good = status == 200 and answer == expected[stream]
                    ok &= good
                    label = "stream" if stream else "plain"
                    checks.append(f"{label} {status}" + ("" if good else f" {raw[:200]!r}"))
                print(f"{name} {'OK' if ok else 'FAIL'}: {'; '.join(checks)}; ready in "
                      f"{peer.start_to_ready_ms:.0f} ms; pids {list(peer.pids)}; log {peer.log}")
        except (RuntimeError, OSError) as err:
            ok = False
            print(f"{name} FAIL: {err}")
        all_ok &= ok
    return all_ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("smoke", help="start each peer and send a plain and a streamed request")
    cmd.add_argument("--upstream", required=True, help="base URL of the OpenAI-compatible upstream, e.g. http://127.0.0.1:PORT")
    cmd.add_argument("--workdir", help="where the peers' logs go (default: a temporary directory)")
    cmd.add_argument("--peer", action="append", choices=sorted(PEERS), help="only this peer (repeatable)")
    args = parser.parse_args()
    names = args.peer or list(PEERS)
    if args.workdir:
        return 0 if smoke(args.upstream, args.workdir, names) else 1
    with tempfile.TemporaryDirectory(prefix="peers-smoke-") as workdir:
        return 0 if smoke(args.upstream, workdir, names) else 1


if __name__ == "__main__":
    sys.exit(main())
