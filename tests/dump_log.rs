//! `weir dump-log` against real data: records produced with rdkafka into
//! an in-process broker, dumped from the segment, index, time index and
//! producer snapshot files the broker left after a clean shutdown, and
//! compared field by field with what was sent and with the bytes on disk;
//! plus damaged copies, internal-topic decoders and the `weir` binary.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::TestBroker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use weir::coordinator::record_schemas::{
    encode_group_metadata_value, encode_key, encode_offset_commit_value, GroupMetadataValue, GroupRecordKey,
    MemberMetadata, OffsetCommitValue,
};
use weir::record::records::{BatchBuilder, Record};
use weir::tools::dump_log::{run, DumpLogArgs};

const TOPIC: &str = "dump";
const SEGMENT: &str = "00000000000000000000.log";
const BASE_TS: i64 = 1_700_000_000_000;

/// One record as sent.
#[derive(Debug, Clone)]
struct Sent {
    key: Option<String>,
    value: String,
    headers: Vec<(&'static str, &'static str)>,
    timestamp: i64,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Plain,
    KeyedWithHeaders,
    Gzip,
    Idempotent,
}

impl Phase {
    fn producer_config(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Phase::Plain | Phase::KeyedWithHeaders => &[("compression.codec", "none")],
            Phase::Gzip => &[("compression.codec", "gzip")],
            Phase::Idempotent => &[("compression.codec", "none"), ("enable.idempotence", "true")],
        }
    }
    fn codec(self) -> &'static str {
        if self == Phase::Gzip {
            "gzip"
        } else {
            "none"
        }
    }
}

fn records_of(phase: Phase, n: usize, ts: i64) -> Vec<Sent> {
    (0..n)
        .map(|i| {
            let (key, headers) = match phase {
                Phase::Plain => (None, vec![]),
                Phase::KeyedWithHeaders => (Some(format!("key-{i}")), vec![("h1", "a"), ("h2", "b")]),
                Phase::Gzip => (Some(format!("g-{i}")), vec![("codec", "gzip")]),
                Phase::Idempotent => (None, vec![]),
            };
            Sent { key, value: format!("{phase:?}-value-{i}").to_lowercase(), headers, timestamp: ts + i as i64, phase }
        })
        .collect()
}

/// Produces `records` with one producer (all enqueued before any is
/// awaited, so they share batches), returning their offsets.
async fn produce(bootstrap: &str, phase: Phase, records: &[Sent]) -> Vec<i64> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap).set("linger.ms", "50").set("message.timeout.ms", "30000");
    for (k, v) in phase.producer_config() {
        c.set(*k, *v);
    }
    let p: FutureProducer = c.create().expect("producer");
    let mut futures = Vec::new();
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &r.headers {
            headers = headers.insert(Header { key: k, value: Some(*v) });
        }
        let mut record =
            FutureRecord::<str, str>::to(TOPIC).partition(0).payload(&r.value).timestamp(r.timestamp).headers(headers);
        if let Some(k) = &r.key {
            record = record.key(k.as_str());
        }
        futures.push(p.send_result(record).map_err(|(e, _)| e).expect("enqueue"));
    }
    let mut offsets = Vec::new();
    for f in futures {
        let d = f.await.expect("not cancelled").expect("delivered");
        offsets.push(d.offset);
    }
    p.flush(Duration::from_secs(10)).expect("flush");
    offsets
}

fn dump(args: &DumpLogArgs) -> (String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let summary = run(args, &mut out, &mut err).expect("dump-log writes");
    assert_eq!(summary.unreadable_files, 0);
    (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

fn args(files: &[&Path]) -> DumpLogArgs {
    DumpLogArgs::new(files.iter().map(|f| f.to_path_buf()).collect())
}

/// `name: value` pairs of a batch or record line (values have no spaces
/// in these tests), as Kafka's own DumpLogSegmentsTest parses them.
fn fields(line: &str) -> HashMap<String, String> {
    let line = line.strip_prefix('|').unwrap_or(line);
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let mut out = HashMap::new();
    let mut i = 0;
    while i < tokens.len() {
        let name = tokens[i].strip_suffix(':').unwrap_or_else(|| panic!("not a field name: {} in {line}", tokens[i]));
        assert!(i + 1 < tokens.len(), "no value for {name} in {line}");
        out.insert(name.to_string(), tokens[i + 1].to_string());
        i += 2;
    }
    out
}

fn int(f: &HashMap<String, String>, name: &str) -> i64 {
    f.get(name)
        .unwrap_or_else(|| panic!("no {name} in {f:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number in {f:?}"))
}

fn get<'a>(f: &'a HashMap<String, String>, name: &str) -> &'a str {
    f.get(name).unwrap_or_else(|| panic!("no {name} in {f:?}")).as_str()
}

/// A dumped batch: its header fields and its record lines.
struct DumpedBatch {
    header: HashMap<String, String>,
    records: Vec<HashMap<String, String>>,
}

fn parse_dump(out: &str) -> Vec<DumpedBatch> {
    let mut batches: Vec<DumpedBatch> = Vec::new();
    for line in out.lines() {
        if line.starts_with("baseOffset: ") {
            batches.push(DumpedBatch { header: fields(line), records: Vec::new() });
        } else if line.starts_with('|') {
            batches.last_mut().expect("record line after a batch line").records.push(fields(line));
        }
    }
    batches
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// The broker's data after producing every phase and shutting down.
struct Produced {
    _dir: tempfile::TempDir,
    root: PathBuf,
    partition_dir: PathBuf,
    by_offset: HashMap<i64, Sent>,
    total: usize,
}

async fn produce_all_phases() -> Produced {
    let dir = tempfile::tempdir().unwrap();
    // An index entry for (nearly) every batch.
    let mut broker = TestBroker::start_in(dir.path(), &[("log.index.interval.bytes", "0")]).await;
    let bs = broker.bootstrap();
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &bs).create().expect("admin");
    let res = admin
        .create_topics([&NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .expect("create_topics");
    assert!(res[0].is_ok(), "{res:?}");

    let mut by_offset = HashMap::new();
    let phases = [(Phase::Plain, 3), (Phase::KeyedWithHeaders, 3), (Phase::Gzip, 4), (Phase::Idempotent, 3)];
    let mut total = 0;
    for (i, (phase, n)) in phases.into_iter().enumerate() {
        let sent = records_of(phase, n, BASE_TS + 1_000 * i as i64);
        let offsets = produce(&bs, phase, &sent).await;
        for (o, s) in offsets.into_iter().zip(sent) {
            by_offset.insert(o, s);
        }
        total += n;
    }
    broker.stop().await;
    let root = dir.path().to_path_buf();
    Produced { partition_dir: root.join(format!("{TOPIC}-0")), root, _dir: dir, by_offset, total }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dumps_what_rdkafka_produced() {
    let p = produce_all_phases().await;
    let log_path = p.partition_dir.join(SEGMENT);
    let log = std::fs::read(&log_path).unwrap();
    assert_eq!(p.by_offset.len(), p.total);

    // ---- the segment, shallow ----
    let (out, err) = dump(&args(&[&log_path]));
    assert_eq!(err, "");
    assert!(out.starts_with(&format!("Dumping {}\nLog starting offset: 0\n", log_path.display())));
    assert!(!out.contains('|'), "shallow iteration prints no records");
    assert!(!out.contains("invalid bytes"));
    let shallow = parse_dump(&out);

    // ---- the segment, with --print-data-log ----
    let mut a = args(&[&log_path]);
    a.print_data_log = true;
    let (out, err) = dump(&a);
    assert_eq!(err, "", "{out}");
    let batches = parse_dump(&out);
    assert_eq!(batches.len(), shallow.len());
    assert!(batches.len() >= 4, "one batch per producer at least: {out}");

    let mut position = 0usize;
    let mut seen = 0;
    let mut phases_seen = Vec::new();
    for (b, s) in batches.iter().zip(&shallow) {
        let h = &b.header;
        assert_eq!(h, &s.header, "deep and shallow batch lines agree");
        // Position, size and CRC are those of the bytes on disk.
        assert_eq!(int(h, "position") as usize, position);
        let size = int(h, "size") as usize;
        assert_eq!(be_i32(&log, position + 8) as usize + 12, size);
        assert_eq!(be_i64(&log, position), int(h, "baseOffset"));
        let stored_crc = u32::from_be_bytes(log[position + 17..position + 21].try_into().unwrap());
        assert_eq!(int(h, "crc"), stored_crc as i64);
        assert_eq!(crc32c::crc32c(&log[position + 21..position + size]), stored_crc);
        assert_eq!(get(h, "isvalid"), "true");
        assert_eq!(get(h, "magic"), "2");
        assert_eq!(get(h, "isTransactional"), "false");
        assert_eq!(get(h, "isControl"), "false");
        assert_eq!(get(h, "deleteHorizonMs"), "OptionalLong.empty");
        assert!(int(h, "partitionLeaderEpoch") >= 0);
        position += size;

        // Counts and offsets.
        let base = int(h, "baseOffset");
        let last = int(h, "lastOffset");
        assert_eq!(int(h, "count"), last - base + 1);
        assert_eq!(b.records.len() as i64, last - base + 1);

        let first = &p.by_offset[&base];
        let phase = first.phase;
        if phases_seen.last() != Some(&phase) {
            phases_seen.push(phase);
        }
        assert_eq!(get(h, "compresscodec"), phase.codec());
        let max_ts = (base..=last).map(|o| p.by_offset[&o].timestamp).max().unwrap();
        assert_eq!(int(h, "CreateTime"), max_ts);

        // Producer fields.
        if phase == Phase::Idempotent {
            assert!(int(h, "producerId") >= 0);
            assert_eq!(int(h, "producerEpoch"), 0);
            let base_seq = int(h, "baseSequence");
            assert!(base_seq >= 0);
            assert_eq!(int(h, "lastSequence"), base_seq + (last - base));
        } else {
            assert_eq!(int(h, "producerId"), -1);
            assert_eq!(int(h, "producerEpoch"), -1);
            assert_eq!(int(h, "baseSequence"), -1);
            assert_eq!(int(h, "lastSequence"), -1);
        }

        // Records.
        for (i, r) in b.records.iter().enumerate() {
            let offset = base + i as i64;
            let sent = &p.by_offset[&offset];
            assert_eq!(sent.phase, phase, "a batch holds one producer's records");
            assert_eq!(int(r, "offset"), offset);
            assert_eq!(int(r, "CreateTime"), sent.timestamp);
            assert_eq!(int(r, "keySize"), sent.key.as_ref().map_or(-1, |k| k.len() as i64));
            assert_eq!(int(r, "valueSize"), sent.value.len() as i64);
            let keys: Vec<&str> = sent.headers.iter().map(|(k, _)| *k).collect();
            assert_eq!(get(r, "headerKeys"), format!("[{}]", keys.join(",")));
            match &sent.key {
                Some(k) => assert_eq!(get(r, "key"), k),
                None => assert!(!r.contains_key("key")),
            }
            assert_eq!(get(r, "payload"), sent.value);
            if phase == Phase::Idempotent {
                assert_eq!(int(r, "sequence"), int(h, "baseSequence") + i as i64);
            } else {
                assert_eq!(int(r, "sequence"), -1);
            }
            seen += 1;
        }
    }
    assert_eq!(position, log.len(), "every byte belongs to a dumped batch");
    assert_eq!(seen, p.total);
    assert_eq!(phases_seen, vec![Phase::Plain, Phase::KeyedWithHeaders, Phase::Gzip, Phase::Idempotent]);
    let starts: HashMap<i64, &DumpedBatch> = batches.iter().map(|b| (int(&b.header, "position"), b)).collect();

    // ---- the offset index ----
    let index = p.partition_dir.join("00000000000000000000.index");
    let (out, err) = dump(&args(&[&index]));
    assert_eq!(err, "", "{out}");
    let entries: Vec<(i64, i64)> = out
        .lines()
        .filter(|l| l.starts_with("offset: "))
        .map(|l| {
            let f = fields(l);
            (int(&f, "offset"), int(&f, "position"))
        })
        .collect();
    assert!(!entries.is_empty(), "index has entries: {out}");
    assert_eq!(std::fs::metadata(&index).unwrap().len() as usize, entries.len() * 8);
    for (offset, position) in &entries {
        let b = starts.get(position).unwrap_or_else(|| panic!("index position {position} is not a batch start"));
        assert_eq!(int(&b.header, "lastOffset"), *offset);
    }
    let mut a = args(&[&index]);
    a.verify_index_only = true;
    let (out, err) = dump(&a);
    assert_eq!((out.lines().count(), err.as_str()), (1, ""));
    a.verify_index_only = false;
    a.index_sanity_check = true;
    let (out, _) = dump(&a);
    assert!(out.ends_with(&format!("{} passed sanity check.\n", index.display())));

    // ---- the time index ----
    let timeindex = p.partition_dir.join("00000000000000000000.timeindex");
    let (out, err) = dump(&args(&[&timeindex]));
    assert_eq!(err, "", "{out}");
    let tentries: Vec<(i64, i64)> = out
        .lines()
        .filter(|l| l.starts_with("timestamp: "))
        .map(|l| {
            let f = fields(l);
            (int(&f, "timestamp"), int(&f, "offset"))
        })
        .collect();
    assert!(!tentries.is_empty(), "time index has entries: {out}");
    for (ts, offset) in &tentries {
        let b = batches
            .iter()
            .find(|b| int(&b.header, "lastOffset") == *offset)
            .unwrap_or_else(|| panic!("time index offset {offset} is not a batch end"));
        assert_eq!(int(&b.header, "CreateTime"), *ts);
    }

    // ---- the producer snapshot ----
    let snapshots: Vec<PathBuf> = std::fs::read_dir(&p.partition_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snapshot"))
        .collect();
    assert!(!snapshots.is_empty(), "clean shutdown writes a producer snapshot");
    let newest = snapshots.iter().max().unwrap();
    let (out, err) = dump(&args(&[newest]));
    assert_eq!(err, "");
    let last_idem = batches.iter().rev().find(|b| int(&b.header, "producerId") >= 0).unwrap();
    let h = &last_idem.header;
    let expected = format!(
        "producerId: {} producerEpoch: 0 coordinatorEpoch: -1 currentTxnFirstOffset: OptionalLong.empty lastTimestamp: {ts} firstSequence: {} lastSequence: {} lastOffset: {} offsetDelta: {} timestamp: {ts}",
        int(h, "producerId"),
        int(h, "baseSequence"),
        int(h, "lastSequence"),
        int(h, "lastOffset"),
        int(h, "lastOffset") - int(h, "baseOffset"),
        ts = int(h, "CreateTime"),
    );
    assert!(out.lines().any(|l| l == expected), "{out}\nexpected: {expected}");

    // ---- all at once, and the metadata log ----
    let metadata_log = p.root.join("__cluster_metadata-0").join(SEGMENT);
    let unknown = p.partition_dir.join("partition.metadata");
    let mut a = args(&[&log_path, &index, &timeindex, newest, &unknown, &metadata_log]);
    a.print_data_log = true;
    let (out, err) = dump(&a);
    assert_eq!(err, format!("Ignoring unknown file {}\n", unknown.display()));
    assert_eq!(out.matches("Dumping ").count(), 6);
    let metadata_section = out.split(&format!("Dumping {}\n", metadata_log.display())).nth(1).unwrap();
    let payloads: Vec<&str> =
        metadata_section.lines().filter_map(|l| l.split_once(" payload: ").map(|(_, p)| p)).collect();
    assert!(!payloads.is_empty());
    for payload in payloads {
        serde_json::from_str::<serde_json::Value>(payload).expect("metadata log values are JSON");
    }
    assert!(metadata_section.contains(&format!("\"name\":\"{TOPIC}\"")), "{metadata_section}");

    // ---- damaged copies ----
    let damaged = tempfile::tempdir().unwrap();
    let copy = damaged.path().join(SEGMENT);
    // A flipped bit in the second batch's records.
    let second = int(&batches[1].header, "position") as usize;
    let second_size = int(&batches[1].header, "size") as usize;
    let mut bad = log.clone();
    bad[second + second_size - 2] ^= 0x04;
    std::fs::write(&copy, &bad).unwrap();
    let mut a = args(&[&copy]);
    a.print_data_log = true;
    let (out, _) = dump(&a);
    let dumped = parse_dump(&out);
    assert_eq!(dumped.len(), batches.len());
    for (i, b) in dumped.iter().enumerate() {
        let expected = if i == 1 { "false" } else { "true" };
        assert_eq!(get(&b.header, "isvalid"), expected, "batch {i}");
        // The stored CRC is printed, not the recomputed one.
        assert_eq!(get(&b.header, "crc"), get(&batches[i].header, "crc"));
    }
    // Truncated in the middle of the last batch.
    std::fs::write(&copy, &log[..log.len() - 7]).unwrap();
    let (out, _) = dump(&a);
    let last_size = int(&batches.last().unwrap().header, "size");
    assert!(out.ends_with(&format!("Found {} invalid bytes at the end of {SEGMENT}\n", last_size - 7)), "{out}");
    assert_eq!(parse_dump(&out).len(), batches.len() - 1);
    // Garbage appended after valid batches, and a garbage file.
    let mut garbage = log.clone();
    garbage.extend_from_slice(&[0xab; 100]);
    std::fs::write(&copy, &garbage).unwrap();
    let (out, err) = dump(&a);
    assert_eq!(parse_dump(&out).len(), batches.len());
    assert!(err.contains("smaller than minimum record overhead") || out.contains("invalid bytes"), "{out}{err}");
    std::fs::write(&copy, vec![0x5a; 4096]).unwrap();
    let (out, _) = dump(&a);
    assert!(out.ends_with(&format!("Found 4096 invalid bytes at the end of {SEGMENT}\n")));

    // ---- the binary prints what run() prints ----
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["dump-log", "--print-data-log", "--files"])
        .arg(format!("{},{}", log_path.display(), index.display()))
        .output()
        .expect("run weir dump-log");
    assert!(output.status.success());
    let mut a = args(&[&log_path, &index]);
    a.print_data_log = true;
    assert_eq!(String::from_utf8(output.stdout).unwrap(), dump(&a).0);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["dump-log", "--files"])
        .arg(damaged.path().join("missing.log"))
        .output()
        .expect("run weir dump-log");
    assert_eq!(output.status.code(), Some(1));
}

/// Consumer-protocol subscription v1 (`topics=[orders]`, no user data,
/// owned `orders-0`) and assignment v1 (`orders-0,1`, no user data).
fn consumer_protocol() -> (Vec<u8>, Vec<u8>) {
    let mut s = vec![0, 1, 0, 0, 0, 1, 0, 6];
    s.extend_from_slice(b"orders");
    s.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 6]);
    s.extend_from_slice(b"orders");
    s.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    let mut a = vec![0, 1, 0, 0, 0, 1, 0, 6];
    a.extend_from_slice(b"orders");
    a.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    (s, a)
}

#[test]
fn offsets_decoder_renders_group_records() {
    let dir = tempfile::tempdir().unwrap();
    let partition_dir = dir.path().join("__consumer_offsets-7");
    std::fs::create_dir(&partition_dir).unwrap();
    let commit_key =
        encode_key(&GroupRecordKey::OffsetCommit { group: "payments".into(), topic: "orders".into(), partition: 3 })
            .unwrap();
    let commit = encode_offset_commit_value(&OffsetCommitValue {
        offset: 1234,
        leader_epoch: 5,
        metadata: "note \"quoted\"".into(),
        commit_timestamp: BASE_TS,
        expire_timestamp: -1,
    })
    .unwrap();
    let expiring = encode_offset_commit_value(&OffsetCommitValue {
        offset: 99,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: BASE_TS,
        expire_timestamp: BASE_TS + 60_000,
    })
    .unwrap();
    let group_key = encode_key(&GroupRecordKey::GroupMetadata { group: "payments".into() }).unwrap();
    let (subscription, assignment) = consumer_protocol();
    let group = encode_group_metadata_value(&GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 4,
        protocol: Some("range".into()),
        leader: Some("m-1".into()),
        current_state_timestamp: BASE_TS + 5,
        members: vec![MemberMetadata {
            member_id: "m-1".into(),
            group_instance_id: None,
            client_id: "rdkafka".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout: 300_000,
            session_timeout: 45_000,
            subscription,
            assignment,
        }],
    })
    .unwrap();
    let mut b = BatchBuilder::new(0, BASE_TS).leader_epoch(0);
    b.push(Record::new(Some(commit_key.clone()), Some(commit), BASE_TS));
    b.push(Record::new(Some(commit_key), Some(expiring), BASE_TS));
    let first = b.build();
    let mut b = BatchBuilder::new(2, BASE_TS + 5).leader_epoch(0);
    b.push(Record::new(Some(group_key.clone()), Some(group), BASE_TS + 5));
    b.push(Record::new(Some(group_key), None, BASE_TS + 6));
    let second = b.build();
    let segment = partition_dir.join(SEGMENT);
    std::fs::write(&segment, [&first[..], &second[..]].concat()).unwrap();

    let mut a = args(&[&segment]);
    a.offsets_decoder = true;
    let (out, err) = dump(&a);
    assert_eq!(err, "");
    let records: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
    let expected = [
        format!(
            r#"| offset: 0 CreateTime: {BASE_TS} keySize: {} valueSize: {} sequence: -1 headerKeys: [] key: {{"type":"1","data":{{"group":"payments","topic":"orders","partition":3}}}} payload: {{"version":"3","data":{{"offset":1234,"leaderEpoch":5,"metadata":"note \"quoted\"","commitTimestamp":{BASE_TS}}}}}"#,
            2 + 2 + 8 + 2 + 6 + 4,
            2 + 8 + 4 + 2 + 13 + 8
        ),
        format!(
            r#"| offset: 1 CreateTime: {BASE_TS} keySize: 24 valueSize: 28 sequence: -1 headerKeys: [] key: {{"type":"1","data":{{"group":"payments","topic":"orders","partition":3}}}} payload: {{"version":"1","data":{{"offset":99,"metadata":"","commitTimestamp":{BASE_TS},"expireTimestamp":{}}}}}"#,
            BASE_TS + 60_000
        ),
        format!(
            concat!(
                r#"| offset: 2 CreateTime: {ts} keySize: 12 valueSize: {size} sequence: -1 headerKeys: [] key: {{"type":"2","data":{{"group":"payments"}}}} "#,
                r#"payload: {{"version":"3","data":{{"protocolType":"consumer","generation":4,"protocol":"range","leader":"m-1","#,
                r#""currentStateTimestamp":{ts},"members":[{{"memberId":"m-1","groupInstanceId":null,"clientId":"rdkafka","#,
                r#""clientHost":"/127.0.0.1","rebalanceTimeout":300000,"sessionTimeout":45000,"#,
                r#""subscription":{{"topics":["orders"],"userData":null,"ownedPartitions":[{{"topic":"orders","partitions":[0]}}]}},"#,
                r#""assignment":{{"assignedPartitions":[{{"topic":"orders","partitions":[0,1]}}],"userData":null}}}}]}}}}"#
            ),
            ts = BASE_TS + 5,
            size = records_value_size(&second, 0),
        ),
        format!(
            r#"| offset: 3 CreateTime: {} keySize: 12 valueSize: -1 sequence: -1 headerKeys: [] key: {{"type":"2","data":{{"group":"payments"}}}} payload: <DELETE>"#,
            BASE_TS + 6
        ),
    ];
    assert_eq!(records, expected.iter().map(String::as_str).collect::<Vec<_>>());
    // Without the decoder, keys and values are raw text.
    let mut a = args(&[&segment]);
    a.print_data_log = true;
    let (out, _) = dump(&a);
    assert!(!out.contains("payload: <DELETE>"));
    assert_eq!(out.lines().filter(|l| l.starts_with('|')).count(), 4);
}

/// The value size of record `i` of a batch built by BatchBuilder (read
/// back with Weir's own decoder).
fn records_value_size(batch: &[u8], i: usize) -> usize {
    let view = weir::record::batch::BatchView::parse_valid(batch).unwrap();
    weir::record::records::decode_records(&view).unwrap()[i].value.as_ref().unwrap().len()
}
