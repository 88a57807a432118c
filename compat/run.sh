#!/usr/bin/env bash
# Weir compatibility suite: runs clients written by others (kcat/librdkafka,
# confluent-kafka-python, kafka-python, Apache Kafka's own command-line
# tools) against a freshly built Weir broker.
#
#   bash compat/run.sh [extra pytest args...]     e.g. -k kcat, -x, -vv
#   WEIR_COMPAT_TARGET=kafka bash compat/run.sh    the same suite against
#       Apache Kafka 4.4 (a KRaft combined node from Maven Central's jars):
#       the reference every test must pass against
#
# Idempotent: the virtualenv at compat/.venv is reused and only re-installed
# when compat/requirements.txt changes. Exit code is pytest's (or the Go
# tests' when pytest passed).
set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$COMPAT_DIR/.." && pwd)"
VENV="$COMPAT_DIR/.venv"
REQS="$COMPAT_DIR/requirements.txt"

log() { printf '[compat] %s\n' "$*" >&2; }

TARGET="${WEIR_COMPAT_TARGET:-weir}"
case "$TARGET" in
    weir|kafka) ;;
    *) log "WEIR_COMPAT_TARGET=$TARGET: expected weir or kafka"; exit 2 ;;
esac
export WEIR_COMPAT_TARGET="$TARGET"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root (or sudo) to run: $*"
        return 1
    fi
}

# --- 1. kcat (Debian's package: kcat 1.7.1 with librdkafka 2.0.2) ----------
if ! command -v kcat >/dev/null 2>&1; then
    log "installing kcat from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q >&2
    as_root apt-get install -y -q kcat >&2
fi

# --- 2. Python virtualenv with the clients ----------------------------------
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv $VENV"
    if ! "$PYTHON" -m venv "$VENV"; then
        # Debian's python3 ships venv/ensurepip separately.
        rm -rf "$VENV"
        log "installing python3-venv from Debian's packages"
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get update -q >&2
        as_root apt-get install -y -q python3-venv >&2
        "$PYTHON" -m venv "$VENV"
    fi
fi
STAMP="$VENV/.compat-requirements"
if [ ! -f "$STAMP" ] || ! cmp -s "$REQS" "$STAMP"; then
    log "installing Python clients into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS" >&2
    cp "$REQS" "$STAMP"
fi

# --- 3. Apache Kafka's jars (its command-line tools, and its broker) ---------
# compat/kafka/pom.xml pins Kafka 4.4.0; Maven resolves it from Maven Central
# into ~/.m2 once, and compat/kafka/.classpath lists the jars (gitignored).
# A JDK, not a JRE: compat/java/AdminDescribe.java runs from source.
if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    log "installing a JDK and Maven from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q >&2
    as_root apt-get install -y -q default-jdk-headless maven >&2
fi
KAFKA_TOOLS_VERSION="$("$COMPAT_DIR/bin/kafka-topics" --version)"
log "Kafka's tools: $KAFKA_TOOLS_VERSION"

# --- 4. Build the broker (or use WEIR_BIN if the caller set it) --------------
if [ "$TARGET" = kafka ]; then
    log "target: Apache Kafka (not building weir)"
elif [ -n "${WEIR_BIN:-}" ]; then
    log "using prebuilt broker WEIR_BIN=$WEIR_BIN (not building)"
else
    # The debug build: `cargo test` has just built it in CI, so this costs
    # nothing there, where a release build would compile everything again.
    log "building weir (debug)"
    (cd "$REPO_ROOT" && cargo build --bin weir) >&2
    WEIR_BIN="$REPO_ROOT/target/debug/weir"
fi
if [ "$TARGET" = weir ]; then
    WEIR_BIN="$(cd "$(dirname "$WEIR_BIN")" && pwd)/$(basename "$WEIR_BIN")"
    [ -x "$WEIR_BIN" ] || { log "no broker binary at $WEIR_BIN"; exit 1; }
fi

# --- 5. Start the shared broker ---------------------------------------------
WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/weir-compat.XXXXXX")"
BROKER_PID=""
cleanup() {
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$BROKER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    # Keep the shared broker's log for post-mortems (gitignored).
    [ -f "$WORK_DIR/broker.log" ] && cp "$WORK_DIR/broker.log" "$COMPAT_DIR/.broker.log" || true
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PORT="$(free_port)"
DATA_DIR="$WORK_DIR/data"
mkdir -p "$DATA_DIR"
# group.initial.rebalance.delay.ms=0 (as Kafka's own integration tests): a
# new group's first rebalance does not wait 3 s (and 3 s more per member
# joining meanwhile); the consumer group tests form a dozen groups.
if [ "$TARGET" = weir ]; then
    log "starting weir on 127.0.0.1:$PORT (data in $DATA_DIR)"
    "$WEIR_BIN" serve \
        --override "listeners=PLAINTEXT://127.0.0.1:$PORT" \
        --override "log.dirs=$DATA_DIR" \
        --override "group.initial.rebalance.delay.ms=0" \
        >"$WORK_DIR/broker.log" 2>&1 &
    BROKER_PID=$!
    READY="weir listening on PLAINTEXT 127.0.0.1:$PORT"
else
    # The same settings, plus what a one-node Kafka needs (replication
    # factor 1 for its internal topics): helpers.kafka_server_properties,
    # which the suite's own Kafka brokers (restart tests) use too.
    CONTROLLER_PORT="$(free_port)"
    (cd "$COMPAT_DIR/tests" && "$VENV/bin/python" -c '
import sys
from helpers import kafka_server_properties
sys.stdout.write(kafka_server_properties(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                         {"group.initial.rebalance.delay.ms": 0}))
' "$PORT" "$CONTROLLER_PORT" "$DATA_DIR") >"$WORK_DIR/server.properties"
    log "formatting and starting Apache Kafka on 127.0.0.1:$PORT (controller :$CONTROLLER_PORT, data in $DATA_DIR)"
    "$COMPAT_DIR/bin/kafka-storage" format --standalone --cluster-id "$("$COMPAT_DIR/bin/kafka-storage" random-uuid)" \
        --config "$WORK_DIR/server.properties" >"$WORK_DIR/broker.log" 2>&1
    KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512M -Xms512M}" \
        "$COMPAT_DIR/bin/kafka-server-start" "$WORK_DIR/server.properties" >>"$WORK_DIR/broker.log" 2>&1 &
    BROKER_PID=$!
    READY="Kafka Server started"
fi

ready=""
for _ in $(seq 1 900); do   # up to 90 s
    if grep -q "$READY" "$WORK_DIR/broker.log"; then
        ready=1
        break
    fi
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if [ -z "$ready" ]; then
    log "the $TARGET broker did not come up; its log:"
    cat "$WORK_DIR/broker.log" >&2
    exit 1
fi

# --- 6. Run the suite -------------------------------------------------------
export WEIR_BOOTSTRAP="127.0.0.1:$PORT"
if [ "$TARGET" = weir ]; then export WEIR_BIN; fi
export WEIR_LOG_DIR="$DATA_DIR"
export WEIR_BROKER_LOG="$WORK_DIR/broker.log"

cd "$REPO_ROOT"
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider compat/tests "$@"
rc=$?
# The Go clients (compat/go) against the same broker, unless pytest was
# given arguments (a narrowed run) or WEIR_COMPAT_GO=0.
if [ "$#" -eq 0 ] && [ "${WEIR_COMPAT_GO:-1}" != 0 ]; then
    log "Go clients (franz-go, sarama) against $WEIR_BOOTSTRAP"
    bash "$COMPAT_DIR/go/run.sh"
    go_rc=$?
    [ "$rc" -eq 0 ] && rc=$go_rc
fi
set -e
if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    log "the shared broker died during the run; tail of its log:"
    tail -n 50 "$WORK_DIR/broker.log" >&2 || true
fi
exit "$rc"
