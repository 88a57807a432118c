"""kcat (Debian bookworm: kcat 1.7.1, librdkafka 2.0.2 built in): an old client."""

import json
import re
import subprocess

import pytest

from helpers import CODEC_IDS, stored_batches, unique, wait_until

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def kcat(bootstrap, *args, input=None, timeout=60):
    cmd = ["kcat", "-b", bootstrap, *args]
    res = subprocess.run(
        cmd,
        input=input.encode() if isinstance(input, str) else input,
        capture_output=True,
        timeout=timeout,
    )
    assert res.returncode == 0, (
        f"{' '.join(cmd)} exited {res.returncode}\nstdout:\n{res.stdout.decode(errors='replace')}"
        f"\nstderr:\n{res.stderr.decode(errors='replace')}"
    )
    return res


def consume_json(bootstrap, topic, *args):
    """kcat -C -e -J: one JSON object per message, until the end of every partition."""
    res = kcat(bootstrap, "-C", "-t", topic, "-e", "-J", *args)
    return [json.loads(line) for line in res.stdout.decode().splitlines() if line.strip()]


def produce_lines(bootstrap, topic, lines, *args):
    return kcat(bootstrap, "-P", "-t", topic, *args, input="".join(line + "\n" for line in lines))


def test_list_shows_broker_and_topics(bootstrap, broker_port, new_topic):
    t3 = new_topic("kcat-list", partitions=3)
    t1 = new_topic("kcat-list", partitions=1)
    out = kcat(bootstrap, "-L").stdout.decode()
    assert re.search(r"^ 1 brokers:$", out, re.M), out
    assert re.search(rf"^\s+broker 1 at 127\.0\.0\.1:{broker_port}\b", out, re.M), out
    assert f'topic "{t3}" with 3 partitions:' in out, out
    assert f'topic "{t1}" with 1 partitions:' in out, out

    # -t narrows the listing to one topic, with every partition led by broker 1.
    out = kcat(bootstrap, "-L", "-t", t3).stdout.decode()
    assert f'topic "{t3}" with 3 partitions:' in out, out
    assert t1 not in out
    parts = re.findall(r"partition (\d+), leader (-?\d+), replicas: ([\d,]*), isrs: ([\d,]*)", out)
    assert sorted(int(p[0]) for p in parts) == [0, 1, 2], out
    for _, leader, replicas, isrs in parts:
        assert (leader, replicas, isrs) == ("1", "1", "1"), out


def test_json_metadata_parses(bootstrap, broker_port, new_topic):
    topic = new_topic("kcat-json", partitions=2)
    md = json.loads(kcat(bootstrap, "-J", "-L").stdout)
    assert md["brokers"] == [{"id": 1, "name": f"127.0.0.1:{broker_port}"}]
    assert md["controllerid"] == 1
    assert md["originating_broker"]["id"] == 1
    topics = {t["topic"]: t for t in md["topics"]}
    assert topic in topics, sorted(topics)
    t = topics[topic]
    assert "error" not in t, t
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1]
    for p in t["partitions"]:
        assert p["leader"] == 1
        assert p["replicas"] == [{"id": 1}]
        assert p["isrs"] == [{"id": 1}]


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_roundtrip(bootstrap, log_dir, new_topic, codec):
    topic = new_topic(f"kcat-{codec}")
    n = 200
    # Repetitive values so every codec really shrinks the batch.
    lines = [f"key-{i}:value-{i}-" + "x" * 50 for i in range(n)]
    args = ["-p", "0", "-K:", "-H", "origin=kcat", "-H", f"codec={codec}"]
    if codec != "none":
        args += ["-z", codec]
    produce_lines(bootstrap, topic, lines, *args)

    msgs = consume_json(bootstrap, topic, "-p", "0", "-o", "beginning")
    assert [m["offset"] for m in msgs] == list(range(n))
    assert [m["key"] for m in msgs] == [f"key-{i}" for i in range(n)]
    assert [m["payload"] for m in msgs] == [f"value-{i}-" + "x" * 50 for i in range(n)]
    for m in msgs:
        assert m["partition"] == 0
        assert m["headers"] == ["origin", "kcat", "codec", codec]
        assert m["tstype"] == "create" and m["ts"] > 0

    if log_dir:
        # The broker stores batches as sent: the codec kcat used must be on disk
        # (librdkafka < 2.8 silently drops compression if Produce's minimum
        # advertised version is not 0, KAFKA-18659).
        batches = stored_batches(log_dir, topic, 0)
        assert batches, "no batches on disk"
        assert {b["codec"] for b in batches} == {CODEC_IDS[codec]}, batches
        assert {b["magic"] for b in batches} == {2}
        assert sum(b["records"] for b in batches) == n
        assert batches[0]["base_offset"] == 0 and batches[-1]["last_offset"] == n - 1


def test_keys_and_headers_with_format(bootstrap, new_topic):
    topic = new_topic("kcat-fmt")
    # Keys split on the first ':' only; a message without a key has a null key.
    produce_lines(bootstrap, topic, ["k1:v1", "k2:v:2", ":no-key"], "-K:", "-H", "a=1", "-H", "b=two")
    res = kcat(bootstrap, "-C", "-t", topic, "-e", "-f", "%o|%k|%s|%h|%S\\n")
    rows = res.stdout.decode().splitlines()
    assert rows == [
        "0|k1|v1|a=1,b=two|2",
        "1|k2|v:2|a=1,b=two|3",
        "2||no-key|a=1,b=two|6",
    ]
    # An empty key (":no-key") is an empty, not a null, key in kcat; -J shows it as "".
    msgs = consume_json(bootstrap, topic)
    assert [m["key"] for m in msgs] == ["k1", "k2", ""]


def test_consume_from_offsets(bootstrap, new_topic):
    topic = new_topic("kcat-offsets")
    n = 20
    produce_lines(bootstrap, topic, [f"m{i}" for i in range(n)], "-p", "0")

    def offsets(*args):
        return [m["offset"] for m in consume_json(bootstrap, topic, "-p", "0", *args)]

    def payloads(*args):
        return [m["payload"] for m in consume_json(bootstrap, topic, "-p", "0", *args)]

    assert payloads("-o", "beginning") == [f"m{i}" for i in range(n)]
    assert offsets("-o", "7") == list(range(7, n))
    assert payloads("-o", "7") == [f"m{i}" for i in range(7, n)]
    assert offsets("-o", "-5") == list(range(n - 5, n))
    assert offsets("-o", "end") == []
    assert offsets("-o", "3", "-c", "4") == [3, 4, 5, 6]
    # Exactly the last message, then (after more are produced) the new ones.
    assert offsets("-o", "-1") == [n - 1]
    produce_lines(bootstrap, topic, ["late-1", "late-2"], "-p", "0")
    assert payloads("-o", f"{n}") == ["late-1", "late-2"]


def test_consume_by_timestamp(bootstrap, new_topic):
    topic = new_topic("kcat-ts")
    produce_lines(bootstrap, topic, ["a", "b", "c"], "-p", "0")
    msgs = consume_json(bootstrap, topic, "-p", "0")
    assert len(msgs) == 3
    # -o s@<ts>: the first message with timestamp >= ts (ListOffsets by timestamp).
    ts = msgs[0]["ts"]
    assert [m["offset"] for m in consume_json(bootstrap, topic, "-p", "0", "-o", f"s@{ts}")] == [0, 1, 2]
    later = [m["offset"] for m in consume_json(bootstrap, topic, "-p", "0", "-o", f"s@{msgs[-1]['ts'] + 1}")]
    assert later == []


def test_multi_partition_produce_and_consume_all(bootstrap, new_topic):
    topic = new_topic("kcat-multi", partitions=4)
    n = 100
    # Keyed: librdkafka's consistent_random partitioner spreads them.
    produce_lines(bootstrap, topic, [f"k{i}:v{i}" for i in range(n)], "-K:")
    msgs = consume_json(bootstrap, topic, "-o", "beginning")
    assert sorted((m["key"], m["payload"]) for m in msgs) == sorted((f"k{i}", f"v{i}") for i in range(n))
    parts = {}
    for m in msgs:
        parts.setdefault(m["partition"], []).append(m)
    assert len(parts) > 1, "all keys landed on one partition"
    for p, ms in parts.items():
        # Per partition: contiguous offsets from 0, in produce order.
        assert [m["offset"] for m in ms] == list(range(len(ms)))
        idx = [int(m["key"][1:]) for m in ms]
        assert idx == sorted(idx)
    # The same key always goes to the same partition.
    k_to_p = {m["key"]: m["partition"] for m in msgs}
    produce_lines(bootstrap, topic, ["k5:again"], "-K:")
    again = [m for m in consume_json(bootstrap, topic, "-o", "beginning") if m["payload"] == "again"]
    assert len(again) == 1 and again[0]["partition"] == k_to_p["k5"]


def test_produce_to_new_topic_auto_creates(bootstrap):
    topic = unique("kcat-auto")
    produce_lines(bootstrap, topic, ["hello"])
    msgs = wait_until(lambda: consume_json(bootstrap, topic), what="auto-created topic to be readable")
    assert [(m["partition"], m["offset"], m["payload"]) for m in msgs] == [(0, 0, "hello")]
    md = json.loads(kcat(bootstrap, "-J", "-L", "-t", topic).stdout)
    assert [len(t["partitions"]) for t in md["topics"] if t["topic"] == topic] == [1]
