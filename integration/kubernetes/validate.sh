#!/usr/bin/env bash
# Validates the Kubernetes manifests in this directory offline, against JSON schemas generated
# from the Kubernetes OpenAPI spec, with kubeconform in strict mode (unknown fields fail).
#
#   bash integration/kubernetes/validate.sh            # install if needed, then validate
#   bash integration/kubernetes/validate.sh --install  # only install (setup.sh calls this)
#
# Everything comes from the Go module proxy and is cached by version under
# ${SPANWIRE_STACK_CACHE:-${XDG_CACHE_HOME:-~/.cache}/spanwire-stack} (shared with stack.sh): kubeconform is built with `go install`, the spec
# is api/openapi-spec/swagger.json of the k8s.io/kubernetes module, turned into per-kind
# schemas by openapi2schemas.py. A second run does no network access and takes about a second.
#
# A self-test first checks that deliberately broken manifests (testdata/invalid-*.yaml) fail.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBECONFORM_VERSION=v0.8.0
K8S_VERSION=v1.34.4
cache="${SPANWIRE_STACK_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/spanwire-stack}"
bin="$cache/kubeconform-$KUBECONFORM_VERSION/kubeconform"
schemas="$cache/k8s-schemas-$K8S_VERSION"

log() { echo "validate: $*" >&2; }
die() {
    echo "validate: ERROR: $*" >&2
    exit 1
}

command -v go >/dev/null || die "go not found: install Go (integration/setup.sh puts /usr/local/go/bin on PATH)"

if [[ ! -x "$bin" ]]; then
    log "building kubeconform $KUBECONFORM_VERSION (Go module proxy)"
    mkdir -p "$(dirname "$bin")"
    GOBIN="$(dirname "$bin")" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
        go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" ||
        die "go install kubeconform@$KUBECONFORM_VERSION failed"
fi

if [[ ! -f "$schemas/.complete" ]]; then
    log "generating JSON schemas from k8s.io/kubernetes@$K8S_VERSION api/openapi-spec"
    dir="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
        python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))')" ||
        die "go mod download k8s.io/kubernetes@$K8S_VERSION failed"
    rm -rf "$schemas.tmp"
    python3 "$here/openapi2schemas.py" "$dir/api/openapi-spec/swagger.json" "$schemas.tmp"
    rm -rf "$schemas"
    mv "$schemas.tmp" "$schemas"
    touch "$schemas/.complete"
fi

[[ "${1:-}" == "--install" ]] && exit 0

run() {
    "$bin" -strict -summary -schema-location "$schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$@"
}

# Self-test: every invalid fixture must be rejected, else the check proves nothing.
for bad in "$here"/testdata/invalid-*.yaml; do
    if run "$bad" >/dev/null 2>&1; then
        die "$(basename "$bad") passed validation but must fail: the schemas are not strict"
    fi
done

manifests=()
for f in "$here"/*.yaml; do
    [[ "$(basename "$f")" == kustomization.yaml ]] && continue
    manifests+=("$f")
done
run "${manifests[@]}"

# The in-cluster Collector config, checked by the real Collector when integration/stack.sh has
# built one (same components as the collector image), else said so.
otelcol="$(ls "$cache"/otelcol-*/bin/otelcol 2>/dev/null | head -1 || true)"
if [[ -n "$otelcol" ]]; then
    cfg="$(mktemp)"
    trap 'rm -f "$cfg"' EXIT
    python3 - "$here/collector.yaml" >"$cfg" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^  config.yaml: \|\n((?:    .*\n|\n)+)", text, re.M)
if not m:
    sys.exit("collector.yaml: no config.yaml in the ConfigMap")
print("\n".join(line[4:] for line in m.group(1).splitlines()))
PY
    BACKEND_OTLP_ENDPOINT=127.0.0.1:4317 "$otelcol" validate --config "$cfg" ||
        die "collector.yaml: the Collector rejects its config"
    log "collector.yaml config: valid for $otelcol"
else
    log "collector.yaml config: not checked by a real Collector (run integration/stack.sh build to enable)"
fi
