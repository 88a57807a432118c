"""confluent-kafka-python (librdkafka bundled in its wheel): admin, produce, consume."""

import json
import os
import time

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    ConfigSource,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from conftest import create_topic
from helpers import CODEC_IDS, Broker, stored_batches, unique, wait_until

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]

# Topic configs Kafka 4.x returns for every topic in DescribeConfigs.
TOPIC_CONFIGS = [
    "cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms",
    "flush.messages", "flush.ms", "follower.replication.throttled.replicas",
    "index.interval.bytes", "leader.replication.throttled.replicas", "local.retention.bytes",
    "local.retention.ms", "max.compaction.lag.ms", "max.message.bytes",
    "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
    "message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms",
    "min.insync.replicas", "preallocate", "remote.storage.enable", "retention.bytes",
    "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
    "unclean.leader.election.enable",
]

# Kafka's defaults (broker defaults not overridden => source DEFAULT_CONFIG).
TOPIC_DEFAULTS = {
    "cleanup.policy": "delete",
    "compression.type": "producer",
    "delete.retention.ms": "86400000",
    "file.delete.delay.ms": "60000",
    "index.interval.bytes": "4096",
    "max.message.bytes": "1048588",
    "message.timestamp.type": "CreateTime",
    "min.cleanable.dirty.ratio": "0.5",
    "min.compaction.lag.ms": "0",
    "preallocate": "false",
    "retention.bytes": "-1",
    "retention.ms": "604800000",
    "segment.bytes": "1073741824",
    "segment.index.bytes": "10485760",
    "segment.jitter.ms": "0",
    "segment.ms": "604800000",
    "unclean.leader.election.enable": "false",
}


# --------------------------------------------------------------------------- helpers


def make_consumer(bootstrap, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        # librdkafka insists on a group.id; we only ever assign(), never subscribe/commit.
        "group.id": unique("compat-assign"),
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",
    }
    conf.update(extra)
    return Consumer(conf)


def consume(bootstrap, assignment, count, timeout=30.0, consumer=None, **extra):
    """assign() the TopicPartitions and poll until `count` messages arrived.

    Fails on any error message; returns exactly the messages received (and
    keeps polling briefly to catch extra, unexpected messages)."""
    own = consumer is None
    c = consumer or make_consumer(bootstrap, **extra)
    try:
        if own:
            c.assign(assignment)
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise AssertionError(f"consumer error: {m.error()}")
            got.append(m)
        assert len(got) == count, f"got {len(got)} of {count} messages within {timeout}s"
        # Nothing beyond what was produced.
        extra_msgs = c.consume(num_messages=100, timeout=0.5)
        extra_msgs = [m for m in extra_msgs if not m.error()]
        assert not extra_msgs, f"unexpected extra messages: {[(m.partition(), m.offset()) for m in extra_msgs]}"
        return got
    finally:
        if own:
            c.close()


class Deliveries:
    def __init__(self):
        self.ok = []
        self.failed = []

    def __call__(self, err, msg):
        if err is not None:
            self.failed.append((err, msg))
        else:
            self.ok.append((msg.partition(), msg.offset(), msg.key(), msg.value()))


def produce_all(producer, topic, records, timeout=30.0):
    """records: iterable of dicts for Producer.produce(); returns Deliveries."""
    d = Deliveries()
    for r in records:
        while True:
            try:
                producer.produce(topic, on_delivery=d, **r)
                break
            except BufferError:
                producer.poll(0.1)
    remaining = producer.flush(timeout)
    assert remaining == 0, f"{remaining} messages not delivered within {timeout}s"
    return d


def describe_error(admin, topic):
    """describe_topics() error code for `topic`, or None if it exists.
    (Metadata without auto-creation, unlike a producer's list_topics(topic=...).)"""
    fut = admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic]
    try:
        fut.result(timeout=10)
    except KafkaException as e:
        return e.args[0].code()
    return None


def latest_offsets(admin, topic, partitions):
    req = {TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}
    res = admin.list_offsets(req, request_timeout=10)
    return {tp.partition: f.result(timeout=10).offset for tp, f in res.items()}


# --------------------------------------------------------------------------- cluster / metadata


def test_describe_cluster(admin, broker_port):
    res = admin.describe_cluster(request_timeout=10).result(timeout=10)
    assert [(n.id, n.host, n.port) for n in res.nodes] == [(1, "127.0.0.1", broker_port)]
    assert res.controller is not None and res.controller.id == 1
    assert res.cluster_id, "empty cluster id"


def test_list_topics_metadata(admin, new_topic, broker_port):
    topic = new_topic("ck-md", partitions=3)
    md = admin.list_topics(timeout=10)
    assert md.controller_id == 1
    assert md.cluster_id
    assert {b.id: (b.host, b.port) for b in md.brokers.values()} == {1: ("127.0.0.1", broker_port)}
    t = md.topics[topic]
    assert t.error is None
    assert sorted(t.partitions) == [0, 1, 2]
    for p in t.partitions.values():
        assert (p.leader, p.replicas, p.isrs, p.error) == (1, [1], [1], None)


# --------------------------------------------------------------------------- admin


def test_create_topic_with_configs_then_describe(admin):
    topic = unique("ck-create")
    configs = {"retention.ms": "3600000", "cleanup.policy": "delete", "max.message.bytes": "2000000"}
    create_topic(admin, topic, partitions=6, config=configs)

    desc = admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result(timeout=10)
    assert desc.name == topic
    assert not desc.is_internal
    tid = desc.topic_id
    assert tid is not None and (tid.get_most_significant_bits(), tid.get_least_significant_bits()) != (0, 0), \
        "topic id must be a non-zero UUID"
    assert sorted(p.id for p in desc.partitions) == list(range(6))
    for p in desc.partitions:
        assert p.leader is not None and p.leader.id == 1
        assert [n.id for n in p.replicas] == [1]
        assert [n.id for n in p.isr] == [1]

    # The id is stable: a second describe answers the same.
    again = admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result(timeout=10)
    assert str(again.topic_id) == str(tid)

    res = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([res], request_timeout=10)[res].result(timeout=10)
    missing = [k for k in TOPIC_CONFIGS if k not in entries]
    assert not missing, f"DescribeConfigs lacks {missing}; has {sorted(entries)}"
    for name, value in configs.items():
        e = entries[name]
        assert (e.value, e.source, e.is_default) == (value, ConfigSource.DYNAMIC_TOPIC_CONFIG.value, False), \
            (name, e.value, e.source, e.is_default)
    for name, value in TOPIC_DEFAULTS.items():
        if name in configs:
            continue
        e = entries[name]
        assert (e.value, e.source) == (value, ConfigSource.DEFAULT_CONFIG.value), (name, e.value, e.source)
        assert e.is_default, name
        assert not e.is_sensitive, name
    # A new cluster (ELR on, Kafka 4.1+) sets min.insync.replicas at cluster
    # level: topics inherit it as DYNAMIC_DEFAULT_BROKER_CONFIG.
    e = entries["min.insync.replicas"]
    assert (e.value, e.source) == ("1", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value), (e.value, e.source)


def test_create_topic_errors(admin):
    topic = create_topic(admin, unique("ck-dup"))

    def create_error(new_topic, **kw):
        fut = admin.create_topics([new_topic], operation_timeout=10, **kw)[new_topic.topic]
        with pytest.raises(KafkaException) as ei:
            fut.result(timeout=15)
        return ei.value.args[0].code()

    assert create_error(NewTopic(topic, 1, 1)) == KafkaError.TOPIC_ALREADY_EXISTS
    # A single broker cannot hold 3 replicas.
    assert create_error(NewTopic(unique("ck-rf"), 1, 3)) == KafkaError.INVALID_REPLICATION_FACTOR
    assert create_error(NewTopic(unique("ck-badcfg"), 1, 1, config={"retention.ms": "soon"})) == \
        KafkaError.INVALID_CONFIG
    assert create_error(NewTopic(unique("ck-unkcfg"), 1, 1, config={"no.such.config": "1"})) == \
        KafkaError.INVALID_CONFIG
    assert create_error(NewTopic("bad/name", 1, 1)) == KafkaError.TOPIC_EXCEPTION

    # validate_only: succeeds but creates nothing.
    vo = unique("ck-validate")
    admin.create_topics([NewTopic(vo, 2, 1)], validate_only=True, operation_timeout=10)[vo].result(timeout=15)
    assert describe_error(admin, vo) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_describe_configs_static_broker_source(tmp_path):
    """A broker-level override (server.properties / --override) shows as
    STATIC_BROKER_CONFIG on topics that do not override it."""
    broker = Broker(tmp_path / "data", overrides={
        "log.retention.ms": "7200000",
        "log.segment.bytes": "536870912",
        "min.insync.replicas": "1",
    }).start()
    try:
        a = AdminClient({"bootstrap.servers": broker.bootstrap})
        topic = create_topic(a, unique("ck-static"), config={"segment.bytes": "268435456"})
        res = ConfigResource(ResourceType.TOPIC, topic)
        entries = a.describe_configs([res], request_timeout=10)[res].result(timeout=10)
        got = {k: (entries[k].value, entries[k].source)
               for k in ("retention.ms", "segment.bytes", "min.insync.replicas", "cleanup.policy")}
        assert got == {
            "retention.ms": ("7200000", ConfigSource.STATIC_BROKER_CONFIG.value),
            "segment.bytes": ("268435456", ConfigSource.DYNAMIC_TOPIC_CONFIG.value),
            # ELR (on for new clusters, Kafka 4.1) records the static value
            # as the cluster-level default.
            "min.insync.replicas": ("1", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value),
            "cleanup.policy": ("delete", ConfigSource.DEFAULT_CONFIG.value),
        }
    finally:
        broker.stop()


def test_describe_broker_configs(admin):
    res = ConfigResource(ResourceType.BROKER, "1")
    entries = admin.describe_configs([res], request_timeout=10)[res].result(timeout=10)
    for name, value in {
        "log.segment.bytes": "1073741824",
        "num.partitions": "1",
        "message.max.bytes": "1048588",
        "auto.create.topics.enable": "true",
    }.items():
        assert name in entries, f"broker config {name} missing"
        assert entries[name].value == value, (name, entries[name].value)
        assert entries[name].source == ConfigSource.DEFAULT_CONFIG.value, (name, entries[name].source)
    # A new cluster (ELR on, Kafka 4.1) sets min.insync.replicas at cluster level.
    mir = entries["min.insync.replicas"]
    assert (mir.value, mir.source) == ("1", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)


def test_list_offsets(admin, bootstrap, new_topic):
    topic = new_topic("ck-lo")
    tp = TopicPartition(topic, 0)
    base = int(time.time() * 1000) - 60_000
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
    d = produce_all(p, topic, [{"value": f"v{i}".encode(), "partition": 0, "timestamp": base + i * 1000}
                               for i in range(10)])
    assert not d.failed and sorted(o for _, o, _, _ in d.ok) == list(range(10))

    def lo(spec):
        r = admin.list_offsets({tp: spec}, request_timeout=10)[tp].result(timeout=10)
        return r.offset, r.timestamp

    assert lo(OffsetSpec.earliest())[0] == 0
    assert lo(OffsetSpec.latest())[0] == 10
    assert lo(OffsetSpec.for_timestamp(base)) == (0, base)
    assert lo(OffsetSpec.for_timestamp(base + 2500)) == (3, base + 3000)
    assert lo(OffsetSpec.for_timestamp(base + 9000)) == (9, base + 9000)
    assert lo(OffsetSpec.for_timestamp(base + 9001))[0] == -1
    assert lo(OffsetSpec.max_timestamp()) == (9, base + 9000)


def test_list_offsets_max_timestamp_inside_batch(admin, bootstrap, new_topic):
    """Kafka 3.8+ (KAFKA-16310) answers the exact record with the largest
    timestamp, not the last record of its batch."""
    topic = new_topic("ck-maxts")
    tp = TopicPartition(topic, 0)
    base = int(time.time() * 1000) - 60_000
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 200})
    d = produce_all(p, topic, [{"value": b"a", "partition": 0, "timestamp": base},
                               {"value": b"b", "partition": 0, "timestamp": base + 5000},
                               {"value": b"c", "partition": 0, "timestamp": base + 3000}])
    assert not d.failed
    r = admin.list_offsets({tp: OffsetSpec.max_timestamp()}, request_timeout=10)[tp].result(timeout=10)
    assert (r.offset, r.timestamp) == (1, base + 5000)
    # First offset whose timestamp >= base+4000 is offset 1 too.
    r = admin.list_offsets({tp: OffsetSpec.for_timestamp(base + 4000)}, request_timeout=10)[tp].result(timeout=10)
    assert (r.offset, r.timestamp) == (1, base + 5000)


def test_delete_topics(admin, bootstrap):
    topic = create_topic(admin, unique("ck-del"), partitions=2)
    p = Producer({"bootstrap.servers": bootstrap, "allow.auto.create.topics": False})
    d = produce_all(p, topic, [{"value": b"x", "partition": i % 2} for i in range(10)])
    assert not d.failed
    assert latest_offsets(admin, topic, 2) == {0: 5, 1: 5}

    admin.delete_topics([topic], operation_timeout=10)[topic].result(timeout=15)
    wait_until(lambda: describe_error(admin, topic) == KafkaError.UNKNOWN_TOPIC_OR_PART,
               what=f"{topic} to be unknown")

    # Deleting it again: UNKNOWN_TOPIC_OR_PART.
    with pytest.raises(KafkaException) as ei:
        admin.delete_topics([topic], operation_timeout=10)[topic].result(timeout=15)
    assert ei.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART

    # Re-created under the same name it starts empty, with a new id.
    create_topic(admin, topic, partitions=1)
    assert latest_offsets(admin, topic, 1) == {0: 0}


# --------------------------------------------------------------------------- produce / consume


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_codec(bootstrap, log_dir, new_topic, codec):
    topic = new_topic(f"ck-{codec}")
    n = 500
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20, "acks": 1})
    records = [{
        "key": f"k{i}".encode(),
        "value": (f"value-{i}-" + "abc" * 40).encode(),
        "headers": [("i", str(i).encode()), ("codec", codec.encode())],
        "partition": 0,
    } for i in range(n)]
    d = produce_all(p, topic, records)
    assert not d.failed, d.failed[:3]
    assert [o for _, o, _, _ in sorted(d.ok, key=lambda x: x[1])] == list(range(n))
    # Delivery order = produce order = offset order.
    assert [int(k[1:]) for _, _, k, _ in sorted(d.ok, key=lambda x: x[1])] == list(range(n))

    msgs = consume(bootstrap, [TopicPartition(topic, 0, 0)], n)
    for i, m in enumerate(msgs):
        assert (m.topic(), m.partition(), m.offset()) == (topic, 0, i)
        assert m.key() == f"k{i}".encode()
        assert m.value() == (f"value-{i}-" + "abc" * 40).encode()
        assert m.headers() == [("i", str(i).encode()), ("codec", codec.encode())]
        assert m.timestamp()[0] == TIMESTAMP_CREATE_TIME

    if log_dir:
        batches = stored_batches(log_dir, topic, 0)
        assert {b["codec"] for b in batches} == {CODEC_IDS[codec]}, \
            f"stored codecs {sorted({b['codec'] for b in batches})}, expected {CODEC_IDS[codec]} ({codec})"
        assert sum(b["records"] for b in batches) == n


def test_idempotent_producer_acks_all(bootstrap, new_topic):
    topic = new_topic("ck-idem", partitions=3)
    n = 3000
    p = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "batch.num.messages": 100,
        "max.in.flight.requests.per.connection": 5,
    })
    d = produce_all(p, topic, [{"key": f"key-{i % 37}".encode(), "value": f"{i}".encode()} for i in range(n)])
    assert not d.failed, d.failed[:3]
    assert len(d.ok) == n

    by_part = {}
    for part, off, key, val in d.ok:
        by_part.setdefault(part, []).append((off, key, val))
    assert len(by_part) > 1
    for part, recs in by_part.items():
        offs = sorted(o for o, _, _ in recs)
        assert offs == list(range(len(recs))), f"partition {part}: offsets not contiguous/unique"
        # Per key, offsets follow produce order.
        per_key = {}
        for o, k, v in sorted(recs):
            per_key.setdefault(k, []).append(int(v))
        for k, vals in per_key.items():
            assert vals == sorted(vals), f"key {k} out of order on partition {part}"

    msgs = consume(bootstrap, [TopicPartition(topic, part, 0) for part in by_part], n)
    seen = {(m.partition(), m.offset()): (m.key(), m.value()) for m in msgs}
    assert len(seen) == n
    for part, recs in by_part.items():
        for o, k, v in recs:
            assert seen[(part, o)] == (k, v)


def test_acks_zero(bootstrap, new_topic):
    topic = new_topic("ck-acks0")
    p = Producer({"bootstrap.servers": bootstrap, "acks": 0, "linger.ms": 10})
    d = produce_all(p, topic, [{"value": f"m{i}".encode(), "partition": 0} for i in range(100)])
    assert not d.failed
    msgs = consume(bootstrap, [TopicPartition(topic, 0, 0)], 100)
    assert [m.value() for m in msgs] == [f"m{i}".encode() for i in range(100)]
    assert [m.offset() for m in msgs] == list(range(100))


def test_null_key_empty_and_null_values(bootstrap, new_topic):
    topic = new_topic("ck-null")
    p = Producer({"bootstrap.servers": bootstrap})
    d = produce_all(p, topic, [
        {"key": None, "value": b"no-key", "partition": 0},
        {"key": b"k", "value": None, "partition": 0},
        {"key": b"", "value": b"", "partition": 0},
    ])
    assert not d.failed
    msgs = consume(bootstrap, [TopicPartition(topic, 0, 0)], 3)
    assert [(m.key(), m.value()) for m in msgs] == [(None, b"no-key"), (b"k", None), (b"", b"")]


def test_explicit_timestamps(bootstrap, new_topic):
    topic = new_topic("ck-ts")
    ts = [1_600_000_000_000 + i * 7 for i in range(5)]
    # Old timestamps are fine: message.timestamp.before.max.ms defaults to unlimited.
    p = Producer({"bootstrap.servers": bootstrap})
    d = produce_all(p, topic, [{"value": b"x", "timestamp": t, "partition": 0} for t in ts])
    assert not d.failed, d.failed[:1]
    msgs = consume(bootstrap, [TopicPartition(topic, 0, 0)], 5)
    assert [m.timestamp() for m in msgs] == [(TIMESTAMP_CREATE_TIME, t) for t in ts]


def test_assign_with_offsets(bootstrap, new_topic):
    topic = new_topic("ck-assign", partitions=2)
    p = Producer({"bootstrap.servers": bootstrap})
    d = produce_all(p, topic, [{"value": f"p{i % 2}-{i // 2}".encode(), "partition": i % 2} for i in range(40)])
    assert not d.failed

    msgs = consume(bootstrap, [TopicPartition(topic, 0, 15), TopicPartition(topic, 1, OFFSET_BEGINNING)], 5 + 20)
    p0 = [m for m in msgs if m.partition() == 0]
    p1 = [m for m in msgs if m.partition() == 1]
    assert [(m.offset(), m.value()) for m in p0] == [(o, f"p0-{o}".encode()) for o in range(15, 20)]
    assert [(m.offset(), m.value()) for m in p1] == [(o, f"p1-{o}".encode()) for o in range(20)]

    # OFFSET_END: nothing until something new is produced, then exactly that.
    # librdkafka's statistics say when the partition's fetcher is active and
    # at which offset (it resolved OFFSET_END through ListOffsets).
    stats = {}
    c = make_consumer(bootstrap, **{"statistics.interval.ms": 100,
                                    "stats_cb": lambda s: stats.update(last=json.loads(s))})
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_END)])
        early = []

        def fetching_at_end():
            m = c.poll(0.1)
            if m is not None:
                early.append(m)
            part = stats.get("last", {}).get("topics", {}).get(topic, {}).get("partitions", {}).get("0", {})
            return part.get("fetch_state") == "active" and part.get("next_offset") == 20

        wait_until(fetching_at_end, what="the consumer to fetch partition 0 from offset 20")
        assert not early, [m.error() or m.offset() for m in early]
        produce_all(p, topic, [{"value": b"fresh", "partition": 0}])
        got = consume(bootstrap, None, 1, consumer=c)
        assert [(m.offset(), m.value()) for m in got] == [(20, b"fresh")]

        # seek() back and re-read.
        c.seek(TopicPartition(topic, 0, 18))
        got = consume(bootstrap, None, 3, consumer=c)
        assert [m.offset() for m in got] == [18, 19, 20]
    finally:
        c.close()


def test_many_partitions(admin, bootstrap):
    parts = 64
    topic = create_topic(admin, unique("ck-many"), partitions=parts)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    per = 10
    d = produce_all(p, topic, [{"value": f"{part}:{i}".encode(), "partition": part}
                               for i in range(per) for part in range(parts)])
    assert not d.failed
    assert latest_offsets(admin, topic, parts) == {part: per for part in range(parts)}
    msgs = consume(bootstrap, [TopicPartition(topic, part, 0) for part in range(parts)], parts * per)
    for part in range(parts):
        ms = [m for m in msgs if m.partition() == part]
        assert [(m.offset(), m.value()) for m in ms] == [(i, f"{part}:{i}".encode()) for i in range(per)]


def test_one_megabyte_message(admin, bootstrap, new_topic):
    topic = new_topic("ck-big", config={"max.message.bytes": str(4 * 1024 * 1024)})
    value = os.urandom(1024 * 1024)  # incompressible ~1 MiB
    p = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 5 * 1024 * 1024})
    d = produce_all(p, topic, [{"key": b"big", "value": value, "partition": 0},
                               {"key": b"small", "value": b"after", "partition": 0}])
    assert not d.failed, d.failed
    assert sorted(o for _, o, _, _ in d.ok) == [0, 1]
    # Default fetch sizes (1 MiB per partition): the broker must still return a
    # batch larger than the limit when it is the first one.
    msgs = consume(bootstrap, [TopicPartition(topic, 0, 0)], 2)
    assert msgs[0].offset() == 0 and msgs[0].key() == b"big" and msgs[0].value() == value
    assert msgs[1].offset() == 1 and msgs[1].value() == b"after"


def test_message_too_large_is_rejected(admin, bootstrap, new_topic):
    topic = new_topic("ck-toobig")  # max.message.bytes default 1048588
    p = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 5 * 1024 * 1024,
                  "message.send.max.retries": 0})
    d = Deliveries()
    p.produce(topic, value=os.urandom(1_200_000), partition=0, on_delivery=d)
    assert p.flush(30) == 0
    assert not d.ok
    assert len(d.failed) == 1
    assert d.failed[0][0].code() == KafkaError.MSG_SIZE_TOO_LARGE, d.failed[0][0]
    assert latest_offsets(admin, topic, 1) == {0: 0}
    # The partition still works afterwards.
    d = produce_all(p, topic, [{"value": b"ok", "partition": 0}])
    assert [(o, v) for _, o, _, v in d.ok] == [(0, b"ok")]


def test_produce_auto_creates_topic(admin, bootstrap):
    topic = unique("ck-auto")
    p = Producer({"bootstrap.servers": bootstrap})
    d = produce_all(p, topic, [{"value": b"hi"}])
    assert not d.failed, d.failed
    assert [(part, o) for part, o, _, _ in d.ok] == [(0, 0)]
    t = admin.list_topics(topic=topic, timeout=10).topics[topic]
    assert len(t.partitions) == 1  # num.partitions default
