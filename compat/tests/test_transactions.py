"""Transactions as Kafka's own tools and a librdkafka transactional producer
see them: confluent-kafka's transactional producer commits one transaction
and aborts another; Kafka 4.4's kafka-transactions (list, describe,
describe-producers) shows the open transaction and then its outcome;
read_committed consumers and ListOffsets stop at the last stable offset and
never see aborted records; Kafka's kafka-dump-log reads the COMMIT and ABORT
markers from the broker's own segment."""

from confluent_kafka import Consumer, IsolationLevel, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import OffsetSpec

from helpers import unique, wait_until
from test_kafka_tools import data_dir, tool  # noqa: F401 - data_dir is a fixture


def table(text):
    """Rows of a table Kafka's tools print with ToolsUtils.prettyPrintTable:
    columns left-aligned under their headers (a cell may be empty)."""
    lines = [l for l in text.splitlines() if l.strip()]
    header = lines[0]
    names = header.split()
    starts = []
    at = 0
    for n in names:
        at = header.index(n, at)
        starts.append(at)
        at += len(n)
    rows = []
    for line in lines[1:]:
        cells = [line[s:e].strip() for s, e in zip(starts, starts[1:] + [len(line) + 1])]
        rows.append(dict(zip(names, cells)))
    return rows


def transactions(bootstrap, *args):
    return table(tool("kafka-transactions", "--bootstrap-server", bootstrap, *args).stdout)


def describe(bootstrap, tid):
    rows = transactions(bootstrap, "describe", "--transactional-id", tid)
    assert len(rows) == 1, rows
    return rows[0]


def last_stable_offset(admin, topic):
    tp = TopicPartition(topic, 0)
    res = admin.list_offsets({tp: OffsetSpec.latest()}, isolation_level=IsolationLevel.READ_COMMITTED)
    return res[tp].result(timeout=30).offset


def read_all(bootstrap, topic, isolation, end):
    """Values a consumer with `isolation` reads from partition 0 up to `end`."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("txn-reader"), "enable.auto.commit": False,
                  "isolation.level": isolation, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 0)])
    values = []
    try:
        def at_end():
            m = c.poll(0.5)
            if m is None:
                return False
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    return m.offset() >= end
                raise KafkaException(m.error())
            values.append(m.value().decode())
            return False

        wait_until(at_end, timeout=60, interval=0, what=f"{isolation} consumer at offset {end}")
    finally:
        c.close()
    return values


def test_transactions_through_kafka_tools(bootstrap, admin, new_topic, data_dir):
    topic = new_topic("txn")
    tid = unique("txn-id")
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 5})
    p.init_transactions(60)

    # An open transaction: the tools show it, and the last stable offset
    # stays at its first record.
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, key=f"k{i}", value=f"committed-{i}", partition=0)
    assert p.flush(30) == 0
    open_txn = describe(bootstrap, tid)
    assert open_txn["TransactionState"] == "Ongoing", open_txn
    assert open_txn["TopicPartitions"] == f"{topic}-0", open_txn
    producer_id = open_txn["ProducerId"]
    assert int(producer_id) >= 0 and int(open_txn["ProducerEpoch"]) >= 0, open_txn
    assert open_txn["CurrentTransactionStartTimeMs"] != "None", open_txn
    listed = [r for r in transactions(bootstrap, "list") if r["TransactionalId"] == tid]
    assert [(r["ProducerId"], r["TransactionState"]) for r in listed] == [(producer_id, "Ongoing")], listed
    producers = transactions(bootstrap, "describe-producers", "--topic", topic, "--partition", "0")
    assert [(r["ProducerId"], r["CurrentTransactionStartOffset"], r["LastSequence"]) for r in producers] == [
        (producer_id, "0", "2")], producers
    assert last_stable_offset(admin, topic) == 0

    p.commit_transaction(60)
    wait_until(lambda: describe(bootstrap, tid)["TransactionState"] == "CompleteCommit", timeout=30,
               what="the transaction shown as CompleteCommit")
    done = describe(bootstrap, tid)
    assert (done["ProducerId"], done["TopicPartitions"]) == (producer_id, ""), done
    # Three records and the COMMIT marker.
    wait_until(lambda: last_stable_offset(admin, topic) == 4, timeout=30, what="the LSO past the COMMIT marker")
    producers = transactions(bootstrap, "describe-producers", "--topic", topic, "--partition", "0")
    assert [(r["ProducerId"], r["CurrentTransactionStartOffset"]) for r in producers] == [
        (producer_id, "None")], producers

    # A second transaction, aborted.
    p.begin_transaction()
    for i in range(2):
        p.produce(topic, key=f"a{i}", value=f"aborted-{i}", partition=0)
    assert p.flush(30) == 0
    p.abort_transaction(60)
    wait_until(lambda: describe(bootstrap, tid)["TransactionState"] == "CompleteAbort", timeout=30,
               what="the transaction shown as CompleteAbort")
    wait_until(lambda: last_stable_offset(admin, topic) == 7, timeout=30, what="the LSO past the ABORT marker")

    committed = [f"committed-{i}" for i in range(3)]
    assert read_all(bootstrap, topic, "read_committed", 7) == committed
    assert read_all(bootstrap, topic, "read_uncommitted", 7) == committed + ["aborted-0", "aborted-1"]

    # Kafka's kafka-dump-log reads both markers from the broker's segment.
    segments = sorted((data_dir / f"{topic}-0").glob("*.log"))
    assert segments, f"no segment of {topic}-0 under {data_dir}"
    out = tool("kafka-dump-log", "--deep-iteration", "--print-data-log", "--files", segments[0]).stdout
    # One line per batch: the data batches (librdkafka may split a
    # transaction's records) and the two markers, all of one producer.
    batches = [l for l in out.splitlines() if l.startswith("baseOffset:")]
    assert len(batches) >= 4, out
    assert all("isTransactional: true" in b and f"producerId: {producer_id} " in b for b in batches), out
    assert sum("isControl: true" in b for b in batches) == 2, out
    assert "endTxnMarker: COMMIT" in out and "endTxnMarker: ABORT" in out, out
    assert all(f"payload: {v}" in out for v in committed + ["aborted-0", "aborted-1"]), out
