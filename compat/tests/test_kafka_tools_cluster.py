"""Kafka's tools against a 3-node cluster of the target's kind (three combined
nodes of its own, on their own ports and data dirs): kafka-topics' replica
health listings with a follower stopped, and kafka-verifiable-producer
(acks=all) across a kill -9 of a partition leader."""

import json
import signal
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from helpers import start_cluster, unique, wait_until
from test_kafka_tools import BIN, describe_topic, tool


@pytest.fixture
def cluster(tmp_path):
    nodes = start_cluster(tmp_path, 3)
    yield nodes
    for n in nodes:
        n.kill()


def listing(bootstrap, topic, flag):
    """kafka-topics --describe --topic t <flag>: {partition: Isr} of the partitions listed."""
    out = tool("kafka-topics", "--bootstrap-server", bootstrap, "--describe", "--topic", topic, flag).stdout
    got = {}
    for line in out.splitlines():
        fields = dict(f.split(": ", 1) for f in line.strip().split("\t") if ": " in f)
        if "Partition" in fields:
            got[int(fields["Partition"])] = fields["Isr"]
    return got


def read_everything(bootstrap, topic, partitions, timeout=60):
    """{(partition, offset): value} of every record below each high watermark."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("kt-3n-reader"),
                  "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1] for p in range(partitions)}
        todo = {p for p, end in ends.items() if end > 0}
        c.assign([TopicPartition(topic, p, 0) for p in todo])
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
            out[(m.partition(), m.offset())] = m.value().decode()
        assert not todo, f"partitions {sorted(todo)} not read to their end"
        return out
    finally:
        c.close()


def test_three_nodes_replica_listings_and_leader_kill(cluster):
    bootstrap = ",".join(n.bootstrap for n in cluster)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wait_until(lambda: len(admin.describe_cluster(request_timeout=5).result(timeout=10).nodes) == 3,
               timeout=60, what="three registered brokers")
    topic = unique("kt-3n")
    tool("kafka-topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic, "--partitions", 3,
         "--replication-factor", 3, "--config", "min.insync.replicas=2")

    def full_isr():
        _, parts = describe_topic(bootstrap, topic)
        return len(parts) == 3 and all(len(p["Isr"].split(",")) == 3 for p in parts)

    wait_until(full_isr, timeout=60, interval=0.5, what="every replica in sync")
    head, parts = describe_topic(bootstrap, topic)
    assert (head["PartitionCount"], head["ReplicationFactor"]) == ("3", "3")
    assert all(sorted(p["Replicas"].split(",")) == ["1", "2", "3"] for p in parts), parts
    assert listing(bootstrap, topic, "--under-replicated-partitions") == {}

    # Stop node 3 cleanly: every partition loses a replica from its ISR.
    stopped = cluster[2]
    live = ",".join(n.bootstrap for n in cluster[:2])
    stopped.stop()
    under = wait_until(lambda: (lambda u: u if len(u) == 3 else None)(
        listing(live, topic, "--under-replicated-partitions")), timeout=60, interval=0.5,
        what="three under-replicated partitions")
    assert all(sorted(isr.split(",")) == ["1", "2"] for isr in under.values()), under
    assert listing(live, topic, "--unavailable-partitions") == {}
    assert listing(live, topic, "--under-min-isr-partitions") == {}
    assert set(listing(live, topic, "--at-min-isr-partitions")) == {0, 1, 2}

    stopped.start()
    wait_until(lambda: listing(bootstrap, topic, "--under-replicated-partitions") == {}, timeout=90, interval=0.5,
               what="node 3 back in every ISR")

    # The verifiable producer (acks=all) runs while partition 0's leader is killed.
    producer = subprocess.Popen(
        [str(BIN / "kafka-verifiable-producer"), "--bootstrap-server", bootstrap, "--topic", topic,
         "--max-messages", "3000", "--throughput", "300", "--acks", "-1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    events, errors = [], []
    reader = threading.Thread(target=lambda: events.extend(json.loads(l) for l in producer.stdout if l.startswith("{")),
                              daemon=True)
    reader.start()
    threading.Thread(target=lambda: errors.extend(producer.stderr), daemon=True).start()
    try:
        wait_until(lambda: sum(e["name"] == "producer_send_success" for e in list(events)) >= 500, timeout=60,
                   interval=0.2, what="500 acknowledged records")
        leader = int(describe_topic(bootstrap, topic)[1][0]["Leader"])
        victim = cluster[leader - 1]
        assert victim.node_id == leader
        victim.stop(signal.SIGKILL)
        acked_at_kill = sum(e["name"] == "producer_send_success" for e in list(events))
        assert producer.wait(timeout=180) == 0, "".join(errors[-20:])
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait()
    reader.join(timeout=10)
    sent = [e for e in events if e["name"] == "producer_send_success"]
    failed = [e for e in events if e["name"] == "producer_send_error"]
    assert acked_at_kill < 3000, "the producer finished before the kill"
    # The verifiable producer does not retry (retries=0, as in Kafka's system
    # tests): sends in flight to the killed leader fail with a network error
    # (whether they were stored is unknown); every other send is acknowledged.
    assert len(sent) + len(failed) == 3000, (len(sent), len(failed))
    assert all(e["exception"].endswith(("NetworkException", "NotLeaderOrFollowerException", "TimeoutException"))
               for e in failed), [(e["exception"], e["message"]) for e in failed[:5]]
    assert len(failed) < 300, f"{len(failed)} sends failed"
    tool_data = [e for e in events if e["name"] == "tool_data"]
    assert tool_data and (tool_data[-1]["sent"], tool_data[-1]["acked"]) == (3000, len(sent)), tool_data

    # A new leader took partition 0; everything acknowledged is there, at its
    # offset; nothing is stored twice, nothing that was never sent.
    new_leader = int(describe_topic(live_of(cluster), topic)[1][0]["Leader"])
    assert new_leader != leader
    stored = read_everything(live_of(cluster), topic, 3)
    missing = [e for e in sent if stored.get((e["partition"], e["offset"])) != e["value"]]
    assert not missing, f"{len(missing)} acknowledged records not at their offsets, e.g. {missing[:3]}"
    values = sorted(stored.values(), key=int)
    assert len(values) == len(set(values)), "a record stored twice"
    assert set(values) <= {str(i) for i in range(3000)}
    assert set(values) >= {e["value"] for e in sent}


def live_of(cluster):
    return ",".join(n.bootstrap for n in cluster if n.proc is not None and n.proc.poll() is None)
