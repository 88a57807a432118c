//! Produce-time record validation over a real socket (Kafka's
//! LogValidator): batches whose header and CRC are fine but whose records
//! lie are refused with Kafka's error codes, nothing of them reaches the
//! log, and a real consumer (librdkafka) afterwards reads every good record
//! from the beginning without stalling.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, BrokerId, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use weir::record::batch::{Compression, HEADER_SIZE, LOG_OVERHEAD};
use weir::record::compression::compress;
use weir::record::records::{BatchBuilder, Record};
use weir::record::varint::put_varint;
use weir::wire::client::BrokerClient;

const TIMEOUT: Duration = Duration::from_secs(30);

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn tn(v: &str) -> TopicName {
    TopicName(StrBytes::from_string(v.to_string()))
}

/// Produces with acks=all at v11 (record errors and messages included).
async fn produce(c: &mut BrokerClient, topic: &str, records: Bytes) -> PartitionProduceResponse {
    let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(tn(topic))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))]),
    ]);
    let resp: ProduceResponse = tokio::time::timeout(TIMEOUT, c.send(ApiKey::Produce, 11, &req))
        .await
        .expect("answered in time")
        .expect("a Produce response, not a closed connection");
    resp.responses[0].partition_responses[0].clone()
}

async fn log_end_offset(c: &mut BrokerClient, topic: &str) -> i64 {
    let req =
        ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![ListOffsetsTopic::default()
            .with_name(tn(topic))
            .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1)])]);
    let resp: ListOffsetsResponse = c.send(ApiKey::ListOffsets, 7, &req).await.unwrap();
    resp.topics[0].partitions[0].offset
}

fn good_batch(codec: Compression, values: &[String]) -> Vec<u8> {
    let ts = now_ms();
    let mut b = BatchBuilder::new(0, ts).compression(codec);
    for v in values {
        b.push(Record::new(Some(v.as_bytes().to_vec()), Some(v.as_bytes().to_vec()), ts));
    }
    b.build().to_vec()
}

/// A batch with `section` as its (possibly compressed) records and `count`
/// as its declared record count, with length and CRC made right: what a
/// client that builds bad records but a good checksum sends.
fn forged(codec: Compression, section: &[u8], count: i32) -> Bytes {
    let mut b = good_batch(codec, &["x".to_string()]);
    b.truncate(HEADER_SIZE);
    b.extend_from_slice(section);
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    b[23..27].copy_from_slice(&(count - 1).to_be_bytes());
    b[57..61].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

/// The uncompressed records section of a good batch of `n` records.
fn section_of(n: usize) -> Vec<u8> {
    let values: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    good_batch(Compression::None, &values)[HEADER_SIZE..].to_vec()
}

fn maybe_compress(codec: Compression, raw: &[u8]) -> Vec<u8> {
    if codec == Compression::None {
        raw.to_vec()
    } else {
        compress(codec, raw).unwrap()
    }
}

/// Reads the partition from the beginning with librdkafka until `expected`
/// records; fails if it stalls or errors (as consumers once did forever at
/// a poisoned offset).
fn consume_all(bootstrap: &str, topic: &str, expected: usize) -> Vec<(i64, Vec<u8>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "record-validation")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    while out.len() < expected {
        assert!(start.elapsed() < TIMEOUT, "consumed {} of {expected} records: the partition stalls", out.len());
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push((m.offset(), m.payload().unwrap_or_default().to_vec())),
            Some(Err(e)) => panic!("consume error after {} records: {e}", out.len()),
            None => {}
        }
    }
    out
}

const CODECS: [Compression; 5] =
    [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_are_refused_and_consumers_never_stall() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = common::TestBroker::start_in(dir.path(), &[]).await;
    let mut c = BrokerClient::connect(&broker.addr().to_string(), "record-validation").await.unwrap();
    common::create_topic_raw(&mut c, "poison", &[]).await;

    let invalid = ResponseError::InvalidRecord.code();
    let corrupt = ResponseError::CorruptMessage.code();
    let mut cases: Vec<(String, Bytes, Vec<i16>)> = Vec::new();
    for codec in CODECS {
        let name = codec.name();
        // The header says 5 records; the section holds 10.
        cases.push((
            format!("{name}: 5 declared, 10 present"),
            forged(codec, &maybe_compress(codec, &section_of(10)), 5),
            vec![invalid],
        ));
        // One record claiming 2^31-1 records.
        cases.push((
            format!("{name}: 1 present, i32::MAX declared"),
            forged(codec, &maybe_compress(codec, &section_of(1)), i32::MAX),
            vec![invalid],
        ));
        // A key length far beyond the record.
        let mut rec = vec![0u8, 0, 0];
        put_varint(&mut rec, 100_000);
        rec.extend_from_slice(b"short");
        let mut section = Vec::new();
        put_varint(&mut section, rec.len() as i32);
        section.extend_from_slice(&rec);
        cases.push((
            format!("{name}: lying key length"),
            forged(codec, &maybe_compress(codec, &section), 1),
            vec![invalid],
        ));
        if codec != Compression::None {
            let garbage: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
            cases.push((format!("{name}: garbage payload"), forged(codec, &garbage, 1), vec![corrupt, invalid]));
            let good = maybe_compress(codec, &section_of(20));
            cases.push((
                format!("{name}: truncated payload"),
                forged(codec, &good[..good.len() / 2], 20),
                vec![corrupt, invalid],
            ));
        }
    }
    // A decompression bomb: 1 record whose value inflates past the limit
    // (64 MiB on a default topic) from a batch of a few hundred KiB.
    let mut bomb = vec![0u8, 0, 0];
    put_varint(&mut bomb, -1);
    let inflated = 65 << 20;
    put_varint(&mut bomb, inflated);
    bomb.resize(bomb.len() + inflated as usize, 0);
    put_varint(&mut bomb, 0);
    let mut section = Vec::new();
    put_varint(&mut section, bomb.len() as i32);
    section.extend_from_slice(&bomb);
    drop(bomb);
    cases.push((
        "zstd: decompression bomb".into(),
        forged(Compression::Zstd, &compress(Compression::Zstd, &section).unwrap(), 1),
        vec![ResponseError::MessageTooLarge.code()],
    ));
    drop(section);

    let mut expected_values = Vec::new();
    for (i, (what, bytes, codes)) in cases.into_iter().enumerate() {
        let p = produce(&mut c, "poison", bytes).await;
        assert!(codes.contains(&p.error_code), "{what}: error {} ({:?})", p.error_code, p.error_message);
        assert_eq!(p.base_offset, -1, "{what}");
        assert_eq!(log_end_offset(&mut c, "poison").await, i as i64, "{what}: nothing of it was appended");
        // A good batch after every bad one.
        let value = format!("good-{i}");
        let p = produce(&mut c, "poison", Bytes::from(good_batch(CODECS[i % 5], std::slice::from_ref(&value)))).await;
        assert_eq!((p.error_code, p.base_offset), (0, i as i64), "{what}: the next good batch");
        expected_values.push(value);
    }

    let bootstrap = broker.bootstrap();
    let n = expected_values.len();
    let got = tokio::task::spawn_blocking(move || consume_all(&bootstrap, "poison", n)).await.unwrap();
    let offsets: Vec<i64> = got.iter().map(|(o, _)| *o).collect();
    assert_eq!(offsets, (0..n as i64).collect::<Vec<_>>(), "offsets dense and increasing");
    let values: Vec<String> = got.into_iter().map(|(_, v)| String::from_utf8(v).unwrap()).collect();
    assert_eq!(values, expected_values);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_errors_name_the_bad_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = common::TestBroker::start_in(dir.path(), &[]).await;
    let mut c = BrokerClient::connect(&broker.addr().to_string(), "record-errors").await.unwrap();
    common::create_topic_raw(&mut c, "compacted", &[("cleanup.policy", "compact")]).await;
    common::create_topic_raw(&mut c, "strict-time", &[("message.timestamp.before.max.ms", "60000")]).await;

    // Keyless records 1 and 3 on a compacted topic.
    let ts = now_ms();
    let mut b = BatchBuilder::new(0, ts).compression(Compression::Lz4);
    for i in 0..4 {
        let key = (i % 2 == 0).then(|| format!("k{i}").into_bytes());
        b.push(Record::new(key, Some(b"v".to_vec()), ts));
    }
    let p = produce(&mut c, "compacted", b.build()).await;
    assert_eq!(p.error_code, ResponseError::InvalidRecord.code());
    let idx: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(idx, vec![1, 3]);
    assert!(p.error_message.as_deref().is_some_and(|m| m.contains("2 record errors")), "{:?}", p.error_message);

    // Record 2 an hour old where 60 s is allowed.
    let mut b = BatchBuilder::new(0, ts - 3_600_000);
    for i in 0..3 {
        let t = if i == 2 { ts - 3_600_000 } else { ts };
        b.push(Record::new(None, Some(b"v".to_vec()), t));
    }
    let p = produce(&mut c, "strict-time", b.build()).await;
    assert_eq!(p.error_code, ResponseError::InvalidTimestamp.code());
    assert_eq!(p.record_errors.iter().map(|e| e.batch_index).collect::<Vec<_>>(), vec![2]);
    assert_eq!(log_end_offset(&mut c, "strict-time").await, 0);
    broker.stop().await;
}
