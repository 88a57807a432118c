//! Round trips: Produce (current and legacy message formats, compression by version) and InitProducerId with idempotent producer semantics.
//! Part of `tests/protocol_roundtrip.rs`, against its in-process broker.

use super::*;

// ---------------------------------------------------------------------------
// Produce
// ---------------------------------------------------------------------------

/// A legacy (magic 0/1) message set of one message, as Produce v0-2
/// clients send. The CRC is CRC-32 (IEEE) over magic..end.
pub(crate) fn legacy_message_set(magic: u8, key: Option<&[u8]>, value: &[u8], timestamp: i64) -> Vec<u8> {
    let mut m = Vec::new();
    m.push(magic);
    m.push(0); // attributes: no compression
    if magic >= 1 {
        m.extend_from_slice(&timestamp.to_be_bytes());
    }
    match key {
        None => m.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(k) => {
            m.extend_from_slice(&(k.len() as i32).to_be_bytes());
            m.extend_from_slice(k);
        }
    }
    m.extend_from_slice(&(value.len() as i32).to_be_bytes());
    m.extend_from_slice(value);
    let crc = crc32_ieee(&m);
    let mut out = Vec::new();
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&((m.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&m);
    out
}

pub(crate) fn crc32_ieee(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Produce v0-2 (no transactional id), hand-encoded: the codec does not
/// know these versions any more.
pub(crate) fn legacy_produce_frame(
    version: i16,
    corr: i32,
    acks: i16,
    topic: &str,
    partition: i32,
    records: &[u8],
) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i16(ApiKey::Produce as i16);
    b.put_i16(version);
    b.put_i32(corr);
    b.put_i16(6);
    b.put_slice(b"legacy");
    b.put_i16(acks);
    b.put_i32(10_000);
    b.put_i32(1);
    b.put_i16(topic.len() as i16);
    b.put_slice(topic.as_bytes());
    b.put_i32(1);
    b.put_i32(partition);
    b.put_i32(records.len() as i32);
    b.put_slice(records);
    let size = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&size.to_be_bytes());
    b.to_vec()
}

/// A big-endian reader over a response frame.
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(self.0.len() >= n, "response truncated");
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
}

/// Reads a Produce v0-2 response (header v0) and returns
/// (topic, partition, error, base_offset) for its single partition.
pub(crate) fn parse_legacy_produce_response(version: i16, corr: i32, frame: &[u8]) -> (String, i32, i16, i64) {
    let mut r = Reader(frame);
    assert_eq!(r.i32(), corr, "correlation id");
    assert_eq!(r.i32(), 1, "one topic");
    let len = r.i16() as usize;
    let topic = String::from_utf8(r.take(len).to_vec()).unwrap();
    assert_eq!(r.i32(), 1, "one partition");
    let partition = r.i32();
    let error = r.i16();
    let base_offset = r.i64();
    if version >= 2 {
        assert_eq!(r.i64(), -1, "log_append_time");
    }
    if version >= 1 {
        assert_eq!(r.i32(), 0, "throttle_time_ms");
    }
    assert!(r.0.is_empty(), "Produce v{version} response has {} trailing bytes", r.0.len());
    (topic, partition, error, base_offset)
}

pub(crate) async fn round_trip_produce(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let topic = "rt-produce";
    let id = create_topic(&mut c, topic, 1, &[]).await;
    let mut expected: Vec<String> = Vec::new();
    for v in versions {
        if v < PRODUCE_MIN_DECODED {
            // Advertised for librdkafka's sake (KAFKA-18659) but answered
            // UNSUPPORTED_VERSION per partition in the old layout.
            let corr = 9000 + v as i32;
            let msg = legacy_message_set(if v == 2 { 1 } else { 0 }, None, b"legacy", now_ms());
            c.write_raw(&legacy_produce_frame(v, corr, 1, topic, 0, &msg)).await.unwrap();
            let frame = c.read_frame().await.unwrap().expect("Produce v0-2 is answered");
            let (t, p, error, base) = parse_legacy_produce_response(v, corr, &frame);
            assert_eq!((t.as_str(), p), (topic, 0));
            assert_eq!(error, E::UnsupportedVersion.code(), "Produce v{v}");
            assert_eq!(base, -1);
            continue;
        }
        for acks in [1i16, -1] {
            let values: Vec<String> = (0..3).map(|i| format!("v{v}-acks{acks}-{i}")).collect();
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let p = produce(&mut c, v, acks, topic, 0, batch(&refs, now_ms())).await;
            assert_eq!(p.error_code, NONE, "Produce v{v} acks={acks}: {:?}", p.error_message);
            assert_eq!(p.base_offset, expected.len() as i64, "Produce v{v} acks={acks}: base offset");
            assert_eq!(p.log_append_time_ms, -1, "CreateTime topic");
            if v >= 5 {
                assert_eq!(p.log_start_offset, 0, "v{v}: log start offset");
            }
            if v >= 8 {
                assert!(p.record_errors.is_empty());
                assert_eq!(p.error_message, None);
            }
            expected.extend(values);
        }
    }
    // Nothing from v0-2 was appended; everything else reads back in order.
    assert_eq!(latest_offset(&mut c, topic).await, expected.len() as i64);
    let data = fetch(&mut c, 13, topic, id, 0).await;
    let got: Vec<String> = fetched_records(&data).iter().map(value_of).collect();
    assert_eq!(got, expected);
}

/// Sets the compression bits of a built batch, replacing its records with
/// `payload`, and recomputes length and CRC-32C.
pub(crate) fn with_compression(batch: &[u8], codec: i16, payload: &[u8]) -> Bytes {
    let mut b = batch[..61].to_vec();
    b.extend_from_slice(payload);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    let attributes = (i16::from_be_bytes([b[21], b[22]]) & !0x07) | codec;
    b[21..23].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

pub(crate) fn zstd_batch(values: &[&str]) -> Bytes {
    let plain = batch(values, now_ms());
    let compressed = zstd::encode_all(&plain[61..], 3).expect("zstd");
    with_compression(&plain, 4, &compressed)
}

/// ZStandard needs Produce v7+ (KIP-110): older versions get
/// UNSUPPORTED_COMPRESSION_TYPE; v7+ stores the batch as sent.
#[tokio::test]
pub(crate) async fn produce_zstd_needs_v7() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let topic = "rt-zstd";
    let id = create_topic(&mut c, topic, 1, &[]).await;
    let mut expected = Vec::new();
    for v in advertised(ApiKey::Produce).filter(|v| *v >= PRODUCE_MIN_DECODED) {
        let values = [format!("zstd-v{v}-0"), format!("zstd-v{v}-1")];
        let p = produce(&mut c, v, 1, topic, 0, zstd_batch(&[&values[0], &values[1]])).await;
        if v < 7 {
            assert_eq!(p.error_code, E::UnsupportedCompressionType.code(), "Produce v{v} with zstd");
        } else {
            assert_eq!(p.error_code, NONE, "Produce v{v} with zstd: {:?}", p.error_message);
            assert_eq!(p.base_offset, expected.len() as i64);
            expected.extend(values);
        }
    }
    let data = fetch(&mut c, 13, topic, id, 0).await;
    let got: Vec<String> = fetched_records(&data).iter().map(value_of).collect();
    assert_eq!(got, expected, "zstd batches read back");
    env.stop().await;
}

// ---------------------------------------------------------------------------
// InitProducerId and idempotence
// ---------------------------------------------------------------------------

pub(crate) async fn init_producer_id(c: &mut BrokerClient, v: i16) -> (i64, i16) {
    let req = InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000);
    let resp: InitProducerIdResponse =
        c.send(ApiKey::InitProducerId, v, &req).await.unwrap_or_else(|e| panic!("InitProducerId v{v}: {e}"));
    assert_eq!(resp.error_code, NONE, "InitProducerId v{v}");
    (resp.producer_id.0, resp.producer_epoch)
}

pub(crate) async fn round_trip_init_producer_id(addr: SocketAddr, versions: RangeInclusive<i16>) {
    let mut c = connect(addr).await;
    let mut seen = HashSet::new();
    for v in versions {
        let (pid, epoch) = init_producer_id(&mut c, v).await;
        assert!(pid >= 0, "v{v}: producer id {pid}");
        assert_eq!(epoch, 0, "v{v}: a new idempotent producer starts at epoch 0");
        assert!(seen.insert(pid), "v{v}: producer id {pid} handed out twice");
        super::txn_coordinator::round_trip_txn_init_producer_id(addr, v).await;
    }
}

#[tokio::test]
pub(crate) async fn idempotent_duplicate_batch_gets_its_original_offset() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let topic = "rt-idem-dup";
    create_topic(&mut c, topic, 1, &[]).await;
    let (pid, epoch) = init_producer_id(&mut c, 4).await;
    produce_ok(&mut c, topic, batch(&["warm-up"], now_ms())).await;
    let first = idempotent_batch(&["a", "b", "c"], pid, epoch, 0);
    assert_eq!(produce_ok(&mut c, topic, first.clone()).await, 1);
    // The retry of the very same batch: acknowledged with the original offset.
    for v in advertised(ApiKey::Produce).filter(|v| *v >= PRODUCE_MIN_DECODED) {
        let p = produce(&mut c, v, -1, topic, 0, first.clone()).await;
        assert_eq!(p.error_code, NONE, "duplicate at v{v}: {:?}", p.error_message);
        assert_eq!(p.base_offset, 1, "duplicate at v{v} gets the original base offset");
    }
    assert_eq!(latest_offset(&mut c, topic).await, 4, "the duplicate was not appended");
    assert_eq!(produce_ok(&mut c, topic, idempotent_batch(&["d"], pid, epoch, 3)).await, 4);
    assert_eq!(latest_offset(&mut c, topic).await, 5);
    env.stop().await;
}

#[tokio::test]
pub(crate) async fn idempotent_sequence_gap_is_out_of_order() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let topic = "rt-idem-gap";
    create_topic(&mut c, topic, 1, &[]).await;
    let (pid, epoch) = init_producer_id(&mut c, 4).await;
    assert_eq!(produce_ok(&mut c, topic, idempotent_batch(&["a", "b"], pid, epoch, 0)).await, 0);
    let p = produce(&mut c, 9, -1, topic, 0, idempotent_batch(&["z"], pid, epoch, 5)).await;
    assert_eq!(p.error_code, E::OutOfOrderSequenceNumber.code(), "sequence 5 after 1");
    assert_eq!(latest_offset(&mut c, topic).await, 2);
    // The expected sequence still works.
    assert_eq!(produce_ok(&mut c, topic, idempotent_batch(&["c"], pid, epoch, 2)).await, 2);
    env.stop().await;
}

#[tokio::test]
pub(crate) async fn idempotent_older_epoch_is_fenced() {
    let env = Env::start(&[]).await;
    let mut c = env.client().await;
    let topic = "rt-idem-epoch";
    create_topic(&mut c, topic, 1, &[]).await;
    let (pid, _) = init_producer_id(&mut c, 4).await;
    assert_eq!(produce_ok(&mut c, topic, idempotent_batch(&["a"], pid, 0, 0)).await, 0);
    assert_eq!(produce_ok(&mut c, topic, idempotent_batch(&["b"], pid, 1, 0)).await, 1);
    let p = produce(&mut c, 9, -1, topic, 0, idempotent_batch(&["c"], pid, 0, 1)).await;
    assert_eq!(p.error_code, E::InvalidProducerEpoch.code(), "epoch 0 after epoch 1");
    assert_eq!(latest_offset(&mut c, topic).await, 2);
    env.stop().await;
}
