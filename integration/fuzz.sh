#!/usr/bin/env bash
# Runs the cargo-fuzz targets of exporter/fuzz (one per parser), each for N minutes,
# starting from the committed seeds (exporter/fuzz/seeds/<target>) plus the local corpus
# (exporter/fuzz/corpus/<target>, not committed). On demand, not part of integration/test.sh.
#
#   bash integration/fuzz.sh [--minutes N] [target...]     (default: 10 minutes, every target)
#
# Installs what it needs when missing: a nightly toolchain (rustup) and cargo-fuzz (cargo
# install). Prints one line per target, `fuzz: <target> runs=<executions> <no crash|CRASH>`,
# and exits 1 if any target crashed (the input is under exporter/fuzz/artifacts/<target>/,
# the fuzzer's output in exporter/fuzz/target/fuzz-<target>.log).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../exporter"

minutes=10
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --minutes)
        minutes="${2:?--minutes needs a value}"
        shift 2
        ;;
    -h | --help)
        sed -n '2,11p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *)
        targets+=("$1")
        shift
        ;;
    esac
done
[[ "$minutes" =~ ^[0-9]+$ && "$minutes" -gt 0 ]] || { echo "fuzz: --minutes must be a positive integer" >&2; exit 2; }

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: installing the nightly toolchain" >&2
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
# Every target at once (one build of the library); `fuzz run` below then only checks it.
nice -n 10 cargo +nightly fuzz build -O >&2

crashed=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
    log="fuzz/target/fuzz-$t.log"
    rc=0
    nice -n 10 cargo +nightly fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time=$((minutes * 60)) -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1 || rc=$?
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)"
    if [[ $rc -eq 0 ]]; then
        result="no crash"
    else
        result="CRASH (exit $rc; see $log)"
        crashed=1
    fi
    echo "fuzz: $t runs=${runs:-?} minutes=$minutes $result"
done
exit "$crashed"
