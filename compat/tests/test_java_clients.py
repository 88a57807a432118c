"""The Java client (Apache Kafka 4.4.0's kafka-clients, from Maven Central) against
the shared broker: consumer groups through Kafka's own kafka-verifiable-consumer,
as Kafka's system tests drive it (range, cooperative-sticky, static membership),
a Java Admin program (compat/java/AdminDescribe.java) describing topics, the
cluster, configs and groups, and the new group protocol (KIP-848,
group.protocol=consumer), which Weir does not have yet: the Java consumer must
fail cleanly against Weir, and works against Kafka."""

import json
import signal
import subprocess
import threading

import pytest
from confluent_kafka import Consumer, TopicCollection, TopicPartition

from helpers import REPO_ROOT, TARGET, unique, wait_until
from test_kafka_tools import BIN, groups_table, kafka_uuid, produce, tool

RANGE = "org.apache.kafka.clients.consumer.RangeAssignor"
COOPERATIVE_STICKY = "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"
# A JVM stopped by SIGTERM after its shutdown hooks ran (the verifiable
# consumer's closes the consumer) exits 128 + 15.
JVM_SIGTERM_EXIT = 143


class VerifiableConsumer:
    """A kafka-verifiable-consumer process (--verbose: one record_data event per
    record) whose JSON events a thread collects. `owned` follows the
    rebalance listener: partitions_assigned adds, partitions_revoked removes
    (an eager rebalance revokes everything first, a cooperative one only what
    moves)."""

    def __init__(self, bootstrap, topic, group, name, tmp_path, *extra):
        self.name = name
        config = tmp_path / f"{name}.properties"
        # client.id names the member in kafka-consumer-groups' CLIENT-ID column.
        config.write_text(f"client.id={name}\n")
        self.args = [str(BIN / "kafka-verifiable-consumer"), "--bootstrap-server", bootstrap, "--topic", topic,
                     "--group-id", group, "--verbose", "--reset-policy", "earliest",
                     "--command-config", str(config), *map(str, extra)]
        self.events = []
        self.stderr = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self._threads = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True)]
        for t in self._threads:
            t.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                with self.lock:
                    self.events.append(json.loads(line))

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def named(self, name):
        return [e for e in self.snapshot() if e["name"] == name]

    @property
    def owned(self):
        parts = set()
        for e in self.snapshot():
            if e["name"] == "partitions_assigned":
                parts |= {p["partition"] for p in e["partitions"]}
            elif e["name"] == "partitions_revoked":
                parts -= {p["partition"] for p in e["partitions"]}
        return parts

    def values(self):
        return [e["value"] for e in self.named("record_data")]

    def committed(self):
        """{partition: highest offset this member committed successfully}."""
        out = {}
        for e in self.named("offsets_committed"):
            if e["success"]:
                for o in e["offsets"]:
                    out[o["partition"]] = max(out.get(o["partition"], 0), o["offset"])
        return out

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """SIGTERM: the shutdown hook closes the consumer (a dynamic member
        leaves the group) and prints shutdown_complete. SIGKILL: a crash."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=10)
        return rc

    def describe(self):
        return f"{self.name}: {[e['name'] for e in self.snapshot()][-20:]}\nstderr:\n{''.join(self.stderr[-20:])}"


@pytest.fixture
def members():
    started = []
    yield started
    for m in started:
        if m.proc.poll() is None:
            m.proc.kill()
            m.proc.wait()


def describe_group(bootstrap, group):
    """kafka-consumer-groups --describe: {partition: row}."""
    out = tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", group).stdout
    return {int(r["PARTITION"]): r for r in groups_table(out)}


def wait_assignment(group_members, partitions, what):
    """Until the members' owned sets are disjoint and cover every partition
    (and each owns at least one); returns {name: owned}."""
    def split():
        owned = {m.name: m.owned for m in group_members}
        union = set().union(*owned.values())
        disjoint = sum(len(o) for o in owned.values()) == len(union)
        if disjoint and union == set(range(partitions)) and all(owned.values()):
            return owned
        return None

    try:
        return wait_until(split, timeout=90, interval=0.2, what=what)
    except AssertionError:
        raise AssertionError(f"{what}: {[m.describe() for m in group_members]}")


def wait_consumed(group_members, values, what):
    want = set(values)
    try:
        wait_until(lambda: want <= {v for m in group_members for v in m.values()}, timeout=90, interval=0.2,
                   what=what)
    except AssertionError:
        got = {v for m in group_members for v in m.values()}
        raise AssertionError(f"{what}: {len(want - got)} records never consumed, "
                             f"{[m.describe() for m in group_members]}")


def wait_committed(bootstrap, group, ends, owners=None):
    """kafka-consumer-groups --describe until every partition's commit is at
    its log end (LAG 0) and, with `owners` ({partition: client id}), each
    partition is listed with the member that owns it."""
    def done():
        rows = describe_group(bootstrap, group)
        if set(rows) != set(ends):
            return None
        for p, r in rows.items():
            if (r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"]) != (str(ends[p]), str(ends[p]), "0"):
                return None
            if owners is not None and r["CLIENT-ID"] != owners[p]:
                return None
        return rows

    return wait_until(done, timeout=60, interval=0.5, what=f"{group}'s commits at the log end")


def records(prefix, n, partitions):
    return [(i % partitions, f"k{i}".encode(), f"{prefix}-{i}".encode()) for i in range(n)]


def ends_of(counts):
    return dict(enumerate(counts))


# --------------------------------------------------------------------------- consumer groups


@pytest.mark.parametrize("strategy", [RANGE, COOPERATIVE_STICKY], ids=["range", "cooperative-sticky"])
def test_java_consumer_group_join_leave(bootstrap, new_topic, tmp_path, members, strategy):
    """Two then three members of one group on a 6-partition topic: each
    partition owned by one member, every record consumed, the commits and
    owners visible to kafka-consumer-groups; a member leaving and the others
    taking over. Range rebalances eagerly (every member gives up everything);
    cooperative-sticky moves only what must move and revokes nothing a member
    keeps."""
    cooperative = strategy == COOPERATIVE_STICKY
    topic = new_topic("java-group", partitions=6)
    group = unique("java-group")
    first = [v.decode() for _, _, v in records("a", 600, 6)]
    produce(bootstrap, topic, records("a", 600, 6))

    a = VerifiableConsumer(bootstrap, topic, group, "member-a", tmp_path, "--assignment-strategy", strategy)
    members.append(a)
    wait_assignment([a], 6, "member-a to own all six partitions")
    wait_consumed([a], first, "member-a to read the first 600 records")

    b = VerifiableConsumer(bootstrap, topic, group, "member-b", tmp_path, "--assignment-strategy", strategy)
    c = VerifiableConsumer(bootstrap, topic, group, "member-c", tmp_path, "--assignment-strategy", strategy)
    members += [b, c]
    owned = wait_assignment([a, b, c], 6, "three members splitting six partitions")
    assert sorted(len(o) for o in owned.values()) == [2, 2, 2], owned
    revoked_a = [{p["partition"] for p in e["partitions"]} for e in a.named("partitions_revoked")]
    if cooperative:
        # Only what moved was revoked; what member-a kept never was.
        assert revoked_a and not set().union(*revoked_a) & owned["member-a"], (revoked_a, owned)
    else:
        # Eager: member-a gave up all six at the rebalance.
        assert set(range(6)) in revoked_a, revoked_a

    second = records("b", 600, 6)
    produce(bootstrap, topic, second)
    wait_consumed([a, b, c], [v.decode() for _, _, v in second], "the three members to read 600 more")
    owners = {p: name for name, parts in owned.items() for p in parts}
    wait_committed(bootstrap, group, ends_of([200] * 6), owners)
    # Each member read its own partitions' new records, and only those.
    for m in (a, b, c):
        after = [e for e in m.named("record_data") if e["value"].startswith("b-")]
        assert after and {e["partition"] for e in after} <= owned[m.name], (m.name, owned)

    # member-c leaves (SIGTERM: the consumer closes and sends LeaveGroup).
    assert c.stop() == JVM_SIGTERM_EXIT, c.describe()
    assert c.named("shutdown_complete"), c.describe()
    revoked_before = len(a.named("partitions_revoked")) + len(b.named("partitions_revoked"))
    now = wait_assignment([a, b], 6, "member-a and member-b taking over member-c's partitions")
    if cooperative:
        # Nothing of what a and b kept was revoked to hand over c's partitions.
        assert owned["member-a"] <= now["member-a"] and owned["member-b"] <= now["member-b"], (owned, now)
        assert len(a.named("partitions_revoked")) + len(b.named("partitions_revoked")) == revoked_before
    third = records("c", 300, 6)
    produce(bootstrap, topic, third)
    wait_consumed([a, b], [v.decode() for _, _, v in third], "the remaining members to read 300 more")
    owners = {p: name for name, parts in now.items() for p in parts}
    wait_committed(bootstrap, group, ends_of([250] * 6), owners)

    # Every record was read, and every commit the members made succeeded.
    everything = {v for m in (a, b, c) for v in m.values()}
    assert everything == {f"{p}-{i}" for p, n in (("a", 600), ("b", 600), ("c", 300)) for i in range(n)}
    for m in (a, b, c):
        commits = m.named("offsets_committed")
        assert all(e["success"] for e in commits), [e for e in commits if not e["success"]][:3]
    [state] = groups_table(tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group",
                                group, "--state").stdout)
    assert (state["STATE"], state["#MEMBERS"]) == ("Stable", "2"), state
    assert state["ASSIGNMENT-STRATEGY"] == ("cooperative-sticky" if cooperative else "range"), state
    for m in (a, b):
        assert m.stop() == JVM_SIGTERM_EXIT, m.describe()


def test_java_static_member_restart_keeps_assignment(bootstrap, new_topic, tmp_path, members):
    """Static membership (group.instance.id): a member killed and restarted
    within session.timeout.ms gets its partitions back, and the other member
    sees no rebalance (no revocation, no new assignment)."""
    topic = new_topic("java-static", partitions=4)
    group = unique("java-static")
    static = ("--session-timeout", 45000, "--assignment-strategy", RANGE)
    produce(bootstrap, topic, records("a", 400, 4))

    a = VerifiableConsumer(bootstrap, topic, group, "static-a", tmp_path, "--group-instance-id", "instance-a", *static)
    b = VerifiableConsumer(bootstrap, topic, group, "static-b", tmp_path, "--group-instance-id", "instance-b", *static)
    members += [a, b]
    # One member may take all four before the other joins; wait for the split.
    owned = wait_assignment([a, b], 4, "two static members splitting four partitions")
    wait_consumed([a, b], [f"a-{i}" for i in range(400)], "the first 400 records")
    wait_committed(bootstrap, group, ends_of([100] * 4))
    a_events = len(a.named("partitions_assigned")) + len(a.named("partitions_revoked"))

    # member b crashes; records arrive while it is away; it comes back with
    # the same group.instance.id well within its 45 s session.
    assert b.stop(signal.SIGKILL) == -signal.SIGKILL
    produce(bootstrap, topic, records("b", 200, 4))
    b2 = VerifiableConsumer(bootstrap, topic, group, "static-b2", tmp_path, "--group-instance-id", "instance-b",
                            *static)
    members.append(b2)
    wait_until(lambda: b2.owned, timeout=60, interval=0.2, what="the restarted static member's assignment")
    assert b2.owned == owned["static-b"], (b2.owned, owned)
    wait_consumed([a, b2], [f"b-{i}" for i in range(200)], "the 200 records produced meanwhile")
    wait_committed(bootstrap, group, ends_of([150] * 4))
    # It resumed from b's commits: none of b's partitions' new records went to a.
    assert {e["partition"] for e in b2.named("record_data") if e["value"].startswith("b-")} == owned["static-b"]
    assert not {e["partition"] for e in a.named("record_data") if e["value"].startswith("b-")} & owned["static-b"]
    # member a saw no rebalance at all.
    assert len(a.named("partitions_assigned")) + len(a.named("partitions_revoked")) == a_events, a.describe()
    assert a.owned == owned["static-a"]
    [state] = groups_table(tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group",
                                group, "--state").stdout)
    assert (state["STATE"], state["#MEMBERS"]) == ("Stable", "2"), state
    for m in (a, b2):
        m.stop(signal.SIGKILL)


# --------------------------------------------------------------------------- group.protocol=consumer


def test_java_consumer_group_protocol(bootstrap, new_topic, tmp_path, members):
    """group.protocol=consumer (KIP-848). Kafka 4.4: it works. Weir has no
    ConsumerGroupHeartbeat (ApiVersions does not list it): the Java consumer
    must fail with a clear error, in bounded time, and not hang."""
    topic = new_topic("java-kip848", partitions=2)
    group = unique("java-kip848")
    produce(bootstrap, topic, records("a", 100, 2))
    m = VerifiableConsumer(bootstrap, topic, group, "kip848", tmp_path, "--group-protocol", "consumer",
                           "--max-messages", 100)
    members.append(m)
    if TARGET == "kafka":
        assert m.proc.wait(timeout=90) == 0, m.describe()
        m.stop()
        assert sorted(m.values()) == sorted(f"a-{i}" for i in range(100))
        assert all(e["success"] for e in m.named("offsets_committed"))
        return
    # VerifiableConsumer logs the consumer's exception and closes: it exits by
    # itself, within the bound, having consumed nothing.
    try:
        m.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the consumer still runs after 60 s: {m.describe()}")
    m.stop()
    err = "".join(m.stderr)
    # The heartbeat manager's fatal error, from the client's own check of
    # ApiVersions (no request reaches the broker).
    assert ("UnsupportedVersionException: The cluster does not support the new CONSUMER group protocol. "
            "Set group.protocol=classic") in err, err[-3000:]
    assert "The node does not support CONSUMER_GROUP_HEARTBEAT" in err, err[-3000:]
    assert not m.values()
    assert m.named("shutdown_complete"), m.describe()


# --------------------------------------------------------------------------- Java Admin


ADMIN_DESCRIBE = REPO_ROOT / "compat" / "java" / "AdminDescribe.java"


def java_admin(bootstrap, topic, group):
    """Run compat/java/AdminDescribe.java (single-file source launch) with
    Kafka's jars on the classpath; returns the JSON it prints."""
    res = subprocess.run([str(BIN / "kafka-run-class"), str(ADMIN_DESCRIBE), bootstrap, topic, group],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, f"AdminDescribe exited {res.returncode}\n{res.stdout}\n{res.stderr}"
    return json.loads(res.stdout)


def test_java_admin_describe(bootstrap, admin, new_topic):
    topic = new_topic("java-admin", partitions=3, config={"retention.ms": "7200000", "cleanup.policy": "compact"})
    group = unique("java-admin")
    produce(bootstrap, topic, [(p, f"k{i}".encode(), f"v{p}-{i}".encode()) for p in range(3) for i in range(p + 2)])

    # A live member of the group (librdkafka, range) with commits on two partitions.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": "java-admin-member",
                  "enable.auto.commit": False, "partition.assignment.strategy": "range"})
    try:
        c.subscribe([topic])

        def assigned():
            c.poll(0.2)
            return len(c.assignment()) == 3

        wait_until(assigned, timeout=60, what="the member to own the three partitions")
        c.commit(offsets=[TopicPartition(topic, 0, 2), TopicPartition(topic, 2, 3)], asynchronous=False)
        got = java_admin(bootstrap, topic, group)
    finally:
        c.close()

    cluster = admin.describe_cluster(request_timeout=10).result(timeout=10)
    topics = admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result(timeout=10)
    # describeCluster
    assert got["cluster"]["clusterId"] == cluster.cluster_id
    assert got["cluster"]["controller"] == cluster.controller.id
    assert got["cluster"]["nodes"] == [{"id": n.id, "host": n.host, "port": n.port} for n in cluster.nodes]
    # describeTopics
    t = got["topic"]
    assert (t["name"], t["internal"], t["topicId"]) == (topic, False, kafka_uuid(topics.topic_id))
    assert t["partitions"] == [{"partition": p, "leader": 1, "replicas": [1], "isr": [1]} for p in range(3)]
    assert topic in got["listTopics"] and "__consumer_offsets" not in got["listTopics"]
    # describeConfigs of the topic: dynamic ones with their source, defaults
    tc = got["topicConfigs"]
    assert tc["retention.ms"] == {"value": "7200000", "source": "DYNAMIC_TOPIC_CONFIG", "readOnly": False,
                                  "sensitive": False}
    assert tc["cleanup.policy"]["value"] == "compact" and tc["cleanup.policy"]["source"] == "DYNAMIC_TOPIC_CONFIG"
    assert tc["segment.bytes"] == {"value": "1073741824", "source": "DEFAULT_CONFIG", "readOnly": False,
                                   "sensitive": False}
    assert tc["max.message.bytes"]["value"] == "1048588"
    # ... and of broker 1
    bc = got["brokerConfigs"]
    assert bc["node.id"]["value"] == "1" and bc["node.id"]["readOnly"]
    assert bc["num.partitions"]["value"] == "1" and bc["num.partitions"]["source"] == "DEFAULT_CONFIG"
    assert bc["group.initial.rebalance.delay.ms"]["value"] == "0"
    assert bc["group.initial.rebalance.delay.ms"]["source"] == "STATIC_BROKER_CONFIG"
    # describeConsumerGroups, listConsumerGroupOffsets, listGroups
    g = got["group"]
    assert (g["groupId"], g["state"], g["type"], g["simple"], g["partitionAssignor"]) == (
        group, "STABLE", "CLASSIC", False, "range")
    assert g["coordinator"] == 1
    [m] = g["members"]
    assert (m["clientId"], m["host"], m["groupInstanceId"]) == ("java-admin-member", "/127.0.0.1", None)
    assert m["consumerId"].startswith("java-admin-member-")
    assert m["assignment"] == [{"topic": topic, "partition": p} for p in range(3)]
    assert got["groupOffsets"] == {f"{topic}-0": 2, f"{topic}-2": 3}
    assert {"groupId": group, "state": "STABLE", "type": "CLASSIC"} in got["groups"]
