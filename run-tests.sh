#!/usr/bin/env bash
# Runs every test Weir has, on a fresh machine: the format and lint
# checks (cargo fmt --check, cargo clippy -D warnings), the Rust unit and
# integration tests (rdkafka, protocol round trips, bad input, storage
# recovery) and the compatibility suite with kcat, confluent-kafka-python
# and kafka-python, Kafka's own tools, then the Go clients franz-go and
# sarama (compat/run.sh installs what it needs).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  # librdkafka (built by the rdkafka dev-dependency) needs a C toolchain.
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq build-essential
fi

# Formatting and lints first (Cargo.toml's [lints] table, warnings as
# errors). Without the rustfmt or clippy component (e.g. offline, where
# `rustup component add` cannot run) the check is skipped with a note.
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all -- --check
else
  echo "run-tests.sh: NOTE: rustfmt is not installed (rustup component add rustfmt); skipping the format check" >&2
fi
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --all-targets --locked -- -D warnings
else
  echo "run-tests.sh: NOTE: clippy is not installed (rustup component add clippy); skipping the lint check" >&2
fi

cargo test --locked
bash compat/run.sh "$@"
