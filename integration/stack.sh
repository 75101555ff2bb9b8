#!/usr/bin/env bash
# Local observability backends for spanwire, built from Go modules (no Docker,
# no binary downloads) and run on 127.0.0.1:
#
#   integration/stack.sh up        build what is missing, start, wait until ready
#   integration/stack.sh down      stop what `up` started (pid files only)
#   integration/stack.sh status    each service up/down with its ports (exit 1 if any is down)
#   integration/stack.sh stop NAME / start NAME   stop or start one service (built already);
#                                  the pipeline tests use them to take the Collector away mid-run
#   integration/stack.sh build     only build (or find in the cache) the binaries
#   integration/stack.sh validate  `otelcol validate` every otel-config/*.yaml
#   integration/stack.sh smoke     run integration/stack/smoke.sh against a running stack
#   integration/stack.sh logs [NAME]   tail the service logs
#   integration/stack.sh versions  print pinned versions and cache paths
#   integration/stack.sh bin NAME  print the path of a built binary
#   integration/stack.sh clean     delete the stack's Go module/build caches (keeps binaries)
#
# Services (all on 127.0.0.1):
#   otelcol       OpenTelemetry Collector (ocb build)  OTLP gRPC 4317, HTTP 4318, health 13133, metrics 8888
#                 config: otel-config/agent.yaml
#   jaeger        Jaeger v2 all-in-one, memory storage  query/UI API 16686 (gRPC 16685), OTLP 24317/24318,
#                 health 14133, metrics 14269
#   prometheus    Prometheus 3, --web.enable-otlp-receiver  9090 (OTLP at /api/v1/otlp/v1/metrics)
#   victorialogs  VictoriaLogs (logs backend)  9428 (OTLP at /insert/opentelemetry/v1/logs,
#                 LogsQL at /select/logsql/query). Loki is NOT used: github.com/grafana/loki/v3 is
#                 AGPL-3.0, which the dependency policy here excludes (see docs/stack.md).
#
# Environment knobs:
#   SPANWIRE_STACK_CACHE   binary + Go cache root, default ${XDG_CACHE_HOME:-$HOME/.cache}/spanwire-stack
#   SPANWIRE_STACK_STATE   pids, logs, data; default integration/.stack (self-gitignored)
#   SPANWIRE_STACK_GO_SHARED=1   use the caller's GOMODCACHE/GOCACHE instead of private ones
#   SPANWIRE_STACK_READY_TIMEOUT seconds to wait for each service, default 90
#   SPANWIRE_STACK_PROGRESS      seconds between build progress lines, default 20
#   GO                     go binary, default: `go` on PATH, else /usr/local/go/bin/go
set -euo pipefail

STACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="$STACK_ROOT/integration/stack"

# --- pinned versions ----------------------------------------------------------
# All exist on the Go module proxy (checked with `go list -m -versions` / `go mod download`).
OTELCOL_VERSION="0.165.0"                      # builder + core components; confmap providers v1.71.0
JAEGER_MODULE="github.com/jaegertracing/jaeger"
JAEGER_VERSION="v1.76.0"                       # the v1.x tag of Jaeger v2.13.0 (module path has no /v2)
PROMETHEUS_MODULE="github.com/prometheus/prometheus"
PROMETHEUS_VERSION="v0.316.0"                  # = Prometheus 3.16.0
VLOGS_MODULE="github.com/VictoriaMetrics/VictoriaLogs"
VLOGS_VERSION="v1.51.1-0.20260624061259-dc94972a8708"  # newest the proxy serves (no tagged versions listed)
VLOGS_VM_LIB_VERSION="v1.146.0"                # see build_victorialogs

CACHE_ROOT="${SPANWIRE_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spanwire-stack}"
STATE="${SPANWIRE_STACK_STATE:-$STACK_ROOT/integration/.stack}"
READY_TIMEOUT="${SPANWIRE_STACK_READY_TIMEOUT:-90}"
PROGRESS_EVERY="${SPANWIRE_STACK_PROGRESS:-20}"
SERVICES=(victorialogs prometheus jaeger otelcol)

log() { echo "stack: $*" >&2; }
die() {
    echo "stack: ERROR: $*" >&2
    exit 1
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# --- Go environment -----------------------------------------------------------
setup_go() {
    if [[ -z "${GO:-}" ]]; then
        if command -v go >/dev/null 2>&1; then
            GO="$(command -v go)"
        elif [[ -x /usr/local/go/bin/go ]]; then
            GO=/usr/local/go/bin/go
        else
            die "no Go toolchain (need Go >= 1.26.7 on PATH or at /usr/local/go/bin/go)"
        fi
    fi
    PATH="$(dirname "$GO"):$PATH"
    export PATH GO
    # Never let go fetch another toolchain: build with the installed one or fail clearly.
    export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-modcacherw"
    if [[ "${SPANWIRE_STACK_GO_SHARED:-0}" != 1 ]]; then
        export GOMODCACHE="$CACHE_ROOT/go/mod" GOCACHE="$CACHE_ROOT/go/build"
    fi
    local v
    v="$("$GO" env GOVERSION)"
    case "$v" in
    go1.2[6-9]* | go1.[3-9]* | go[2-9]*) ;;
    *) die "Go $v is too old: Prometheus $PROMETHEUS_VERSION needs go >= 1.26.7" ;;
    esac
}

manifest_hash() { sha256sum "$STACK_DIR/otelcol-builder.yaml" | cut -c1-8; }

# Cache directory of each component (its version is part of the name).
comp_dir() {
    case "$1" in
    otelcol) echo "$CACHE_ROOT/otelcol-$OTELCOL_VERSION-$(manifest_hash)" ;;
    jaeger) echo "$CACHE_ROOT/jaeger-$JAEGER_VERSION" ;;
    prometheus) echo "$CACHE_ROOT/prometheus-$PROMETHEUS_VERSION" ;;
    victorialogs) echo "$CACHE_ROOT/victorialogs-$VLOGS_VERSION-vm$VLOGS_VM_LIB_VERSION" ;;
    *) die "unknown component $1" ;;
    esac
}
comp_bin() { echo "$(comp_dir "$1")/bin/$1"; }

# Run "$@" in the background with its output in $log, printing progress: elapsed time
# and the last line of the log (go build -v / go mod download -x name the package or
# module being worked on).
run_with_progress() { # label log cmd...
    local label="$1" logf="$2"
    shift 2
    local start=$SECONDS last=$SECONDS pid rc=0
    ("$@") >>"$logf" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        if ((SECONDS - last >= PROGRESS_EVERY)); then
            last=$SECONDS
            local cur
            cur="$(tail -n 1 "$logf" 2>/dev/null | tr -d '\r' | cut -c1-110)"
            log "  $label: $(fmt_secs $((SECONDS - start))) elapsed; now: ${cur:-...}"
        fi
    done
    wait "$pid" || rc=$?
    if ((rc != 0)); then
        log "  $label FAILED (exit $rc) after $(fmt_secs $((SECONDS - start))); last lines of $logf:"
        tail -n 30 "$logf" >&2
        die "$label failed; full log: $logf"
    fi
}

# go mod download a module version and print its (read-only) directory in the module cache.
mod_dir() { # module version
    local out
    out="$("$GO" mod download -json "$1@$2")" || die "go mod download $1@$2 failed: $out"
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$out"
}

# --- build steps (each runs in a background subshell with its own log) --------
build_otelcol() { # tmpdir
    local d="$1"
    "$GO" env GOVERSION GOMODCACHE GOCACHE
    GOBIN="$d/tools" "$GO" install -v "go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION"
    sed "s#^dist:#dist:\n  output_path: $d/src#" "$STACK_DIR/otelcol-builder.yaml" >"$d/manifest.yaml"
    # ocb generates the sources and go.mod (go mod tidy); we compile them ourselves with -v
    # so that the log names each package as it is compiled (ocb's own build is silent).
    "$d/tools/builder" --config "$d/manifest.yaml" --skip-compilation
    compile_module "$d" . otelcol -ldflags "-s -w"
    rm -rf "$d/tools"
}

# Copy a module's source to $tmpdir/src (writable) and cd there. Built as the main
# module, its replace/exclude lines are honoured (`go install mod@ver` refuses them).
fetch_module() { # tmpdir module version
    local d="$1" mod="$2" ver="$3" src
    "$GO" env GOVERSION GOMODCACHE GOCACHE
    echo "downloading $mod@$ver"
    src="$(mod_dir "$mod" "$ver")"
    [[ -d "$src" ]] || die "module dir of $mod@$ver not found"
    cp -r "$src" "$d/src"
    chmod -R u+w "$d/src"
    cd "$d/src"
}

compile_module() { # tmpdir package binary [go build flags...]
    local d="$1" pkg="$2" bin="$3"
    shift 3
    cd "$d/src"
    # go build fetches only the modules the package needs ("go: downloading ..." lines),
    # and -v names each package as it is compiled.
    echo "building $pkg"
    "$GO" build -v -trimpath "$@" -o "$d/bin/$bin" "$pkg"
    cd "$d"
    rm -rf "$d/src"
}

build_jaeger() {
    fetch_module "$1" "$JAEGER_MODULE" "$JAEGER_VERSION"
    compile_module "$1" ./cmd/jaeger jaeger -ldflags "-s -w"
}
build_prometheus() {
    local v="${PROMETHEUS_VERSION#v0.}"
    v="3.${v:1}" # v0.316.0 -> 3.16.0
    # remove_all_sd: leave out the cloud service-discovery plugins (AWS, Azure, GCE, k8s, ...);
    # file/http/static SD stay. No `builtinassets` tag: the web UI needs an npm build; the API works.
    fetch_module "$1" "$PROMETHEUS_MODULE" "$PROMETHEUS_VERSION"
    compile_module "$1" ./cmd/prometheus prometheus \
        -tags remove_all_sd -ldflags "-s -w -X github.com/prometheus/common/version.Version=$v -X github.com/prometheus/common/version.Revision=$PROMETHEUS_VERSION -X github.com/prometheus/common/version.Branch=module"
}
build_victorialogs() {
    fetch_module "$1" "$VLOGS_MODULE" "$VLOGS_VERSION"
    # Its go.mod requires a VictoriaMetrics pseudo-version (v1.145.1-0.20260616130439-5b31a047a5bf)
    # that the proxy refuses (403 "This module version is not available"); v1.146.0, released
    # three days later, is served: replace the lib/ packages VictoriaLogs imports with it.
    # `go get` of it fails (sumdb 404 for metricsql v0.87.1, which v1.146.0 requires), so
    # metricsql stays at the v0.87.0 VictoriaLogs already pins, and -mod=mod lets go build
    # raise the few other requirements v1.146.0 needs (recording them in go.sum).
    "$GO" mod edit \
        -replace "github.com/VictoriaMetrics/VictoriaMetrics=github.com/VictoriaMetrics/VictoriaMetrics@$VLOGS_VM_LIB_VERSION" \
        -replace "github.com/VictoriaMetrics/metricsql=github.com/VictoriaMetrics/metricsql@v0.87.0"
    compile_module "$1" ./app/victoria-logs victorialogs -mod=mod -ldflags "-s -w"
}

build_one() { # name
    local name="$1" dir tmp start
    dir="$(comp_dir "$name")"
    if [[ -x "$dir/bin/$name" ]]; then
        log "$name: cached ($dir)"
        return 0
    fi
    mkdir -p "$CACHE_ROOT"
    tmp="$dir.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    start=$SECONDS
    log "$name: building into $dir (log: $tmp/build.log)"
    # A fresh bash runs the step: errexit would be ignored in a function called from an
    # `if`/`||` context, and a failed go command must fail the build.
    run_with_progress "$name" "$tmp/build.log" bash "$STACK_ROOT/integration/stack.sh" __build "$name" "$tmp"
    [[ -x "$tmp/bin/$name" ]] || die "$name build produced no $tmp/bin/$name; see $tmp/build.log"
    echo "$((SECONDS - start))" >"$tmp/build-seconds"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    log "$name: built in $(fmt_secs "$(cat "$dir/build-seconds")") -> $dir/bin/$name"
}

cmd_build() {
    setup_go
    local start=$SECONDS name
    log "cache: $CACHE_ROOT (Go: $("$GO" env GOVERSION), GOMODCACHE=$("$GO" env GOMODCACHE))"
    for name in "${SERVICES[@]}"; do
        build_one "$name"
    done
    log "all binaries ready ($(fmt_secs $((SECONDS - start))))"
}

# --- services -------------------------------------------------------------------
svc_ports() {
    case "$1" in
    otelcol) echo "4317 4318 13133 ${OTELCOL_METRICS_PORT:-8888}" ;;
    jaeger) echo "16686 16685 24317 24318 14133 14269" ;;
    prometheus) echo "9090" ;;
    victorialogs) echo "9428" ;;
    esac
}
svc_desc() {
    case "$1" in
    otelcol) echo "OTLP gRPC 127.0.0.1:4317, HTTP 127.0.0.1:4318, health :13133, metrics :${OTELCOL_METRICS_PORT:-8888}" ;;
    jaeger) echo "query http://127.0.0.1:16686 (gRPC :16685), OTLP gRPC :24317 HTTP :24318" ;;
    prometheus) echo "http://127.0.0.1:9090 (OTLP /api/v1/otlp/v1/metrics)" ;;
    victorialogs) echo "http://127.0.0.1:9428 (OTLP /insert/opentelemetry/v1/logs, LogsQL /select/logsql/query)" ;;
    esac
}
svc_ready_url() {
    case "$1" in
    otelcol) echo "http://127.0.0.1:13133/" ;;
    jaeger) echo "http://127.0.0.1:16686/api/services" ;;
    prometheus) echo "http://127.0.0.1:9090/-/ready" ;;
    victorialogs) echo "http://127.0.0.1:9428/health" ;;
    esac
}
svc_cmd() { # name -> fills the CMD array
    local bin
    bin="$(comp_bin "$1")"
    case "$1" in
    otelcol) CMD=("$bin" --config "$STACK_ROOT/otel-config/agent.yaml") ;;
    jaeger) CMD=("$bin" --config "$STACK_DIR/jaeger.yaml") ;;
    prometheus)
        CMD=("$bin" --config.file="$STACK_DIR/prometheus.yml"
            --storage.tsdb.path="$STATE/data/prometheus" --storage.tsdb.retention.time=2d
            --web.listen-address=127.0.0.1:9090 --web.enable-otlp-receiver
            --enable-feature=created-timestamp-zero-ingestion)
        ;;
    victorialogs)
        CMD=("$bin" -httpListenAddr=127.0.0.1:9428 -storageDataPath="$STATE/data/victorialogs"
            -retentionPeriod=7d)
        ;;
    esac
}

pidfile() { echo "$STATE/run/$1.pid"; }

# Print the pid of a running service that this state dir started, or fail.
svc_pid() {
    local f pid bin
    f="$(pidfile "$1")"
    [[ -f "$f" ]] || return 1
    pid="$(cat "$f")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against pid reuse: the process must be running our binary.
    bin="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    [[ -n "$bin" && "$bin" == "$(readlink -f "$(comp_bin "$1")")" ]] || return 1
    echo "$pid"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

start_svc() {
    local name="$1" pid p
    if pid="$(svc_pid "$name")"; then
        log "$name: already running (pid $pid)"
        return 0
    fi
    for p in $(svc_ports "$name"); do
        port_busy "$p" && die "$name: port 127.0.0.1:$p is already in use by another process (see: ss -ltnp 'sport = :$p')"
    done
    local -a CMD
    svc_cmd "$name"
    [[ -x "${CMD[0]}" ]] || die "$name: binary ${CMD[0]} missing (run: $0 build)"
    mkdir -p "$STATE/run" "$STATE/logs" "$STATE/data"
    # setsid: own session, so the service outlives this shell and ^C in it.
    (cd "$STATE" && exec setsid "${CMD[@]}" </dev/null >>"$STATE/logs/$name.log" 2>&1) &
    echo "$!" >"$(pidfile "$name")"
    log "$name: started pid $! (log: $STATE/logs/$name.log)"
}

wait_ready() {
    local name="$1" url start=$SECONDS
    url="$(svc_ready_url "$name")"
    while ! http_ok "$url"; do
        if ! svc_pid "$name" >/dev/null; then
            log "$name exited; last lines of $STATE/logs/$name.log:"
            tail -n 30 "$STATE/logs/$name.log" >&2 || true
            die "$name failed to start"
        fi
        if ((SECONDS - start >= READY_TIMEOUT)); then
            tail -n 30 "$STATE/logs/$name.log" >&2 || true
            die "$name not ready after ${READY_TIMEOUT}s ($url)"
        fi
        sleep 0.5
    done
    log "$name: ready after $((SECONDS - start))s — $(svc_desc "$name")"
}

init_state() {
    mkdir -p "$STATE"
    # Keep the state dir out of git without touching the repo's .gitignore.
    [[ -f "$STATE/.gitignore" ]] || echo '*' >"$STATE/.gitignore"
}

cmd_up() {
    local start=$SECONDS name
    cmd_build
    init_state
    for name in "${SERVICES[@]}"; do
        start_svc "$name"
        wait_ready "$name"
    done
    log "stack up in $(fmt_secs $((SECONDS - start))) (state: $STATE)"
}

stop_svc() {
    local name="$1" pid i
    if ! pid="$(svc_pid "$name")"; then
        rm -f "$(pidfile "$name")"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name: pid $pid did not stop in 10s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$(pidfile "$name")"
    log "$name: stopped (pid $pid)"
}

cmd_down() {
    local i
    # Reverse order: the Collector first, so it can flush to the backends.
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
        stop_svc "${SERVICES[i]}"
    done
}

cmd_status() {
    local name pid all=0
    for name in "${SERVICES[@]}"; do
        if pid="$(svc_pid "$name")" && http_ok "$(svc_ready_url "$name")"; then
            printf '%-13s up    pid %-7s %s\n' "$name" "$pid" "$(svc_desc "$name")"
        elif pid="$(svc_pid "$name")"; then
            printf '%-13s DOWN  pid %-7s running but not ready: %s\n' "$name" "$pid" "$(svc_ready_url "$name")"
            all=1
        else
            printf '%-13s DOWN  %-11s %s\n' "$name" "" "$(svc_desc "$name")"
            all=1
        fi
    done
    return "$all"
}

cmd_validate() {
    local bin f failed=0
    setup_go
    build_one otelcol
    bin="$(comp_bin otelcol)"
    shopt -s nullglob
    local files=("$STACK_ROOT"/otel-config/*.yaml "$STACK_ROOT"/otel-config/*.yml)
    ((${#files[@]} > 0)) || die "no otel-config/*.yaml files"
    for f in "${files[@]}"; do
        if "$bin" validate --config "$f" >"$CACHE_ROOT/validate.log" 2>&1; then
            log "valid: ${f#"$STACK_ROOT"/}"
        else
            log "INVALID: ${f#"$STACK_ROOT"/}"
            cat "$CACHE_ROOT/validate.log" >&2
            failed=1
        fi
    done
    return "$failed"
}

cmd_logs() {
    local names=("$@")
    ((${#names[@]} > 0)) || names=("${SERVICES[@]}")
    local n
    for n in "${names[@]}"; do
        echo "==> $STATE/logs/$n.log <=="
        tail -n 40 "$STATE/logs/$n.log" 2>/dev/null || echo "(no log)"
    done
}

cmd_versions() {
    local n
    echo "otelcol       $OTELCOL_VERSION (ocb manifest integration/stack/otelcol-builder.yaml)"
    echo "jaeger        $JAEGER_MODULE@$JAEGER_VERSION (Jaeger v2.13.0, cmd/jaeger)"
    echo "prometheus    $PROMETHEUS_MODULE@$PROMETHEUS_VERSION (Prometheus 3.16.0)"
    echo "victorialogs  $VLOGS_MODULE@$VLOGS_VERSION (+ VictoriaMetrics lib $VLOGS_VM_LIB_VERSION)"
    for n in "${SERVICES[@]}"; do
        echo "cache $n: $(comp_dir "$n")"
    done
}

cmd_clean() {
    log "removing $CACHE_ROOT/go (module + build caches; binaries stay)"
    chmod -R u+w "$CACHE_ROOT/go" 2>/dev/null || true
    rm -rf "$CACHE_ROOT/go"
}

known_svc() {
    local n
    for n in "${SERVICES[@]}"; do [[ "$n" == "${1:-}" ]] && return 0; done
    die "unknown service '${1:-}' (one of: ${SERVICES[*]})"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
start)
    known_svc "${2:-}"
    init_state
    start_svc "$2"
    wait_ready "$2"
    ;;
stop)
    known_svc "${2:-}"
    stop_svc "$2"
    ;;
status) cmd_status ;;
build) cmd_build ;;
validate) cmd_validate ;;
smoke) exec bash "$STACK_DIR/smoke.sh" ;;
logs)
    shift
    cmd_logs "$@"
    ;;
versions) cmd_versions ;;
bin) # bin NAME: print the cached binary's path (used by smoke.sh)
    [[ -x "$(comp_bin "${2:-}")" ]] || die "no built binary for '${2:-}' (run: $0 build)"
    comp_bin "$2"
    ;;
__build) # internal: __build NAME TMPDIR (run by build_one in its own process)
    setup_go
    "build_$2" "$3"
    ;;
clean) cmd_clean ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
