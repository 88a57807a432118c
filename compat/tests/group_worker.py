"""A confluent-kafka group consumer run as a child process by test_groups.py.

    python group_worker.py '<json: {"conf": {...}, "topic": "...", "commit": true}>'

It subscribes, consumes and reports everything it sees as JSON lines on
stdout (flushed at once, so a SIGKILL loses nothing it printed):

    {"ev": "assign"|"revoke"|"lost", "gen": G, "member": M, "parts": [...], "owned": [...]}
    {"ev": "msgs", "recs": [[partition, offset, value, generation], ...]}
    {"ev": "commit", "gen": G, "offsets": [[partition, offset], ...]}   (acknowledged commits)
    {"ev": "commit_failed", "gen": G, "error": "..."}
    {"ev": "error", "error": "..."}
    {"ev": "closed"}

`gen` is the generation librdkafka holds when the event happens (for a
record: when poll() hands it over), read from consumer_group_metadata()
(librdkafka's serialized "CGMDv2:" blob: magic, then the generation id as a
native int32). With "commit": true (the default) auto-commit is off: it
commits its positions synchronously at most every 200 ms (records are always
reported before the commit that covers them) and, on revoke, the positions of
the partitions it gives up. SIGTERM makes it close() the consumer (a graceful
leave) and exit 0.
"""

import json
import signal
import struct
import sys
import time

from confluent_kafka import Consumer, KafkaException

CGMD_MAGIC = b"CGMDv2:"


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def generation(consumer):
    blob = bytes(consumer.consumer_group_metadata())
    assert blob.startswith(CGMD_MAGIC), blob
    return struct.unpack_from("=i", blob, len(CGMD_MAGIC))[0]


def main():
    spec = json.loads(sys.argv[1])
    topic = spec["topic"]
    manual = spec.get("commit", True)
    conf = dict(spec["conf"])
    if manual:
        conf["enable.auto.commit"] = False
    c = Consumer(conf)
    owned = set()
    pending = []
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    def commit(offsets=None):
        g = generation(c)
        try:
            if offsets is None:
                res = c.commit(asynchronous=False)
            elif offsets:
                res = c.commit(offsets=offsets, asynchronous=False)
            else:
                return
        except KafkaException as e:
            emit({"ev": "commit_failed", "gen": g, "error": str(e.args[0])})
            return
        bad = [(tp.partition, str(tp.error)) for tp in res if tp.error]
        if bad:
            emit({"ev": "commit_failed", "gen": g, "error": repr(bad)})
        emit({"ev": "commit", "gen": g,
              "offsets": [[tp.partition, tp.offset] for tp in res if not tp.error and tp.offset >= 0]})

    def flush():
        if pending:
            emit({"ev": "msgs", "recs": list(pending)})
            pending.clear()

    def event(kind, parts):
        flush()
        emit({"ev": kind, "gen": generation(c), "member": c.memberid(),
              "parts": sorted(tp.partition for tp in parts), "owned": sorted(owned)})

    def on_assign(_c, parts):
        if spec["conf"].get("partition.assignment.strategy") != "cooperative-sticky":
            owned.clear()
        owned.update(tp.partition for tp in parts)
        event("assign", parts)

    def on_revoke(_c, parts):
        flush()
        if manual and parts:
            # Commit what we consumed of the partitions we give up.
            pos = [tp for tp in c.position(list(parts)) if tp.offset >= 0]
            commit(pos)
        owned.difference_update(tp.partition for tp in parts)
        event("revoke", parts)

    def on_lost(_c, parts):
        owned.difference_update(tp.partition for tp in parts)
        event("lost", parts)

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    emit({"ev": "started"})
    uncommitted, last_commit = False, time.monotonic()
    while not stop:
        m = c.poll(0.1)
        if m is not None and m.error():
            emit({"ev": "error", "error": str(m.error())})
        elif m is not None:
            # The generation as the record is handed over (rebalance
            # callbacks run inside poll(), before the records after them).
            pending.append([m.partition(), m.offset(), m.value().decode(), generation(c)])
            uncommitted = True
        if m is None or len(pending) >= 10:
            flush()
        # Commit what was handed over at most every 200 ms: a crash leaves
        # a little to be read again.
        if manual and uncommitted and (m is None or time.monotonic() - last_commit >= 0.2):
            flush()
            commit()
            uncommitted, last_commit = False, time.monotonic()
    flush()
    c.close()
    emit({"ev": "closed"})


if __name__ == "__main__":
    main()
