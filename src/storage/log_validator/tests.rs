use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};

use super::*;
use crate::config::BrokerConfig;
use crate::record::batch::{self, BatchView, Compression, HEADER_SIZE, LOG_OVERHEAD};
use crate::record::compression::compress;
use crate::record::records::{decode_records, BatchBuilder, Record};
use crate::record::varint::put_varint;

const NOW: i64 = 1_700_000_000_000;
const CODECS: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

fn config(overrides: &[(&str, &str)]) -> LogConfig {
    let map: BTreeMap<String, String> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    LogConfig::resolve(&BrokerConfig::default(), &map)
}

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let mut r = Record::new(Some(format!("k{i}").into_bytes()), Some(vec![i as u8; 20]), NOW + i as i64);
            r.headers.push(("h".into(), Some(b"v".to_vec())));
            r
        })
        .collect()
}

fn batch(codec: Compression, recs: Vec<Record>) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, NOW).compression(codec);
    for r in recs {
        b.push(r);
    }
    b.build().to_vec()
}

/// Applies `f` to a batch's bytes, then fixes its length and CRC, as a
/// client that sends bad data with a good checksum would.
fn reframe(mut bytes: Vec<u8>, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    f(&mut bytes);
    let len = (bytes.len() - LOG_OVERHEAD) as i32;
    bytes[batch::OFFSET_LENGTH..batch::OFFSET_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[batch::OFFSET_ATTRIBUTES..]);
    bytes[batch::OFFSET_CRC..batch::OFFSET_CRC + 4].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// Replaces the records section (already encoded) and header count.
fn with_section(bytes: Vec<u8>, section: &[u8], count: i32) -> Vec<u8> {
    reframe(bytes, |b| {
        b.truncate(HEADER_SIZE);
        b.extend_from_slice(section);
        b[batch::OFFSET_RECORDS_COUNT..batch::OFFSET_RECORDS_COUNT + 4].copy_from_slice(&count.to_be_bytes());
        b[batch::OFFSET_LAST_OFFSET_DELTA..batch::OFFSET_LAST_OFFSET_DELTA + 4]
            .copy_from_slice(&(count - 1).to_be_bytes());
    })
}

fn validate<'a>(bytes: &'a [u8], cfg: &LogConfig) -> Result<ValidatedBatch<'a>> {
    validate_client_batch(bytes, cfg, &tp(), NOW)
}

fn code(r: Result<ValidatedBatch<'_>>) -> i16 {
    match r {
        Ok(_) => 0,
        Err(e) => e.kafka_code(),
    }
}

/// The batch as it would be stored: the validated header, then the records.
fn stored(v: &ValidatedBatch<'_>) -> Vec<u8> {
    let mut out = v.header.to_vec();
    out.extend_from_slice(v.records());
    out
}

const INVALID_RECORD: i16 = 87;
const CORRUPT_MESSAGE: i16 = 2;
const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_TIMESTAMP: i16 = 32;

#[test]
fn valid_batches_pass_in_every_codec_and_are_stored_unchanged() {
    let cfg = config(&[]);
    for codec in CODECS {
        let bytes = batch(codec, records(10));
        let v = validate(&bytes, &cfg).unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_eq!(stored(&v), bytes, "{codec:?}");
        assert_eq!(v.log_append_time, -1);
    }
}

#[test]
fn a_count_below_the_records_present_is_refused() {
    // The header says 5 records; the section holds 10 (consumers would see
    // offsets repeat and go backwards).
    let cfg = config(&[]);
    for codec in CODECS {
        let full = batch(Compression::None, records(10));
        let section = BatchView::parse(&full).unwrap().records_bytes().to_vec();
        let section = if codec == Compression::None { section } else { compress(codec, &section).unwrap() };
        let lying = with_section(batch(codec, records(1)), &section, 5);
        let err = validate(&lying, &cfg).unwrap_err();
        assert_eq!(err.kafka_code(), INVALID_RECORD, "{codec:?}: {err}");
        assert!(err.to_string().contains("records still remaining"), "{err}");
    }
}

#[test]
fn a_count_above_the_records_present_is_refused() {
    // One zstd record claiming i32::MAX records once moved the log end
    // offset by 2^31-1.
    let cfg = config(&[]);
    for codec in CODECS {
        let one = batch(codec, records(1));
        let section = BatchView::parse(&one).unwrap().records_bytes().to_vec();
        for count in [2, i32::MAX] {
            let lying = with_section(one.clone(), &section, count);
            let err = validate(&lying, &cfg).unwrap_err();
            assert_eq!(err.kafka_code(), INVALID_RECORD, "{codec:?} count {count}: {err}");
            assert!(err.to_string().contains("premature EOF"), "{err}");
        }
    }
}

#[test]
fn lying_record_lengths_keys_and_headers_are_refused() {
    let cfg = config(&[]);
    let mut rec = vec![0u8]; // attributes
    put_varint(&mut rec, 0); // timestamp delta
    put_varint(&mut rec, 0); // offset delta
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("key longer than the record", {
            let mut r = rec.clone();
            put_varint(&mut r, 1_000);
            r.extend_from_slice(b"abc");
            r
        }),
        ("header count beyond the record", {
            let mut r = rec.clone();
            put_varint(&mut r, -1);
            put_varint(&mut r, -1);
            put_varint(&mut r, 500);
            r
        }),
        ("negative header count", {
            let mut r = rec.clone();
            put_varint(&mut r, -1);
            put_varint(&mut r, -1);
            put_varint(&mut r, -7);
            r
        }),
        ("negative header key", {
            let mut r = rec.clone();
            put_varint(&mut r, -1);
            put_varint(&mut r, -1);
            put_varint(&mut r, 1);
            put_varint(&mut r, -2);
            put_varint(&mut r, -1);
            r
        }),
        ("bytes left inside the record", {
            let mut r = rec.clone();
            put_varint(&mut r, -1);
            put_varint(&mut r, -1);
            put_varint(&mut r, 0);
            r.extend_from_slice(&[1, 2, 3]);
            r
        }),
        ("overlong varint", {
            let mut r = vec![0u8];
            r.extend_from_slice(&[0xff; 12]);
            r
        }),
    ];
    for codec in CODECS {
        for (what, body) in &cases {
            let mut section = Vec::new();
            put_varint(&mut section, body.len() as i32);
            section.extend_from_slice(body);
            let section = if codec == Compression::None { section } else { compress(codec, &section).unwrap() };
            let bad = with_section(batch(codec, records(1)), &section, 1);
            assert_eq!(code(validate(&bad, &cfg)), INVALID_RECORD, "{codec:?}: {what}");
        }
        // A record length beyond the section.
        let mut section = Vec::new();
        put_varint(&mut section, 10_000);
        section.extend_from_slice(&rec);
        let section = if codec == Compression::None { section } else { compress(codec, &section).unwrap() };
        let bad = with_section(batch(codec, records(1)), &section, 1);
        assert_eq!(code(validate(&bad, &cfg)), INVALID_RECORD, "{codec:?}: record length");
    }
}

#[test]
fn offset_deltas_must_count_up_from_zero() {
    let cfg = config(&[]);
    for codec in CODECS {
        let good = batch(Compression::None, records(3));
        let section = BatchView::parse(&good).unwrap().records_bytes().to_vec();
        let mut recs: Vec<Vec<u8>> = Vec::new();
        let mut c = crate::record::varint::Cursor::new(&section);
        while c.remaining() > 0 {
            let len = c.varint().unwrap();
            recs.push(c.take(len as usize).unwrap().to_vec());
        }
        // Third record's offset delta (at byte 2: attributes, ts delta 2) set to 1.
        assert_eq!(recs[2][2], 4, "zig-zag of delta 2");
        recs[2][2] = 2;
        let mut dup = Vec::new();
        for r in &recs {
            put_varint(&mut dup, r.len() as i32);
            dup.extend_from_slice(r);
        }
        let dup = if codec == Compression::None { dup } else { compress(codec, &dup).unwrap() };
        let bad = with_section(batch(codec, records(3)), &dup, 3);
        let err = validate(&bad, &cfg).unwrap_err();
        assert_eq!(err.kafka_code(), INVALID_RECORD, "{codec:?}");
        assert!(err.to_string().contains("incremental offsets"), "{err}");
    }
}

#[test]
fn garbage_and_truncated_compressed_payloads_are_corrupt() {
    let cfg = config(&[]);
    for codec in &CODECS[1..] {
        let good = batch(*codec, records(50));
        let section = BatchView::parse(&good).unwrap().records_bytes().to_vec();
        let truncated = with_section(good.clone(), &section[..section.len() / 2], 50);
        let garbage: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let garbage = with_section(good.clone(), &garbage, 50);
        for (what, bad) in [("truncated", truncated), ("garbage", garbage)] {
            let c = code(validate(&bad, &cfg));
            assert!(c == CORRUPT_MESSAGE || c == INVALID_RECORD, "{codec:?} {what}: {c}");
        }
    }
}

#[test]
fn a_decompression_bomb_is_refused_without_inflating_it() {
    let cfg = config(&[]);
    let limit = decompressed_limit(cfg.max_message_bytes);
    // One record whose value is limit bytes of zeros: a few KiB compressed.
    let mut section = vec![0u8];
    put_varint(&mut section, 0);
    put_varint(&mut section, 0);
    put_varint(&mut section, -1);
    put_varint(&mut section, limit as i32);
    section.resize(section.len() + limit, 0);
    put_varint(&mut section, 0);
    let mut framed = Vec::new();
    put_varint(&mut framed, section.len() as i32);
    framed.extend_from_slice(&section);
    // Snappy expands at most ~21x, so no snappy batch under
    // max.message.bytes reaches the limit.
    for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
        let compressed = compress(codec, &framed).unwrap();
        assert!(compressed.len() < cfg.max_message_bytes as usize, "{codec:?}: {}", compressed.len());
        let bomb = with_section(batch(codec, records(1)), &compressed, 1);
        let err = validate(&bomb, &cfg).unwrap_err();
        assert_eq!(err.kafka_code(), MESSAGE_TOO_LARGE, "{codec:?}: {err}");
        SCRATCH.with(|s| assert!(s.borrow().capacity() <= SCRATCH_KEEP_BYTES, "scratch kept"));
    }
}

#[test]
fn a_batch_inflating_past_max_message_bytes_within_the_limit_is_accepted() {
    // Producers size batches by compressed bytes; Kafka accepts this.
    let cfg = config(&[]);
    let recs: Vec<Record> = (0..40).map(|i| Record::new(None, Some(vec![b'a'; 100_000]), NOW + i)).collect();
    let bytes = batch(Compression::Zstd, recs);
    assert!(bytes.len() < 100_000);
    validate(&bytes, &cfg).unwrap();
}

#[test]
fn timestamps_out_of_range_name_their_records() {
    let cfg = config(&[("message.timestamp.before.max.ms", "1000"), ("message.timestamp.after.max.ms", "1000")]);
    let mut recs = records(4);
    recs[1].timestamp = NOW - 5_000;
    recs[3].timestamp = NOW + 5_000;
    let bytes = batch(Compression::Lz4, recs);
    match validate(&bytes, &cfg) {
        Err(e @ StorageError::RecordValidation { .. }) => {
            assert_eq!(e.kafka_code(), INVALID_TIMESTAMP);
            let StorageError::RecordValidation { record_errors, .. } = e else { unreachable!() };
            let idx: Vec<i32> = record_errors.iter().map(|(i, _)| *i).collect();
            assert_eq!(idx, vec![1, 3]);
            assert!(record_errors[0].1.contains("out of range"), "{}", record_errors[0].1);
        }
        other => panic!("expected record errors, got {other:?}"),
    }
    // Records without a timestamp (-1) are not checked.
    let mut recs = records(2);
    recs[0].timestamp = -1;
    let mut b = BatchBuilder::new(0, -1);
    for r in recs {
        b.push(r);
    }
    let bytes = b.build().to_vec();
    let relaxed = config(&[("message.timestamp.after.max.ms", "1000000000000000")]);
    validate(&bytes, &relaxed).unwrap();
}

#[test]
fn keyless_records_on_a_compacted_topic_name_their_records() {
    let cfg = config(&[("cleanup.policy", "compact")]);
    let mut recs = records(3);
    recs[2].key = None;
    let bytes = batch(Compression::Gzip, recs);
    match validate(&bytes, &cfg) {
        Err(StorageError::RecordValidation { timestamp: false, record_errors, message }) => {
            assert_eq!(record_errors.len(), 1);
            assert_eq!(record_errors[0].0, 2);
            assert!(message.contains("batchIndex=2"), "{message}");
        }
        other => panic!("expected record errors, got {other:?}"),
    }
}

#[test]
fn a_lying_max_timestamp_is_corrected_with_a_valid_crc() {
    let cfg = config(&[]);
    let bytes = batch(Compression::Snappy, records(5));
    let lying = reframe(bytes, |b| {
        b[batch::OFFSET_MAX_TIMESTAMP..batch::OFFSET_MAX_TIMESTAMP + 8].copy_from_slice(&(NOW + 99_999).to_be_bytes())
    });
    let v = validate(&lying, &cfg).unwrap();
    let out = stored(&v);
    let view = BatchView::parse_valid(&out).unwrap();
    assert_eq!(view.max_timestamp(), NOW + 4);
    assert!(!view.is_log_append_time());
}

#[test]
fn log_append_time_topics_stamp_the_batch() {
    let cfg = config(&[("message.timestamp.type", "LogAppendTime")]);
    let bytes = batch(Compression::None, records(2));
    let v = validate(&bytes, &cfg).unwrap();
    assert_eq!(v.log_append_time, NOW);
    let out = stored(&v);
    let view = BatchView::parse_valid(&out).unwrap();
    assert!(view.is_log_append_time());
    assert_eq!(view.max_timestamp(), NOW);
}

/// What a consumer would read from a stored batch: every record, decoded.
fn readable(bytes: &[u8]) -> bool {
    match BatchView::parse_valid(bytes) {
        Ok(view) => decode_records(&view).is_ok_and(|r| r.len() as i32 == view.records_count()),
        Err(_) => false,
    }
}

#[test]
fn whatever_is_accepted_can_be_read_back() {
    // Random mutations of valid batches in every codec, with the CRC fixed:
    // the validator must never panic, and every batch it accepts must decode
    // in full with the declared number of records.
    let cfg = config(&[]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_0010);
    let mut accepted = 0;
    for round in 0..3_000 {
        let codec = CODECS[round % CODECS.len()];
        let n = rng.gen_range(1..6);
        let good = batch(codec, records(n));
        let mutated = reframe(good, |b| {
            let flips = rng.gen_range(1..4);
            for _ in 0..flips {
                let at = rng.gen_range(batch::OFFSET_LAST_OFFSET_DELTA..b.len());
                b[at] = rng.gen();
            }
            if rng.gen_bool(0.2) {
                let cut = rng.gen_range(HEADER_SIZE..=b.len());
                b.truncate(cut);
            }
        });
        if let Ok(v) = validate(&mutated, &cfg) {
            accepted += 1;
            assert!(readable(&stored(&v)), "round {round}: accepted a batch consumers cannot read");
        }
    }
    assert!(accepted > 0, "no mutation survived: the property was never exercised");
}
