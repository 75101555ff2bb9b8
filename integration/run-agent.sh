#!/usr/bin/env bash
# Set up this machine (integration/setup.sh: packages, tracefs/bpffs, release
# build) and run the agent in the foreground:
#
#   sudo bash integration/run-agent.sh [spanwire run args...]
#
# e.g. `sudo bash integration/run-agent.sh --port 8080`. With no
# OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, the
# agent prints spans to the console; set one to export over OTLP instead.
set -euo pipefail

# shellcheck source=integration/setup.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"

exec "$SPANWIRE_ROOT/target/release/spanwire" run "$@"
