"""Durability across restarts: a broker of our own (own port, own data dir),
stopped with SIGTERM or SIGKILL and started again on the same data dir."""

import signal
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, OffsetSpec, ResourceType

from conftest import create_topic
from helpers import CLEAN_SIGTERM_EXIT, TARGET, Broker, unique, wait_until

PARTITIONS = 3


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "data").start()
    yield b
    b.kill()


def idempotent_producer(bootstrap):
    return Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "batch.num.messages": 50,
        "message.timeout.ms": 90000,
        "reconnect.backoff.max.ms": 500,
    })


def produce_acked(bootstrap, topic, values):
    """Produce with acks=all; return {value: (partition, offset)} of the acknowledged."""
    acked, failed = {}, []

    def on_delivery(err, msg):
        if err is None:
            acked[msg.value()] = (msg.partition(), msg.offset())
        else:
            failed.append(err)

    p = idempotent_producer(bootstrap)
    for i, v in enumerate(values):
        p.produce(topic, key=str(i % 17).encode(), value=v, on_delivery=on_delivery)
        if i % 100 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    assert not failed, failed[:3]
    assert len(acked) == len(values)
    return acked


def read_all(bootstrap, topic, partitions=PARTITIONS, timeout=60.0):
    """Everything in the topic up to each partition's high watermark:
    {(partition, offset): value}."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": unique("restart-reader"),
        "enable.auto.commit": False,
        "auto.offset.reset": "error",
        "enable.partition.eof": True,
    })
    try:
        ends = {}
        for part in range(partitions):
            # Right after a restart a partition may answer NOT_LEADER_OR_FOLLOWER
            # until its leader is back (Kafka: until the broker has replayed
            # the metadata log and taken leadership again).
            lo, hi = wait_until(lambda: c.get_watermark_offsets(TopicPartition(topic, part), timeout=5),
                                timeout=60, what=f"{topic}-{part}'s offsets")
            assert lo == 0, f"partition {part} log start offset {lo}"
            ends[part] = hi
        todo = {part for part, hi in ends.items() if hi > 0}
        c.assign([TopicPartition(topic, part, 0) for part in todo])
        out = {}
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if m.offset() >= ends[m.partition()]:
                        todo.discard(m.partition())
                    continue
                raise AssertionError(f"consumer error: {m.error()}")
            key = (m.partition(), m.offset())
            assert key not in out, f"offset {key} delivered twice"
            out[key] = m.value()
        assert not todo, f"partitions {sorted(todo)} not read to their end within {timeout}s"
        assert sum(ends.values()) == len(out), (ends, len(out))
        return out
    finally:
        c.close()


def check_survived(bootstrap, topic, acked):
    stored = read_all(bootstrap, topic)
    missing = [(v, po) for v, po in acked.items() if stored.get(po) != v]
    assert not missing, (
        f"{len(missing)} of {len(acked)} acknowledged records are not at their acknowledged offset, "
        f"e.g. {missing[:3]} (found there: {[stored.get(po) for _, po in missing[:3]]})"
    )
    return stored


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_acknowledged_records_survive_restart(broker, sig):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = create_topic(admin, unique("restart"), PARTITIONS, config={"retention.ms": "86400000"})
    values = [f"rec-{i:05d}".encode() for i in range(2000)]
    acked = produce_acked(broker.bootstrap, topic, values)
    before = read_all(broker.bootstrap, topic)
    assert len(before) == len(values)

    rc = broker.stop(sig)
    # Kafka writes <log.dirs>/.kafka_cleanshutdown on a clean shutdown and
    # removes it at startup, so after a kill -9 there is none.
    marker = broker.data_dir / ".kafka_cleanshutdown"
    if sig == signal.SIGTERM:
        assert rc == CLEAN_SIGTERM_EXIT[TARGET], \
            f"{TARGET} exited with {rc} on SIGTERM (expected a clean shutdown):\n{broker.log_tail()}"
        assert marker.exists(), "no clean-shutdown marker after SIGTERM"
    else:
        assert rc == -signal.SIGKILL
        assert not marker.exists(), "clean-shutdown marker present after kill -9"
    broker.start()

    stored = check_survived(broker.bootstrap, topic, acked)
    assert stored == before, "the log after restart differs from the log before"

    # The topic keeps its partitions, configs and id; appends continue after the old end.
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    res = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([res], request_timeout=10)[res].result(timeout=10)
    assert (entries["retention.ms"].value, entries["retention.ms"].source) == \
        ("86400000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    ends = {part: 0 for part in range(PARTITIONS)}
    for part, off in acked.values():
        ends[part] = max(ends[part], off + 1)
    latest = admin.list_offsets({TopicPartition(topic, part): OffsetSpec.latest() for part in range(PARTITIONS)},
                                request_timeout=10)
    assert {tp.partition: f.result(timeout=10).offset for tp, f in latest.items()} == ends

    more = produce_acked(broker.bootstrap, topic, [f"after-{i}".encode() for i in range(100)])
    for part, off in more.values():
        assert off >= ends[part], f"new record at {part}/{off} overlaps the old log (end {ends[part]})"
    check_survived(broker.bootstrap, topic, {**acked, **more})


def test_kill_during_idempotent_produce(broker):
    """kill -9 while an idempotent producer (acks=all) is mid-stream, start the
    broker again, let the producer retry: every record acknowledged before the
    kill is at its offset, every record is delivered, none twice."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = create_topic(admin, unique("restart-live"), PARTITIONS)
    acked, failed = {}, []

    def on_delivery(err, msg):
        if err is None:
            acked[msg.value()] = (msg.partition(), msg.offset())
        else:
            failed.append(err)

    p = idempotent_producer(broker.bootstrap)
    values = []
    acked_before_kill = unacked_at_kill = stop_at = None
    deadline = time.monotonic() + 60
    i = 0
    while stop_at is None or i < stop_at:
        v = f"live-{i:06d}".encode()
        while True:
            try:
                p.produce(topic, key=str(i % 23).encode(), value=v, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        values.append(v)
        i += 1
        if i % 100 != 0:
            continue
        # Every 100 records: delivery reports are served only inside poll(), so
        # the 100 just produced are still unacknowledged here; kill now once
        # 1000 acknowledgements came in, then go on for 2000 more records.
        if acked_before_kill is None and len(acked) >= 1000:
            broker.stop(signal.SIGKILL)
            acked_before_kill = dict(acked)
            unacked_at_kill = i - len(acked_before_kill)
            stop_at = i + 2000
            broker.start()
        assert acked_before_kill is not None or time.monotonic() < deadline, \
            f"only {len(acked)} of {i} records acknowledged after 60 s"
        # Pace the stream (~20k records/s) so acknowledgements arrive while it runs.
        p.poll(0.005)
    assert acked_before_kill is not None, "producer never reached 1000 acknowledgements"
    assert unacked_at_kill > 0, "no unacknowledged records when the broker was killed"
    assert p.flush(90) == 0, "messages still undelivered 90 s after the restart"
    assert not failed, f"{len(failed)} deliveries failed, e.g. {failed[:3]}"

    stored = check_survived(broker.bootstrap, topic, acked_before_kill)
    assert check_survived(broker.bootstrap, topic, acked) == stored
    counts = {}
    for v in stored.values():
        counts[v] = counts.get(v, 0) + 1
    dups = [v for v, n in counts.items() if n > 1]
    assert not dups, f"{len(dups)} records stored twice (idempotence broken across restart), e.g. {dups[:3]}"
    assert set(stored.values()) == set(values)
