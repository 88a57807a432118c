#!/usr/bin/env bash
# Runs every test Weir has, on a fresh machine: the Rust unit and
# integration tests (rdkafka, protocol round trips, bad input, storage
# recovery) and the compatibility suite with kcat, confluent-kafka-python
# and kafka-python (compat/run.sh installs what it needs).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  # librdkafka (built by the rdkafka dev-dependency) needs a C toolchain.
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq build-essential
fi

cargo test --locked
bash compat/run.sh "$@"
