#!/usr/bin/env python3
"""Kubernetes OpenAPI v2 (swagger.json) -> one standalone, strict JSON schema per kind, named
the way kubeconform looks them up: `{kind}{-group}-{version}.json` (lower case, group cut at
its first dot: `daemonset-apps-v1.json`, `clusterrole-rbac-v1.json`, `configmap-v1.json`).

  python3 openapi2schemas.py SWAGGER_JSON OUT_DIR

Strict: objects with declared properties get `additionalProperties: false` (unknown or
misspelt fields fail), `kind`/`apiVersion` must match the file's kind. IntOrString and
Quantity accept strings and numbers, as the API server does.
"""
import json
import os
import sys

INT_OR_STRING = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
QUANTITY = {"oneOf": [{"type": "string"}, {"type": "number"}]}
REF = "#/definitions/"


def convert(node):
    if isinstance(node, list):
        return [convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("format") == "int-or-string":
        out = dict(INT_OR_STRING)
        if "description" in node:
            out["description"] = node["description"]
        return out
    out = {k: convert(v) for k, v in node.items()}
    if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def refs(node, found):
    if isinstance(node, list):
        for n in node:
            refs(n, found)
    elif isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r.startswith(REF):
            found.add(r[len(REF):])
        for v in node.values():
            refs(v, found)


def closure(defs, name):
    seen, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n in seen or n not in defs:
            continue
        seen.add(n)
        found = set()
        refs(defs[n], found)
        todo.extend(found - seen)
    return seen


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: openapi2schemas.py SWAGGER_JSON OUT_DIR")
    with open(sys.argv[1]) as f:
        defs = json.load(f)["definitions"]
    defs = {k: convert(v) for k, v in defs.items()}
    defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = dict(QUANTITY)
    os.makedirs(sys.argv[2], exist_ok=True)
    written = 0
    for name, d in sorted(defs.items()):
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
            api_version = f"{group}/{version}" if group else version
            schema = json.loads(json.dumps(d))
            props = schema.setdefault("properties", {})
            props["kind"] = {"type": "string", "enum": [kind]}
            props["apiVersion"] = {"type": "string", "enum": [api_version]}
            schema["required"] = sorted(set(schema.get("required", [])) | {"kind", "apiVersion"})
            schema["definitions"] = {n: defs[n] for n in sorted(closure(defs, name)) if n != name}
            schema["$schema"] = "http://json-schema.org/draft-07/schema#"
            suffix = f"-{group.split('.')[0]}" if group else ""
            path = os.path.join(sys.argv[2], f"{kind.lower()}{suffix}-{version}.json")
            with open(path, "w") as f:
                json.dump(schema, f, separators=(",", ":"))
            written += 1
    print(f"openapi2schemas: {written} schemas in {sys.argv[2]}", file=sys.stderr)


if __name__ == "__main__":
    main()
