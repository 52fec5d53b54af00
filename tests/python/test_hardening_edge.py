"""Only understood calls carry our key, in the Kubernetes and Istio layouts,
driven offline with a real Envoy and the fake provider.

- Kubernetes: the checked-in gateway and sidecar configs (examples/kubernetes),
  with only their addresses, ports and in-container paths pointed here.
- Istio: there is no istiod here, so the sidecar's routes are built from the
  generated VirtualServices (their matches and direct responses, one Envoy
  route each), its filters from the bundle WasmPlugin's pluginConfig and the
  EnvoyFilters' patches (the early header mutation, the key injection), as
  istiod would put them into the sidecar's outbound port 80.

A call the filters do not understand gets a 404 in the caller's format and
the provider receives nothing; an understood one reaches it with our key.
"""

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

import test_deploy_examples as deploy
from test_deploy_examples import EXAMPLES, ENVOY, FAKE_PROVIDER, WASM_DIR, die_with_parent, free_port, generate

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
MESSAGES = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}

# (method, path, body, the caller's error format)
NOT_UNDERSTOOD = [
    ("POST", "/v1/files", CHAT, "openai"),
    ("GET", "/v1/models/gpt-4o-mini", None, "openai"),
    ("DELETE", "/v1/chat/completions", None, "openai"),
    ("POST", "/v1/threads", CHAT, "openai"),
    ("POST", "/v1/chat/completions/../../v1/files", CHAT, "openai"),
    ("POST", "/V1/chat/completions", CHAT, "openai"),
    ("POST", "/openai/deployments/gpt-4o-mini/images/generations", CHAT, "openai"),
    ("POST", "/v1/messages/batches", MESSAGES, "anthropic"),
    ("POST", "/v1beta/models/gemini-2.5-flash:countTokens", {"contents": []}, "gemini"),
]


def dialect(body):
    if not isinstance(body, dict):
        return "unknown"
    if body.get("type") == "error" and body["error"]["type"] == "not_found_error":
        return "anthropic"
    if body.get("error", {}).get("status") == "NOT_FOUND":
        return "gemini"
    if body.get("error", {}).get("code") == "not_found":
        return "openai"
    return "unknown"


def call(base, method, path, body=None, headers=None):
    """A raw HTTP call (urllib would normalise the path): (status, JSON body or text)."""
    args = ["curl", "-sS", "-k", "--path-as-is", "-X", method, "-o", "-", "-w", "\n%{http_code}",
            "-H", "content-type: application/json", "--max-time", "30", base + path]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if body is not None:
        args += ["--data-binary", json.dumps(body)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    text, _, status = out.rpartition("\n")
    try:
        return int(status), json.loads(text)
    except json.JSONDecodeError:
        return int(status), text


class Fake:
    def __init__(self, tmp, tls_names=None):
        ready = tmp / "fake.json"
        args = [str(FAKE_PROVIDER), "serve", "--listen", "127.0.0.1:0", "--ready-file", str(ready),
                "--collector-file", str(tmp / "audit.jsonl")]
        if tls_names:
            subprocess.run([str(FAKE_PROVIDER), "gen-certs", "--out", str(tmp), "--names", ",".join(tls_names)], check=True)
            args += ["--tls-listen", "127.0.0.1:0", "--tls-cert", str(tmp / "server.pem"), "--tls-key", str(tmp / "server-key.pem")]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(tmp / "fake.log", "w"),
                                        preexec_fn=die_with_parent)
        deadline = time.monotonic() + 15
        while not ready.exists() or not ready.read_text().strip():
            assert time.monotonic() < deadline, "fake-provider did not start"
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.http, self.tls = info["http"], info.get("tls")

    def requests(self):
        with urllib.request.urlopen(f"http://{self.http}/__requests", timeout=10) as r:
            return json.loads(r.read())["requests"]

    def clear(self):
        urllib.request.urlopen(urllib.request.Request(f"http://{self.http}/__requests", method="DELETE"), timeout=10)


def start_envoy(config, tmp, ready_url):
    process = subprocess.Popen([str(ENVOY), "-c", str(config), "--concurrency", "1", "--disable-hot-restart",
                                "--log-level", "warning"],
                               stdout=open(tmp / "envoy.log", "w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (tmp / "envoy.log").read_text()[-3000:]
        try:
            if urllib.request.urlopen(ready_url, timeout=2).status == 200:
                return process
        except OSError:
            pass
        assert time.monotonic() < deadline, "Envoy not ready after 60 s:\n" + (tmp / "envoy.log").read_text()[-3000:]
        time.sleep(0.1)


def stop(*processes):
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def replace_once(text, old, new):
    assert text.count(old) >= 1, f"{old!r} is not in the config"
    return text.replace(old, new)


def write_provider_keys(secrets):
    """A key per provider, and its SDS file pointed at it here."""
    for provider in (p["name"] for p in generate.providers()):
        (secrets / f"{provider}.key").write_text(f"sk-edge-{provider}")
        sds = secrets / f"{provider}-key.yaml"
        sds.write_text(sds.read_text().replace(generate.SECRETS_DIR, str(secrets)))


def assert_not_understood_get_404(base, fake, headers):
    fake.clear()
    for method, path, body, expected in NOT_UNDERSTOOD:
        status, answer = call(base, method, path, body, headers)
        assert status == 404, (method, path, answer)
        assert dialect(answer) == expected, (method, path, answer)
    assert fake.requests() == [], "nothing may reach a provider"


# --- Kubernetes ------------------------------------------------------------------------

PROVIDER_HOSTS = list(generate.provider_hosts(generate.DEFAULTS).values())


@pytest.mark.parametrize("layout", ["gateway", "sidecar"])
def test_kubernetes_layouts_route_only_understood_calls(tmp_path, layout):
    fake = Fake(tmp_path, ["localhost", "127.0.0.1", *PROVIDER_HOSTS])
    text = deploy.configmap_envoy(EXAMPLES / f"kubernetes/{layout}/envoy-config.yaml")
    ports = {"listener": free_port(), "admin": free_port(), "ops": free_port()}
    listener_port = "8443" if layout == "gateway" else "10000"
    text = replace_once(text, f"port_value: {listener_port} }}", f"port_value: {ports['listener']} }}")
    text = replace_once(text, "port_value: 9901 }", f"port_value: {ports['admin']} }}")
    text = replace_once(text, "port_value: 9902 }", f"port_value: {ports['ops']} }}")
    fake_host, fake_port = fake.tls.rsplit(":", 1)
    for host in PROVIDER_HOSTS:
        text = re.sub(rf'address: "?{re.escape(host)}"?, port_value: 443', f'address: "{fake_host}", port_value: {fake_port}', text)
    text = text.replace("/etc/ssl/certs/ca-certificates.crt", str(tmp_path / "ca.pem"))
    text = text.replace("/dev/stdout", str(tmp_path / "audit.log"))
    config = deploy.local_copy(text, tmp_path)
    secrets = tmp_path / "secrets"
    write_provider_keys(secrets)
    (secrets / "gateway-cert.yaml").write_text(
        (secrets / "gateway-cert.yaml").read_text()
        .replace("/etc/llm-gateway/tls/tls.crt", str(tmp_path / "server.pem"))
        .replace("/etc/llm-gateway/tls/tls.key", str(tmp_path / "server-key.pem")))
    envoy = start_envoy(config, tmp_path, f"http://127.0.0.1:{ports['ops']}/ready")
    try:
        scheme = "https" if layout == "gateway" else "http"
        base = f"{scheme}://127.0.0.1:{ports['listener']}"
        auth = {"authorization": "Bearer replace-with-a-long-random-key"}
        status, answer = call(base, "POST", "/v1/chat/completions", CHAT, auth)
        assert status == 200, answer
        (sent,) = fake.requests()
        assert sent["headers"]["authorization"] == "Bearer sk-edge-openai", "the understood call carries our key"
        assert_not_understood_get_404(base, fake, auth)
    finally:
        stop(envoy, fake.process)


# --- Istio -----------------------------------------------------------------------------

def envoy_route(match, http_route, cluster):
    """One Envoy route for one VirtualService match, as istiod writes it."""
    uri = (match or {}).get("uri", {"prefix": "/"})
    kind, value = next(iter(uri.items()))
    route_match = {"exact": {"path": value}, "prefix": {"prefix": value},
                   "regex": {"safe_regex": {"regex": value}}}[kind]
    if match and "method" in match:
        route_match["headers"] = [{"name": ":method", "string_match": match["method"]}]
    route = {"match": route_match}
    if "directResponse" in http_route:
        direct = http_route["directResponse"]
        route["direct_response"] = {"status": direct["status"], "body": {"inline_string": direct["body"]["string"]}}
        for name, value in http_route.get("headers", {}).get("response", {}).get("set", {}).items():
            route.setdefault("response_headers_to_add", []).append(
                {"header": {"key": name, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"})
    else:
        route["route"] = {"cluster": cluster, "timeout": http_route["timeout"]}
    return route


def istio_sidecar_config(tmp_path, fake):
    items = deploy.manifests(EXAMPLES / "istio")
    (bundle,) = deploy.wasmplugins("wasmplugin-bundle.yaml")
    plugin = deploy.wasm_filter(bundle["spec"]["pluginName"], generate.BUNDLE[1], bundle["spec"]["pluginConfig"])
    plugin["typed_config"]["config"]["failure_policy"] = bundle["spec"]["failStrategy"]
    fake_host, fake_port = fake.http.rsplit(":", 1)
    virtual_hosts, clusters = [], []
    for service in deploy.by_kind(items, "VirtualService"):
        (host,) = service["spec"]["hosts"]
        cluster = generate.istio_cluster(host)
        routes = [envoy_route(match, http_route, cluster)
                  for http_route in service["spec"]["http"] for match in http_route.get("match", [None])]
        virtual_hosts.append({"name": host, "domains": [host], "routes": routes})
        keys = next(d for d in deploy.by_kind(items, "EnvoyFilter")
                    if d["spec"]["configPatches"][0]["match"].get("cluster", {}).get("service") == host)
        clusters.append({
            "name": cluster, "type": "STATIC", "connect_timeout": "2s",
            "load_assignment": {"cluster_name": cluster, "endpoints": [{"lb_endpoints": [{"endpoint": {
                "address": {"socket_address": {"address": fake_host, "port_value": int(fake_port)}}}}]}]},
            **keys["spec"]["configPatches"][0]["patch"]["value"],
        })
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "outbound_0.0.0.0_80",
        "route_config": {"name": "80", "virtual_hosts": virtual_hosts},
        "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": str(tmp_path / "audit.log"),
            "log_format": {"text_format_source": {"inline_string": "%FILTER_STATE(wasm.llm.audit.record:PLAIN)%\n"}}}}],
        "http_filters": [plugin, {"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    for envoy_filter in deploy.by_kind(items, "EnvoyFilter"):
        for patch in envoy_filter["spec"]["configPatches"]:
            if patch["applyTo"] == "NETWORK_FILTER":
                manager.update({k: v for k, v in patch["patch"]["value"]["typed_config"].items() if k != "@type"})
    port = free_port()
    bootstrap = {
        "node": {"id": "sidecar~10.0.0.1~app.default~default.svc.cluster.local", "cluster": "app.default"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": free_port()}}},
        "static_resources": {
            "listeners": [{"name": "outbound_80", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                           "typed_config": manager}]}]}],
            "clusters": clusters,
        },
    }
    config = deploy.local_copy(yaml.safe_dump(bootstrap), tmp_path)
    write_provider_keys(tmp_path / "secrets")
    return config, port, bootstrap["admin"]["address"]["socket_address"]["port_value"]


def test_istio_sidecar_routes_only_understood_calls_and_ignores_a_client_id(tmp_path):
    fake = Fake(tmp_path)
    config, port, admin = istio_sidecar_config(tmp_path, fake)
    envoy = start_envoy(config, tmp_path, f"http://127.0.0.1:{admin}/ready")
    try:
        base = f"http://127.0.0.1:{port}"
        openai = {"host": "api.openai.com"}
        status, answer = call(base, "POST", "/v1/chat/completions", CHAT, {**openai, "x-client-id": "someone-else"})
        assert status == 200, answer
        (sent,) = fake.requests()
        assert sent["headers"]["authorization"] == "Bearer sk-edge-openai", "the understood call carries our key"
        assert "x-client-id" not in sent["headers"]
        assert_not_understood_get_404(base, fake, openai)
        for host, path, body in [("api.anthropic.com", "/v1/files", MESSAGES),
                                 ("generativelanguage.googleapis.com", "/v1beta/files", {"contents": []}),
                                 ("example.openai.azure.com", "/openai/files", CHAT)]:
            status, answer = call(base, "POST", path, body, {"host": host})
            assert status == 404, (host, path, answer)
        assert fake.requests() == [], "nothing may reach a provider"
        # The app's own x-client-id never becomes the audited identity.
        deadline = time.monotonic() + 5
        while not (tmp_path / "audit.log").exists() or not (tmp_path / "audit.log").read_text().strip():
            assert time.monotonic() < deadline, "no audit record"
            time.sleep(0.2)
        record = json.loads((tmp_path / "audit.log").read_text().splitlines()[0])
        assert "someone-else" not in json.dumps(record), record
    finally:
        stop(envoy, fake.process)
