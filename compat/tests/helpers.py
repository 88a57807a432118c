"""Shared helpers for the compatibility suite (no fixtures here; see conftest.py)."""

import os
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_BIN = REPO_ROOT / "compat" / "bin"

# Which broker the suite runs against: "weir" (default) or "kafka" (Apache
# Kafka 4.4 from compat/kafka/pom.xml, the reference; see compat/run.sh).
TARGET = os.environ.get("WEIR_COMPAT_TARGET", "weir")
if TARGET not in ("weir", "kafka"):
    raise RuntimeError(f"WEIR_COMPAT_TARGET={TARGET!r}: expected weir or kafka")

# Record batch attribute bits 0-2 (Kafka's CompressionType ids).
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(condition, timeout=20.0, interval=0.05, what="condition"):
    """Poll `condition` until it returns a truthy value; return that value.

    Exceptions raised by `condition` count as "not yet" until the deadline,
    then the last one is re-raised so the failure says what went wrong.
    """
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = condition()
            if value:
                return value
            last_exc = None
        except Exception as exc:  # noqa: BLE001 - re-raised below
            last_exc = exc
        if time.monotonic() >= deadline:
            if last_exc is not None:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}") from last_exc
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weir_bin():
    path = os.environ.get("WEIR_BIN") or str(REPO_ROOT / "target" / "release" / "weir")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no weir binary at {path}; build it or set WEIR_BIN")
    return path


def Broker(data_dir, port=None, overrides=None, node_id=1, controller_port=None, voters=None):
    """A broker this suite owns (own port, own data dir), of the target's
    kind: a Weir process, or an Apache Kafka KRaft combined node. With
    `voters` ("1@host:port,..."), a node of a cluster of combined nodes."""
    cls = KafkaBroker if TARGET == "kafka" else WeirBroker
    return cls(data_dir, port=port, overrides=overrides, node_id=node_id, controller_port=controller_port,
               voters=voters)


def start_cluster(base_dir, nodes=3, overrides=None):
    """`nodes` combined nodes (broker and controller each, ids 1..n) of the
    target's kind, started together; returns them once every one is up."""
    ports = [(free_port(), free_port()) for _ in range(nodes)]
    voters = ",".join(f"{i + 1}@127.0.0.1:{cp}" for i, (_, cp) in enumerate(ports))
    brokers = [Broker(Path(base_dir) / f"node{i + 1}" / "data", port=p, overrides=overrides, node_id=i + 1,
                      controller_port=cp, voters=voters) for i, (p, cp) in enumerate(ports)]
    try:
        for b in brokers:
            b.launch()
        for b in brokers:
            b.wait_ready()
    except BaseException:
        for b in brokers:
            b.kill()
        raise
    return brokers


# What a clean stop by SIGTERM exits with: Weir exits 0; a JVM that ran its
# shutdown hooks (Kafka's clean shutdown) exits 128 + 15.
CLEAN_SIGTERM_EXIT = {"weir": 0, "kafka": 143}


class WeirBroker:
    """A Weir process this suite owns (own port, own data dir)."""

    kind = "weir"
    start_timeout = 30.0

    def __init__(self, data_dir, port=None, overrides=None, binary=None, node_id=1, controller_port=None,
                 voters=None):
        self.binary = binary or weir_bin()
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.node_id = node_id
        self.controller_port = controller_port
        self.voters = voters
        self.overrides = dict(overrides or {})
        self.proc = None
        self.log_path = self.data_dir.parent / f"{self.kind}-{self.port}.log"
        self.starts = 0
        self._offset = 0

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def command(self):
        listeners = f"PLAINTEXT://{self.bootstrap}"
        extra = {}
        if self.voters:
            listeners += f",CONTROLLER://127.0.0.1:{self.controller_port}"
            extra = {"node.id": self.node_id, "controller.listener.names": "CONTROLLER",
                     "controller.quorum.voters": self.voters}
        args = [self.binary, "serve", "--override", f"listeners={listeners}", "--override", f"log.dirs={self.data_dir}"]
        for k, v in {**extra, **self.overrides}.items():
            args += ["--override", f"{k}={v}"]
        return args, None

    ready_line = property(lambda self: f"weir listening on PLAINTEXT {self.bootstrap}")

    def prepare(self, log):
        """Before the first start (Kafka formats its log dir)."""

    def launch(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = open(self.log_path, "ab")
        self.prepare(log)
        args, env = self.command()
        log.write(f"\n===== start #{self.starts}: {' '.join(map(str, args))}\n".encode())
        log.flush()
        self._offset = log.tell()
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        log.close()
        return self

    def wait_ready(self, timeout=None):
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with open(self.log_path, "rb") as f:
                f.seek(self._offset)
                return self.ready_line in f.read().decode(errors="replace")

        try:
            wait_until(up, timeout=timeout or self.start_timeout, what=f"'{self.ready_line}'")
        except AssertionError:
            self.kill()
            raise AssertionError(f"{self.kind} did not start:\n{self.log_tail()}")
        return self

    def start(self, timeout=None):
        return self.launch().wait_ready(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Send `sig`, wait for the process to exit, return its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.kind} did not exit within {timeout}s of {sig!r}:\n{self.log_tail()}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, n=60):
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])


class KafkaBroker(WeirBroker):
    """An Apache Kafka 4.4 KRaft combined node (broker and controller) this
    suite owns, started with compat/bin/kafka-server-start after
    `kafka-storage format` (--standalone for one node) on first start."""

    kind = "kafka"
    start_timeout = 90.0
    ready_line = "Kafka Server started"

    def __init__(self, data_dir, port=None, overrides=None, binary=None, node_id=1, controller_port=None,
                 voters=None):
        super().__init__(data_dir, port=port, overrides=overrides, binary=str(KAFKA_BIN / "kafka-server-start"),
                         node_id=node_id, controller_port=controller_port or free_port(), voters=voters)
        self.config_path = self.data_dir.parent / f"kafka-{self.port}.properties"

    def prepare(self, log):
        self.config_path.write_text(kafka_server_properties(self.port, self.controller_port, self.data_dir,
                                                            self.overrides, self.node_id, self.voters))
        if (self.data_dir / "meta.properties").exists():
            return
        fmt = [str(KAFKA_BIN / "kafka-storage"), "format", "--cluster-id", KAFKA_CLUSTER_ID,
               "--config", str(self.config_path)]
        if not self.voters:
            fmt.insert(2, "--standalone")
        log.write(f"\n===== {' '.join(fmt)}\n".encode())
        log.flush()
        subprocess.run(fmt, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=True, timeout=120)

    def command(self):
        env = dict(os.environ)
        env.setdefault("KAFKA_HEAP_OPTS", "-Xmx512M -Xms512M")
        return [self.binary, str(self.config_path)], env


# A fixed cluster id for the nodes this suite formats (any base64 UUID will do).
KAFKA_CLUSTER_ID = "V2VpckNvbXBhdFRlc3RzAA"


def kafka_server_properties(port, controller_port, data_dir, overrides, node_id=1, voters=None):
    """server.properties of a KRaft combined node on loopback, with the
    settings compat/run.sh gives Weir, and replication factor 1 for Kafka's
    internal topics (Weir's defaults need no such lines on one node).
    Without `voters`, a single node (formatted --standalone); with them, a
    member of a static quorum."""
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
    }
    if voters:
        props["controller.quorum.voters"] = voters
    else:
        props["controller.quorum.bootstrap.servers"] = f"127.0.0.1:{controller_port}"
    props.update({k: str(v) for k, v in overrides.items()})
    return "".join(f"{k}={v}\n" for k, v in props.items())


def stored_batches(log_dir, topic, partition):
    """Parse record-batch headers from a partition's segment files on disk.

    Returns a list of dicts (base_offset, last_offset, codec, magic,
    records). Only the v2 batch header is read; payloads are not decoded.
    """
    pdir = Path(log_dir) / f"{topic}-{partition}"
    out = []
    for seg in sorted(pdir.glob("*.log")):
        data = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            base_offset, batch_len = struct.unpack_from(">qi", data, pos)
            if batch_len <= 0 or pos + 12 + batch_len > len(data):
                break
            magic = data[pos + 16]
            attributes, last_delta = struct.unpack_from(">hi", data, pos + 21)
            (records,) = struct.unpack_from(">i", data, pos + 57)
            out.append({
                "base_offset": base_offset,
                "last_offset": base_offset + last_delta,
                "magic": magic,
                "codec": attributes & 0x07,
                "records": records,
            })
            pos += 12 + batch_len
    return out
