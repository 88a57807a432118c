"""Fixtures for the Weir compatibility suite.

compat/run.sh starts one shared broker and exports WEIR_BOOTSTRAP,
WEIR_LOG_DIR, WEIR_BIN and WEIR_COMPAT_TARGET. Run directly with pytest and
without WEIR_BOOTSTRAP, the suite starts its own broker of the target's kind:
Weir from WEIR_BIN (or target/debug/weir), or with WEIR_COMPAT_TARGET=kafka an
Apache Kafka node (compat/bin/kafka-server-start).
"""

import os

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from helpers import Broker, unique, wait_until


@pytest.fixture(scope="session")
def _shared_broker(tmp_path_factory):
    if os.environ.get("WEIR_BOOTSTRAP"):
        yield os.environ["WEIR_BOOTSTRAP"], os.environ.get("WEIR_LOG_DIR")
        return
    # As compat/run.sh: no initial rebalance delay for new groups (helpers.Broker
    # is a Weir or a Kafka node, after WEIR_COMPAT_TARGET).
    broker = Broker(tmp_path_factory.mktemp("shared") / "data",
                    overrides={"group.initial.rebalance.delay.ms": 0}).start()
    try:
        yield broker.bootstrap, str(broker.data_dir)
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def bootstrap(_shared_broker):
    return _shared_broker[0]


@pytest.fixture(scope="session")
def log_dir(_shared_broker):
    """The shared broker's log.dirs, to inspect what was stored (may be None)."""
    return _shared_broker[1]


@pytest.fixture(scope="session")
def broker_port(bootstrap):
    return int(bootstrap.rsplit(":", 1)[1])


@pytest.fixture(scope="session")
def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(admin, name, partitions=1, config=None, timeout=20):
    """Create a topic with confluent-kafka's AdminClient and wait until
    Metadata shows every partition with a leader."""
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=timeout,
    )
    futures[name].result(timeout=timeout)

    def ready():
        md = admin.list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        return (
            t is not None
            and t.error is None
            and len(t.partitions) == partitions
            and all(p.leader >= 0 for p in t.partitions.values())
        )

    wait_until(ready, timeout=timeout, what=f"topic {name} to show {partitions} led partitions")
    return name


@pytest.fixture
def new_topic(admin):
    """Factory: new_topic(prefix, partitions=1, config=None) -> created topic name."""

    def make(prefix="compat", partitions=1, config=None):
        return create_topic(admin, unique(prefix), partitions, config)

    return make
