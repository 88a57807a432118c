"""kafka-python (pure Python client, its own protocol code): admin, produce, consume."""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as Errors
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from helpers import CODEC_IDS, stored_batches, unique, wait_until

# Kafka error codes and DescribeConfigs config_source values.
NONE, UNKNOWN_TOPIC_OR_PARTITION = 0, 3
DYNAMIC_TOPIC_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG, DEFAULT_CONFIG = 1, 3, 5


@pytest.fixture(scope="module")
def kadmin(bootstrap):
    a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    yield a
    a.close()


def kp_create(kadmin, name, partitions=1, configs=None):
    resp = kadmin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})], timeout_ms=10000)
    assert [(t, e) for t, e, _ in resp.topic_errors] == [(name, NONE)], resp
    return name


def kp_describe(kadmin, name):
    [t] = kadmin.describe_topics([name])
    return t


def poll_records(consumer, count, timeout=30.0):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        for _tp, recs in consumer.poll(timeout_ms=500).items():
            got.extend(recs)
    assert len(got) == count, f"got {len(got)} of {count} records within {timeout}s"
    extra = [r for recs in consumer.poll(timeout_ms=500).values() for r in recs]
    assert not extra, f"unexpected extra records at offsets {[r.offset for r in extra]}"
    return got


def make_consumer(bootstrap):
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
        request_timeout_ms=30000,
    )


def test_api_version_autodetected(bootstrap):
    # kafka-python infers a broker version from ApiVersions; zstd needs >= (2, 1)
    # and record headers >= (0, 11).
    p = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        assert p.config["api_version"] >= (2, 1), p.config["api_version"]
    finally:
        p.close()


def test_admin_create_describe_delete(kadmin):
    name = unique("kp-admin")
    kp_create(kadmin, name, 3, {"retention.ms": "123456", "cleanup.policy": "delete"})

    t = wait_until(lambda: (lambda d: d if d["error_code"] == NONE and len(d["partitions"]) == 3 else None)(
        kp_describe(kadmin, name)), what=f"{name} in metadata")
    assert t["topic"] == name and not t["is_internal"]
    for p in t["partitions"]:
        assert (p["leader"], p["replicas"], p["isr"], p["error_code"]) == (1, [1], [1], NONE)
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1, 2]
    assert name in kadmin.list_topics()

    # Creating it again fails; so does a replication factor the cluster cannot hold.
    with pytest.raises(Errors.TopicAlreadyExistsError):
        kadmin.create_topics([NewTopic(name, 1, 1)], timeout_ms=10000)
    with pytest.raises(Errors.InvalidReplicationFactorError):
        kadmin.create_topics([NewTopic(unique("kp-rf"), 1, 3)], timeout_ms=10000)

    [resp] = kadmin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    [res] = resp.to_object()["resources"]
    assert res["error_code"] == NONE and res["resource_name"] == name
    entries = {e["config_names"]: e for e in res["config_entries"]}
    assert (entries["retention.ms"]["config_value"], entries["retention.ms"]["config_source"]) == \
        ("123456", DYNAMIC_TOPIC_CONFIG)
    for key, value in {"segment.bytes": "1073741824",
                       "max.message.bytes": "1048588", "compression.type": "producer"}.items():
        assert key in entries, f"{key} missing from DescribeConfigs"
        assert (entries[key]["config_value"], entries[key]["config_source"]) == (value, DEFAULT_CONFIG), key
    # A new cluster (ELR on, Kafka 4.1) sets min.insync.replicas at cluster level.
    assert (entries["min.insync.replicas"]["config_value"], entries["min.insync.replicas"]["config_source"]) == \
        ("1", DYNAMIC_DEFAULT_BROKER_CONFIG)

    # Only the named keys when asked for some.
    [resp] = kadmin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name,
                                                     configs={"retention.ms": None})])
    [res] = resp.to_object()["resources"]
    assert [e["config_names"] for e in res["config_entries"]] == ["retention.ms"]

    resp = kadmin.delete_topics([name], timeout_ms=10000)
    assert [tuple(x) for x in resp.topic_error_codes] == [(name, NONE)]
    wait_until(lambda: kp_describe(kadmin, name)["error_code"] == UNKNOWN_TOPIC_OR_PARTITION,
               what=f"{name} to be gone")
    assert name not in kadmin.list_topics()


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume_codec(bootstrap, log_dir, kadmin, codec):
    topic = kp_create(kadmin, unique(f"kp-{codec or 'none'}"))
    n = 300
    p = KafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, linger_ms=20, acks=1)
    try:
        futures = [p.send(topic, key=f"k{i}".encode(), value=(f"v{i}-" + "z" * 60).encode(),
                          headers=[("n", str(i).encode()), ("empty", b"")], partition=0)
                   for i in range(n)]
        p.flush(timeout=30)
        metas = [f.get(timeout=30) for f in futures]
    finally:
        p.close()
    assert [m.offset for m in metas] == list(range(n))
    assert {m.partition for m in metas} == {0}

    c = make_consumer(bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, 0)
        recs = poll_records(c, n)
    finally:
        c.close()
    assert [r.offset for r in recs] == list(range(n))
    assert [r.key for r in recs] == [f"k{i}".encode() for i in range(n)]
    assert [r.value for r in recs] == [(f"v{i}-" + "z" * 60).encode() for i in range(n)]
    assert [r.headers for r in recs] == [[("n", str(i).encode()), ("empty", b"")] for i in range(n)]

    if log_dir:
        batches = stored_batches(log_dir, topic, 0)
        assert {b["codec"] for b in batches} == {CODEC_IDS[codec or "none"]}, batches[:3]
        assert sum(b["records"] for b in batches) == n


def test_idempotent_producer_acks_all(bootstrap, kadmin):
    topic = kp_create(kadmin, unique("kp-idem"), 3)
    n = 1500
    p = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5)
    try:
        futures = [(i, p.send(topic, key=f"key{i % 11}".encode(), value=str(i).encode())) for i in range(n)]
        p.flush(timeout=60)
        acked = [(i, f.get(timeout=30)) for i, f in futures]
    finally:
        p.close()
    by_part = {}
    for i, m in acked:
        by_part.setdefault(m.partition, []).append((m.offset, i))
    for part, recs in by_part.items():
        assert sorted(o for o, _ in recs) == list(range(len(recs))), f"partition {part} offsets"

    c = make_consumer(bootstrap)
    try:
        tps = [TopicPartition(topic, part) for part in range(3)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        recs = poll_records(c, n)
    finally:
        c.close()
    seen = {(r.partition, r.offset): int(r.value) for r in recs}
    assert len(seen) == n
    for part, items in by_part.items():
        for off, i in items:
            assert seen[(part, off)] == i


def test_consumer_seek_and_offset_lookups(bootstrap, kadmin):
    topic = kp_create(kadmin, unique("kp-seek"))
    tp = TopicPartition(topic, 0)
    base = int(time.time() * 1000) - 100_000
    p = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        for i in range(10):
            p.send(topic, value=f"m{i}".encode(), partition=0, timestamp_ms=base + i * 1000)
        p.flush(timeout=30)
    finally:
        p.close()

    c = make_consumer(bootstrap)
    try:
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: 10}
        found = c.offsets_for_times({tp: base + 4500})[tp]
        assert (found.offset, found.timestamp) == (5, base + 5000)
        assert c.offsets_for_times({tp: base + 10_000})[tp] is None

        c.assign([tp])
        c.seek(tp, 6)
        recs = poll_records(c, 4)
        assert [(r.offset, r.value, r.timestamp) for r in recs] == \
            [(i, f"m{i}".encode(), base + i * 1000) for i in range(6, 10)]
        assert c.position(tp) == 10

        c.seek_to_beginning(tp)
        assert c.position(tp) == 0
        assert [r.offset for r in poll_records(c, 10)] == list(range(10))

        c.seek_to_end(tp)
        assert c.position(tp) == 10
        assert c.poll(timeout_ms=500) == {}
    finally:
        c.close()
