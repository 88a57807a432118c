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


def Broker(data_dir, port=None, overrides=None):
    """A broker this suite owns (own port, own data dir), of the target's
    kind: a Weir process, or an Apache Kafka KRaft combined node."""
    cls = KafkaBroker if TARGET == "kafka" else WeirBroker
    return cls(data_dir, port=port, overrides=overrides)


# What a clean stop by SIGTERM exits with: Weir exits 0; a JVM that ran its
# shutdown hooks (Kafka's clean shutdown) exits 128 + 15.
CLEAN_SIGTERM_EXIT = {"weir": 0, "kafka": 143}


class WeirBroker:
    """A Weir process this suite owns (own port, own data dir)."""

    def __init__(self, data_dir, port=None, overrides=None, binary=None):
        self.binary = binary or weir_bin()
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.overrides = dict(overrides or {})
        self.proc = None
        self.log_path = self.data_dir.parent / f"weir-{self.port}.log"
        self.starts = 0

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=30.0):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        args = [
            self.binary, "serve",
            "--override", f"listeners=PLAINTEXT://{self.bootstrap}",
            "--override", f"log.dirs={self.data_dir}",
        ]
        for k, v in self.overrides.items():
            args += ["--override", f"{k}={v}"]
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(args)}\n".encode())
        log.flush()
        offset = log.tell()
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        ready = f"weir listening on PLAINTEXT {self.bootstrap}"

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"weir exited with {self.proc.returncode}:\n{self.log_tail()}")
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return ready in f.read().decode(errors="replace")

        try:
            wait_until(up, timeout=timeout, what=f"'{ready}'")
        except AssertionError:
            self.kill()
            raise AssertionError(f"weir did not start:\n{self.log_tail()}")
        return self

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
            raise AssertionError(f"weir did not exit within {timeout}s of {sig!r}:\n{self.log_tail()}")

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
    """An Apache Kafka 4.4 KRaft combined node (broker and controller,
    node.id 1) this suite owns, started with compat/bin/kafka-server-start
    after `kafka-storage format --standalone` on first start."""

    def __init__(self, data_dir, port=None, overrides=None, binary=None):
        self.binary = str(KAFKA_BIN / "kafka-server-start")
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.controller_port = free_port()
        self.overrides = dict(overrides or {})
        self.proc = None
        self.log_path = self.data_dir.parent / f"kafka-{self.port}.log"
        self.config_path = self.data_dir.parent / f"kafka-{self.port}.properties"
        self.starts = 0

    def properties(self):
        return kafka_server_properties(self.port, self.controller_port, self.data_dir, self.overrides)

    def start(self, timeout=90.0):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self.config_path.write_text(self.properties())
        log = open(self.log_path, "ab")
        if not (self.data_dir / "meta.properties").exists():
            fmt = [str(KAFKA_BIN / "kafka-storage"), "format", "--standalone",
                   "--cluster-id", KAFKA_CLUSTER_ID, "--config", str(self.config_path)]
            log.write(f"\n===== {' '.join(fmt)}\n".encode())
            log.flush()
            subprocess.run(fmt, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           check=True, timeout=120)
        args = [self.binary, str(self.config_path)]
        log.write(f"\n===== start #{self.starts}: {' '.join(args)}\n".encode())
        log.flush()
        offset = log.tell()
        env = dict(os.environ)
        env.setdefault("KAFKA_HEAP_OPTS", "-Xmx512M -Xms512M")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        log.close()
        ready = "Kafka Server started"

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"kafka exited with {self.proc.returncode}:\n{self.log_tail()}")
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return ready in f.read().decode(errors="replace")

        try:
            wait_until(up, timeout=timeout, what=f"'{ready}'")
        except AssertionError:
            self.kill()
            raise AssertionError(f"kafka did not start:\n{self.log_tail()}")
        return self


# A fixed cluster id for the nodes this suite formats (any base64 UUID will do).
KAFKA_CLUSTER_ID = "V2VpckNvbXBhdFRlc3RzAA"


def kafka_server_properties(port, controller_port, data_dir, overrides):
    """server.properties of a single KRaft combined node on loopback, with
    the settings compat/run.sh gives Weir, and replication factor 1 for
    Kafka's internal topics (one node; Weir's defaults need no such lines)."""
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "log.dirs": str(data_dir),
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
    }
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
