"""A configuration update while serving: Envoy reads its listener from a
file (LDS), and the file is replaced the way a control plane pushes an
update. A bad filter configuration is refused when the VM validates it
(the update is rejected, naming the bad field in Envoy's log) and the old
configuration keeps serving; a good one takes effect."""

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "jane.doe@example.com"
CHAT = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Mail {EMAIL} the report."}]}).encode()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stats(admin):
    """Envoy's counters, or nothing while its admin is not up yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats") as r:
            return dict(line.split(": ", 1) for line in r.read().decode().splitlines() if ": " in line)
    except urllib.error.URLError:
        return {}


def post(port):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=CHAT, method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def listener_file(path, template, pii_scan, sets, tmp):
    """Renders the benchmark's Envoy template with `pii_scan` as the bundle's
    configuration and writes its listener as an LDS file, replacing `path`
    atomically (as Envoy's file watch expects)."""
    filters = tmp / "filters.json"
    filters.write_text(json.dumps({"pii_scan": pii_scan}))
    rendered = tmp / "rendered.yaml"
    args = [str(ROOT / "target/debug/llm-gateway"), "render", "--template", str(template),
            "--filters", str(filters), "--out", str(rendered)]
    for name, value in sets.items():
        args += ["--set", f"{name}={value}"]
    subprocess.run(args, check=True, cwd=ROOT, capture_output=True)
    config = yaml.safe_load(rendered.read_text())
    listener = config["static_resources"].pop("listeners")[0]
    listener["@type"] = "type.googleapis.com/envoy.config.listener.v3.Listener"
    staged = path.with_suffix(".new")
    staged.write_text(yaml.safe_dump({"resources": [listener]}))
    os.rename(staged, path)
    return config


def test_a_bad_filter_config_is_refused_and_the_old_one_keeps_serving(tmp_path):
    ready = tmp_path / "fake.ready"
    fake = subprocess.Popen([str(ROOT / "target/debug/fake-provider"), "serve", "--listen", "127.0.0.1:0",
                             "--ready-file", str(ready)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    envoy = None
    try:
        wait_until(ready.exists, "the fake provider")
        upstream = json.loads(ready.read_text())["http"]
        admin, port = free_port(), free_port()
        sets = {"ADMIN_PORT": admin, "LISTENER_PORT": port, "UPSTREAM_PORT": upstream.rsplit(":", 1)[1]}
        lds = tmp_path / "lds.yaml"
        bootstrap = listener_file(lds, ROOT / "bench/envoy-bench.yaml", {"default_action": "redact"}, sets, tmp_path)
        bootstrap["node"] = {"id": "config-update-test", "cluster": "llm-gateway"}
        bootstrap["dynamic_resources"] = {"lds_config": {"path_config_source": {"path": str(lds)}, "resource_api_version": "V3"}}
        (tmp_path / "envoy.yaml").write_text(yaml.safe_dump(bootstrap))
        log = open(tmp_path / "envoy.log", "wb")
        envoy = subprocess.Popen([str(ROOT / ".venv/bin/envoy"), "-c", str(tmp_path / "envoy.yaml"), "--concurrency", "2",
                                  "--disable-hot-restart", "-l", "warning"], stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: stats(admin).get("listener_manager.total_listeners_active") == "1", "the listener")
        assert post(port) == 200

        def last_body():
            with urllib.request.urlopen(f"http://{upstream}/__requests") as r:
                return json.load(r)["requests"][-1]["body"]

        assert EMAIL not in last_body(), "the first configuration redacts"

        # A bad update: an action that does not exist.
        listener_file(lds, ROOT / "bench/envoy-bench.yaml", {"default_action": "explode"}, sets, tmp_path)
        wait_until(lambda: int(stats(admin).get("listener_manager.lds.update_rejected", "0")) >= 1, "the update to be rejected")
        text = (tmp_path / "envoy.log").read_text(errors="replace")
        assert re.search(r"pii_scan.*default_action", text), f"the error names the field:\n{text[-2000:]}"
        for _ in range(5):
            assert post(port) == 200, "the old configuration keeps serving"
            assert EMAIL not in last_body(), "and keeps redacting"

        # A good update takes effect: now the address is blocked.
        listener_file(lds, ROOT / "bench/envoy-bench.yaml", {"default_action": "block"}, sets, tmp_path)
        wait_until(lambda: int(stats(admin).get("listener_manager.lds.update_success", "0")) >= 2, "the good update")
        wait_until(lambda: post(port) == 400, "the new configuration to block")
    finally:
        if envoy is not None:
            envoy.terminate()
            envoy.wait(timeout=10)
        fake.terminate()
        fake.wait(timeout=10)
