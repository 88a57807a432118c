//! Decoding hostile request frames: every API and version in
//! `SUPPORTED_APIS`, from codec-encoded seeds that are mutated at random or
//! given forged length prefixes, must decode or fail without a panic and
//! without any single allocation larger than a small multiple of the frame.
//!
//! Why this exists: request bodies are decoded by `kafka-protocol` alone,
//! and its decoders used to size buffers by lengths read off the wire. The
//! vendored copy clamps them (vendor/kafka-protocol/WEIR-PATCH.md); this
//! test is what holds the patch, and any later version of the crate, to
//! that. It drives the broker's own path: `wire::request::parse` for the
//! header, then `ApiRequest::decode` for the body.
//!
//! Allocations are measured by a counting `#[global_allocator]` that, while
//! a decode runs on this thread, records the largest single request
//! (allocation or reallocation). The bound is `ALLOC_PER_FRAME_BYTE` times
//! the frame plus `ALLOC_SLACK`: the patched array decoders reserve at most
//! one element per remaining byte, and no request element type is larger
//! than 128 bytes (the largest, e.g. `MemberIdentity`, are 120), so a
//! reservation is never more than 128 bytes per frame byte. A request far
//! above the bound (`ALLOC_ABORT`) is not served at all: the process prints
//! the api, version and case and aborts, since it could not survive it.
//!
//! Everything is seeded (`rand::rngs::StdRng`), so a failure reproduces.

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;
use weir::wire::request::{self, ApiRequest, Parsed};
use weir::wire::versions::{PRODUCE_MIN_DECODED, SUPPORTED_APIS};

// ---------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------

const ALLOC_PER_FRAME_BYTE: usize = 128;
const ALLOC_SLACK: usize = 64 * 1024;
/// Far beyond any bound a test frame can have: refused by aborting.
const ALLOC_ABORT: usize = 256 << 20;

thread_local! {
    /// Set only around one decode, so the harness's own allocations and
    /// other threads' never count.
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    /// (api key, version, case) of the decode under way, for the abort
    /// message, which cannot allocate. Record batches are api key -1 and
    /// their magic as the version.
    static CASE: Cell<(i16, i16, u64)> = const { Cell::new((0, 0, 0)) };
    /// Set while `decode_frame` catches panics: they are reported per case,
    /// so the panic hook stays quiet for them (and only them).
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// The allocation hook: remembers the largest allocation while a decode
/// is being measured.
fn note(size: usize) {
    // `try_with`: never panic inside the allocator, even while the
    // thread's locals are being torn down.
    let tracking = TRACKING.try_with(Cell::get).unwrap_or(false);
    if !tracking {
        return;
    }
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    if size > ALLOC_ABORT {
        let (key, version, case) = CASE.try_with(Cell::get).unwrap_or_default();
        let mut msg = StackStr::default();
        let _ = std::fmt::Write::write_fmt(
            &mut msg,
            format_args!(
                "decode_fuzz: one allocation of {size} bytes while decoding api key {key} v{version} \
                 (case {case}); the codec sized a buffer by an unchecked wire length\n"
            ),
        );
        // SAFETY: writes bytes we own to stderr; no allocation.
        unsafe { libc::write(2, msg.buf.as_ptr().cast(), msg.len) };
        std::process::abort();
    }
}

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting { on_alloc: note };

/// A fixed buffer to format the abort message into without allocating.
struct StackStr {
    buf: [u8; 256],
    len: usize,
}

impl Default for StackStr {
    fn default() -> Self {
        StackStr { buf: [0; 256], len: 0 }
    }
}

impl std::fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Decoding one frame the way the broker does
// ---------------------------------------------------------------------------

/// Decodes the body of `req` as the request type of its API, as the
/// handler that owns the API does first thing. An advertised API missing
/// here fails the test: the fuzz must cover everything we decode.
fn decode_body(req: &ApiRequest) -> Result<(), String> {
    macro_rules! by_key {
        ($($key:ident => $ty:ty),* $(,)?) => {
            match req.api_key {
                $(ApiKey::$key => req.decode::<$ty>().map(drop),)*
                other => panic!("{other:?} is advertised but has no decoder in decode_fuzz.rs"),
            }
        };
    }
    by_key! {
        Produce => ProduceRequest,
        Fetch => FetchRequest,
        ListOffsets => ListOffsetsRequest,
        Metadata => MetadataRequest,
        OffsetCommit => OffsetCommitRequest,
        OffsetFetch => OffsetFetchRequest,
        FindCoordinator => FindCoordinatorRequest,
        JoinGroup => JoinGroupRequest,
        Heartbeat => HeartbeatRequest,
        LeaveGroup => LeaveGroupRequest,
        SyncGroup => SyncGroupRequest,
        DescribeGroups => DescribeGroupsRequest,
        ListGroups => ListGroupsRequest,
        ApiVersions => ApiVersionsRequest,
        CreateTopics => CreateTopicsRequest,
        DeleteTopics => DeleteTopicsRequest,
        DeleteRecords => DeleteRecordsRequest,
        OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
        CreatePartitions => CreatePartitionsRequest,
        DeleteGroups => DeleteGroupsRequest,
        ElectLeaders => ElectLeadersRequest,
        ListPartitionReassignments => ListPartitionReassignmentsRequest,
        DescribeQuorum => DescribeQuorumRequest,
        OffsetDelete => OffsetDeleteRequest,
        InitProducerId => InitProducerIdRequest,
        DescribeConfigs => DescribeConfigsRequest,
        AlterConfigs => AlterConfigsRequest,
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
        DescribeCluster => DescribeClusterRequest,
        DescribeTopicPartitions => DescribeTopicPartitionsRequest,
        AddPartitionsToTxn => AddPartitionsToTxnRequest,
        AddOffsetsToTxn => AddOffsetsToTxnRequest,
        EndTxn => EndTxnRequest,
        TxnOffsetCommit => TxnOffsetCommitRequest,
        DescribeTransactions => DescribeTransactionsRequest,
        ListTransactions => ListTransactionsRequest,
        WriteTxnMarkers => WriteTxnMarkersRequest,
        DescribeProducers => DescribeProducersRequest,
    }
    .map_err(|e| e.to_string())
}

/// What decoding one frame did.
struct Outcome {
    decoded: bool,
    largest_alloc: usize,
}

/// Parses `frame` (no size prefix) and decodes its body, measuring the
/// largest allocation. `Err` holds a panic's message.
fn decode_frame(frame: &[u8], case: (i16, i16, u64)) -> Result<Outcome, String> {
    let frame = Bytes::copy_from_slice(frame);
    CASE.with(|c| c.set(case));
    LARGEST.with(|l| l.set(0));
    QUIET.with(|q| q.set(true));
    TRACKING.with(|t| t.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| match request::parse(frame) {
        Ok(Parsed::Request(req)) => decode_body(&req).is_ok(),
        Ok(Parsed::ApiVersionsFallback { .. }) => panic!("the version bytes were mutated"),
        Err(_) => false,
    }));
    TRACKING.with(|t| t.set(false));
    QUIET.with(|q| q.set(false));
    let largest_alloc = LARGEST.with(Cell::get);
    match result {
        Ok(decoded) => Ok(Outcome { decoded, largest_alloc }),
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()),
    }
}

// ---------------------------------------------------------------------------
// Seeds: requests encoded by the codec
// ---------------------------------------------------------------------------

fn encode<T: Encodable>(value: &T, version: i16) -> Vec<u8> {
    let mut out = BytesMut::new();
    value.encode(&mut out, version).unwrap_or_else(|e| panic!("codec cannot encode v{version}: {e:#}"));
    out.to_vec()
}

/// The request header of `key` at `version`, as a client sends it.
fn header(key: ApiKey, version: i16) -> Vec<u8> {
    let h = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(s("decode-fuzz")));
    encode(&h, key.request_header_version(version))
}

/// The codec's default request and a populated one (every array filled,
/// nested arrays too, nullable fields set, tagged fields set, an unknown
/// tag added), as request bodies.
fn seed_bodies(key: ApiKey, v: i16) -> Vec<Vec<u8>> {
    macro_rules! seeds {
        ($($key:ident => $ty:ty, $build:ident;)*) => {
            match key {
                $(ApiKey::$key => vec![encode(&<$ty>::default(), v), encode(&$build(v), v)],)*
                other => panic!("{other:?} is advertised but has no seed in decode_fuzz.rs"),
            }
        };
    }
    seeds! {
        Produce => ProduceRequest, produce;
        Fetch => FetchRequest, fetch;
        ListOffsets => ListOffsetsRequest, list_offsets;
        Metadata => MetadataRequest, metadata;
        OffsetCommit => OffsetCommitRequest, offset_commit;
        OffsetFetch => OffsetFetchRequest, offset_fetch;
        FindCoordinator => FindCoordinatorRequest, find_coordinator;
        JoinGroup => JoinGroupRequest, join_group;
        Heartbeat => HeartbeatRequest, heartbeat;
        LeaveGroup => LeaveGroupRequest, leave_group;
        SyncGroup => SyncGroupRequest, sync_group;
        DescribeGroups => DescribeGroupsRequest, describe_groups;
        ListGroups => ListGroupsRequest, list_groups;
        ApiVersions => ApiVersionsRequest, api_versions;
        CreateTopics => CreateTopicsRequest, create_topics;
        DeleteTopics => DeleteTopicsRequest, delete_topics;
        DeleteRecords => DeleteRecordsRequest, delete_records;
        OffsetForLeaderEpoch => OffsetForLeaderEpochRequest, offset_for_leader_epoch;
        CreatePartitions => CreatePartitionsRequest, create_partitions;
        DeleteGroups => DeleteGroupsRequest, delete_groups;
        ElectLeaders => ElectLeadersRequest, elect_leaders;
        ListPartitionReassignments => ListPartitionReassignmentsRequest, list_partition_reassignments;
        DescribeQuorum => DescribeQuorumRequest, describe_quorum;
        OffsetDelete => OffsetDeleteRequest, offset_delete;
        InitProducerId => InitProducerIdRequest, init_producer_id;
        DescribeConfigs => DescribeConfigsRequest, describe_configs;
        AlterConfigs => AlterConfigsRequest, alter_configs;
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest, incremental_alter_configs;
        DescribeCluster => DescribeClusterRequest, describe_cluster;
        DescribeTopicPartitions => DescribeTopicPartitionsRequest, describe_topic_partitions;
        AddPartitionsToTxn => AddPartitionsToTxnRequest, add_partitions_to_txn;
        AddOffsetsToTxn => AddOffsetsToTxnRequest, add_offsets_to_txn;
        EndTxn => EndTxnRequest, end_txn;
        TxnOffsetCommit => TxnOffsetCommitRequest, txn_offset_commit;
        DescribeTransactions => DescribeTransactionsRequest, describe_transactions;
        ListTransactions => ListTransactionsRequest, list_transactions;
        WriteTxnMarkers => WriteTxnMarkersRequest, write_txn_markers;
        DescribeProducers => DescribeProducersRequest, describe_producers;
    }
}

/// Every (api, version) whose body the broker decodes. Produce v0-2 are
/// answered from a v3 reading of the body, so v3 covers them.
fn decoded_versions() -> Vec<(ApiKey, i16)> {
    SUPPORTED_APIS
        .iter()
        .flat_map(|a| {
            let min = if a.key == ApiKey::Produce { PRODUCE_MIN_DECODED } else { a.min };
            (min..=a.max).map(move |v| (a.key, v))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Hostile bodies
// ---------------------------------------------------------------------------

/// Length and count prefixes that claim far more than any frame holds,
/// written over every byte position of a seed, so each real length or
/// count is replaced once aligned (and many other fields misaligned): a
/// 1 Mi int32 count, which a trusting decoder turns into an allocation
/// above the bound but below `ALLOC_ABORT` (a readable failure), then int32
/// and int16 maxima, the largest compact length and 1 Mi as a varint.
const FORGED: &[&[u8]] = &[
    &[0x00, 0x10, 0x00, 0x00],
    &[0x7f, 0xff, 0xff, 0xff],
    &[0x7f, 0xff],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0x80, 0x80, 0x40],
];

/// Values a mutation writes over a byte run: boundaries of lengths, counts,
/// null markers and varint continuation.
const INTERESTING: &[&[u8]] = &[
    &[0x00],
    &[0x01],
    &[0x7f],
    &[0x80],
    &[0xff],
    &[0xff, 0xff],
    &[0x7f, 0xff, 0xff, 0xff],
    &[0x80, 0x00, 0x00, 0x00],
    &[0xff, 0xff, 0xff, 0xff],
    &[0xff, 0xff, 0xff, 0xff, 0xff],
];

/// One to four random edits of `body`; `other` is another seed to splice
/// from.
fn mutate(rng: &mut StdRng, body: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..rng.gen_range(1..=4) {
        let len = body.len();
        let at = if len == 0 { 0 } else { rng.gen_range(0..len) };
        match rng.gen_range(0..8) {
            0 if len > 0 => body[at] ^= 1 << rng.gen_range(0..8),
            1 if len > 0 => body[at] = rng.gen(),
            2 => {
                let v = INTERESTING[rng.gen_range(0..INTERESTING.len())];
                let end = (at + v.len()).min(len);
                body.splice(at..end, v.iter().copied());
            }
            3 => body.truncate(at),
            4 => {
                let n = rng.gen_range(1..=8);
                body.splice(at..at, (0..n).map(|_| rng.gen::<u8>()));
            }
            5 if len > 0 => {
                let n = rng.gen_range(1..=(len - at).min(16));
                body.drain(at..at + n);
            }
            6 if len > 0 => {
                // Repeat a run: duplicates array elements and tags.
                let n = rng.gen_range(1..=(len - at).min(32));
                let run: Vec<u8> = body[at..at + n].to_vec();
                body.splice(at..at, run);
            }
            7 if !other.is_empty() => {
                let from = rng.gen_range(0..other.len());
                let n = rng.gen_range(1..=(other.len() - from).min(32));
                let end = (at + n).min(len);
                body.splice(at..end, other[from..from + n].iter().copied());
            }
            _ => body.push(rng.gen()),
        }
    }
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

/// Random mutations of each seed, per (api, version).
const MUTATIONS_PER_SEED: usize = 1200;
/// Bodies of pure noise, per (api, version).
const NOISE_BODIES: usize = 200;

#[derive(Default)]
struct Tally {
    frames: u64,
    decoded: u64,
    /// The largest allocation seen as a share of its frame's bound, for the
    /// summary line.
    worst_share: f64,
    failures: Vec<String>,
}

impl Tally {
    /// Runs one frame (header + body) and records what went wrong.
    fn run(&mut self, key: ApiKey, v: i16, header: &[u8], body: &[u8], what: &str) {
        let mut frame = Vec::with_capacity(header.len() + body.len());
        frame.extend_from_slice(header);
        frame.extend_from_slice(body);
        self.run_frame(key, v, &frame, what);
    }

    fn run_frame(&mut self, key: ApiKey, v: i16, frame: &[u8], what: &str) {
        if !self.failures.is_empty() {
            // Stop at the first failure: what follows it may well be an
            // allocation too large to survive.
            return;
        }
        let case = self.frames;
        self.frames += 1;
        let bound = ALLOC_PER_FRAME_BYTE * frame.len() + ALLOC_SLACK;
        match decode_frame(frame, (key as i16, v, case)) {
            Ok(o) => {
                self.decoded += u64::from(o.decoded);
                self.worst_share = self.worst_share.max(o.largest_alloc as f64 / bound as f64);
                if o.largest_alloc > bound {
                    self.fail(format!(
                        "{key:?} v{v} {what} (case {case}): one allocation of {} bytes for a {}-byte frame (bound {bound}); frame {}",
                        o.largest_alloc,
                        frame.len(),
                        hex(frame)
                    ));
                }
            }
            Err(panic) => {
                self.fail(format!("{key:?} v{v} {what} (case {case}): panicked: {panic}; frame {}", hex(frame)))
            }
        }
    }

    fn fail(&mut self, msg: String) {
        self.failures.push(msg);
    }
}

fn hex(b: &[u8]) -> String {
    let shown: String = b.iter().take(96).map(|x| format!("{x:02x}")).collect();
    if b.len() > 96 {
        format!("{shown}…")
    } else {
        shown
    }
}

#[test]
fn hostile_request_bodies_decode_without_panics_or_outsized_allocations() {
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !QUIET.try_with(Cell::get).unwrap_or(false) {
            default_hook(info)
        }
    }));
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(0x5745_4952_0011);
    let mut tally = Tally::default();
    let versions = decoded_versions();
    for &(key, v) in &versions {
        let header = header(key, v);
        let seeds = seed_bodies(key, v);
        for (i, seed) in seeds.iter().enumerate() {
            // The seeds themselves must decode: proves the dispatch picks
            // the right type and the header is right.
            let mut frame = header.clone();
            frame.extend_from_slice(seed);
            let o = decode_frame(&frame, (key as i16, v, u64::MAX))
                .unwrap_or_else(|p| panic!("{key:?} v{v} seed {i} panicked: {p}"));
            assert!(o.decoded, "{key:?} v{v} seed {i} does not decode");

            // A forged prefix over every byte position: whichever position
            // holds a length or count, it claims far more than is there.
            for forged in FORGED {
                for at in 0..=seed.len() {
                    let mut body = seed.clone();
                    let end = (at + forged.len()).min(body.len());
                    body.splice(at..end, forged.iter().copied());
                    tally.run(key, v, &header, &body, "forged length");
                }
            }

            let other = &seeds[(i + 1) % seeds.len()];
            for _ in 0..MUTATIONS_PER_SEED {
                let mut body = seed.clone();
                mutate(&mut rng, &mut body, other);
                tally.run(key, v, &header, &body, "mutated body");
            }
        }
        // Noise after the api key and version: the header is hostile too.
        for _ in 0..NOISE_BODIES {
            let n = rng.gen_range(0..=64);
            let mut frame = header[..4].to_vec();
            frame.extend((0..n).map(|_| rng.gen::<u8>()));
            tally.run_frame(key, v, &frame, "noise frame");
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{} frames over {} api versions, {} decoded, largest allocation {:.1}% of its bound, in {elapsed:.1?}",
        tally.frames,
        versions.len(),
        tally.decoded,
        100.0 * tally.worst_share
    );
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n"));
    // Guard against a fuzz that silently stopped fuzzing.
    assert!(tally.frames > 100 * versions.len() as u64);
    assert!(tally.decoded > 0 && tally.decoded < tally.frames);
}

// ---------------------------------------------------------------------------
// Record batches: the crate's own record decoder
// ---------------------------------------------------------------------------

/// Appends a zigzag varint, as record fields are encoded.
fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// A v2 record batch around `records` (already encoded, or compressed)
/// that claims `record_count` records, with a correct CRC so the decoder
/// gets past it.
fn record_batch(attributes: i16, record_count: i32, records: &[u8]) -> Bytes {
    let mut b = Vec::new();
    b.extend(0i64.to_be_bytes()); // base offset
    b.extend(((49 + records.len()) as i32).to_be_bytes()); // batch length
    b.extend(0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend(0u32.to_be_bytes()); // crc, below
    b.extend(attributes.to_be_bytes());
    b.extend(0i32.to_be_bytes()); // last offset delta
    b.extend(0i64.to_be_bytes()); // first timestamp
    b.extend(0i64.to_be_bytes()); // max timestamp
    b.extend((-1i64).to_be_bytes()); // producer id
    b.extend((-1i16).to_be_bytes()); // producer epoch
    b.extend((-1i32).to_be_bytes()); // base sequence
    b.extend(record_count.to_be_bytes());
    b.extend_from_slice(records);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

/// One record with no key or value that claims `headers` headers.
fn record_claiming_headers(headers: i64) -> Vec<u8> {
    let mut body = vec![0]; // attributes
    put_varint(&mut body, 0); // timestamp delta
    put_varint(&mut body, 0); // offset delta
    put_varint(&mut body, -1); // null key
    put_varint(&mut body, -1); // null value
    put_varint(&mut body, headers);
    let mut r = Vec::new();
    put_varint(&mut r, body.len() as i64);
    r.extend(body);
    r
}

/// The record counts, header counts and snappy lengths a batch states are
/// claims too: decoding must refuse or clamp them, not allocate them.
#[test]
fn record_batch_claims_do_not_size_allocations() {
    use kafka_protocol::records::RecordBatchDecoder;
    let mut snappy_claiming_4_gib = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    snappy_claiming_4_gib.extend([0u8; 16]);
    let cases: [(&str, Bytes); 3] = [
        ("record count", record_batch(0, i32::MAX, &record_claiming_headers(0))),
        ("header count", record_batch(0, 1, &record_claiming_headers(i64::from(i32::MAX)))),
        ("snappy length", record_batch(2, 1, &snappy_claiming_4_gib)),
    ];
    for (case, (what, batch)) in cases.into_iter().enumerate() {
        let bound = ALLOC_PER_FRAME_BYTE * batch.len() + ALLOC_SLACK;
        CASE.with(|c| c.set((-1, 2, case as u64)));
        LARGEST.with(|l| l.set(0));
        TRACKING.with(|t| t.set(true));
        let result = RecordBatchDecoder::decode(&mut batch.clone());
        TRACKING.with(|t| t.set(false));
        let largest = LARGEST.with(Cell::get);
        assert!(result.is_err(), "{what}: a batch that lies about its contents decoded");
        assert!(largest <= bound, "{what}: one allocation of {largest} bytes for a {}-byte batch", batch.len());
    }
}

// ---------------------------------------------------------------------------
// Populated requests, built with the codec's own types (from the schema
// walker's tests this file replaces). Fields the codec refuses to encode
// outside their versions are only set inside them.
// ---------------------------------------------------------------------------

fn txn(x: &str) -> TransactionalId {
    TransactionalId(s(x))
}
fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_owned())
}
fn topic(x: &str) -> TopicName {
    TopicName(s(x))
}
fn group(x: &str) -> GroupId {
    GroupId(s(x))
}
fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x0123_4567_89ab_cdef_0000_0000_0000_0000 | n)
}
/// An unknown tagged field (tag 90); dropped in non-flexible versions.
fn unk() -> BTreeMap<i32, Bytes> {
    BTreeMap::from([(90, Bytes::from_static(b"?!"))])
}
fn pick<T: Default>(present: bool, value: T) -> T {
    if present {
        value
    } else {
        T::default()
    }
}

fn produce(_v: i16) -> ProduceRequest {
    use produce_request::*;
    let part = |i| {
        PartitionProduceData::default()
            .with_index(i)
            .with_records(Some(Bytes::from_static(b"opaque record batch")))
            .with_unknown_tagged_fields(unk())
    };
    let t = |n| TopicProduceData::default().with_name(topic(n)).with_partition_data(vec![part(0), part(1)]);
    ProduceRequest::default()
        .with_transactional_id(Some(txn("tx")))
        .with_acks(-1)
        .with_timeout_ms(1500)
        .with_topic_data(vec![t("a"), t("b")])
        .with_unknown_tagged_fields(unk())
}

fn fetch(v: i16) -> FetchRequest {
    use fetch_request::*;
    let part = |i| {
        FetchPartition::default()
            .with_partition(i)
            .with_current_leader_epoch(4)
            .with_fetch_offset(100)
            .with_last_fetched_epoch(if v >= 12 { 3 } else { -1 })
            .with_log_start_offset(5)
            .with_partition_max_bytes(1 << 20)
            .with_replica_directory_id(uuid(11))
            .with_unknown_tagged_fields(unk())
    };
    let t = |n, id| {
        FetchTopic::default().with_topic(topic(n)).with_topic_id(uuid(id)).with_partitions(vec![part(0), part(1)])
    };
    let forgotten =
        |n, id| ForgottenTopic::default().with_topic(topic(n)).with_topic_id(uuid(id)).with_partitions(vec![1, 2]);
    let mut r = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(1 << 24)
        .with_isolation_level(1)
        .with_session_id(7)
        .with_session_epoch(2)
        .with_topics(vec![t("a", 1), t("b", 2)])
        .with_rack_id(s("rack"))
        .with_unknown_tagged_fields(unk());
    if v >= 7 {
        r = r.with_forgotten_topics_data(vec![forgotten("c", 3), forgotten("d", 4)]);
    }
    if v >= 12 {
        r = r.with_cluster_id(Some(s("cluster")));
    }
    if v <= 14 {
        r = r.with_replica_id(BrokerId(3));
    } else {
        r = r.with_replica_state(ReplicaState::default().with_replica_id(BrokerId(3)).with_replica_epoch(9));
    }
    r
}

fn list_offsets(v: i16) -> ListOffsetsRequest {
    use list_offsets_request::*;
    let part =
        |i| ListOffsetsPartition::default().with_partition_index(i).with_current_leader_epoch(2).with_timestamp(-1);
    let t = |n| ListOffsetsTopic::default().with_name(topic(n)).with_partitions(vec![part(0), part(1)]);
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(pick(v >= 2, 1))
        .with_topics(vec![t("a"), t("b")])
        .with_timeout_ms(3000)
        .with_unknown_tagged_fields(unk())
}

fn metadata(v: i16) -> MetadataRequest {
    use metadata_request::*;
    let t = |n: Option<&str>, id| MetadataRequestTopic::default().with_topic_id(uuid(id)).with_name(n.map(topic));
    let mut topics = vec![t(Some("a"), 1), t(Some("b"), 2)];
    if v >= 10 {
        topics.push(t(None, 3));
    }
    MetadataRequest::default()
        .with_topics(Some(topics))
        .with_allow_auto_topic_creation(v < 4)
        .with_include_cluster_authorized_operations((8..=10).contains(&v))
        .with_include_topic_authorized_operations(v >= 8)
        .with_unknown_tagged_fields(unk())
}

fn offset_commit(v: i16) -> OffsetCommitRequest {
    use offset_commit_request::*;
    let part = |i| {
        OffsetCommitRequestPartition::default()
            .with_partition_index(i)
            .with_committed_offset(42)
            .with_committed_leader_epoch(3)
            .with_committed_metadata(Some(s("meta")))
    };
    let t = |n| OffsetCommitRequestTopic::default().with_name(topic(n)).with_partitions(vec![part(0), part(1)]);
    OffsetCommitRequest::default()
        .with_group_id(group("g"))
        .with_generation_id_or_member_epoch(5)
        .with_member_id(s("member"))
        .with_group_instance_id(pick(v >= 7, Some(s("instance"))))
        .with_retention_time_ms(60_000)
        .with_topics(vec![t("a"), t("b")])
        .with_unknown_tagged_fields(unk())
}

fn offset_fetch(v: i16) -> OffsetFetchRequest {
    use offset_fetch_request::*;
    let t = |n| OffsetFetchRequestTopic::default().with_name(topic(n)).with_partition_indexes(vec![0, 1]);
    let gt = |n| OffsetFetchRequestTopics::default().with_name(topic(n)).with_partition_indexes(vec![0, 1]);
    let g = |n, topics| {
        OffsetFetchRequestGroup::default()
            .with_group_id(group(n))
            .with_member_id(Some(s("member")))
            .with_member_epoch(4)
            .with_topics(topics)
    };
    let r = OffsetFetchRequest::default().with_require_stable(v >= 7).with_unknown_tagged_fields(unk());
    if v <= 7 {
        r.with_group_id(group("g")).with_topics(Some(vec![t("a"), t("b")]))
    } else {
        r.with_groups(vec![g("g1", Some(vec![gt("a"), gt("b")])), g("g2", None)])
    }
}

fn find_coordinator(v: i16) -> FindCoordinatorRequest {
    let r = FindCoordinatorRequest::default().with_key_type(pick(v >= 1, 1)).with_unknown_tagged_fields(unk());
    if v <= 3 {
        r.with_key(s("g"))
    } else {
        r.with_coordinator_keys(vec![s("g1"), s("g2")])
    }
}

fn join_group(v: i16) -> JoinGroupRequest {
    use join_group_request::*;
    let p = |n| JoinGroupRequestProtocol::default().with_name(s(n)).with_metadata(Bytes::from_static(b"\x00\x01meta"));
    JoinGroupRequest::default()
        .with_group_id(group("g"))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(60_000)
        .with_member_id(s("m"))
        .with_group_instance_id(pick(v >= 5, Some(s("instance"))))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![p("range"), p("roundrobin")])
        .with_reason(Some(s("why")))
        .with_unknown_tagged_fields(unk())
}

fn heartbeat(v: i16) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(group("g"))
        .with_generation_id(3)
        .with_member_id(s("m"))
        .with_group_instance_id(pick(v >= 3, Some(s("instance"))))
        .with_unknown_tagged_fields(unk())
}

fn leave_group(v: i16) -> LeaveGroupRequest {
    use leave_group_request::*;
    let m = |id, instance: Option<&str>| {
        MemberIdentity::default()
            .with_member_id(s(id))
            .with_group_instance_id(instance.map(s))
            .with_reason(Some(s("bye")))
    };
    let r = LeaveGroupRequest::default().with_group_id(group("g")).with_unknown_tagged_fields(unk());
    if v <= 2 {
        r.with_member_id(s("m"))
    } else {
        r.with_members(vec![m("m1", Some("instance")), m("m2", None)])
    }
}

fn sync_group(v: i16) -> SyncGroupRequest {
    use sync_group_request::*;
    let a = |m| {
        SyncGroupRequestAssignment::default().with_member_id(s(m)).with_assignment(Bytes::from_static(b"assignment"))
    };
    SyncGroupRequest::default()
        .with_group_id(group("g"))
        .with_generation_id(3)
        .with_member_id(s("m1"))
        .with_group_instance_id(pick(v >= 3, Some(s("instance"))))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![a("m1"), a("m2")])
        .with_unknown_tagged_fields(unk())
}

fn describe_groups(v: i16) -> DescribeGroupsRequest {
    DescribeGroupsRequest::default()
        .with_groups(vec![group("g1"), group("g2")])
        .with_include_authorized_operations(v >= 3)
        .with_unknown_tagged_fields(unk())
}

fn list_groups(v: i16) -> ListGroupsRequest {
    ListGroupsRequest::default()
        .with_states_filter(pick(v >= 4, vec![s("Stable"), s("Empty")]))
        .with_types_filter(pick(v >= 5, vec![s("classic"), s("consumer")]))
        .with_unknown_tagged_fields(unk())
}

fn api_versions(_v: i16) -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(s("weir-test"))
        .with_client_software_version(s("1.0"))
        .with_unknown_tagged_fields(unk())
}

fn create_topics(_v: i16) -> CreateTopicsRequest {
    use create_topics_request::*;
    let a = |i| {
        CreatableReplicaAssignment::default().with_partition_index(i).with_broker_ids(vec![BrokerId(1), BrokerId(2)])
    };
    let c = |n, value: Option<&str>| CreatableTopicConfig::default().with_name(s(n)).with_value(value.map(s));
    let t = |n| {
        CreatableTopic::default()
            .with_name(topic(n))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![a(0), a(1)])
            .with_configs(vec![c("cleanup.policy", Some("compact")), c("retention.ms", None)])
            .with_unknown_tagged_fields(unk())
    };
    CreateTopicsRequest::default()
        .with_topics(vec![t("a"), t("b")])
        .with_timeout_ms(1000)
        .with_validate_only(true)
        .with_unknown_tagged_fields(unk())
}

fn delete_topics(v: i16) -> DeleteTopicsRequest {
    use delete_topics_request::*;
    let st = |n: Option<&str>, id| DeleteTopicState::default().with_name(n.map(topic)).with_topic_id(uuid(id));
    let r = DeleteTopicsRequest::default().with_timeout_ms(1000).with_unknown_tagged_fields(unk());
    if v >= 6 {
        r.with_topics(vec![st(Some("a"), 1), st(None, 2)])
    } else {
        r.with_topic_names(vec![topic("a"), topic("b")])
    }
}

fn create_partitions(_v: i16) -> CreatePartitionsRequest {
    use create_partitions_request::*;
    let a = || CreatePartitionsAssignment::default().with_broker_ids(vec![BrokerId(1), BrokerId(2)]);
    let t = |n, assignments| {
        CreatePartitionsTopic::default().with_name(topic(n)).with_count(3).with_assignments(assignments)
    };
    CreatePartitionsRequest::default()
        .with_topics(vec![t("a", Some(vec![a(), a()])), t("b", None)])
        .with_timeout_ms(1000)
        .with_validate_only(true)
        .with_unknown_tagged_fields(unk())
}

fn delete_records(_v: i16) -> DeleteRecordsRequest {
    use delete_records_request::*;
    let p = |i| DeleteRecordsPartition::default().with_partition_index(i).with_offset(10);
    let t = |n| DeleteRecordsTopic::default().with_name(topic(n)).with_partitions(vec![p(0), p(1)]);
    DeleteRecordsRequest::default()
        .with_topics(vec![t("a"), t("b")])
        .with_timeout_ms(1000)
        .with_unknown_tagged_fields(unk())
}

fn init_producer_id(v: i16) -> InitProducerIdRequest {
    let r = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn("tx")))
        .with_transaction_timeout_ms(60_000)
        .with_unknown_tagged_fields(unk());
    if v >= 3 {
        r.with_producer_id(ProducerId(7)).with_producer_epoch(2)
    } else {
        r
    }
}

fn add_partitions_to_txn(v: i16) -> AddPartitionsToTxnRequest {
    use add_partitions_to_txn_request::*;
    let topics = vec![
        AddPartitionsToTxnTopic::default()
            .with_name(topic("a"))
            .with_partitions(vec![0, 1, 2])
            .with_unknown_tagged_fields(unk()),
        AddPartitionsToTxnTopic::default().with_name(topic("b")).with_partitions(vec![]),
    ];
    if v >= 4 {
        let t = |id: &str, verify| {
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(txn(id))
                .with_producer_id(ProducerId(7))
                .with_producer_epoch(3)
                .with_verify_only(verify)
                .with_topics(topics.clone())
        };
        AddPartitionsToTxnRequest::default()
            .with_transactions(vec![t("tx", true), t("ty", false)])
            .with_unknown_tagged_fields(unk())
    } else {
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn("tx"))
            .with_v3_and_below_producer_id(ProducerId(7))
            .with_v3_and_below_producer_epoch(3)
            .with_v3_and_below_topics(topics)
            .with_unknown_tagged_fields(unk())
    }
}

fn add_offsets_to_txn(_v: i16) -> AddOffsetsToTxnRequest {
    AddOffsetsToTxnRequest::default()
        .with_transactional_id(txn("tx"))
        .with_producer_id(ProducerId(7))
        .with_producer_epoch(3)
        .with_group_id(group("g"))
        .with_unknown_tagged_fields(unk())
}

fn end_txn(_v: i16) -> EndTxnRequest {
    EndTxnRequest::default()
        .with_transactional_id(txn("tx"))
        .with_producer_id(ProducerId(7))
        .with_producer_epoch(3)
        .with_committed(true)
        .with_unknown_tagged_fields(unk())
}

fn txn_offset_commit(v: i16) -> TxnOffsetCommitRequest {
    use txn_offset_commit_request::*;
    let part = |i| {
        TxnOffsetCommitRequestPartition::default()
            .with_partition_index(i)
            .with_committed_offset(42)
            .with_committed_leader_epoch(if v >= 2 { 3 } else { -1 })
            .with_committed_metadata(Some(s("meta")))
            .with_unknown_tagged_fields(unk())
    };
    let r = TxnOffsetCommitRequest::default()
        .with_transactional_id(txn("tx"))
        .with_group_id(group("g"))
        .with_producer_id(ProducerId(7))
        .with_producer_epoch(3)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(topic("a"))
            .with_partitions(vec![part(0), part(1)])])
        .with_unknown_tagged_fields(unk());
    if v >= 3 {
        r.with_generation_id(4).with_member_id(s("member")).with_group_instance_id(Some(s("inst")))
    } else {
        r
    }
}

fn describe_transactions(_v: i16) -> DescribeTransactionsRequest {
    DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![txn("tx"), txn(""), txn("ty")])
        .with_unknown_tagged_fields(unk())
}

fn list_transactions(v: i16) -> ListTransactionsRequest {
    ListTransactionsRequest::default()
        .with_state_filters(vec![s("Ongoing"), s("Nope")])
        .with_producer_id_filters(vec![ProducerId(7), ProducerId(-1)])
        .with_duration_filter(if v >= 1 { 1000 } else { -1 })
        .with_unknown_tagged_fields(unk())
}

fn offset_for_leader_epoch(_v: i16) -> OffsetForLeaderEpochRequest {
    use offset_for_leader_epoch_request::*;
    let p = |i| OffsetForLeaderPartition::default().with_partition(i).with_current_leader_epoch(5).with_leader_epoch(4);
    let t = |n| OffsetForLeaderTopic::default().with_topic(topic(n)).with_partitions(vec![p(0), p(1)]);
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-2))
        .with_topics(vec![t("a"), t("b")])
        .with_unknown_tagged_fields(unk())
}

fn describe_configs(v: i16) -> DescribeConfigsRequest {
    use describe_configs_request::*;
    let res = |n, keys| {
        DescribeConfigsResource::default().with_resource_type(2).with_resource_name(s(n)).with_configuration_keys(keys)
    };
    DescribeConfigsRequest::default()
        .with_resources(vec![res("a", Some(vec![s("k1"), s("k2")])), res("b", None)])
        .with_include_synonyms(true)
        .with_include_documentation(v >= 3)
        .with_unknown_tagged_fields(unk())
}

fn alter_configs(_v: i16) -> AlterConfigsRequest {
    use alter_configs_request::*;
    let c = |n, value: Option<&str>| AlterableConfig::default().with_name(s(n)).with_value(value.map(s));
    let res = |n| {
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(n))
            .with_configs(vec![c("k1", Some("v")), c("k2", None)])
    };
    AlterConfigsRequest::default()
        .with_resources(vec![res("a"), res("b")])
        .with_validate_only(true)
        .with_unknown_tagged_fields(unk())
}

fn incremental_alter_configs(_v: i16) -> IncrementalAlterConfigsRequest {
    use incremental_alter_configs_request::*;
    let c = |n, value: Option<&str>| {
        AlterableConfig::default().with_name(s(n)).with_config_operation(1).with_value(value.map(s))
    };
    let res = |n| {
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(n))
            .with_configs(vec![c("k1", Some("v")), c("k2", None)])
    };
    IncrementalAlterConfigsRequest::default()
        .with_resources(vec![res("a"), res("b")])
        .with_validate_only(true)
        .with_unknown_tagged_fields(unk())
}

fn describe_cluster(v: i16) -> DescribeClusterRequest {
    let r = DescribeClusterRequest::default()
        .with_include_cluster_authorized_operations(true)
        .with_unknown_tagged_fields(unk());
    let r = if v >= 1 { r.with_endpoint_type(2) } else { r };
    if v >= 2 {
        r.with_include_fenced_brokers(true)
    } else {
        r
    }
}

fn describe_topic_partitions(_v: i16) -> DescribeTopicPartitionsRequest {
    use describe_topic_partitions_request::*;
    let t = |n| TopicRequest::default().with_name(topic(n));
    DescribeTopicPartitionsRequest::default()
        .with_topics(vec![t("a"), t("b")])
        .with_response_partition_limit(100)
        .with_cursor(Some(Cursor::default().with_topic_name(topic("a")).with_partition_index(3)))
        .with_unknown_tagged_fields(unk())
}

fn describe_quorum(_v: i16) -> DescribeQuorumRequest {
    use describe_quorum_request::*;
    let p = |i| PartitionData::default().with_partition_index(i).with_unknown_tagged_fields(unk());
    let t = |n| {
        TopicData::default()
            .with_topic_name(topic(n))
            .with_partitions(vec![p(0), p(1)])
            .with_unknown_tagged_fields(unk())
    };
    DescribeQuorumRequest::default()
        .with_topics(vec![t("__cluster_metadata"), t("b")])
        .with_unknown_tagged_fields(unk())
}

fn list_partition_reassignments(_v: i16) -> ListPartitionReassignmentsRequest {
    use list_partition_reassignments_request::*;
    let t = |n| ListPartitionReassignmentsTopics::default().with_name(topic(n)).with_partition_indexes(vec![0, 1]);
    ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(1000)
        .with_topics(Some(vec![t("a"), t("b")]))
        .with_unknown_tagged_fields(unk())
}

fn elect_leaders(v: i16) -> ElectLeadersRequest {
    use elect_leaders_request::*;
    let t = |n| TopicPartitions::default().with_topic(topic(n)).with_partitions(vec![0, 1]);
    ElectLeadersRequest::default()
        .with_election_type(pick(v >= 1, 1))
        .with_topic_partitions(Some(vec![t("a"), t("b")]))
        .with_timeout_ms(1000)
        .with_unknown_tagged_fields(unk())
}

fn delete_groups(_v: i16) -> DeleteGroupsRequest {
    DeleteGroupsRequest::default().with_groups_names(vec![group("g1"), group("g2")]).with_unknown_tagged_fields(unk())
}

fn offset_delete(_v: i16) -> OffsetDeleteRequest {
    use offset_delete_request::*;
    let p = |i| OffsetDeleteRequestPartition::default().with_partition_index(i);
    let t = |n| OffsetDeleteRequestTopic::default().with_name(topic(n)).with_partitions(vec![p(0), p(1)]);
    OffsetDeleteRequest::default().with_group_id(group("g")).with_topics(vec![t("a"), t("b")])
}

fn write_txn_markers(_v: i16) -> WriteTxnMarkersRequest {
    use write_txn_markers_request::*;
    let t = |n| WritableTxnMarkerTopic::default().with_name(topic(n)).with_partition_indexes(vec![0, 1]);
    let m = |pid, commit| {
        WritableTxnMarker::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(3)
            .with_transaction_result(commit)
            .with_topics(vec![t("a"), t("b")])
            .with_coordinator_epoch(7)
            .with_unknown_tagged_fields(unk())
    };
    WriteTxnMarkersRequest::default().with_markers(vec![m(1, true), m(2, false)]).with_unknown_tagged_fields(unk())
}

fn describe_producers(_v: i16) -> DescribeProducersRequest {
    use describe_producers_request::*;
    let t = |n| TopicRequest::default().with_name(topic(n)).with_partition_indexes(vec![0, 1]);
    DescribeProducersRequest::default().with_topics(vec![t("a"), t("b")]).with_unknown_tagged_fields(unk())
}
