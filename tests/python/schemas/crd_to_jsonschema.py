"""Turns the openAPIV3Schema of Kubernetes CustomResourceDefinitions into
strict JSON schemas, one file per kind and version, for offline validation.

    .venv/bin/python tests/python/schemas/crd_to_jsonschema.py CRDS.yaml OUT_DIR KIND/VERSION...

e.g. the Istio CRDs (istio/api, kubernetes/customresourcedefinitions.gen.yaml
of a release tag) into tests/python/schemas/istio (see its README.md).

Kubernetes prunes unknown fields of a structural schema silently; these
schemas reject them instead (`additionalProperties: false` on every object
that does not ask to keep unknown fields), so a misspelt field fails the test
rather than vanishing in the cluster. Descriptions are dropped (size), and so
are the CEL rules (`x-kubernetes-validations`), which a JSON-schema validator
cannot run; the test checks the few that matter to the examples by hand.
"""

import json
import sys
from pathlib import Path

import yaml

DROPPED = {"description", "x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
           "x-kubernetes-map-type", "x-kubernetes-embedded-resource"}


def strict(node):
    """A copy of an OpenAPI v3 schema node as a strict JSON schema."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in DROPPED or key == "nullable" or key.startswith("x-kubernetes-"):
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: strict(sub) for name, sub in value.items()}
        else:
            out[key] = strict(value)
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    keeps_unknown = node.get("x-kubernetes-preserve-unknown-fields", False)
    if node.get("type") == "object" and "properties" in node and not keeps_unknown and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


def resource_schema(crd, version):
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"]
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            body = strict(v["schema"]["openAPIV3Schema"])
            break
    else:
        raise SystemExit(f"{kind} has no version {version}")
    body.setdefault("properties", {})
    body["properties"]["apiVersion"] = {"const": f"{group}/{version}"}
    body["properties"]["kind"] = {"const": kind}
    body["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1}},
    }
    body["required"] = sorted(set(body.get("required", [])) | {"apiVersion", "kind", "metadata"})
    body["additionalProperties"] = False
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"{kind} {group}/{version}", **body}


def main(crd_file, out_dir, *wanted):
    documents = []
    for doc in yaml.safe_load_all(Path(crd_file).read_text()):
        if doc:  # `kubectl get crd ... -o yaml` gives a List
            documents.extend(doc["items"] if doc.get("kind") == "List" else [doc])
    crds = {d["spec"]["names"]["kind"]: d for d in documents}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for item in wanted:
        kind, version = item.split("/")
        schema = resource_schema(crds[kind], version)
        path = out / f"{kind.lower()}-{version}.json"
        path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(path)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
