"""Consumer groups with real clients against Weir's classic group coordinator.

kcat -G (librdkafka 2.0.2's balanced consumer), confluent-kafka consumers
(range, roundrobin, cooperative-sticky; leave, crash, static membership;
commit metadata), kafka-python's KafkaConsumer with group_id, and the
`kafka-consumer-groups` admin flows of confluent-kafka's AdminClient
(plus OffsetDelete through librdkafka's C API, which the Python binding does
not wrap) and kafka-python's KafkaAdminClient.

Rebalances are watched, never slept through: tests poll DescribeGroups and
what the clients report until the group is Stable with the expected members
and assignments.
"""

import ctypes
import glob
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import confluent_kafka
import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    ConsumerGroupType,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AclOperation, AdminClient

from conftest import create_topic
from helpers import Broker, unique, wait_until

WORKER = str(Path(__file__).with_name("group_worker.py"))
SESSION_MS = 6000  # the broker's group.min.session.timeout.ms
# Rebalance timings seen by the tests (printed at the end of the module with -s).
TIMINGS = []


# --------------------------------------------------------------------------- helpers


def group_conf(bootstrap, group, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "session.timeout.ms": SESSION_MS,
        "heartbeat.interval.ms": 500,
        "auto.offset.reset": "earliest",
    }
    conf.update(extra)
    return conf


def describe(admin, group):
    return admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)


def committed(admin, group, partitions=None):
    """{(topic, partition): (offset, metadata)} via OffsetFetch (AdminClient).

    librdkafka hands an empty metadata string over as None; it is "" here."""
    req = ConsumerGroupTopicPartitions(group, partitions)
    res = admin.list_consumer_group_offsets([req], request_timeout=10)[group].result(timeout=15)
    assert res.group_id == group
    for tp in res.topic_partitions:
        assert tp.error is None, (tp.topic, tp.partition, tp.error)
    return {(tp.topic, tp.partition): (tp.offset, tp.metadata or "") for tp in res.topic_partitions}


def list_groups(admin, states=None, types=None):
    kwargs = {"request_timeout": 10}
    if states is not None:
        kwargs["states"] = states
    if types is not None:
        kwargs["types"] = types
    res = admin.list_consumer_groups(**kwargs).result(timeout=15)
    assert not res.errors, res.errors
    return {g.group_id: g for g in res.valid}


def end_offsets(bootstrap, topic, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("ends")})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        c.close()


def produce(bootstrap, topic, per_partition, partitions, prefix="v"):
    """Produce `per_partition` records to each partition; {(p, offset): value}."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    out, errors = {}, []

    def cb(err, msg):
        if err:
            errors.append(err)
        else:
            out[(msg.partition(), msg.offset())] = msg.value().decode()

    for part in range(partitions):
        for i in range(per_partition):
            p.produce(topic, value=f"{prefix}-{part}-{i}", partition=part, on_delivery=cb)
    assert p.flush(30) == 0
    assert not errors, errors
    return out


def assignment_of(member):
    return sorted((tp.topic, tp.partition) for tp in member.assignment.topic_partitions)


class BackgroundProducer(threading.Thread):
    """Produces to every partition in turn until stopped; keeps what was acknowledged."""

    def __init__(self, bootstrap, topic, partitions):
        super().__init__(daemon=True)
        self.topic, self.partitions = topic, partitions
        self.p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.delivered, self.errors = {}, []
        self.halt = threading.Event()
        self.remaining = None

    def _cb(self, err, msg):
        if err:
            self.errors.append(err)
        else:
            self.delivered[(msg.partition(), msg.offset())] = msg.value().decode()

    def run(self):
        i = 0
        while not self.halt.is_set():
            for _ in range(10):
                self.p.produce(self.topic, value=str(i), partition=i % self.partitions, on_delivery=self._cb)
                i += 1
            self.p.poll(0)
            time.sleep(0.02)  # pacing (~500 records/s), not a wait for a condition
        self.remaining = self.p.flush(30)

    def stop(self):
        self.halt.set()
        self.join(60)
        assert not self.is_alive() and self.remaining == 0, "producer did not flush"
        assert not self.errors, self.errors
        return dict(self.delivered)


class Worker:
    """A group_worker.py child process (a confluent-kafka group consumer)."""

    def __init__(self, name, conf, topic, commit=True):
        self.name = name
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, WORKER, json.dumps({"conf": conf, "topic": topic, "commit": commit})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events = []
        self.lock = threading.Lock()
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            ev = json.loads(line)
            ev["t"] = time.monotonic()
            ev["who"] = self.name
            with self.lock:
                self.events.append(ev)

    def snapshot(self, *kinds):
        with self.lock:
            return [e for e in self.events if not kinds or e["ev"] in kinds]

    @property
    def state(self):
        """(member id, generation, owned partitions) after the last rebalance event."""
        evs = self.snapshot("assign", "revoke", "lost")
        if not evs:
            return None, None, None
        last = evs[-1]
        assigns = [e for e in evs if e["ev"] == "assign"]
        gen = assigns[-1]["gen"] if assigns else None
        return last["member"], gen, set(last["owned"])

    def records(self):
        return [(e["who"], g, p, o, v) for e in self.snapshot("msgs") for (p, o, v, g) in e["recs"]]

    def terminate(self, timeout=30):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        assert rc == 0, f"{self.name} exited {rc}: {''.join(self.stderr)}"
        wait_until(lambda: self.snapshot("closed"), timeout=5, what=f"{self.name}'s close report")

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def errors(self):
        return self.snapshot("error")


def wait_group_stable(admin, group, workers, partitions, topic, strategy=None, timeout=40.0, what=""):
    """Until DescribeGroups shows the group Stable with exactly these workers'
    member ids, each assigned what its client reports owning, in one
    generation, the assignments together covering every partition once."""

    seen = {}

    def check():
        states = [w.state for w in workers]
        seen["clients"] = {w.name: s for w, s in zip(workers, states)}
        if any(s[0] is None for s in states):
            return None
        if len({s[1] for s in states}) != 1:
            return None
        d = describe(admin, group)
        seen["broker"] = (d.state, {m.member_id: assignment_of(m) for m in d.members})
        if d.state != ConsumerGroupState.STABLE:
            return None
        by_id = {m.member_id: m for m in d.members}
        if set(by_id) != {s[0] for s in states}:
            return None
        owned = []
        for member, _gen, parts in states:
            described = {p for t, p in assignment_of(by_id[member]) if t == topic}
            if described != parts:
                return None
            owned.extend(parts)
        if sorted(owned) != list(range(partitions)):
            return None
        return d

    try:
        d = wait_until(check, timeout=timeout, interval=0.1, what=f"group {group} stable with {what or len(workers)}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen (member, generation, owned) per client: {seen.get('clients')}, "
                             f"DescribeGroups: {seen.get('broker')}") from e
    if strategy:
        assert d.partition_assignor == strategy, d.partition_assignor
    assert not d.is_simple_consumer_group
    return d, workers[0].state[1]


# --------------------------------------------------------------------------- OffsetDelete via librdkafka


class _TP(ctypes.Structure):
    _fields_ = [
        ("topic", ctypes.c_char_p), ("partition", ctypes.c_int32), ("offset", ctypes.c_int64),
        ("metadata", ctypes.c_void_p), ("metadata_size", ctypes.c_size_t), ("opaque", ctypes.c_void_p),
        ("err", ctypes.c_int), ("_private", ctypes.c_void_p),
    ]


class _TPList(ctypes.Structure):
    _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int), ("elems", ctypes.POINTER(_TP))]


def _librdkafka():
    """The librdkafka bundled in confluent-kafka's wheel, with the prototypes
    DeleteConsumerGroupOffsets needs (confluent-kafka-python does not wrap it)."""
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    [path] = glob.glob(str(libs / "librdkafka*.so*"))
    lib = ctypes.CDLL(path)
    vp, tpl = ctypes.c_void_p, ctypes.POINTER(_TPList)
    for name, res, args in [
        ("rd_kafka_conf_new", vp, []),
        ("rd_kafka_conf_set", ctypes.c_int, [vp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]),
        ("rd_kafka_new", vp, [ctypes.c_int, vp, ctypes.c_char_p, ctypes.c_size_t]),
        ("rd_kafka_queue_new", vp, [vp]),
        ("rd_kafka_topic_partition_list_new", tpl, [ctypes.c_int]),
        ("rd_kafka_topic_partition_list_add", ctypes.POINTER(_TP), [tpl, ctypes.c_char_p, ctypes.c_int32]),
        ("rd_kafka_topic_partition_list_destroy", None, [tpl]),
        ("rd_kafka_DeleteConsumerGroupOffsets_new", vp, [ctypes.c_char_p, tpl]),
        ("rd_kafka_DeleteConsumerGroupOffsets_destroy", None, [vp]),
        ("rd_kafka_DeleteConsumerGroupOffsets", None, [vp, ctypes.POINTER(vp), ctypes.c_size_t, vp, vp]),
        ("rd_kafka_queue_poll", vp, [vp, ctypes.c_int]),
        ("rd_kafka_event_error", ctypes.c_int, [vp]),
        ("rd_kafka_event_DeleteConsumerGroupOffsets_result", vp, [vp]),
        ("rd_kafka_DeleteConsumerGroupOffsets_result_groups", ctypes.POINTER(vp), [vp, ctypes.POINTER(ctypes.c_size_t)]),
        ("rd_kafka_group_result_error", vp, [vp]),
        ("rd_kafka_group_result_partitions", tpl, [vp]),
        ("rd_kafka_error_code", ctypes.c_int, [vp]),
        ("rd_kafka_err2name", ctypes.c_char_p, [ctypes.c_int]),
        ("rd_kafka_event_destroy", None, [vp]),
        ("rd_kafka_queue_destroy", None, [vp]),
        ("rd_kafka_destroy", None, [vp]),
    ]:
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib


def delete_group_offsets(bootstrap, group, partitions, timeout=30):
    """rd_kafka_DeleteConsumerGroupOffsets (OffsetDelete): returns
    (group-level error name or None, {(topic, partition): error name})."""
    lib = _librdkafka()
    errstr = ctypes.create_string_buffer(512)
    conf = lib.rd_kafka_conf_new()
    assert lib.rd_kafka_conf_set(conf, b"bootstrap.servers", bootstrap.encode(), errstr, 512) == 0, errstr.value
    rk = lib.rd_kafka_new(0, conf, errstr, 512)  # RD_KAFKA_PRODUCER: admin calls need no group
    assert rk, errstr.value
    queue = lib.rd_kafka_queue_new(rk)
    try:
        tpl = lib.rd_kafka_topic_partition_list_new(len(partitions))
        for topic, p in partitions:
            lib.rd_kafka_topic_partition_list_add(tpl, topic.encode(), p)
        req = lib.rd_kafka_DeleteConsumerGroupOffsets_new(group.encode(), tpl)
        lib.rd_kafka_topic_partition_list_destroy(tpl)
        lib.rd_kafka_DeleteConsumerGroupOffsets(rk, (ctypes.c_void_p * 1)(req), 1, None, queue)
        lib.rd_kafka_DeleteConsumerGroupOffsets_destroy(req)
        ev = lib.rd_kafka_queue_poll(queue, int(timeout * 1000))
        assert ev, "no DeleteConsumerGroupOffsets result"
        try:
            code = lib.rd_kafka_event_error(ev)
            if code:
                return lib.rd_kafka_err2name(code).decode(), {}
            res = lib.rd_kafka_event_DeleteConsumerGroupOffsets_result(ev)
            n = ctypes.c_size_t()
            groups = lib.rd_kafka_DeleteConsumerGroupOffsets_result_groups(res, ctypes.byref(n))
            assert n.value == 1
            gerr = lib.rd_kafka_group_result_error(groups[0])
            if gerr:
                return lib.rd_kafka_err2name(lib.rd_kafka_error_code(gerr)).decode(), {}
            parts = lib.rd_kafka_group_result_partitions(groups[0]).contents
            return None, {
                (parts.elems[i].topic.decode(), parts.elems[i].partition): lib.rd_kafka_err2name(parts.elems[i].err).decode()
                for i in range(parts.cnt)
            }
        finally:
            lib.rd_kafka_event_destroy(ev)
    finally:
        lib.rd_kafka_queue_destroy(queue)
        lib.rd_kafka_destroy(rk)


def coordinator_serves(admin, group):
    """True once DescribeGroups answers for `group` (a group it does not know
    is GROUP_ID_NOT_FOUND); raises while the coordinator is not ready."""
    try:
        describe(admin, group)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
            raise
    return True


def error_code(excinfo):
    err = excinfo.value.args[0]
    return err.code() if isinstance(err, KafkaError) else err


# --------------------------------------------------------------------------- kcat -G


class KcatGroupMember:
    """`kcat -G` (balanced consumer, auto-commit) in the background."""

    ASSIGN = re.compile(r"rebalanced \(memberid (\S+)\): (assigned|revoked): (.*)")

    def __init__(self, bootstrap, group, topic):
        self.proc = subprocess.Popen(
            ["kcat", "-b", bootstrap, "-G", group, "-X", "auto.offset.reset=earliest",
             "-X", f"session.timeout.ms={SESSION_MS}", "-X", "heartbeat.interval.ms=500",
             "-X", "auto.commit.interval.ms=500", "-u", "-J", topic],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.msgs, self.stderr = [], []
        threading.Thread(target=lambda: [self.msgs.append(json.loads(l)) for l in self.proc.stdout], daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def assignment(self):
        """(member id, set of partitions) from kcat's last rebalance line."""
        for line in reversed(list(self.stderr)):
            m = self.ASSIGN.search(line)
            if m:
                parts = {int(p) for p in re.findall(r"\[(\d+)\]", m.group(3))} if m.group(2) == "assigned" else set()
                return m.group(1), parts
        return None, None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        assert rc == 0, f"kcat -G exited {rc}: {''.join(self.stderr)}"

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def test_kcat_balanced_consumers_share_partitions_and_resume(bootstrap, admin, new_topic):
    parts = 4
    topic = new_topic("kcat-grp", partitions=parts)
    group = unique("kcat-grp")
    members = [KcatGroupMember(bootstrap, group, topic) for _ in range(2)]
    try:
        t0 = time.monotonic()

        def stable():
            states = [m.assignment() for m in members]
            if any(s[0] is None for s in states):
                return None
            d = describe(admin, group)
            if d.state != ConsumerGroupState.STABLE or len(d.members) != 2:
                return None
            by_id = {m.member_id: {p for _, p in assignment_of(m)} for m in d.members}
            if any(by_id.get(mid) != ps or not ps for mid, ps in states):
                return None
            return d

        d = wait_until(stable, timeout=40, interval=0.1, what="two kcat -G members with an assignment each")
        TIMINGS.append(("kcat -G x2: start -> Stable", time.monotonic() - t0))
        assert d.partition_assignor == "range", d.partition_assignor  # librdkafka's default first
        assert {m.client_id for m in d.members} == {"rdkafka"}
        owned = [m.assignment()[1] for m in members]
        assert not owned[0] & owned[1] and owned[0] | owned[1] == set(range(parts)), owned

        produced = produce(bootstrap, topic, 25, parts)
        wait_until(lambda: sum(len(m.msgs) for m in members) >= len(produced), timeout=30,
                   what=f"{len(produced)} records across both kcat -G members")
        for m, mine in zip(members, owned):
            # Each member reads only its own partitions, each from offset 0, in order.
            got = defaultdict(list)
            for rec in m.msgs:
                got[rec["partition"]].append(rec["offset"])
            assert set(got) == mine, (set(got), mine)
            for p, offs in got.items():
                assert offs == list(range(25)), (p, offs)
        seen = sorted(((r["partition"], r["offset"]), r["payload"]) for m in members for r in m.msgs)
        assert seen == sorted(produced.items()), "not every record exactly once"
        assert [m.assignment()[1] for m in members] == owned, "rebalanced while consuming"

        for m in members:
            m.stop()  # consumer close: final commit, LeaveGroup
    finally:
        for m in members:
            m.cleanup()

    assert committed(admin, group) == {(topic, p): (25, "") for p in range(parts)}
    wait_until(lambda: describe(admin, group).state == ConsumerGroupState.EMPTY, timeout=10,
               what=f"{group} Empty once both members left")

    # A restarted kcat -G resumes from the committed offsets (no -o: stored offsets).
    more = produce(bootstrap, topic, 5, parts, prefix="more")
    res = subprocess.run(
        ["kcat", "-b", bootstrap, "-G", group, "-X", f"session.timeout.ms={SESSION_MS}", "-e", "-J", topic],
        capture_output=True, timeout=60, text=True,
    )
    assert res.returncode == 0, res.stderr
    again = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert sorted(((r["partition"], r["offset"]), r["payload"]) for r in again) == sorted(more.items()), res.stderr
    assert set(more) == {(p, o) for p in range(parts) for o in range(25, 30)}
    assert committed(admin, group) == {(topic, p): (30, "") for p in range(parts)}


# --------------------------------------------------------------------------- confluent-kafka group consumers


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_confluent_group_join_leave_crash(bootstrap, admin, new_topic, strategy):
    parts = 6
    topic = new_topic(f"grp-{strategy}", partitions=parts)
    group = unique(f"grp-{strategy}")
    conf = group_conf(bootstrap, group, **{"partition.assignment.strategy": strategy})
    producer = BackgroundProducer(bootstrap, topic, parts)
    producer.start()
    workers = []
    try:
        # Three members join one after the other while records flow.
        for n in range(3):
            w = Worker(f"c{n + 1}", conf, topic)
            workers.append(w)
            d, gen = wait_group_stable(admin, group, workers, parts, topic, strategy, what=f"{n + 1} members")
            TIMINGS.append((f"{strategy}: member {n + 1} started -> all {n + 1} Stable (gen {gen})",
                            time.monotonic() - w.started))
        assert sorted(len(w.state[2]) for w in workers) == [2, 2, 2]
        assert all(w.proc.poll() is None for w in workers)
        c1, c2, c3 = workers

        # c1 leaves (close(): revoke + commit + LeaveGroup).
        t = time.monotonic()
        c1.terminate()
        wait_group_stable(admin, group, [c2, c3], parts, topic, strategy, what="c2, c3 after c1 left")
        TIMINGS.append((f"{strategy}: leave -> Stable", time.monotonic() - t))

        # c2 crashes: no LeaveGroup, the coordinator must expire its session.
        t = time.monotonic()
        c2.kill()
        _, gen = wait_group_stable(admin, group, [c3], parts, topic, strategy, timeout=SESSION_MS / 1000 + 30,
                                   what="c3 alone after c2's session expired")
        expired_after = time.monotonic() - t
        TIMINGS.append((f"{strategy}: SIGKILL -> Stable without it (session {SESSION_MS} ms)", expired_after))
        assert expired_after >= SESSION_MS / 1000 - 1, f"c2 removed after {expired_after:.1f}s, before its session timeout"

        delivered = producer.stop()
        ends = end_offsets(bootstrap, topic, parts)
        assert ends == {p: max(o for (q, o) in delivered if q == p) + 1 for p in range(parts)}

        def drained():
            last = defaultdict(lambda: -1)
            for _, _, p, o, _ in c3.records():
                last[p] = max(last[p], o)
            return all(last[p] == ends[p] - 1 for p in range(parts))

        wait_until(drained, timeout=60, what="c3 to consume to the end of every partition")
        c3.terminate()
        for w in workers:
            assert not w.errors(), (w.name, w.errors())
    finally:
        producer.halt.set()
        for w in workers:
            w.cleanup()

    # The rebalance history, shown by pytest if an assertion below fails.
    for w in workers:
        for e in w.snapshot("assign", "revoke", "lost", "commit_failed", "error"):
            print(w.name, {k: v for k, v in e.items() if k not in ("who",)})

    records = [r for w in workers for r in w.records()]
    by_offset = defaultdict(list)
    for who, gen, p, o, v in records:
        assert delivered.get((p, o)) == v, f"{who} read {v!r} at {p}/{o}, produced {delivered.get((p, o))!r}"
        by_offset[(p, o)].append((gen, who))

    # Every produced record was consumed.
    missing = sorted(set(delivered) - set(by_offset))
    assert not missing, f"{len(missing)} records never consumed, first {missing[:10]}"

    # Within a generation, a partition is read by one member only and no record twice.
    readers = defaultdict(set)
    for (p, o), occ in by_offset.items():
        gens = [g for g, _ in occ]
        assert len(gens) == len(set(gens)), f"{p}/{o} consumed twice in one generation: {occ}"
        for g, who in occ:
            readers[(g, p)].add(who)
    shared = {k: v for k, v in readers.items() if len(v) > 1}
    assert not shared, f"partitions read by several members in one generation: {shared}"

    # The clients' assignments per generation never overlap.
    owned = defaultdict(dict)
    for w in workers:
        for e in w.snapshot("assign"):
            owned[e["gen"]][w.name] = set(e["owned"])
    for gen, by_member in owned.items():
        all_parts = [p for ps in by_member.values() for p in ps]
        assert len(all_parts) == len(set(all_parts)), f"generation {gen} assigned a partition twice: {by_member}"

    # Redelivery only of what was not committed: a record read again in a
    # later generation was not covered by any acknowledged commit made
    # between the two reads (commits are tagged with the generation they
    # were made in; the broker accepts a commit only in that generation).
    commits = defaultdict(list)  # partition -> [(gen, offset)]
    for w in workers:
        for e in w.snapshot("commit"):
            for p, o in e["offsets"]:
                commits[p].append((e["gen"], o))
    redelivered = 0
    for (p, o), occ in by_offset.items():
        occ.sort()
        for (g1, who1), (g2, who2) in zip(occ, occ[1:]):
            redelivered += 1
            covering = [(g, c) for g, c in commits[p] if g1 <= g < g2 and c > o]
            assert not covering, (
                f"{p}/{o} read by {who1} in generation {g1} and again by {who2} in {g2}, "
                f"though commits {covering} had moved the committed offset past it"
            )
    TIMINGS.append((f"{strategy}: {len(delivered)} records, {redelivered} read again "
                    "(uncommitted at the crash, or their commit failed in a rebalance)", 0.0))

    # Everything consumed is committed; the group is empty; a new member resumes there.
    assert committed(admin, group) == {(topic, p): (ends[p], "") for p in range(parts)}
    d = describe(admin, group)
    assert d.state == ConsumerGroupState.EMPTY and d.members == []
    more = produce(bootstrap, topic, 1, parts, prefix="after")
    c = Consumer(group_conf(bootstrap, group, **{"partition.assignment.strategy": strategy}))
    try:
        c.subscribe([topic])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < parts and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None:
                assert not m.error(), m.error()
                got.append(((m.partition(), m.offset()), m.value().decode()))
        assert sorted(got) == sorted(more.items())
        assert {k for k, _ in got} == {(p, ends[p]) for p in range(parts)}
    finally:
        c.close()


def test_confluent_static_member_restart_keeps_assignment(bootstrap, admin, new_topic):
    parts = 4
    topic = new_topic("grp-static", partitions=parts)
    group = unique("grp-static")
    # A session long enough for a process restart, short enough to keep the test quick.
    session = 10000

    def conf(instance):
        return group_conf(bootstrap, group, **{"group.instance.id": instance, "session.timeout.ms": session,
                                               "partition.assignment.strategy": "range"})

    a = Worker("a", conf("inst-a"), topic)
    b = Worker("b", conf("inst-b"), topic)
    workers = [a, b]
    try:
        d, gen = wait_group_stable(admin, group, [a, b], parts, topic, "range", what="static members a, b")
        assert {m.group_instance_id for m in d.members} == {"inst-a", "inst-b"}
        member_a, _, owned_a = a.state
        member_b, _, owned_b = b.state
        b_events = len(b.snapshot("assign", "revoke", "lost"))

        for how in ("kill", "close"):
            # a goes away without LeaveGroup (crash, or close() of a static
            # member) and comes back within the session: the coordinator hands
            # the new member id a's assignment, with no rebalance.
            if how == "kill":
                a.kill()
            else:
                a.terminate()
            t = time.monotonic()
            a = Worker(f"a-after-{how}", conf("inst-a"), topic)
            workers.append(a)
            wait_until(lambda: a.state[0] is not None, timeout=session / 1000, what=f"restarted a ({how}) assigned")
            TIMINGS.append((f"static member restart ({how}) -> assigned", time.monotonic() - t))
            new_member, new_gen, new_owned = a.state
            assert new_member != member_a
            assert (new_gen, new_owned) == (gen, owned_a), "restarted static member got a different assignment"
            d = describe(admin, group)
            assert d.state == ConsumerGroupState.STABLE
            assert {(m.member_id, m.group_instance_id) for m in d.members} == {(new_member, "inst-a"), (member_b, "inst-b")}
            by_id = {m.member_id: {p for _, p in assignment_of(m)} for m in d.members}
            assert by_id == {new_member: owned_a, member_b: owned_b}
            member_a = new_member

        # Both keep consuming their partitions, and b never saw a rebalance:
        # b heartbeats every 500 ms, so it has had several chances to be
        # told REBALANCE_IN_PROGRESS by the time both have read everything
        # and 2 s have passed since the last restart.
        produced = produce(bootstrap, topic, 3, parts)
        heard = time.monotonic() + 2.0

        def read_all():
            got = {(p, o): v for w in (a, b) for _, _, p, o, v in w.records()}
            return time.monotonic() >= heard and all(got.get(k) == v for k, v in produced.items())

        wait_until(read_all, timeout=30, what="both static members to read the new records")
        assert {p for _, _, p, _, _ in a.records()} == owned_a
        assert len(b.snapshot("assign", "revoke", "lost")) == b_events, b.snapshot("assign", "revoke", "lost")
        assert b.state == (member_b, gen, owned_b)
    finally:
        for w in workers:
            w.cleanup()


def test_confluent_commit_metadata_roundtrip(bootstrap, admin, new_topic):
    topic = new_topic("grp-meta", partitions=3)
    group = unique("grp-meta")
    produce(bootstrap, topic, 10, 3)
    c = Consumer(group_conf(bootstrap, group, **{"enable.auto.commit": False}))
    try:
        c.subscribe([topic])
        wait_until(lambda: c.poll(0.1) is not None and len(c.assignment()) == 3, timeout=30,
                   what="the consumer's assignment")
        meta = "checkpoint: ünïcode ✓ " + "x" * 100
        res = c.commit(offsets=[TopicPartition(topic, 0, 4, metadata=meta),
                                TopicPartition(topic, 1, 7, metadata=""),
                                TopicPartition(topic, 2, 9)], asynchronous=False)
        assert [(tp.partition, tp.offset, tp.error) for tp in res] == [(0, 4, None), (1, 7, None), (2, 9, None)]
        got = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        assert [(tp.partition, tp.offset, tp.metadata or "") for tp in got] == [(0, 4, meta), (1, 7, ""), (2, 9, "")]
        assert committed(admin, group) == {(topic, 0): (4, meta), (topic, 1): (7, ""), (topic, 2): (9, "")}

        # offset.metadata.max.bytes (4096): per-partition OFFSET_METADATA_TOO_LARGE, the others stored.
        with pytest.raises(KafkaException) as e:
            c.commit(offsets=[TopicPartition(topic, 0, 5, metadata="m" * 4097),
                              TopicPartition(topic, 1, 8, metadata="fits")], asynchronous=False)
        assert error_code(e) == KafkaError.OFFSET_METADATA_TOO_LARGE, e.value
        got = c.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
        assert [(tp.offset, tp.metadata or "") for tp in got] == [(4, meta), (8, "fits")]
    finally:
        c.close()

    # A consumer outside the group (generation -1, no member id) commits to
    # the now Empty group, as kafka-consumer-groups --reset-offsets does.
    d = describe(admin, group)
    assert d.state == ConsumerGroupState.EMPTY, d.state
    s = Consumer(group_conf(bootstrap, group, **{"enable.auto.commit": False}))
    try:
        s.commit(offsets=[TopicPartition(topic, 2, 3, metadata="simple")], asynchronous=False)
        [tp] = s.committed([TopicPartition(topic, 2)], timeout=10)
        assert (tp.offset, tp.metadata) == (3, "simple")
    finally:
        s.close()


# --------------------------------------------------------------------------- AdminClient (kafka-consumer-groups)


def test_admin_consumer_group_lifecycle(bootstrap, admin, new_topic):
    parts = 3
    topic = new_topic("grp-admin", partitions=parts)
    other = new_topic("grp-admin-other", partitions=1)
    group = unique("grp-admin")
    produce(bootstrap, topic, 10, parts)
    c = Consumer(group_conf(bootstrap, group, **{"client.id": "admin-probe", "enable.auto.commit": False,
                                                 "partition.assignment.strategy": "roundrobin"}))
    try:
        c.subscribe([topic])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 10 * parts and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m)
        assert len(got) == 10 * parts
        c.commit(asynchronous=False)

        # list: the active group is Stable (and filtered by state), classic.
        listed = list_groups(admin)
        assert group in listed
        g = listed[group]
        assert (g.state, g.is_simple_consumer_group) == (ConsumerGroupState.STABLE, False)
        assert getattr(g, "type", ConsumerGroupType.CLASSIC) == ConsumerGroupType.CLASSIC
        assert group in list_groups(admin, states={ConsumerGroupState.STABLE})
        assert group not in list_groups(admin, states={ConsumerGroupState.EMPTY})
        # ListGroups v5 type filter: a classic group is not a "consumer" (KIP-848) group.
        assert group in list_groups(admin, types={ConsumerGroupType.CLASSIC})
        assert group not in list_groups(admin, types={ConsumerGroupType.CONSUMER})

        # describe: state, protocol, the member with its assignment, the coordinator.
        d = describe(admin, group)
        assert (d.group_id, d.state, d.partition_assignor) == (group, ConsumerGroupState.STABLE, "roundrobin")
        assert d.coordinator.id == 1
        [m] = d.members
        assert (m.member_id, m.client_id, m.group_instance_id) == (c.memberid(), "admin-probe", None)
        assert m.host == "/127.0.0.1", m.host  # Kafka's InetAddress.toString()
        assert assignment_of(m) == [(topic, p) for p in range(parts)]
        # Without an authorizer, every operation a group supports (group
        # configs, KIP-848, added DESCRIBE_CONFIGS and ALTER_CONFIGS).
        d = admin.describe_consumer_groups([group], include_authorized_operations=True,
                                           request_timeout=10)[group].result(timeout=15)
        assert set(d.authorized_operations) == {AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE,
                                                AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS}

        # offsets: all committed partitions, or just the asked ones (-1001: none).
        assert committed(admin, group) == {(topic, p): (10, "") for p in range(parts)}
        only = committed(admin, group, [TopicPartition(topic, 1), TopicPartition(other, 0)])
        assert only == {(topic, 1): (10, ""), (other, 0): (confluent_kafka.OFFSET_INVALID, "")}

        # Not while the group has members: alter (UNKNOWN_MEMBER_ID from
        # OffsetCommit at generation -1), delete (NON_EMPTY_GROUP), delete
        # offsets of a subscribed topic (GROUP_SUBSCRIBED_TO_TOPIC).
        fut = admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 1)])], request_timeout=10)[group]
        try:
            res = fut.result(timeout=15)
            errs = [tp.error.code() for tp in res.topic_partitions if tp.error]
        except KafkaException as e:
            errs = [e.args[0].code()]
        assert errs == [KafkaError.UNKNOWN_MEMBER_ID], errs
        with pytest.raises(KafkaException) as e:
            admin.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
        assert error_code(e) == KafkaError.NON_EMPTY_GROUP, e.value
        top, per = delete_group_offsets(bootstrap, group, [(topic, 0)])
        assert (top, per) in [(None, {(topic, 0): "GROUP_SUBSCRIBED_TO_TOPIC"}), ("GROUP_SUBSCRIBED_TO_TOPIC", {})], (top, per)
        assert committed(admin, group)[(topic, 0)] == (10, "")
        # ... but offsets of a topic no member subscribes to can go while it is active.
        c.commit(offsets=[TopicPartition(other, 0, 1)], asynchronous=False)
        assert committed(admin, group)[(other, 0)] == (1, "")
        assert delete_group_offsets(bootstrap, group, [(other, 0)]) == (None, {(other, 0): "NO_ERROR"})
        assert (other, 0) not in committed(admin, group)
    finally:
        c.close()

    # Once the member left: Empty, listed as such, described without members.
    wait_until(lambda: group in list_groups(admin, states={ConsumerGroupState.EMPTY}), timeout=10,
               what=f"{group} listed as Empty")
    d = describe(admin, group)
    assert (d.state, d.members) == (ConsumerGroupState.EMPTY, [])

    # alter offsets of the empty group (with metadata), then a member resumes there.
    res = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [
        TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 7, metadata="reset by admin")])],
        request_timeout=10)[group].result(timeout=15)
    assert sorted((tp.partition, tp.offset, tp.error) for tp in res.topic_partitions) == [(0, 3, None), (1, 7, None)]
    assert committed(admin, group) == {(topic, 0): (3, ""), (topic, 1): (7, "reset by admin"), (topic, 2): (10, "")}
    c = Consumer(group_conf(bootstrap, group, **{"enable.auto.commit": False}))
    try:
        c.subscribe([topic])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 10 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append((m.partition(), m.offset()))
        assert sorted(got) == [(0, o) for o in range(3, 10)] + [(1, o) for o in range(7, 10)]
    finally:
        c.close()

    # OffsetDelete on the empty group: gone from the listing, -1001 when asked.
    top, per = delete_group_offsets(bootstrap, group, [(topic, 0), (topic, 2)])
    assert (top, per) == (None, {(topic, 0): "NO_ERROR", (topic, 2): "NO_ERROR"}), (top, per)
    assert committed(admin, group) == {(topic, 1): (7, "reset by admin")}
    assert delete_group_offsets(bootstrap, unique("no-such-group"), [(topic, 0)]) == ("GROUP_ID_NOT_FOUND", {})

    # delete the empty group: gone from listings, offsets gone, a second delete fails.
    assert admin.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=15) is None
    assert group not in list_groups(admin)
    assert committed(admin, group) == {}
    assert describe(admin, group).state == ConsumerGroupState.DEAD
    with pytest.raises(KafkaException) as e:
        admin.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    assert error_code(e) == KafkaError.GROUP_ID_NOT_FOUND, e.value


def test_admin_sees_rebalance_in_progress(bootstrap, admin, new_topic):
    """A member that does not rejoin (its application stopped polling, so
    librdkafka cannot run the eager revoke) holds the group in
    PreparingRebalance; admin sees that, then the group completes."""
    topic = new_topic("grp-prep", partitions=2)
    group = unique("grp-prep")
    conf = group_conf(bootstrap, group, **{"partition.assignment.strategy": "range"})
    c1, c2 = Consumer(conf), None
    try:
        c1.subscribe([topic])
        wait_until(lambda: c1.poll(0.1) is None and len(c1.assignment()) == 2, timeout=30, what="c1 assigned")
        d = describe(admin, group)
        assert (d.state, [m.member_id for m in d.members]) == (ConsumerGroupState.STABLE, [c1.memberid()])

        c2 = Consumer(conf)
        c2.subscribe([topic])  # librdkafka joins in the background; nobody polls c1
        t = time.monotonic()
        d = wait_until(lambda: (lambda d: d if d.state == ConsumerGroupState.PREPARING_REBALANCING else None)(
            describe(admin, group)), timeout=10, interval=0.05, what="PreparingRebalance")
        assert group in list_groups(admin, states={ConsumerGroupState.PREPARING_REBALANCING})
        assert group not in list_groups(admin, states={ConsumerGroupState.STABLE})
        # Outside Stable: no protocol; members are listed with the assignment
        # of the last generation (Kafka's describeNoMetadata): c1 still has
        # both partitions, c2 (if its join got in already) none.
        assigned = {m.member_id: assignment_of(m) for m in d.members}
        assert assigned.pop(c1.memberid()) == [(topic, 0), (topic, 1)]
        assert all(a == [] for a in assigned.values()), assigned
        assert d.partition_assignor == ""

        def both_assigned():
            c1.poll(0.05)
            c2.poll(0.05)
            return len(c1.assignment()) == 1 and len(c2.assignment()) == 1
        wait_until(both_assigned, timeout=30, what="c1 to rejoin and both to get a partition")
        TIMINGS.append(("range: second member joined -> both assigned (first one rejoins on poll)", time.monotonic() - t))
        d = describe(admin, group)
        assert d.state == ConsumerGroupState.STABLE
        assert {m.member_id: [p for _, p in assignment_of(m)] for m in d.members} == {
            c1.memberid(): [tp.partition for tp in c1.assignment()],
            c2.memberid(): [tp.partition for tp in c2.assignment()]}
    finally:
        c1.close()
        if c2 is not None:
            c2.close()


# --------------------------------------------------------------------------- restart


def test_group_state_survives_broker_restart(tmp_path):
    """Committed offsets (with metadata), deleted groups and deleted offsets
    are rebuilt from __consumer_offsets after a SIGKILL, and so is a live
    group's membership: its member heartbeats on, no rebalance."""
    broker = Broker(tmp_path / "data", overrides={"group.initial.rebalance.delay.ms": 0}).start()
    live = None
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        topic = create_topic(admin, unique("grp-restart"), 2)
        produce(broker.bootstrap, topic, 5, 2)
        kept, deleted, trimmed = unique("kept"), unique("deleted"), unique("trimmed")
        for g in (kept, deleted, trimmed):
            c = Consumer(group_conf(broker.bootstrap, g, **{"enable.auto.commit": False}))
            try:
                c.subscribe([topic])
                got = 0
                deadline = time.monotonic() + 30
                while got < 10 and time.monotonic() < deadline:
                    m = c.poll(0.2)
                    got += m is not None and not m.error()
                assert got == 10
                c.commit(offsets=[TopicPartition(topic, 0, 5, metadata=f"{g}-meta"), TopicPartition(topic, 1, 4)],
                         asynchronous=False)
            finally:
                c.close()
        before = {(topic, 0): (5, f"{kept}-meta"), (topic, 1): (4, "")}
        assert committed(admin, kept) == before
        assert admin.delete_consumer_groups([deleted], request_timeout=10)[deleted].result(timeout=15) is None
        assert delete_group_offsets(broker.bootstrap, trimmed, [(topic, 1)]) == (None, {(topic, 1): "NO_ERROR"})
        # A member that stays up through the restart (reconnecting quickly,
        # well within its session: librdkafka rejoins as a new member when no
        # heartbeat got through for session.timeout.ms, and a JVM broker takes
        # some seconds to start and load the group again).
        live_group = unique("live")
        live = Worker("live", group_conf(broker.bootstrap, live_group, **{
            "session.timeout.ms": 45000, "reconnect.backoff.max.ms": 200}), topic)
        wait_group_stable(admin, live_group, [live], 2, topic, what="the live member")
        live_state = live.state
        wait_until(lambda: len(live.records()) == 10, timeout=30, what="the live member to read the topic")

        assert broker.stop(signal.SIGKILL) == -signal.SIGKILL
        broker.start()
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        # Kafka answers NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS until it
        # has loaded the group's __consumer_offsets partition again. Wait for
        # that with DescribeGroups: librdkafka's admin OffsetFetch crashes the
        # process on a request-level NOT_COORDINATOR (librdkafka issue 5040).
        wait_until(lambda: all(coordinator_serves(admin, g) for g in (kept, deleted, trimmed, live_group)),
                   timeout=60, what="the group coordinator to serve the groups after the restart")
        after = wait_until(lambda: committed(admin, kept), timeout=30, what="kept's offsets after the restart")
        assert after == before
        assert committed(admin, deleted) == {}
        assert committed(admin, trimmed) == {(topic, 0): (5, f"{trimmed}-meta")}
        listed = list_groups(admin)
        assert deleted not in listed
        assert listed[kept].state == ConsumerGroupState.EMPTY and listed[trimmed].state == ConsumerGroupState.EMPTY
        # The group resumes where it committed: offset 4 of partition 1, nothing of partition 0.
        c = Consumer(group_conf(broker.bootstrap, kept, **{"enable.auto.commit": False}))
        try:
            c.subscribe([topic])
            got = []
            deadline = time.monotonic() + 30
            while not got and time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is not None and not m.error():
                    got.append((m.partition(), m.offset()))
            got += [(m.partition(), m.offset()) for m in c.consume(10, timeout=1) if not m.error()]
            assert got == [(1, 4)]
        finally:
            c.close()

        # The live member carries on in its generation, as loaded from the log.
        more = produce(broker.bootstrap, topic, 2, 2, prefix="after-restart")
        wait_until(lambda: {(p, o) for _, _, p, o, _ in live.records()} >= set(more), timeout=30,
                   what="the live member to read what was produced after the restart")
        assert live.snapshot("assign", "revoke", "lost")[-1]["ev"] == "assign", live.snapshot("revoke", "lost")
        assert live.state == live_state
        d = describe(admin, live_group)
        assert (d.state, [m.member_id for m in d.members]) == (ConsumerGroupState.STABLE, [live_state[0]])
    finally:
        if live is not None:
            live.cleanup()
        broker.stop()


# --------------------------------------------------------------------------- kafka-python


def kp_consumer(bootstrap, group, **extra):
    from kafka import KafkaConsumer

    conf = dict(
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=500,
        request_timeout_ms=30000,
    )
    conf.update(extra)
    return KafkaConsumer(**conf)


def kp_poll(consumer, count, timeout=30.0):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        for recs in consumer.poll(timeout_ms=200).values():
            got.extend(recs)
    assert len(got) == count, f"got {len(got)} of {count} records within {timeout}s"
    return got


@pytest.fixture
def kadmin(bootstrap):
    from kafka import KafkaAdminClient

    a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    yield a
    a.close()


def test_kafka_python_group_commit_resume_and_admin(bootstrap, kadmin, new_topic):
    from kafka import TopicPartition as KTP
    from kafka import errors as Errors
    from kafka.structs import OffsetAndMetadata

    parts = 3
    topic = new_topic("kp-grp", partitions=parts)
    group = unique("kp-grp")
    produced = produce(bootstrap, topic, 10, parts)
    tps = [KTP(topic, p) for p in range(parts)]

    c = kp_consumer(bootstrap, group, client_id="kp-member")
    try:
        c.subscribe([topic])
        recs = kp_poll(c, len(produced))
        assert sorted(((r.partition, r.offset), r.value.decode()) for r in recs) == sorted(produced.items())
        assert c.assignment() == set(tps)
        c.commit()
        assert [c.committed(tp) for tp in tps] == [10] * parts
        c.commit({tps[0]: OffsetAndMetadata(10, "kp-meta", -1)})
        om = c.committed(tps[0], metadata=True)
        assert (om.offset, om.metadata) == (10, "kp-meta")

        # KafkaAdminClient: list, describe (decoded subscription/assignment), offsets, delete refused.
        assert (group, "consumer") in kadmin.list_consumer_groups()
        [d] = kadmin.describe_consumer_groups([group])
        assert (d.error_code, d.group, d.state, d.protocol_type, d.protocol) == (0, group, "Stable", "consumer", "range")
        [m] = d.members
        assert (m.client_id, m.client_host) == ("kp-member", "/127.0.0.1") and m.member_id.startswith("kp-member-")
        assert list(m.member_metadata.topics) == [topic]
        assert [(t, sorted(ps)) for t, ps in m.member_assignment.assignment] == [(topic, list(range(parts)))]
        offs = kadmin.list_consumer_group_offsets(group)
        assert {tp: (om.offset, om.metadata) for tp, om in offs.items()} == {
            tps[0]: (10, "kp-meta"), tps[1]: (10, ""), tps[2]: (10, "")}
        [(gid, err)] = kadmin.delete_consumer_groups([group])
        assert (gid, err) == (group, Errors.NonEmptyGroupError)
    finally:
        c.close()  # LeaveGroup

    # A second consumer of the group resumes at the committed offsets.
    more = produce(bootstrap, topic, 2, parts, prefix="more")
    c2 = kp_consumer(bootstrap, group)
    try:
        c2.subscribe([topic])
        recs = kp_poll(c2, len(more))
        assert sorted(((r.partition, r.offset), r.value.decode()) for r in recs) == sorted(more.items())
        assert {(r.partition, r.offset) for r in recs} == {(p, o) for p in range(parts) for o in (10, 11)}
        extra = [r for rs in c2.poll(timeout_ms=500).values() for r in rs]
        assert not extra, [(r.partition, r.offset) for r in extra]
        c2.commit()
    finally:
        c2.close()

    wait_until(lambda: kadmin.describe_consumer_groups([group])[0].state == "Empty", timeout=10,
               what=f"{group} Empty")
    # An empty group keeps its protocol type (not its protocol), in both APIs.
    [d] = kadmin.describe_consumer_groups([group])
    assert (d.protocol_type, d.protocol, d.members) == ("consumer", "", [])
    assert (group, "consumer") in kadmin.list_consumer_groups()
    assert {tp: om.offset for tp, om in kadmin.list_consumer_group_offsets(group).items()} == {tp: 12 for tp in tps}
    assert kadmin.delete_consumer_groups([group]) == [(group, Errors.NoError)]
    assert group not in [g for g, _ in kadmin.list_consumer_groups()]
    assert kadmin.list_consumer_group_offsets(group) == {}


class KpMember(threading.Thread):
    """A kafka-python group consumer polling in its own thread."""

    def __init__(self, bootstrap, group, topic):
        super().__init__(daemon=True)
        from kafka import ConsumerRebalanceListener

        self.records, self.assignments, self.error = [], [], None
        self.halt = threading.Event()
        self.c = kp_consumer(bootstrap, group, enable_auto_commit=True, auto_commit_interval_ms=500)
        member = self

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                member.assignments.append(set())

            def on_partitions_assigned(self, assigned):
                member.assignments.append({tp.partition for tp in assigned})

        self.c.subscribe([topic], listener=Listener())

    def run(self):
        try:
            while not self.halt.is_set():
                for recs in self.c.poll(timeout_ms=100).values():
                    self.records.extend(recs)
            self.c.close()  # commits (auto-commit), then LeaveGroup
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def owned(self):
        return self.assignments[-1] if self.assignments else None

    def stop(self):
        self.halt.set()
        self.join(30)
        assert not self.is_alive(), "kafka-python consumer did not close"
        assert self.error is None, repr(self.error)


def test_kafka_python_consumers_share_partitions(bootstrap, kadmin, new_topic):
    parts = 4
    topic = new_topic("kp-share", partitions=parts)
    group = unique("kp-share")
    members = [KpMember(bootstrap, group, topic) for _ in range(2)]
    t0 = time.monotonic()
    for m in members:
        m.start()
    try:
        def stable():
            owned = [m.owned() for m in members]
            if any(not o for o in owned) or owned[0] & owned[1] or owned[0] | owned[1] != set(range(parts)):
                return None
            [d] = kadmin.describe_consumer_groups([group])
            if d.state != "Stable" or len(d.members) != 2:
                return None
            described = sorted(sorted(ps) for m in d.members for t, ps in m.member_assignment.assignment)
            return described == sorted(sorted(o) for o in owned)

        wait_until(stable, timeout=40, interval=0.1, what="two kafka-python members sharing the partitions")
        TIMINGS.append(("kafka-python x2: start -> Stable", time.monotonic() - t0))
        owned = [m.owned() for m in members]
        produced = produce(bootstrap, topic, 20, parts)
        wait_until(lambda: sum(len(m.records) for m in members) >= len(produced), timeout=30,
                   what="both kafka-python members to read everything")
        for m, mine in zip(members, owned):
            assert {r.partition for r in m.records} == mine
            assert m.owned() == mine, "rebalanced while consuming"
        seen = sorted(((r.partition, r.offset), r.value.decode()) for m in members for r in m.records)
        assert seen == sorted(produced.items()), "not every record exactly once"
    finally:
        for m in members:
            m.stop()

    assert {(tp.partition, om.offset) for tp, om in kadmin.list_consumer_group_offsets(group).items()} == {
        (p, 20) for p in range(parts)}
    [d] = kadmin.describe_consumer_groups([group])
    assert (d.state, d.members) == ("Empty", [])


def test_kafka_python_static_member_rejoins(bootstrap, kadmin, new_topic):
    from kafka import ConsumerRebalanceListener
    from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

    parts = 4
    topic = new_topic("kp-static", partitions=parts)
    group = unique("kp-static")
    events = defaultdict(list)

    def member(instance):
        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                events[instance].append(("revoked", sorted(tp.partition for tp in revoked)))

            def on_partitions_assigned(self, assigned):
                events[instance].append(("assigned", sorted(tp.partition for tp in assigned)))

        c = kp_consumer(bootstrap, group, group_instance_id=instance, session_timeout_ms=10000,
                        partition_assignment_strategy=[StickyPartitionAssignor])
        c.subscribe([topic], listener=Listener())
        return c

    def owned(c):
        return {tp.partition for tp in c.assignment()}

    c1, c2 = member("kp-i1"), member("kp-i2")
    try:
        def split():
            c1.poll(timeout_ms=50)
            c2.poll(timeout_ms=50)
            o1, o2 = owned(c1), owned(c2)
            return o1 and o2 and not o1 & o2 and o1 | o2 == set(range(parts))

        wait_until(split, timeout=30, what="two static kafka-python members sharing the partitions")
        before = (owned(c1), owned(c2))
        [d] = kadmin.describe_consumer_groups([group])
        assert (d.state, d.protocol, len(d.members)) == ("Stable", "sticky", 2)
        c2_events = list(events["kp-i2"])

        c1.close()  # a static member does not send LeaveGroup: it stays in the group
        [d] = kadmin.describe_consumer_groups([group])
        assert (d.state, len(d.members)) == ("Stable", 2)
        c1 = member("kp-i1")

        def back():
            c1.poll(timeout_ms=50)
            c2.poll(timeout_ms=50)
            return owned(c1)

        wait_until(back, timeout=10, what="the restarted static member's assignment")
        # Keep both polling for 2 s (4 heartbeat intervals): c2 would have
        # been told to rejoin by now if the restart had started a rebalance.
        heard = time.monotonic() + 2.0
        wait_until(lambda: back() and time.monotonic() >= heard, timeout=10, what="2 s of polling")
        assert (owned(c1), owned(c2)) == before
        [d] = kadmin.describe_consumer_groups([group])
        assert (d.state, len(d.members)) == ("Stable", 2)
        assert events["kp-i2"] == c2_events, "the other member was rebalanced"
    finally:
        c1.close()
        c2.close()


def teardown_module(module):
    if TIMINGS:
        print("\nconsumer group timings:")
        for what, secs in TIMINGS:
            print(f"  {secs:6.2f}s  {what}")
