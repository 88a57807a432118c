#!/usr/bin/env bash
# Go clients against Weir: franz-go (kgo, kadm) and IBM/sarama, pinned in
# go.mod / go.sum and fetched through the Go module proxy into the user's
# module cache. The tests start their own Weir node from WEIR_BIN (default
# target/debug/weir, built here if missing) unless WEIR_BOOTSTRAP names a
# running broker or cluster.
#
#   bash compat/go/run.sh [go test flags...]     e.g. -run Sarama -v
set -euo pipefail
GO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$GO_DIR/../.." && pwd)"
log() { printf '[compat/go] %s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
    # Debian's golang is older than go.mod asks for; the go command then
    # fetches the toolchain go.mod names from the module proxy itself.
    log "installing Go from Debian's packages"
    SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q golang-go >&2
fi

if [ -z "${WEIR_BOOTSTRAP:-}" ] && [ -z "${WEIR_BIN:-}" ]; then
    log "building weir (debug)"
    (cd "$REPO_ROOT" && cargo build --bin weir) >&2
    export WEIR_BIN="$REPO_ROOT/target/debug/weir"
fi

cd "$GO_DIR"
exec go test -count=1 "$@" ./...
