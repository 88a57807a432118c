//! Decoding damaged metadata-log and internal-topic records, as a
//! bounded-time property test (cargo-fuzz needs nightly).
//!
//! Seeds are real encodings: every `MetadataRecord` variant (as the
//! metadata log stores them: JSON, alone and inside the Raft entries of
//! `controller::quorum::log_store`), and the `__consumer_offsets` and
//! `__transaction_state` keys and values of `coordinator::record_schemas`
//! at every version, plus consumer-protocol subscriptions and assignments.
//! Each case mutates a seed (bit flips, byte runs, insertions, deletions,
//! truncation, forged 2- and 4-byte lengths, digits and boundary numbers
//! in JSON) or makes garbage, and decodes it.
//!
//! Properties: no panic; no single allocation larger than
//! `ALLOC_PER_INPUT_BYTE` times the input plus `ALLOC_SLACK` (no buffer
//! sized by a declared length beyond the input); a decode that succeeds
//! re-encodes to bytes that decode to the same value; a decoded metadata
//! record applies to a `MetadataImage` without panicking, and the image's
//! `to_records` rebuild applies too.
//!
//! Seeded (`StdRng`); `WEIR_FUZZ_ITERS` multiplies the case count,
//! `WEIR_FUZZ_SEED` changes the seed.

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;
use weir::controller::quorum::{Entry, MetadataBatch};
use weir::coordinator::group::consumer_protocol;
use weir::coordinator::record_schemas::*;
use weir::metadata::image::MetadataImage;
use weir::metadata::records::{ConfigResourceType, Endpoint, MetadataRecord};

const BASE_CASES: u64 = 250_000;
const ALLOC_PER_INPUT_BYTE: usize = 64;
const ALLOC_SLACK: usize = 64 * 1024;

// ---------------------------------------------------------------------------
// Counting allocator: the largest single allocation while a decode runs
// ---------------------------------------------------------------------------

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// The allocation hook: remembers the largest allocation while a decode
/// is being measured.
fn note(size: usize) {
    if TRACKING.try_with(Cell::get).unwrap_or(false) {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    }
}

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting { on_alloc: note };

/// Runs `f` and returns its result with the largest allocation it made.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    TRACKING.with(|t| t.set(true));
    let out = f();
    TRACKING.with(|t| t.set(false));
    (out, LARGEST.with(Cell::get))
}

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    MetadataRecord,
    RaftEntry,
    GroupKey,
    OffsetCommitValue,
    GroupMetadataValue,
    TxnKey,
    TxnValue,
    Subscription,
    Assignment,
}

const CODECS: [Codec; 9] = [
    Codec::MetadataRecord,
    Codec::RaftEntry,
    Codec::GroupKey,
    Codec::OffsetCommitValue,
    Codec::GroupMetadataValue,
    Codec::TxnKey,
    Codec::TxnValue,
    Codec::Subscription,
    Codec::Assignment,
];

fn metadata_records(rng: &mut StdRng) -> Vec<MetadataRecord> {
    let id = Uuid::from_u128(rng.gen());
    vec![
        MetadataRecord::ClusterId { cluster_id: "q1dr6Jc-TFCzs8hMbM2gWA".into() },
        MetadataRecord::FeatureLevel { name: "metadata.version".into(), level: 21 },
        MetadataRecord::RegisterBroker {
            broker_id: 1,
            incarnation_id: Uuid::from_u128(rng.gen()),
            listeners: vec![
                Endpoint { name: "PLAINTEXT".into(), host: "broker-1.local".into(), port: 9092 },
                Endpoint { name: "CONTROLLER".into(), host: "10.0.0.1".into(), port: 9093 },
            ],
            rack: Some("rack-a".into()),
            fenced: true,
            broker_epoch: Some(17),
            offline_replicas: vec![(id, 0)],
        },
        MetadataRecord::BrokerRegistrationChange {
            broker_id: 1,
            broker_epoch: 17,
            fenced: Some(false),
            in_controlled_shutdown: None,
            offline_replicas: Some(vec![(id, 0)]),
        },
        MetadataRecord::Topic { name: "orders".into(), topic_id: id },
        MetadataRecord::Partition {
            topic_id: id,
            partition_id: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            elr: vec![],
            last_known_elr: vec![],
        },
        MetadataRecord::PartitionChange {
            topic_id: id,
            partition_id: 0,
            leader: Some(2),
            isr: Some(vec![2, 3]),
            replicas: None,
            bump_leader_epoch: true,
            elr: None,
            last_known_elr: None,
        },
        MetadataRecord::PartitionChange {
            topic_id: id,
            partition_id: 0,
            leader: Some(-1),
            isr: Some(vec![]),
            replicas: None,
            bump_leader_epoch: false,
            elr: Some(vec![2, 3]),
            last_known_elr: Some(vec![2]),
        },
        MetadataRecord::Config {
            resource_type: ConfigResourceType::Topic,
            resource_name: "orders".into(),
            name: "cleanup.policy".into(),
            value: Some("compact".into()),
        },
        MetadataRecord::Config {
            resource_type: ConfigResourceType::Broker,
            resource_name: String::new(),
            name: "log.retention.ms".into(),
            value: None,
        },
        MetadataRecord::ProducerIds { broker_id: 1, next_producer_id: 5000 },
        MetadataRecord::UnregisterBroker { broker_id: 3, broker_epoch: 40 },
        MetadataRecord::RemoveTopic { topic_id: id },
    ]
}

fn raft_entry(records: Vec<MetadataRecord>, index: u64) -> Entry {
    Entry {
        log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(3, 1), index),
        payload: openraft::EntryPayload::Normal(MetadataBatch { records }),
    }
}

fn offset_value() -> OffsetCommitValue {
    OffsetCommitValue {
        offset: 4242,
        leader_epoch: 7,
        metadata: "checkpoint-3".into(),
        commit_timestamp: 1_700_000_000_000,
        expire_timestamp: -1,
    }
}

fn subscription_bytes(version: i16) -> Vec<u8> {
    let mut b = version.to_be_bytes().to_vec();
    let s = |b: &mut Vec<u8>, v: &str| {
        b.extend_from_slice(&(v.len() as i16).to_be_bytes());
        b.extend_from_slice(v.as_bytes());
    };
    b.extend_from_slice(&2i32.to_be_bytes());
    s(&mut b, "orders");
    s(&mut b, "payments");
    b.extend_from_slice(&3i32.to_be_bytes());
    b.extend_from_slice(b"abc");
    if version >= 1 {
        b.extend_from_slice(&1i32.to_be_bytes());
        s(&mut b, "orders");
        b.extend_from_slice(&2i32.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
    }
    if version >= 2 {
        b.extend_from_slice(&5i32.to_be_bytes());
    }
    if version >= 3 {
        s(&mut b, "rack-a");
    }
    b
}

fn assignment_bytes() -> Vec<u8> {
    let mut b = 3i16.to_be_bytes().to_vec();
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&6i16.to_be_bytes());
    b.extend_from_slice(b"orders");
    b.extend_from_slice(&2i32.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b
}

fn seeds(rng: &mut StdRng) -> Vec<(Codec, Vec<u8>)> {
    let mut out = Vec::new();
    let records = metadata_records(rng);
    for r in &records {
        out.push((Codec::MetadataRecord, r.encode()));
    }
    out.push((Codec::RaftEntry, serde_json::to_vec(&raft_entry(records.clone(), 12)).unwrap()));
    out.push((Codec::RaftEntry, serde_json::to_vec(&raft_entry(records[4..6].to_vec(), 13)).unwrap()));
    let blank: Entry = Entry {
        log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(3, 1), 14),
        payload: openraft::EntryPayload::Blank,
    };
    out.push((Codec::RaftEntry, serde_json::to_vec(&blank).unwrap()));
    for key in [
        GroupRecordKey::OffsetCommit { group: "payments-consumer".into(), topic: "orders".into(), partition: 7 },
        GroupRecordKey::GroupMetadata { group: "payments-consumer".into() },
    ] {
        out.push((Codec::GroupKey, encode_key(&key).unwrap()));
    }
    for version in 0..=4 {
        let mut v = offset_value();
        if version == 1 {
            v.expire_timestamp = 1_700_000_100_000;
        }
        out.push((Codec::OffsetCommitValue, encode_offset_commit_value_version(&v, version).unwrap()));
        let g = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("consumer-1-0f3c".into()),
            current_state_timestamp: if version >= 2 { 1_700_000_000_000 } else { -1 },
            members: vec![MemberMetadata {
                member_id: "consumer-1-0f3c".into(),
                group_instance_id: if version >= 3 { Some("instance-1".into()) } else { None },
                client_id: "consumer-1".into(),
                client_host: "/10.0.0.7".into(),
                rebalance_timeout: if version >= 1 { 300_000 } else { -1 },
                session_timeout: 45_000,
                subscription: subscription_bytes(3),
                assignment: assignment_bytes(),
            }],
        };
        out.push((Codec::GroupMetadataValue, encode_group_metadata_value_version(&g, version).unwrap()));
    }
    out.push((
        Codec::TxnKey,
        encode_transaction_log_key(&TransactionLogKey { transactional_id: "txn-orders-1".into() }).unwrap(),
    ));
    for version in 0..=1 {
        let v = TransactionLogValue {
            producer_id: 1001,
            previous_producer_id: if version >= 1 { 1000 } else { -1 },
            next_producer_id: -1,
            producer_epoch: 3,
            transaction_timeout_ms: 60_000,
            transaction_status: 1,
            transaction_partitions: Some(vec![TransactionPartitions {
                topic: "orders".into(),
                partition_ids: vec![0, 1, 2],
            }]),
            transaction_last_update_timestamp_ms: 1_700_000_000_500,
            transaction_start_timestamp_ms: 1_700_000_000_000,
            client_transaction_version: if version >= 1 { 2 } else { 0 },
        };
        out.push((Codec::TxnValue, encode_transaction_log_value(&v, version).unwrap()));
    }
    for version in 0..=3 {
        out.push((Codec::Subscription, subscription_bytes(version)));
    }
    out.push((Codec::Assignment, assignment_bytes()));
    out
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

fn mutate(rng: &mut StdRng, seed: &[u8], json: bool) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = b.len();
        match rng.gen_range(0..10) {
            0 if len > 0 => {
                let at = rng.gen_range(0..len);
                b[at] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let at = rng.gen_range(0..len);
                let n = rng.gen_range(1..=8).min(len - at);
                rng.fill(&mut b[at..at + n]);
            }
            2 => b.truncate(rng.gen_range(0..=len)),
            3 => {
                let at = rng.gen_range(0..=len);
                let n = rng.gen_range(1..=16);
                let ins: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                b.splice(at..at, ins);
            }
            4 if len > 0 => {
                let at = rng.gen_range(0..len);
                let n = rng.gen_range(1..=16).min(len - at);
                b.drain(at..at + n);
            }
            // A forged int16 or int32 length (big, negative, -1).
            5 if len >= 4 && !json => {
                let at = rng.gen_range(0..len - 3);
                let v: i32 = [i32::MAX, 0x7fff, -1, -2, 0x10000, rng.gen()][rng.gen_range(0..6)];
                if rng.gen_bool(0.5) {
                    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
                } else {
                    b[at..at + 2].copy_from_slice(&(v as i16).to_be_bytes());
                }
            }
            // A forged unsigned varint (compact length) of 5 bytes.
            6 if len >= 5 && !json => {
                let at = rng.gen_range(0..len - 4);
                b[at..at + 5].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
            }
            // JSON: a digit changed, or a number replaced by a boundary.
            7 if json => {
                let digits: Vec<usize> = (0..len).filter(|&i| b[i].is_ascii_digit()).collect();
                if let Some(&at) = digits.get(rng.gen_range(0..digits.len().max(1))) {
                    b[at] = b'0' + rng.gen_range(0..10);
                }
            }
            8 if json => {
                let digits: Vec<usize> = (0..len).filter(|&i| b[i].is_ascii_digit()).collect();
                if let Some(&at) = digits.get(rng.gen_range(0..digits.len().max(1))) {
                    let end = (at..len).find(|&i| !b[i].is_ascii_digit()).unwrap_or(len);
                    let start = (0..at).rev().find(|&i| !b[i].is_ascii_digit() && b[i] != b'-').map_or(0, |i| i + 1);
                    let v = ["2147483647", "-2147483648", "-1", "0", "9223372036854775807", "32767", "65535", "1e9"]
                        [rng.gen_range(0..8)];
                    b.splice(start..end, v.bytes());
                }
            }
            9 if json => {
                // Swap true/false/null tokens.
                let text = String::from_utf8_lossy(&b).into_owned();
                let swapped = match rng.gen_range(0..3) {
                    0 => text.replacen("false", "true", 1),
                    1 => text.replacen("true", "false", 1),
                    _ => text.replacen("null", "[]", 1),
                };
                b = swapped.into_bytes();
            }
            _ => b.push(rng.gen()),
        }
    }
    b
}

// ---------------------------------------------------------------------------
// Decoding one input
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    cases: u64,
    decoded: u64,
    rejected: u64,
    applied: u64,
    reencode_errors: u64,
}

/// Decodes `bytes` as `codec`, measuring allocations; on success checks
/// the re-encoding round trip. Returns whether it decoded, and the largest
/// allocation the decode made.
fn decode_one(codec: Codec, bytes: &[u8], image: &mut MetadataImage, tally: &mut Tally) -> (bool, usize) {
    macro_rules! round_trip {
        ($decoded:expr, $encode:expr, $decode:expr) => {{
            let (decoded, largest) = measured(|| $decoded);
            match decoded {
                Ok(v) => {
                    match $encode(&v) {
                        Ok(again) => assert_eq!($decode(&again).expect("re-encoded bytes decode"), v, "round trip"),
                        // Lossy UTF-8 can lengthen a string past its
                        // encodable limit: an error, never a panic.
                        Err(_) => tally.reencode_errors += 1,
                    }
                    (true, largest)
                }
                Err(_) => (false, largest),
            }
        }};
    }
    match codec {
        Codec::MetadataRecord => {
            let (decoded, largest) = measured(|| MetadataRecord::decode(bytes));
            match decoded {
                Ok(r) => {
                    assert_eq!(MetadataRecord::decode(&r.encode()).unwrap(), r, "round trip");
                    apply(image, &[r], tally);
                    (true, largest)
                }
                Err(_) => (false, largest),
            }
        }
        Codec::RaftEntry => {
            let (decoded, largest) = measured(|| serde_json::from_slice::<Entry>(bytes));
            match decoded {
                Ok(e) => {
                    let again: Entry = serde_json::from_slice(&serde_json::to_vec(&e).unwrap()).unwrap();
                    assert_eq!(again.log_id, e.log_id);
                    if let (openraft::EntryPayload::Normal(a), openraft::EntryPayload::Normal(b)) =
                        (&again.payload, &e.payload)
                    {
                        assert_eq!(a, b, "round trip");
                        apply(image, &b.records, tally);
                    }
                    (true, largest)
                }
                Err(_) => (false, largest),
            }
        }
        Codec::GroupKey => round_trip!(decode_key(bytes), encode_key, decode_key),
        Codec::OffsetCommitValue => round_trip!(
            decode_offset_commit_value_versioned(bytes),
            |(ver, v): &(i16, OffsetCommitValue)| encode_offset_commit_value_version(v, *ver),
            decode_offset_commit_value_versioned
        ),
        Codec::GroupMetadataValue => {
            let out = round_trip!(
                decode_group_metadata_value_versioned(bytes),
                |(ver, v): &(i16, GroupMetadataValue)| encode_group_metadata_value_version(v, *ver),
                decode_group_metadata_value_versioned
            );
            // What kafka-dump-log prints must not panic either.
            let _ = group_value_json(2, bytes);
            out
        }
        Codec::TxnKey => {
            round_trip!(decode_transaction_log_key(bytes), encode_transaction_log_key, decode_transaction_log_key)
        }
        Codec::TxnValue => round_trip!(
            decode_transaction_log_value_versioned(bytes),
            |(ver, v): &(i16, TransactionLogValue)| encode_transaction_log_value(v, *ver),
            decode_transaction_log_value_versioned
        ),
        Codec::Subscription => {
            let (decoded, largest) = measured(|| consumer_protocol::decode_subscription(bytes));
            let ok = decoded.map(|(v, s)| consumer_subscription_json(&s, v).to_string()).is_ok();
            (ok, largest)
        }
        Codec::Assignment => {
            let (decoded, largest) = measured(|| consumer_protocol::decode_assignment(bytes));
            let ok = decoded.map(|(v, a)| consumer_assignment_json(&a, v).to_string()).is_ok();
            let _ = group_key_json(bytes);
            (ok, largest)
        }
    }
}

/// Applies decoded records the way the state machine does, then rebuilds
/// the image from its own `to_records` (a snapshot) the same way.
fn apply(image: &mut MetadataImage, records: &[MetadataRecord], tally: &mut Tally) {
    for r in records {
        let offset = image.offset + 1;
        image.apply(offset, r);
        tally.applied += 1;
    }
    let mut rebuilt = MetadataImage::empty();
    for r in image.to_records() {
        rebuilt.apply(image.offset, &r);
    }
    assert_eq!(rebuilt.brokers, image.brokers, "snapshot rebuild keeps the brokers");
}

#[test]
fn damaged_metadata_and_group_records_decode_or_fail_cleanly() {
    let seed = std::env::var("WEIR_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_2027u64);
    let iters = std::env::var("WEIR_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1u64).max(1);
    let cases = BASE_CASES * iters;
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let seeds = seeds(&mut rng);
    // Every seed decodes and round-trips unmutated.
    let mut image = MetadataImage::empty();
    let mut tally = Tally::default();
    for (codec, bytes) in &seeds {
        assert!(decode_one(*codec, bytes, &mut image, &mut tally).0, "seed of {codec:?} does not decode");
    }
    let mut per_codec = [0u64; CODECS.len()];
    for case in 0..cases {
        let (codec, input) = if case % 16 == 15 {
            // Plain garbage, for every codec.
            let codec = CODECS[rng.gen_range(0..CODECS.len())];
            let n = rng.gen_range(0..64);
            let mut g: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            if g.len() >= 2 && codec != Codec::MetadataRecord && codec != Codec::RaftEntry {
                g[0] = 0;
                g[1] = rng.gen_range(0..5);
            }
            (codec, g)
        } else {
            let (codec, s) = &seeds[rng.gen_range(0..seeds.len())];
            let json = matches!(codec, Codec::MetadataRecord | Codec::RaftEntry);
            (*codec, mutate(&mut rng, s, json))
        };
        per_codec[CODECS.iter().position(|c| *c == codec).unwrap()] += 1;
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| decode_one(codec, &input, &mut image, &mut tally)));
        let (decoded, largest) = match outcome {
            Ok(r) => r,
            Err(e) => {
                let msg =
                    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                panic!("case {case} (seed {seed:#x}): {codec:?} panicked on {input:02x?}: {msg:?}");
            }
        };
        let bound = ALLOC_PER_INPUT_BYTE * input.len() + ALLOC_SLACK;
        assert!(
            largest <= bound,
            "case {case} (seed {seed:#x}): decoding {} bytes as {codec:?} allocated {largest} bytes at once: {input:02x?}",
            input.len()
        );
        tally.cases += 1;
        if decoded {
            tally.decoded += 1;
        } else {
            tally.rejected += 1;
        }
        if case % 500 == 499 {
            image = MetadataImage::empty();
        }
    }
    eprintln!(
        "metadata_decode_fuzz: {} executions (seed {seed:#x}) in {:.1?}: {} decoded, {} rejected, {} records applied, \
         {} re-encodings refused; per codec {:?}",
        tally.cases,
        started.elapsed(),
        tally.decoded,
        tally.rejected,
        tally.applied,
        tally.reencode_errors,
        CODECS.iter().zip(per_codec).collect::<Vec<_>>()
    );
}
