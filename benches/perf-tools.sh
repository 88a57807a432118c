#!/usr/bin/env bash
# Kafka's own perf tools, kafka-producer-perf-test and kafka-consumer-perf-test
# (Apache Kafka 4.4's, through compat/bin), against Weir and against Apache
# Kafka 4.4 on this machine, interleaved run by run (kafka, weir, kafka, weir,
# ...) so machine noise hits both alike; prints each run and the medians with
# the weir/kafka ratio.
#
#   bash benches/perf-tools.sh
#
# Each run starts a fresh single node (Weir: `weir serve` on a temporary
# log.dirs; Kafka: a KRaft combined node formatted with kafka-storage and
# started by kafka-server-start with the heap and JVM settings of Kafka's
# script, -Xmx1G -Xms1G and G1), creates one topic per acks setting, runs the
# producer perf test on each (all records, no throttle), then the consumer
# perf test reading the last topic back from the beginning, and stops the
# broker. The broker's CPU time (utime + stime from /proc/<pid>/stat) over
# each tool run and its peak RSS (VmHWM) are printed beside the tools' own
# figures (the tools' MB is 2^20 bytes).
#
# Environment:
#   PERF_RECORDS      records per producer run (default 1000000)
#   PERF_RECORD_SIZE  value bytes (default 1024)
#   PERF_PARTITIONS   partitions of each topic (default 1)
#   PERF_ACKS         acks settings to run, space separated (default "1 all")
#   PERF_RUNS         runs per target (default 3)
#   PERF_TARGETS      targets in run order (default "kafka weir")
#   PERF_PRODUCER_PROPS  extra producer properties (default "linger.ms=5 batch.size=1048576")
#   WEIR_BIN          the weir binary (default: `cargo build --release`, target/release/weir)
#   KAFKA_HEAP_OPTS / KAFKA_JVM_PERFORMANCE_OPTS  as for Kafka's scripts
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$REPO/compat/bin"
RECORDS="${PERF_RECORDS:-1000000}"
SIZE="${PERF_RECORD_SIZE:-1024}"
PARTITIONS="${PERF_PARTITIONS:-1}"
ACKS="${PERF_ACKS:-1 all}"
RUNS="${PERF_RUNS:-3}"
TARGETS="${PERF_TARGETS:-kafka weir}"
read -r -a PRODUCER_PROPS <<<"${PERF_PRODUCER_PROPS:-linger.ms=5 batch.size=1048576}"

log() { printf '[perf-tools] %s\n' "$*" >&2; }

if [[ " $TARGETS " == *" weir "* ]] && [ -z "${WEIR_BIN:-}" ]; then
    log "building weir (release)"
    (cd "$REPO" && cargo build --release --bin weir) >&2
    WEIR_BIN="$REPO/target/release/weir"
fi
log "Kafka's tools: $("$BIN/kafka-topics" --version)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/weir-perf-tools.XXXXXX")"
BROKER_PID=""
stop_broker() {
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    BROKER_PID=""
}
trap 'stop_broker; rm -rf "$WORK"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_broker TARGET DIR: a fresh node; sets BROKER_PID and BOOTSTRAP.
start_broker() {
    local target="$1" dir="$2" port ready
    port="$(free_port)"
    mkdir -p "$dir/data"
    if [ "$target" = weir ]; then
        "$WEIR_BIN" serve --override "listeners=PLAINTEXT://127.0.0.1:$port" --override "log.dirs=$dir/data" \
            >"$dir/broker.log" 2>&1 &
        ready="weir listening on PLAINTEXT"
    else
        local cport
        cport="$(free_port)"
        cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.quorum.voters=1@127.0.0.1:$cport
log.dirs=$dir/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF
        "$BIN/kafka-storage" format --cluster-id V2VpckJlbmNoS2Fma2EhIQ --config "$dir/server.properties" \
            >"$dir/broker.log" 2>&1
        "$BIN/kafka-server-start" "$dir/server.properties" >>"$dir/broker.log" 2>&1 &
        ready="Kafka Server started"
    fi
    BROKER_PID=$!
    BOOTSTRAP="127.0.0.1:$port"
    for _ in $(seq 1 1200); do   # up to 120 s
        grep -q "$ready" "$dir/broker.log" && return 0
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.1
    done
    log "the $target broker did not start; its log:"
    tail -n 40 "$dir/broker.log" >&2
    exit 1
}

# Broker CPU seconds so far (utime + stime of the process, all threads).
cpu_secs() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$BROKER_PID/stat"
}
peak_rss_mib() {
    awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$BROKER_PID/status"
}

RESULTS="$WORK/results"   # target metric value, one a line
: >"$RESULTS"
record() { echo "$1 $2 $3" >>"$RESULTS"; }

for run in $(seq 1 "$RUNS"); do
    for target in $TARGETS; do
        dir="$WORK/$target-$run"
        start_broker "$target" "$dir"
        last_topic=""
        for acks in $ACKS; do
            topic="perf-acks$acks"
            "$BIN/kafka-topics" --bootstrap-server "$BOOTSTRAP" --create --topic "$topic" \
                --partitions "$PARTITIONS" --replication-factor 1 >/dev/null
            before="$(cpu_secs)"
            out="$("$BIN/kafka-producer-perf-test" --topic "$topic" --num-records "$RECORDS" \
                --record-size "$SIZE" --throughput -1 \
                --bootstrap-server "$BOOTSTRAP" --command-property "acks=$acks" "${PRODUCER_PROPS[@]}")"
            cpu="$(awk -v a="$before" -v b="$(cpu_secs)" 'BEGIN { printf "%.2f", b - a }')"
            # "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, p50 ms 50th, ..."
            final="$(grep -E '^[0-9]+ records sent' <<<"$out" | tail -n 1)"
            rps="$(sed -E 's/^[0-9]+ records sent, ([0-9.]+) records\/sec.*/\1/' <<<"$final")"
            mbps="$(sed -E 's/.*\(([0-9.]+) MB\/sec\).*/\1/' <<<"$final")"
            p99="$(sed -E 's/.* ([0-9.]+) ms 99th.*/\1/' <<<"$final")"
            ms_per_mb="$(awk -v c="$cpu" -v n="$RECORDS" -v s="$SIZE" 'BEGIN { printf "%.2f", c * 1000 / (n * s / 1e6) }')"
            echo "$target run $run produce acks=$acks: $final; broker CPU ${cpu} s (${ms_per_mb} ms/MB)"
            record "$target" "produce-acks$acks-records/s" "$rps"
            record "$target" "produce-acks$acks-MB/s" "$mbps"
            record "$target" "produce-acks$acks-p99-ms" "$p99"
            record "$target" "produce-acks$acks-broker-CPU-ms/MB" "$ms_per_mb"
            last_topic="$topic"
        done
        before="$(cpu_secs)"
        out="$("$BIN/kafka-consumer-perf-test" --bootstrap-server "$BOOTSTRAP" --topic "$last_topic" \
            --num-records "$RECORDS" --timeout 120000 --group "perf-$run" 2>/dev/null)"
        cpu="$(awk -v a="$before" -v b="$(cpu_secs)" 'BEGIN { printf "%.2f", b - a }')"
        header="$(grep -E '^start.time' <<<"$out" | tail -n 1)"
        row="$(tail -n 1 <<<"$out")"
        col() {   # the value of column $1 of the consumer's CSV line
            paste -d= <(tr ',' '\n' <<<"$header" | sed 's/^ *//') <(tr ',' '\n' <<<"$row" | sed 's/^ *//') |
                awk -F= -v k="$1" '$1 == k { print $2 }'
        }
        ms_per_mb="$(awk -v c="$cpu" -v n="$RECORDS" -v s="$SIZE" 'BEGIN { printf "%.2f", c * 1000 / (n * s / 1e6) }')"
        echo "$target run $run consume: $(col data.consumed.in.nMsg) records, $(col MB.sec) MB/sec," \
            "$(col nMsg.sec) records/sec, fetch $(col fetch.MB.sec) MB/sec; broker CPU ${cpu} s (${ms_per_mb} ms/MB);" \
            "broker peak RSS $(peak_rss_mib) MiB"
        [ "$(col data.consumed.in.nMsg)" = "$RECORDS" ] || { log "$target consumed $(col data.consumed.in.nMsg) of $RECORDS"; exit 1; }
        record "$target" "consume-MB/s" "$(col MB.sec)"
        record "$target" "consume-records/s" "$(col nMsg.sec)"
        # Without the group join (Kafka creates __consumer_offsets then).
        record "$target" "consume-fetch-MB/s" "$(col fetch.MB.sec)"
        record "$target" "consume-fetch-records/s" "$(col fetch.nMsg.sec)"
        record "$target" "consume-broker-CPU-ms/MB" "$ms_per_mb"
        record "$target" "broker-peak-RSS-MiB" "$(peak_rss_mib)"
        stop_broker
        rm -rf "$dir/data"
    done
done

echo
echo "Medians of $RUNS run(s): $RECORDS records x $SIZE B, $PARTITIONS partition(s), producer ${PRODUCER_PROPS[*]}; MB = 2^20 bytes (the tools')"
python3 - "$RESULTS" $TARGETS <<'EOF'
import statistics, sys
from collections import defaultdict
path, targets = sys.argv[1], sys.argv[2:]
values = defaultdict(list)
metrics = []
for line in open(path):
    t, m, v = line.split()
    if m not in metrics:
        metrics.append(m)
    values[(t, m)].append(float(v))
ratio = "weir" in targets and "kafka" in targets
rows = [["metric", *targets] + (["weir/kafka"] if ratio else [])]
for m in metrics:
    med = {t: statistics.median(values[(t, m)]) for t in targets if values[(t, m)]}
    row = [m] + [f"{med[t]:.2f}" if t in med else "-" for t in targets]
    if ratio:
        row.append(f"{med['weir'] / med['kafka']:.3f}" if med.get("kafka") else "-")
    rows.append(row)
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for r in rows:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
EOF
