#!/usr/bin/env bash
# Go clients against Weir: franz-go (kgo, kadm) and IBM/sarama, pinned in
# go.mod / go.sum and fetched through the Go module proxy into the user's
# module cache. The tests start their own Weir node from WEIR_BIN (default
# target/debug/weir, built here if missing) unless WEIR_BOOTSTRAP names a
# running broker or cluster.
#
#   bash compat/go/run.sh [go test flags...]     e.g. -run Sarama -v
#   WEIR_GO_FETCH=1 forces the toolchain download described below.
set -euo pipefail
GO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$GO_DIR/../.." && pwd)"
log() { printf '[compat/go] %s\n' "$*" >&2; }

# go.mod needs Go 1.26. Without a go that new (Debian's golang-go is
# 1.19, too old to fetch toolchains itself), the toolchain comes from the
# Go module proxy as the module golang.org/toolchain, into the user's
# cache.
GO_WANT="1.26.0"
go_ok() {
    command -v go >/dev/null 2>&1 || return 1
    local v; v="$(go env GOVERSION 2>/dev/null | sed 's/^go//')"
    [ "$(printf '%s\n%s\n' "$GO_WANT" "$v" | sort -V | head -1)" = "$GO_WANT" ]
}
if ! go_ok || [ -n "${WEIR_GO_FETCH:-}" ]; then
    GO_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/weir-go/go$GO_WANT"
    if [ ! -x "$GO_CACHE/go/bin/go" ]; then
        log "fetching Go $GO_WANT from the Go module proxy into $GO_CACHE"
        mkdir -p "$GO_CACHE"
        zip="$GO_CACHE/toolchain.zip"
        curl -fsSL -o "$zip" \
            "${GOPROXY_URL:-https://proxy.golang.org}/golang.org/toolchain/@v/v0.0.1-go$GO_WANT.linux-amd64.zip"
        # The zip holds golang.org/toolchain@.../ with the Go tree inside.
        python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$GO_CACHE/x"
        mv "$GO_CACHE"/x/golang.org/toolchain@*/ "$GO_CACHE/go"
        chmod -R u+x "$GO_CACHE/go/bin" "$GO_CACHE/go/pkg/tool"
        rm -rf "$zip" "$GO_CACHE/x"
    fi
    export PATH="$GO_CACHE/go/bin:$PATH" GOTOOLCHAIN=local
fi

if [ -z "${WEIR_BOOTSTRAP:-}" ] && [ -z "${WEIR_BIN:-}" ]; then
    log "building weir (debug)"
    (cd "$REPO_ROOT" && cargo build --bin weir) >&2
    export WEIR_BIN="$REPO_ROOT/target/debug/weir"
fi

cd "$GO_DIR"
exec go test -count=1 "$@" ./...
