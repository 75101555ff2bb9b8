#!/usr/bin/env bash
# Prepare this machine for building, testing and running spanwire, then build
# the workspace in release mode.
#
#   sudo bash integration/setup.sh
#
# Idempotent and quick when everything is already in place: Debian packages
# are installed only when `dpkg-query` says they are missing (and only then is
# `apt-get update` run), tracefs and bpffs are mounted only when not mounted.
#
# May be executed or sourced. run-agent.sh, test.sh and bench.sh source it so
# that the PATH / LIBCLANG_PATH it sets up carry over to their own commands.
# All of its messages go to stderr.
#
# Environment knobs:
#   SPANWIRE_SKIP_BUILD=1   do everything except the final `cargo build --release`
set -euo pipefail

SPANWIRE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SPANWIRE_ROOT

_sw_log() { echo "setup: $*" >&2; }
_sw_die() {
    echo "setup: ERROR: $*" >&2
    exit 1
}

# --- root ---------------------------------------------------------------------
if [[ "$(id -u)" -ne 0 ]]; then
    _sw_die "must run as root (installs packages, mounts tracefs/bpffs, loads eBPF): try 'sudo bash $0'"
fi

# --- PATH -------------------------------------------------------------------
# sudo's secure_path drops ~/.cargo/bin and /usr/local/go/bin; put them back.
_sw_prepend_path() {
    [[ -d "$1" ]] || return 0
    case ":$PATH:" in
    *":$1:"*) ;;
    *) PATH="$1:$PATH" ;;
    esac
}
for _sw_d in /usr/sbin /sbin /usr/local/go/bin; do _sw_prepend_path "$_sw_d"; done
_sw_prepend_path "${CARGO_HOME:-$HOME/.cargo}/bin"
# Invoked through sudo by a user who has rustup in their own home and root has
# none: use that user's toolchain.
if ! command -v cargo >/dev/null 2>&1 && [[ -n "${SUDO_USER:-}" ]]; then
    _sw_uhome="$(getent passwd "$SUDO_USER" | cut -d: -f6 || true)"
    if [[ -n "$_sw_uhome" && -x "$_sw_uhome/.cargo/bin/cargo" ]]; then
        _sw_prepend_path "$_sw_uhome/.cargo/bin"
        export CARGO_HOME="${CARGO_HOME:-$_sw_uhome/.cargo}"
        [[ -d "$_sw_uhome/.rustup" ]] && export RUSTUP_HOME="${RUSTUP_HOME:-$_sw_uhome/.rustup}"
        [[ -d "$_sw_uhome/go/bin" ]] && _sw_prepend_path "$_sw_uhome/go/bin"
    fi
fi
export PATH

# --- Debian packages ----------------------------------------------------------
_sw_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == "installed" ]]
}

_sw_pkgs=(clang-19 llvm-19 libbpf-dev bpftool wrk curl iproute2 nftables linux-libc-dev pkg-config)
# Test applications (integration/servers/grpc): the Python gRPC app runs on
# Debian's python3 with its grpcio; h2load drives HTTP/2 benchmarks.
_sw_pkgs+=(python3-grpcio nghttp2-client)
# integration/stack/dashboards.py reads the Grafana provisioning YAML.
_sw_pkgs+=(python3-yaml)
# The Node gRPC app; a Node.js that is already on PATH (e.g. from nodesource) is used as is.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    _sw_pkgs+=(nodejs npm)
fi
_sw_missing=()
for _sw_p in "${_sw_pkgs[@]}"; do
    _sw_installed "$_sw_p" || _sw_missing+=("$_sw_p")
done
# bindgen (exporter/build.rs) loads libclang at build time. libclang-19-dev
# gives it the unversioned libclang.so; fall back to the runtime-only
# libclang1-19 if the -dev package is not available from this mirror.
_sw_libclang=""
if ! _sw_installed libclang-19-dev; then
    _sw_libclang=libclang-19-dev
fi

_sw_apt_updated=0
_sw_apt_update() {
    if [[ "$_sw_apt_updated" -eq 0 ]]; then
        _sw_log "apt-get update"
        apt-get update -q -o Dpkg::Use-Pty=0 >&2 ||
            { sleep 5 && apt-get update -q -o Dpkg::Use-Pty=0 >&2; }
        _sw_apt_updated=1
    fi
}
_sw_has_candidate() {
    local cand
    cand="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')"
    [[ -n "$cand" && "$cand" != "(none)" ]]
}

if [[ ${#_sw_missing[@]} -gt 0 || -n "$_sw_libclang" ]]; then
    _sw_apt_update
    if [[ -n "$_sw_libclang" ]]; then
        if _sw_has_candidate libclang-19-dev; then
            _sw_missing+=(libclang-19-dev)
        elif ! _sw_installed libclang1-19; then
            _sw_log "libclang-19-dev not available; installing libclang1-19 instead"
            _sw_missing+=(libclang1-19)
        fi
    fi
    if [[ ${#_sw_missing[@]} -gt 0 ]]; then
        _sw_log "installing: ${_sw_missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o Dpkg::Use-Pty=0 "${_sw_missing[@]}" >&2 ||
            _sw_die "apt-get install ${_sw_missing[*]} failed"
    fi
fi

# Make bindgen / clang-sys pick LLVM 19 even if other libclang versions exist.
if [[ -z "${LIBCLANG_PATH:-}" && -d /usr/lib/llvm-19/lib ]]; then
    export LIBCLANG_PATH=/usr/lib/llvm-19/lib
fi
if [[ -z "${CLANG_PATH:-}" && -x /usr/bin/clang-19 ]]; then
    export CLANG_PATH=/usr/bin/clang-19
fi

# --- toolchains ---------------------------------------------------------------
for _sw_t in rustc cargo go python3 node npm clang-19 bpftool; do
    if ! command -v "$_sw_t" >/dev/null 2>&1; then
        case "$_sw_t" in
        rustc | cargo) _sw_die "'$_sw_t' not found: install Rust (rustup, toolchain >= 1.95) so that ~/.cargo/bin/$_sw_t exists" ;;
        go) _sw_die "'go' not found: install Go (>= 1.26) at /usr/local/go or put it on PATH" ;;
        python3) _sw_die "'python3' not found: install Python 3 (apt-get install python3)" ;;
        *) _sw_die "'$_sw_t' not found even after installing packages" ;;
        esac
    fi
done

# The gRPC and h2c test apps (grpc-go v1.85) need Go 1.26; tests build them with GOTOOLCHAIN=local.
_sw_gover="$(go env GOVERSION 2>/dev/null || true)"
if [[ "$_sw_gover" =~ ^go1\.([0-9]+) ]] && ((BASH_REMATCH[1] < 26)); then
    _sw_log "WARNING: $_sw_gover is older than go1.26: the gRPC/h2c test apps under integration/servers will not build"
fi

# --- test applications --------------------------------------------------------
# Node gRPC app: install its locked dependencies when node_modules is missing
# or older than package-lock.json (npm ci keeps a copy of the lock in it).
_sw_node_app="$SPANWIRE_ROOT/integration/servers/grpc/node"
if [[ ! -f "$_sw_node_app/node_modules/.package-lock.json" ||
    "$_sw_node_app/package-lock.json" -nt "$_sw_node_app/node_modules/.package-lock.json" ]]; then
    _sw_log "npm ci (in $_sw_node_app)"
    (cd "$_sw_node_app" && npm ci --ignore-scripts --no-audit --no-fund >&2) ||
        _sw_die "npm ci in $_sw_node_app failed (is the npm registry reachable?)"
fi

# --- kernel -------------------------------------------------------------------
if [[ ! -r /sys/kernel/btf/vmlinux ]]; then
    _sw_log "WARNING: /sys/kernel/btf/vmlinux missing: the kernel has no BTF (CONFIG_DEBUG_INFO_BTF); the agent will not load"
fi
_sw_kver="$(uname -r)"
_sw_kmaj="${_sw_kver%%.*}"
_sw_kmin="${_sw_kver#*.}"
_sw_kmin="${_sw_kmin%%[!0-9]*}"
if [[ "$_sw_kmaj" =~ ^[0-9]+$ && "$_sw_kmin" =~ ^[0-9]+$ ]] &&
    ((_sw_kmaj < 5 || (_sw_kmaj == 5 && _sw_kmin < 8))); then
    _sw_log "WARNING: kernel $_sw_kver is older than 5.8 (no BPF ring buffer); the agent will not load"
fi

_sw_mount() { # fstype dir
    if ! mountpoint -q "$2" 2>/dev/null; then
        mkdir -p "$2" 2>/dev/null || true
        _sw_log "mounting $1 on $2"
        mount -t "$1" "$1" "$2" || _sw_die "could not mount $1 on $2"
    fi
}
if [[ -d /sys/kernel/tracing ]]; then
    _sw_mount tracefs /sys/kernel/tracing
else
    # Kernels without /sys/kernel/tracing expose tracefs under debugfs.
    _sw_mount debugfs /sys/kernel/debug
fi
_sw_mount bpf /sys/fs/bpf

# --- manifest validation tools (kubeconform + Kubernetes schemas, cached) -----
if ! bash "$SPANWIRE_ROOT/integration/kubernetes/validate.sh" --install; then
    _sw_log "WARNING: could not install kubeconform / Kubernetes schemas; the manifests step will retry"
fi

# --- build --------------------------------------------------------------------
if [[ "${SPANWIRE_SKIP_BUILD:-0}" != "1" ]]; then
    _sw_log "cargo build --release (in $SPANWIRE_ROOT)"
    (cd "$SPANWIRE_ROOT" && cargo build --release) || _sw_die "cargo build --release failed"
fi
